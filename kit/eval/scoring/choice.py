"""Multiple-choice scoring: letter extraction (paper rules and a stricter kit rule) and log-likelihood picks.

Letter extraction comes in three flavours:

- `gpqa_paper_letter`: the rule of the paper's GPQA code (EvalChemy): upper-case the whole text and take the
  last standalone `A`/`B`/`C`/`D`. Because the text is upper-cased first, the English article "a" counts as
  option A ("... so the answer is B, a noble gas." -> "A").
- `acp_paper_letter`: what the paper's ACPBench filter (lm-eval `multi_choice_regex` with the task's
  pattern, last match) effectively returns: the last capital A-D *character anywhere*, even inside a word
  ("**Final Answer**: B. Done." -> "D"), except that text after an answer marker such as
  `**Final Answer**: ` is taken whole when it does not start with a letter ("(B)" -> "(B)"). The harness's
  last-resort fallbacks (matching option texts when no capital A-D occurs at all) are not reproduced;
  such outputs score 0 here.
- `strict_letter`: the kit's rule for the `fixed` columns. An explicit answer marker wins, the last one in
  the text: `\\boxed{C}` (also `\\boxed{(C)}`, `\\boxed{\\text{C}}`, lower case accepted inside the box),
  "Final Answer: C", "the answer is (C)", "Answer: C", "correct option is C" (marker words in any case, the
  letter a capital). Without a marker, the last standalone capital letter in range is taken, skipping the
  article "A" when a lower-case word follows it ("A careful check shows B" -> "B"). Lower-case letters
  outside a box never count. Nothing found -> None (scored 0).
"""

from __future__ import annotations

import re
import string

__all__ = [
    "gpqa_paper_letter",
    "acp_paper_letter",
    "acp_paper_match",
    "strict_letter",
    "argmax",
    "binary_f1",
]


# -- GPQA (EvalChemy) -------------------------------------------------------------------------------------
_GPQA_STANDALONE = re.compile(r"\b([ABCD])\b")


def gpqa_paper_letter(text: str) -> str:
    """The paper's GPQA prediction: last standalone A-D in the upper-cased text; if none, the stripped text
    itself (which then never equals a letter unless the text *is* that letter)."""
    hits = _GPQA_STANDALONE.findall(text.upper())
    pred = hits[-1] if hits else text.strip().strip(".")
    return pred.rstrip(".").rstrip("/")


# -- ACPBench (lm-eval multi_choice_regex, as configured by the paper's task) -----------------------------
# A capital A-D at any position is a hit (" B " and "[B]" are the same hit); at a position right after an answer marker ("**Final Answer**: ",
# "**answer**: ", "**Answer**: "; two arbitrary characters on each side of the word) that does not hold a
# capital A-D, the rest of the line minus its last character is the hit. Python needs fixed-width
# look-behinds, hence one per marker word.
_ACP_PAPER = re.compile(
    r"([A-D])"
    r"| ([A-D]) "
    r"|\[([A-D])\]"
    r"|(?:(?<=..Final Answer..: )|(?<=..answer..: )|(?<=..Answer..: ))(.+)(?=.)"
)
_ACP_IGNORE = (re.compile(r"\.$"), re.compile(","), re.compile(r"\\"), re.compile("\n"), re.compile('"'))
_PUNCT = str.maketrans("", "", string.punctuation)


def acp_paper_letter(text: str) -> str | None:
    """The last hit of the paper's ACPBench pattern (see module docstring); None when nothing matches."""
    last = None
    for m in _ACP_PAPER.finditer(text):
        hit = next((g for g in m.groups() if g), None)
        if hit:
            last = hit.strip()
    return last


def _acp_normalise(s: str) -> str:
    for pat in _ACP_IGNORE:
        s = pat.sub("", s)
    return s.lower().translate(_PUNCT)


def acp_paper_match(pred: str | None, gold: str) -> bool:
    """lm-eval `exact_match` as the task configured it: drop a final ".", commas, backslashes, newlines and
    double quotes, then lower-case and remove punctuation on both sides, then compare."""
    if pred is None:
        return False
    return _acp_normalise(pred) == _acp_normalise(gold)


# -- the kit's stricter rule ------------------------------------------------------------------------------
def _marker_patterns(letters: str) -> list[re.Pattern[str]]:
    # Marker words are matched in any case; outside \boxed{} the letter must be a capital, so that
    # "the answer is a bit unclear" does not read as option A.
    cls = f"[{letters}]"
    opt = rf"\(?\s*({cls})\s*\)?(?![A-Za-z0-9])"
    return [
        # \boxed{C}, \boxed{(C)}, \boxed{\text{C}}, \boxed{\textbf{(c)}}
        re.compile(rf"\\boxed\{{\s*(?:\\text(?:bf)?\{{)?\s*\(?\s*({cls}|{cls.lower()})\s*\)?\s*\}}?\s*\}}"),
        # Final Answer: C / **Final Answer**: (C) / final answer is C
        re.compile(rf"(?i:final\s+answer)\W{{0,6}}(?:(?i:is)\W{{0,3}})?{opt}"),
        # the answer is C / correct answer: C / correct option is (C) / correct choice: C
        re.compile(rf"(?i:answer|option|choice)\s*(?:(?i:is)|:)\W{{0,3}}{opt}"),
    ]


_MARKERS: dict[str, list[re.Pattern[str]]] = {}


def strict_letter(text: str, letters: str = "ABCD", fallback: bool = True) -> str | None:
    """The kit's letter extraction (see module docstring). Returns the letter or None.
    `fallback=False` accepts explicit answer markers only (no last-standalone-letter guess): used for
    unfinished generations, whose stray letters are not answers."""
    if not text:
        return None
    pats = _MARKERS.setdefault(letters, _marker_patterns(letters))
    best: tuple[int, str] | None = None
    for pat in pats:
        for m in pat.finditer(text):
            if best is None or m.start() >= best[0]:
                best = (m.start(), m.group(1).upper())
    if best is not None:
        return best[1]
    if not fallback:
        return None
    lone = None
    for m in re.finditer(rf"(?<![A-Za-z0-9])([{letters}])(?![A-Za-z0-9])", text):
        letter = m.group(1)
        after = text[m.end():m.end() + 2]
        if letter == "A" and re.fullmatch(r" [a-z]", after):
            continue  # the article: "A careful check ..."
        lone = letter
    return lone


# -- log-likelihood picks ---------------------------------------------------------------------------------
def argmax(values: list[float]) -> int:
    """Index of the largest value; ties go to the first (as numpy's argmax, which lm-eval uses)."""
    best = 0
    for i, v in enumerate(values):
        if v > values[best]:
            best = i
    return best


def binary_f1(golds: list[int], preds: list[int]) -> float:
    """F1 of the positive class (1), as sklearn's `f1_score` with default settings; 0 when undefined."""
    tp = sum(1 for g, p in zip(golds, preds) if g == 1 and p == 1)
    fp = sum(1 for g, p in zip(golds, preds) if g == 0 and p == 1)
    fn = sum(1 for g, p in zip(golds, preds) if g == 1 and p == 0)
    denom = 2 * tp + fp + fn
    return 2 * tp / denom if denom else 0.0
