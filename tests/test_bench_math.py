"""MATH500, AIME24, AIME25, OlympiadBench: fixture -> items -> prompt -> score, plus settings."""

from __future__ import annotations

import pytest

from kit.chat import split_thinking
from kit.eval import benchmarks
from kit.eval.benchmarks.base import Benchmark, load_rows, select_items

MATH = ("math500", "aime24", "aime25", "olympiadbench")


def _items(name: str):
    bench = benchmarks.get(name)
    return bench, bench.items(load_rows(bench, use_fixtures=True))


def _score(bench: Benchmark, item, output: str, thinking: bool = True) -> dict[str, float]:
    split = split_thinking(output, enable_thinking=thinking)
    return bench.score(item, split.answer, output)


def test_registered_with_groups_and_primary():
    for name in MATH:
        bench = benchmarks.get(name)
        assert bench.name == name and bench.group == "math" and bench.kind == "generate"
        assert bench.primary == "fixed" and bench.paper_column == "paper"


def test_sources_are_pinned_to_commits():
    for name in MATH:
        src = benchmarks.get(name).source
        assert len(src.revision) == 40 and int(src.revision, 16) >= 0, name
    assert benchmarks.get("math500").source.path == "HuggingFaceH4/MATH-500"
    assert benchmarks.get("math500").source.split == "test"
    assert benchmarks.get("aime24").source.path == "HuggingFaceH4/aime_2024"
    assert benchmarks.get("aime25").source.path == "math-ai/aime25"
    olympiad = benchmarks.get("olympiadbench").source
    assert (olympiad.path, olympiad.name, olympiad.split) == ("Hothan/OlympiadBench", "OE_TO_maths_en_COMP", "train")


def test_decode_settings_follow_the_paper():
    m = benchmarks.get("math500").decode
    assert (m.temperature, m.top_p, m.n_samples, m.max_new_tokens) == (0.6, 0.95, 3, 32768)
    for name in ("aime24", "aime25"):
        d = benchmarks.get(name).decode
        assert (d.temperature, d.top_p, d.n_samples, d.max_new_tokens) == (0.6, 0.95, 10, 32768)
    o = benchmarks.get("olympiadbench").decode
    assert (o.temperature, o.n_samples, o.max_new_tokens, o.stop) == (0.0, 1, 32768, ("Problem:",))


def test_math500_fixture_prompt_and_scores():
    bench, items = _items("math500")
    assert [it.id for it in items][:2] == ["test/prealgebra/9001.json", "test/prealgebra/9002.json"]
    first = items[0]
    assert first.doc["answer"] == "\\frac{1}{2}"
    assert bench.prompt(first) == (
        "\nWhat is the value of $\\frac{3}{4} - \\frac{1}{4}$? Express your answer as a common fraction.\n\n"
        "Please reason step by step, and put your final answer within \\boxed.\n"
    )
    right = "<think>3/4 - 1/4 = 2/4</think>\n\nThe answer is $\\boxed{\\frac{2}{4}}$ = $\\boxed{\\dfrac{1}{2}}$."
    assert _score(bench, first, right) == {"paper": 1.0, "fixed": 1.0}
    decimal = "<think>0.75-0.25</think>\n\\boxed{0.50}"
    assert _score(bench, first, decimal) == {"paper": 0.0, "fixed": 1.0}
    assert _score(bench, first, "<think>hmm</think> \\boxed{\\frac{1}{3}}") == {"paper": 0.0, "fixed": 0.0}
    # thinking never closed -> no answer for `fixed`; `paper` reads the whole output, as EvalChemy did
    # (last_boxed_only_string on the raw generation), so the box inside the reasoning counts there
    assert _score(bench, first, "3/4 - 1/4 is \\boxed{\\frac{1}{2}} but let me") == {"paper": 1.0, "fixed": 0.0}
    assert _score(bench, first, "3/4 - 1/4 is \\frac{1}{2} but let me") == {"paper": 0.0, "fixed": 0.0}
    # percent gold "25\%"
    pct = next(it for it in items if it.doc["answer"] == "25\\%")
    assert _score(bench, pct, "</think>\\boxed{25\\%}") == {"paper": 1.0, "fixed": 1.0}
    assert _score(bench, pct, "</think>\\boxed{0.25}") == {"paper": 0.0, "fixed": 1.0}


