"""Known-answer tests for multiple-choice extraction and log-likelihood helpers."""

from __future__ import annotations

import pytest

from kit.eval.scoring.choice import (
    acp_paper_letter,
    acp_paper_match,
    argmax,
    binary_f1,
    gpqa_paper_letter,
    strict_letter,
)

# The paper's GPQA rule: last standalone A-D in the UPPER-CASED text.
GPQA_PAPER = [
    ("The answer is \\boxed{C}", "C"),
    ("\\boxed{D}", "D"),
    ("I pick D", "D"),
    ("Answer: (b)", "B"),  # lower case counts after upper-casing
    ("C.", "C"),
    ("So B is right, a classic result.", "A"),  # the article "a" becomes option A
    ("Between A and B, the answer is C; a trap.", "A"),
    ("Dogs bark", "Dogs bark"),  # letters inside words do not count; no hit -> the text itself
    ("none of these", "none of these"),
    ("B/", "B"),
]


@pytest.mark.parametrize("text,expected", GPQA_PAPER)
def test_gpqa_paper_letter(text, expected):
    assert gpqa_paper_letter(text) == expected


STRICT = [
    ("\\boxed{C}", "C"),
    ("\\boxed{(B)}", "B"),
    ("\\boxed{\\text{D}}", "D"),
    ("\\boxed{\\textbf{(c)}}", "C"),
    ("**Final Answer**: B.", "B"),
    ("The answer is (C). A careful check agrees.", "C"),  # a marker beats a later bare letter
    ("A careful check shows B", "B"),  # the article A is skipped
    ("So B is right, a classic result.", "B"),  # lower-case "a" is never a letter here
    ("Options A and B are wrong; D is right", "D"),
    ("I think it's B. But wait, \\boxed{A}", "A"),  # the last marker wins
    ("The correct option is (A)", "A"),
    ("FINAL ANSWER: D", "D"),
    ("the answer is a bit unclear", None),
    ("Dogs bark", None),
    ("", None),
]


@pytest.mark.parametrize("text,expected", STRICT)
def test_strict_letter(text, expected):
    assert strict_letter(text) == expected


# The paper's ACPBench rule (lm-eval multi_choice_regex as the task configured it): gold, verdict.
ACP_PAPER = [
    ("**Final Answer**: B.", "B", True),
    ("**Final Answer**: B. Done.", "B", False),  # the capital D of "Done" is the last hit
    ("**Final Answer**: (C).", "C", True),  # the text after the marker is taken whole, then normalised
    ("**Final Answer**: [C]", "C", True),
    ("Let's think. A is wrong and the choice is C", "C", True),
    ("the best option is c", "C", False),  # lower case c is no hit; nothing else matches
    ("**Final Answer**: the car.", "B", False),  # free text after the marker is the prediction
    ("Step 1: B holds. Step 2: so CAR", "C", False),  # capitals inside words count: last hit is "A"
    ("Step 1: B holds. Step 2: so CAR", "A", True),
    ("D", "D", True),
    ("", "A", False),
]


@pytest.mark.parametrize("text,gold,ok", ACP_PAPER)
def test_acp_paper_rule(text, gold, ok):
    assert acp_paper_match(acp_paper_letter(text), gold) is ok


def test_acp_paper_letter_values():
    assert acp_paper_letter("**Final Answer**: B. Done.") == "D"
    assert acp_paper_letter("**Final Answer**: (C).") == "(C)"
    assert acp_paper_letter("no capital letters here") is None
    assert acp_paper_match(None, "A") is False
    assert acp_paper_match("b", "B") and acp_paper_match("(B)", "B") and acp_paper_match("B.", "B")


def test_argmax_and_ties():
    assert argmax([-3.0, -1.0, -2.0]) == 1
    assert argmax([-1.0, -1.0]) == 0  # ties go to the first option, as numpy's argmax
    assert argmax([5.0]) == 0


def test_binary_f1():
    assert binary_f1([1, 0, 1, 1], [1, 1, 0, 1]) == pytest.approx(2 / 3)
    assert binary_f1([1, 1], [1, 1]) == 1.0
    assert binary_f1([0, 0], [0, 0]) == 0.0  # undefined -> 0, like sklearn's default
    assert binary_f1([1, 0], [0, 1]) == 0.0
