"""Known-answer tests for the text scorers (SQuAD EM/F1, CoQA averaging, line parsing, Yes/No verdicts)."""

from __future__ import annotations

import pytest

from kit.eval.scoring.text import (
    after_last_think,
    answer_tokens,
    coqa_scores,
    exact_match,
    find_yes_no,
    first_line,
    first_nonempty_line,
    normalize_answer,
    paper_yes_no,
    strip_answer_label,
    token_f1,
)


@pytest.mark.parametrize("text, expected", [
    ("The Cat", "cat"),
    ("a dog, an apple, the end.", "dog apple end"),
    ("  Hello,   WORLD!! ", "hello world"),
    ("theatre", "theatre"),  # articles only as whole words
    ("Anne's a-ha!", "annes aha"),
    ("", ""),
    ("(1874)", "1874"),
    ("an", ""),
    ("Ida\tLunde\n", "ida lunde"),
    ("The the THE", ""),
])
def test_normalize_answer(text, expected):
    assert normalize_answer(text) == expected


@pytest.mark.parametrize("gold, pred, em", [
    ("Ida Lunde", "ida lunde.", 1.0),
    ("the Danube", "Danube", 1.0),
    ("1874", "in 1874", 0.0),
    ("forty", "40", 0.0),
    ("", "", 1.0),
    ("yes", "Yes!", 1.0),
    ("a green bicycle", "green bicycle", 1.0),
    ("green bicycle", "bicycle green", 0.0),
    ("Elm Street", "Elm St.", 0.0),
    ("cider", "cider\n", 1.0),
])
def test_exact_match(gold, pred, em):
    assert exact_match(gold, pred) == em


@pytest.mark.parametrize("gold, pred, f1", [
    ("Ida Lunde", "Ida Lunde", 1.0),
    ("apple cider", "cider", 2 * 1.0 * 0.5 / 1.5),  # P=1, R=1/2
    ("cider", "apple cider", 2 * 0.5 * 1.0 / 1.5),  # P=1/2, R=1
    ("the corner of Elm Street", "Elm Street", 2 * 1.0 * 0.5 / 1.5),  # gold tokens: corner of elm street
    ("forty", "40", 0.0),
    ("", "", 1.0),
    ("", "something", 0.0),
    ("something", "", 0.0),
    ("a a b", "a b b", 2 * 0.5 * 1.0 / 1.5),  # articles removed: gold [b], pred [b, b] -> P=1/2, R=1
    ("red red blue", "red blue blue", 2 * (2 / 3) * (2 / 3) / (4 / 3)),  # bag overlap 2 of 3 each way
])
def test_token_f1(gold, pred, f1):
    assert token_f1(gold, pred) == pytest.approx(f1)


def test_answer_tokens():
    assert answer_tokens("The quick, brown fox.") == ["quick", "brown", "fox"]
    assert answer_tokens("") == []


def test_coqa_scores_single_reference():
    assert coqa_scores(["cider"], "Cider.") == {"em": 1.0, "f1": 1.0}
    assert coqa_scores(["cider"], "beer") == {"em": 0.0, "f1": 0.0}
    assert coqa_scores([], "x") == {"em": 0.0, "f1": 0.0}


def test_coqa_scores_leave_one_out():
    golds = ["cider", "apple cider", "cider from the apples"]
    s = coqa_scores(golds, "cider")
    # leaving out "cider": best is "apple cider" (F1 2/3, EM 0); leaving out either other one: exact (1, 1)
    assert s["em"] == pytest.approx(2 / 3)
    assert s["f1"] == pytest.approx((2 / 3 + 1 + 1) / 3)
    # a prediction matching every reference scores 1; a disjoint one scores 0
    assert coqa_scores(["yes", "Yes", "yes."], "yes") == {"em": 1.0, "f1": 1.0}
    assert coqa_scores(golds, "pear juice") == {"em": 0.0, "f1": 0.0}
    # plain max-over-golds would give 1 here; CoQA's rule gives 2/3 EM (the official metric, as lm-eval)
    assert coqa_scores(["a", "b", "a"], "a")["em"] == pytest.approx(1.0)
    assert coqa_scores(["x", "y", "z"], "x")["em"] == pytest.approx(2 / 3)