def test_aime24_fixture_prompt_and_scores():
    bench, items = _items("aime24")
    assert [it.id for it in items] == ["9001", "9002", "9003"]
    assert bench.prompt(items[1]) == (
        "\nReal numbers $x$ and $y$ satisfy $x + y = 10$ and $xy = 21$. Find $x^3 + y^3$.\n\n"
        "Please reason step by step, and put your final answer within \\boxed.\n"
    )
    assert _score(bench, items[1], "<think>1000-630</think>\n\n**Answer:** $\\boxed{370}$") == {"paper": 1.0, "fixed": 1.0}
    assert _score(bench, items[1], "<think>..</think> $\\boxed{371}$") == {"paper": 0.0, "fixed": 0.0}
    # AIME answers padded with zeros are not equal for the paper's string match
    assert _score(bench, items[0], "</think> \\boxed{047}") == {"paper": 0.0, "fixed": 1.0}


def test_aime25_fixture_prompt_and_scores():
    bench, items = _items("aime25")
    assert [it.id for it in items] == ["0", "1", "2"]
    assert [it.doc["answer"] for it in items] == ["11", "91", "45"]
    assert bench.prompt(items[2]) == (
        "\nThe product of two consecutive positive integers is $506$. Find their sum.\n\n"
        "Please reason step by step, and put your final answer within \\boxed.\n"
    )
    assert _score(bench, items[2], "22*23 = 506 so \\boxed{45}", thinking=False) == {"paper": 1.0, "fixed": 1.0}
    assert _score(bench, items[2], "\\boxed{46}", thinking=False) == {"paper": 0.0, "fixed": 0.0}


def test_olympiadbench_fixture_prompt_and_scores():
    bench, items = _items("olympiadbench")
    assert [it.id for it in items] == ["9001", "9002", "9003", "9004"]
    assert bench.prompt(items[0]) == (
        "Solve the following math problem. Present the final answer in the format: Final Answer: "
        "\\boxed{your_answer}.\nProblem: Determine the smallest positive integer $n$ such that $n!$ is "
        "divisible by $1000$.\nAnswer:"
    )
    assert _score(bench, items[0], "</think>Final Answer: \\boxed{15}") == {"paper": 1.0, "fixed": 1.0}
    assert _score(bench, items[0], "</think>Final Answer: \\boxed{10}") == {"paper": 0.0, "fixed": 0.0}
    # gold "$9 x+8$": the paper's scorer keeps the dollars and misses a correct answer
    expr = items[2]
    assert expr.doc["answer"] == "$9 x+8$"
    assert _score(bench, expr, "</think>Final Answer: \\boxed{9x+8}") == {"paper": 0.0, "fixed": 1.0}
    # a multiple answer "$-1,3$" in any order
    assert _score(bench, items[1], "</think>Final Answer: \\boxed{3, -1}") == {"paper": 0.0, "fixed": 1.0}
    # \fbox and zero-padded decimals are accepted by the OlympiadBench task
    assert _score(bench, items[3], "</think>\\fbox{10.0}") == {"paper": 1.0, "fixed": 1.0}


def test_aggregate_means_and_sample_averaging():
    bench, items = _items("math500")
    per_item = [{"paper": 1.0, "fixed": 1.0}, {"paper": 0.0, "fixed": 1.0}, {"paper": 0.0, "fixed": 0.0}]
    assert bench.aggregate(per_item) == pytest.approx({"paper": 1 / 3, "fixed": 2 / 3})


@pytest.mark.parametrize("name", MATH)
def test_select_items_is_seeded(name):
    _, items = _items(name)
    a = select_items(items, 2, seed=7)
    b = select_items(items, 2, seed=7)
    assert [i.id for i in a] == [i.id for i in b] and len(a) == 2
    assert select_items(items, None, seed=7) == items
    # every seed gives some 2-subset; across seeds more than one subset shows up
    subsets = {tuple(sorted(i.id for i in select_items(items, 2, seed=s))) for s in range(20)}
    assert len(subsets) > 1


@pytest.mark.parametrize("name", MATH)
def test_unfinished_unboxed_output_scores_zero_through_the_stage_entry(name):
    # #10 item 7: thinking off, cut by the length cap, no box: math-verify's fallback used to find the
    # gold number in the stray text; the paper's harness finds no box
    bench, items = _items(name)
    item = items[0]
    gold = item.doc["answer"].strip("$")
    out = f"Let me think. One candidate is {gold}, but I should verify this by"
    split = split_thinking(out, enable_thinking=False)
    assert bench.score_sample(item, split.answer, out, "", finished=False) == {"paper": 0.0, "fixed": 0.0}
    boxed = f"So the answer is $\\boxed{{{gold}}}$. Let me double-check"
    split = split_thinking(boxed, enable_thinking=False)
    assert bench.score_sample(item, split.answer, boxed, "", finished=False) == {"paper": 1.0, "fixed": 1.0}
