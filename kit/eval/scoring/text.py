"""Text scorers: SQuAD-style normalisation, exact match and token F1, CoQA's multi-reference averaging,
line extraction, and Yes/No verdict extraction (the paper's HaluEval rule and the kit's corrected one).

Written for the kit (no dependency on `evaluate` or `transformers.data.metrics`, see eval-anchors §5).
"""

from __future__ import annotations

import re
import string
from collections import Counter
from collections.abc import Callable, Sequence

THINK_CLOSE = "</think>"

_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)
_PUNCT = frozenset(string.punctuation)


# -- SQuAD-style normalisation and metrics --------------------------------------------------------------

def normalize_answer(text: str) -> str:
    """SQuAD v1.1 normalisation: lower-case, drop ASCII punctuation, drop the articles a/an/the,
    collapse whitespace (in that order)."""
    text = text.lower()
    text = "".join(ch for ch in text if ch not in _PUNCT)
    text = _ARTICLES.sub(" ", text)
    return " ".join(text.split())


def answer_tokens(text: str) -> list[str]:
    return normalize_answer(text).split() if text else []


def exact_match(gold: str, pred: str) -> float:
    return float(normalize_answer(gold) == normalize_answer(pred))


def token_f1(gold: str, pred: str) -> float:
    """Bag-of-tokens F1 after normalisation. Two empty answers score 1; one empty answer scores 0."""
    g, p = answer_tokens(gold), answer_tokens(pred)
    if not g or not p:
        return float(g == p)
    common = Counter(g) & Counter(p)
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p), same / len(g)
    return 2 * precision * recall / (precision + recall)


def max_over_golds(metric: Callable[[str, str], float], golds: Sequence[str], pred: str) -> float:
    return max((metric(g, pred) for g in golds), default=0.0)


def coqa_scores(golds: Sequence[str], pred: str) -> dict[str, float]:
    """CoQA's official multi-reference rule, which lm-eval's `coqa` task (and so the paper) uses: with n > 1
    references, average over the n leave-one-out subsets of the max score against the remaining n-1
    references; with one reference, the score against it. Returns {"em", "f1"}."""
    golds = list(golds)
    if not golds:
        return {"em": 0.0, "f1": 0.0}
    if len(golds) == 1:
        return {"em": exact_match(golds[0], pred), "f1": token_f1(golds[0], pred)}
    em = f1 = 0.0
    for i in range(len(golds)):
        rest = golds[:i] + golds[i + 1:]
        em += max_over_golds(exact_match, rest, pred)
        f1 += max_over_golds(token_f1, rest, pred)
    return {"em": em / len(golds), "f1": f1 / len(golds)}


# -- line and think handling ---------------------------------------------------------------------------

def after_last_think(text: str) -> str:
    """Text after the last `</think>`, or the whole text when there is none (the paper's forks' rule:
    `re.sub(r".*?</think>", "", text, flags=re.DOTALL)` removes every segment ending in `</think>`)."""
    idx = text.rfind(THINK_CLOSE)
    return text if idx < 0 else text[idx + len(THINK_CLOSE):]


def first_line(text: str) -> str:
    """lm-eval's rule: strip, then everything before the first newline."""
    return text.strip().split("\n")[0]


def first_nonempty_line(text: str) -> str:
    for line in text.splitlines():
        if line.strip():
            return line.strip()
    return ""


_LABEL = re.compile(r"^[\s#*_>]*(?:final\s+answer|answer|a)\s*[*_]*\s*[:：]\s*[*_]*\s*", re.IGNORECASE)


def strip_answer_label(line: str) -> str:
    """Remove a leading "A:", "Answer:" or "Final answer:" label (also inside markdown emphasis)."""
    return _LABEL.sub("", line, count=1).strip()


# -- Yes/No verdicts ---------------------------------------------------------------------------------

def paper_yes_no(output: str) -> str | None:
    """The paper's HaluEval parse (lm-eval `halueval`): strip the output, take its first line, and look for
    the *substrings* "Yes" and "No" (case-sensitive, so "Not" and "Nobody" count as "No"). Exactly one of
    them must occur; returns "yes"/"no", or None when neither or both occur."""
    line = first_line(output)
    has_yes, has_no = "Yes" in line, "No" in line
    if has_yes == has_no:
        return None
    return "yes" if has_yes else "no"


_WORD_YES_NO = re.compile(r"\b(yes|no)\b", re.IGNORECASE)
_MARKED = re.compile(
    r"\b(?:judge?ment|verdict|answer)\s*#?\s*(?:[:：=\-–—]|\bis\b)\s*[*_\"'`]*\s*(yes|no)\b",
    re.IGNORECASE,
)
_LEAD = re.compile(r"^[\s#*_>`\"'(\[]*(?:#?\s*your\s+judge?ment\s*#?\s*[:：]?\s*)?[\s*_`\"'(\[]*(yes|no)\b",
                   re.IGNORECASE)


def find_yes_no(answer: str) -> str | None:
    """The kit's verdict reader for the text after the reasoning, in order of precedence:

    1. the answer *starts* with Yes/No as a whole word (after markdown, quotes or a "#Your Judgement#:"
       label), which is what the prompt asks for;
    2. otherwise the last *labelled* verdict: "Judgement: No", "Final answer: **Yes**", "Verdict - yes",
       "the answer is no" (a label followed by ':', '-', '=' or 'is');
    3. otherwise the last standalone yes/no word anywhere in the answer (a conclusion usually comes last).

    Case-insensitive, whole words only ("Not", "Nobody", "Yesterday" never count). Returns "yes"/"no" or
    None."""
    text = answer.strip()
    if not text:
        return None
    m = _LEAD.match(text)
    if m:
        return m.group(1).lower()
    marked = _MARKED.findall(text)
    if marked:
        return marked[-1].lower()
    words = _WORD_YES_NO.findall(text)
    return words[-1].lower() if words else None