@pytest.mark.parametrize("text, expected", [
    ("<think>\nlong reasoning\n</think>\n\ncider\nmore", "\n\ncider\nmore"),
    ("a</think>b</think>c", "c"),
    ("no tags at all", "no tags at all"),
    ("<think>\nunterminated reasoning", "<think>\nunterminated reasoning"),
    ("</think>", ""),
])
def test_after_last_think(text, expected):
    assert after_last_think(text) == expected


@pytest.mark.parametrize("output, paper_pred", [
    # the paper's CoQA parse: strip, drop through the last </think>, strip, first line
    ("  cider\nQ: next", "cider"),
    ("<think>\nLet me see.\n</think>\n\nThree\n", "Three"),
    ("<think>\nstill thinking", "<think>"),  # unterminated: the first line is the tag itself
    ("Okay, let's see.\nThe answer is three.", "Okay, let's see."),
    ("\n\n  forty loaves  \nextra", "forty loaves  "),  # trailing spaces kept, as lm-eval does
    ("", ""),
    ("x</think>y</think>\n\nz\nw", "z"),
    ("one line", "one line"),
    ("A: cider", "A: cider"),
    ("\n", ""),
])
def test_coqa_paper_first_line_parse(output, paper_pred):
    assert first_line(after_last_think(output.strip())) == paper_pred


@pytest.mark.parametrize("text, expected", [
    ("\n\n  cider \nmore", "cider"),
    ("", ""),
    ("   \n\t\n", ""),
    ("Answer: cider", "Answer: cider"),
])
def test_first_nonempty_line(text, expected):
    assert first_nonempty_line(text) == expected


@pytest.mark.parametrize("line, expected", [
    ("A: cider", "cider"),
    ("Answer: three", "three"),
    ("**Final answer:** Ida Lunde", "Ida Lunde"),
    ("answer：yes", "yes"),
    ("Apples are red", "Apples are red"),  # no label
    ("A cider", "A cider"),
    ("**Answer**: 1874", "1874"),
])
def test_strip_answer_label(line, expected):
    assert strip_answer_label(line) == expected


@pytest.mark.parametrize("output, expected", [
    ("Yes", "yes"),
    ("No", "no"),
    ("  No, the answer is supported.\nYes it is.", "no"),  # only the first line counts
    ("Yes or No? It is No.", None),  # both on the first line -> unparseable
    ("<think>\nThe answer is wrong.\n</think>\nYes", None),  # first line is the tag: no verdict
    ("I think so.\nYes", None),
    ("yes", None),  # case-sensitive: lower-case "yes" is not "Yes"
    ("Not supported by the knowledge", "no"),  # substring rule: "Not" contains "No"
    ("#Your Judgement#: Yes", "yes"),
    ("Nobody knows. Yesterday it rained.", None),  # both substrings
    ("", None),
])
def test_paper_yes_no(output, expected):
    assert paper_yes_no(output) == expected


@pytest.mark.parametrize("answer, expected", [
    ("Yes", "yes"),
    ("**No**", "no"),
    ("no.", "no"),
    ("#Your Judgement#: Yes", "yes"),
    ("Yes or no, hard to say; final answer: no", "yes"),  # a leading verdict wins
    ("The answer contradicts the knowledge. Judgement: Yes", "yes"),
    ("There is no support for it, so the verdict is: yes.", "yes"),  # labelled beats earlier 'no'
    ("I found no error. Final answer: **No**", "no"),
    ("Based on the document there is no issue; so no.", "no"),  # last standalone word
    ("The summary adds a date that is not in the document. Yes", "yes"),
    ("Nobody knows. Yesterday it rained. Nothing else.", None),  # no whole-word yes/no
    ("", None),
    ("\\boxed{No}", "no"),
])
def test_find_yes_no(answer, expected):
    assert find_yes_no(answer) == expected


def test_think_first_line_paper_zero_but_fixed_reads_answer():
    from kit.chat import split_thinking

    output = "<think>\nThe knowledge names Hanne Opdal, so nothing is invented.\n</think>\n\nNo"
    assert paper_yes_no(output) is None  # the paper's rule sees "<think>"
    assert find_yes_no(split_thinking(output, enable_thinking=False).answer) == "no"
    # unterminated thinking: the kit's answer is empty, so no verdict either way
    trunc = "<think>\nStill weighing it. Yes, maybe. Or no."
    assert split_thinking(trunc, enable_thinking=False).answer == ""
    assert find_yes_no(split_thinking(trunc, enable_thinking=False).answer) is None
    assert paper_yes_no(trunc) is None
