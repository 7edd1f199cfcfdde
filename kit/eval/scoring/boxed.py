"""Finding the last \\boxed{...} (or \\fbox{...}) in a text, with nested braces."""

from __future__ import annotations


def last_boxed(text: str) -> str | None:
    """Content of the last \\boxed{...}/\\fbox{...}; None when there is none or its braces never close.
    `\\boxed 5` (no braces) yields "5", as the hendrycks extractor allows."""
    start = max(text.rfind("\\boxed"), text.rfind("\\fbox"))
    if start < 0:
        return None
    i = start + (len("\\boxed") if text.startswith("\\boxed", start) else len("\\fbox"))
    if text.startswith(" ", i) and not text.startswith("{", i):
        rest = text[i + 1:]
        return rest.split("$")[0].split()[0] if rest.strip() else None
    if not text.startswith("{", i):
        return None
    depth = 0
    for j in range(i, len(text)):
        if text[j] == "{":
            depth += 1
        elif text[j] == "}":
            depth -= 1
            if depth == 0:
                return text[i + 1:j]
    return None
