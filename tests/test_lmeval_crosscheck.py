"""The kit's scorers against lm-evaluation-harness's own scoring code on the tasks both have (IFEval, GPQA-Diamond,
CoQA, HEAD-QA, MC-TACO), on the same model outputs (docs/lm-eval.md has the table).

Each case feeds one output (or one set of per-choice log-likelihoods) to the kit's benchmark scorer and to lm-eval's
function for that task, called directly (no task construction, so no dataset download): IFEval's and CoQA's
`process_results`, GPQA's filter pipeline + `exact_match_hf_evaluate`, and `ConfigurableTask.process_results`
(multiple_choice branch) with the task's own YAML for HEAD-QA and MC-TACO. A case is either expected to agree,
or carries the documented reason it differs, and the test asserts that difference and only that one.
Documents are the kit's fixture rows (kit/data/fixtures/benchmarks/, Hub schema), the same rows for both sides.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import lm_eval  # noqa: E402  (pinned in requirements/cpu.txt: a missing lm-eval fails here, never skips silently)

from kit.eval import benchmarks  # noqa: E402
from kit.eval.benchmarks.base import Item  # noqa: E402
from kit.eval.scoring.text import after_last_think  # noqa: E402

TASKS = Path(lm_eval.__file__).parent / "tasks"
THINK_DIFF = "the paper's fork scores the text after the last </think>; stock lm-eval scores the raw output"


def rows_and_items(name: str) -> tuple[list[dict[str, Any]], list[Item]]:
    bench = benchmarks.get(name)
    rows = bench.load(use_fixtures=True)
    return rows, bench.items(rows)


def mc_task(yaml_name: str, row: dict[str, Any]):
    """lm-eval's ConfigurableTask for a multiple-choice YAML, without __init__ (which downloads the dataset): only
    what `doc_to_*` and the multiple_choice branch of `process_results` read is set."""
    import yaml
    from lm_eval.api.task import ConfigurableTask, TaskConfig

    cfg = yaml.safe_load((TASKS / yaml_name).read_text())
    task = object.__new__(ConfigurableTask)
    task._config = TaskConfig(**cfg)
    task.prompt, task.multiple_input, task.multiple_target = None, 0, 0
    task.OUTPUT_TYPE = cfg["output_type"]
    task._metric_fn_list = {m["metric"]: None for m in cfg["metric_list"]}
    task.features = list(row)  # the dataset's columns: a doc_to_target naming one reads it (MC-TACO's `label`)
    return task


# -- IFEval -----------------------------------------------------------------------------------------------

LONG = " ".join(f"word{i}" for i in range(320))
IFEVAL_CASES: list[tuple[int, str, str]] = [  # (key, response, "" = agree or the documented reason)
    (1000, f"*Early life*\n{LONG}\n*Regency*\ntext\n*Death*\ntext", ""),
    (1000, f"*Early life*, with a comma\n{LONG}\n*Death*", ""),
    (1000, "*One* *Two* *Three* too short", ""),
    (1019, "what toys are the two young boys holding?", ""),
    (1019, "What toys are the two young boys holding?", ""),
    (1019, "", ""),
    (1019, "   \n ", ""),
    (1040, '"MATTHIAS ALGIERS is a SKILLED engineer with LEADERSHIP experience."', ""),
    (1040, '\n"MATTHIAS ALGIERS resume."\n', ""),
    (1040, "MATTHIAS ALGIERS resume without quotes", ""),
    (1040, '"' + " ".join(["CAPS"] * 12) + '"', ""),
    (1040, '"a resume with no capital words"', ""),
    (1107, "Why did the rocket go to school? To get higher.\n******\nRockets never lose: they launch again.", ""),
    (1107, "Rocket joke one, with a comma.\n******\nRocket joke two.", ""),
    (1107, "Only one rocket joke here.", ""),
    (1128, "Negative.\nIs there anything else I can help with?", ""),
    (1128, "Negative. Is there anything else I can help with?\nThanks for asking.", ""),
    (1128, "**Negative.** Is there anything else I can help with?**", ""),
    (1128, "Positive.", ""),
    (1174, "Hi *city*. It is *sunny* here.", ""),
    (1174, "oooooooooo *a* *b*. One. Two. Three. Four. Five. Six. Seven.", ""),
    (1174, "Plain text with *one* highlight.", ""),
    (1107, "<think>Jokes, with commas, and more commas.</think>\n\nWhy did the rocket go to school? To get higher.\n"
           "******\nRockets never lose.", THINK_DIFF),
]


@pytest.fixture(scope="module")
def ifeval_scorer():
    from kit.eval.scoring.ifeval import ensure_nltk_data

    ensure_nltk_data()  # lm-eval's ifeval module looks for punkt_tab at import (and would download it)
    import langdetect
    from lm_eval.tasks.ifeval import utils as lm_ifeval

    langdetect.DetectorFactory.seed = 0  # the kit seeds langdetect; lm-eval leaves it unseeded (nondeterministic)
    return lm_ifeval


def test_ifeval_prompts_match(ifeval_scorer) -> None:
    rows, items = rows_and_items("ifeval")
    bench = benchmarks.get("ifeval")
    for row, item in zip(rows, items):
        assert bench.prompt(item) == row["prompt"]  # lm-eval's doc_to_text: prompt


def _ifeval_pair(lm_ifeval, doc: dict[str, Any], item: Item, output: str) -> tuple[tuple, tuple]:
    kit = benchmarks.get("ifeval").score(item, after_last_think(output), output)
    lm = lm_ifeval.process_results(doc, [output])
    return ((kit["prompt_strict"], kit["_inst_strict"], kit["prompt_loose"], kit["_inst_loose"]),
            (float(lm["prompt_level_strict_acc"]), float(sum(lm["inst_level_strict_acc"])),
             float(lm["prompt_level_loose_acc"]), float(sum(lm["inst_level_loose_acc"]))))


@pytest.mark.parametrize("key,output,differs", IFEVAL_CASES)
def test_ifeval_same_verdicts(ifeval_scorer, key: int, output: str, differs: str) -> None:
    rows, items = rows_and_items("ifeval")
    doc, item = next((r, it) for r, it in zip(rows, items) if int(r["key"]) == key)
    kit, lm = _ifeval_pair(ifeval_scorer, doc, item, output)
    if not differs:
        assert kit == lm
        return
    assert kit != lm, differs
    _, lm_after = _ifeval_pair(ifeval_scorer, doc, item, after_last_think(output).strip())
    assert kit == lm_after  # the only difference is the part of the output scored


def test_ifeval_cases_cover_pass_and_fail(ifeval_scorer) -> None:
    """The cases exercise every instruction kind of the fixture both ways (else agreement proves little)."""
    rows, items = rows_and_items("ifeval")
    by_key = {int(r["key"]): r for r in rows}
    seen: dict[str, set[bool]] = {}
    for key, output, _ in IFEVAL_CASES:
        doc = by_key[key]
        lm = ifeval_scorer.process_results(doc, [output])
        for iid, ok in zip(doc["instruction_id_list"], lm["inst_level_strict_acc"]):
            seen.setdefault(iid, set()).add(bool(ok))
    kinds = {iid for r in rows for iid in r["instruction_id_list"]}
    assert {k for k, v in seen.items() if v == {True, False}} == kinds


# -- CoQA -------------------------------------------------------------------------------------------------

COQA_OUTPUTS: list[tuple[str, str]] = [  # "{gold}" is the story's main last-turn answer
    (" {gold}", ""),
    ("The {gold}.", ""),
    ("{gold}!\nQ: and then?", ""),
    ("\n\n  {gold}  ", ""),
    ("A: {gold}", ""),  # lm-eval keeps the label ("A: x" scores against "x" with the extra token)
    ("an apple", ""),
    ("", ""),
    ("<think>Looking at the story.</think>{gold}", THINK_DIFF),
]


@pytest.fixture(scope="module")
def coqa_scorer():
    from lm_eval.tasks.coqa import utils as lm_coqa

    return lm_coqa


def test_coqa_prompts_and_golds_match(coqa_scorer) -> None:
    rows, items = rows_and_items("coqa")
    bench = benchmarks.get("coqa")
    for row, item in zip(rows, items):
        assert bench.prompt(item) == coqa_scorer.doc_to_text(row)
        assert item.doc["golds"] == coqa_scorer.doc_to_target(row)


@pytest.mark.parametrize("template,differs", COQA_OUTPUTS)
def test_coqa_same_em_f1(coqa_scorer, template: str, differs: str) -> None:
    rows, items = rows_and_items("coqa")
    bench = benchmarks.get("coqa")
    for row, item in zip(rows, items):
        output = template.format(gold=item.doc["golds"][0])
        kit = bench.score(item, after_last_think(output), output)
        lm = coqa_scorer.process_results(row, [output])
        if not differs:
            assert (kit["paper_em"], kit["paper"]) == pytest.approx((lm["em"], lm["f1"]), abs=1e-12), output
            continue
        assert (kit["paper_em"], kit["paper"]) != pytest.approx((lm["em"], lm["f1"])), differs
        lm_after = coqa_scorer.process_results(row, [after_last_think(output)])
        assert (kit["paper_em"], kit["paper"]) == pytest.approx((lm_after["em"], lm_after["f1"]))


# -- GPQA-Diamond -----------------------------------------------------------------------------------------

BOXED = "the paper's prompt asks for \\boxed{X}; lm-eval's filters read 'The answer is (X)' or '(X)' only"
OPTION_TEXT = "lm-eval's flexible-extract falls back to matching an option's text; the kit reads letters only"
STRICT = "lm-eval's strict-match reads only 'The answer is ...'; the kit also reads a lone letter or 'Answer: X'"
# (output with {L} = gold letter, {W} = a wrong letter, {T} = the gold option's text; kit `fixed`,
#  lm-eval strict-match, lm-eval flexible-extract; reason for a difference from flexible-extract)
GPQA_CASES: list[tuple[str, float, float, float, str]] = [
    ("Reasoning... The answer is ({L}).", 1, 1, 1, ""),
    ("The answer is ({W}).", 0, 0, 0, ""),
    ("({W}) looks tempting, but ({L}) fits.", 1, 0, 1, ""),
    ("Answer: {L}", 1, 0, 1, ""),
    ("", 0, 0, 0, ""),
    ("\\boxed{{{L}}}", 1, 0, 0, BOXED),
    ("It must be {T}", 0, 0, 1, OPTION_TEXT),
]


def _gpqa_lm(output: str, doc: dict[str, Any]) -> tuple[float, float]:
    """lm-eval's gpqa_diamond_cot_zeroshot scoring: its two filters (YAML _gpqa_cot_zeroshot_yaml), then
    exact_match with ignore_case and ignore_punctuation against '(X)'."""
    from lm_eval.api.metrics import exact_match_hf_evaluate
    from lm_eval.filters.extraction import MultiChoiceRegexFilter, RegexFilter

    strict = RegexFilter(regex_pattern=r"(?<=The answer is )(.*)(?=.)").apply([[output]], [doc])[0][0]
    flexible = MultiChoiceRegexFilter(regex_pattern=r"(\([A-Z]\))", group_select=-1, ignore_case=True,
                                      ignore_punctuation=True).apply([[output]], [doc])[0][0]
    return tuple(float(exact_match_hf_evaluate([p], [doc["answer"]], ignore_case=True,
                                               ignore_punctuation=True)["exact_match"]) for p in (strict, flexible))


@pytest.mark.parametrize("template,kit_expected,strict_expected,flex_expected,differs", GPQA_CASES)
def test_gpqa_extraction(template: str, kit_expected: float, strict_expected: float, flex_expected: float,
                         differs: str) -> None:
    _, items = rows_and_items("gpqa_diamond")
    bench = benchmarks.get("gpqa_diamond")
    for item in items:
        order, gold = item.doc["order_fixed"], item.doc["answer_fixed"]
        wrong = next(x for x in "ABCD" if x != gold)
        output = template.format(L=gold, W=wrong, T=item.doc["choices"][0])
        # lm-eval's doc after its process_docs, with the kit's option order (lm-eval shuffles unseeded)
        doc = {"choices": list(order), "answer": f"({gold})"}
        kit = bench.score(item, output, output, "fixed")["fixed"]
        strict, flexible = _gpqa_lm(output, doc)
        twin = "{T}" in template and _punct_twin(order, item.doc["choices"][0])
        # lm-eval quirk: its option-text fallback removes punctuation from the options first, so "2.5 eV" and
        # "25 eV" become one key and the text maps to the later option's letter (a wrong answer here)
        assert (kit, strict, flexible) == (kit_expected, strict_expected, 0 if twin else flex_expected), output
        assert (kit == flexible) == (twin or not differs), differs


def _punct_twin(order: list[str], text: str) -> bool:
    """Whether another option equals `text` once lower-cased and stripped of punctuation (lm-eval's matching)."""
    import string

    def key(s: str) -> str:
        return s.strip().lower().translate(str.maketrans("", "", string.punctuation))

    return sum(key(o) == key(text) for o in order) > 1


# -- HEAD-QA and MC-TACO (log-likelihood multiple choice) --------------------------------------------------

def _headqa_cases(n: int, gold: int, choices: list[str]) -> list[list[float]]:
    wrong = 0 if gold else 1
    lls = []
    for top in range(n):  # each option the clear favourite once
        lls.append([-10.0 + (8.0 if i == top else 0.0) for i in range(n)])
    lls.append([-5.0] * n)  # all tied: both pick the first option
    tie = [-9.0] * n
    tie[gold] = tie[wrong] = -2.0
    lls.append(tie)  # gold tied with another option: first index wins in both
    by_len = [-0.5 * len(c) for c in choices]
    by_len[gold] -= 0.1  # per-character tie except gold slightly lower: acc and acc_norm disagree by design
    lls.append(by_len)
    return lls


def test_headqa_same_acc_and_acc_norm() -> None:
    rows, items = rows_and_items("headqa")
    bench, task = benchmarks.get("headqa"), mc_task("headqa/headqa_en.yaml", rows[0])
    compared = 0
    for row, item in zip(rows, items):
        reqs = bench.requests(item)
        assert reqs == [(task.doc_to_text(row), " " + c) for c in task.doc_to_choice(row)]
        assert item.doc["gold"] == task.doc_to_target(row)
        for lls in _headqa_cases(len(reqs), item.doc["gold"], item.doc["choices"]):
            kit = bench.score_loglik(item, lls, [len(c) for _, c in reqs])
            lm = task.process_results(row, [(ll, False) for ll in lls])
            assert (kit["acc"], kit["acc_norm"]) == (lm["acc"], lm["acc_norm"]), lls
            assert kit["paper"] == lm["acc"]
            compared += 1
    assert compared == sum(len(it.doc["choices"]) + 3 for it in items)


MC_TACO_LLS = [[-1.0, -3.0], [-3.0, -1.0], [-2.0, -2.0], [-0.1, -0.1000001]]  # no, yes, tie (-> no), near tie


def test_mc_taco_same_acc_and_f1() -> None:
    from lm_eval.api.metrics import f1_score

    rows, items = rows_and_items("mc_taco")
    bench, task = benchmarks.get("mc_taco"), mc_task("mc_taco/default.yaml", rows[0])
    for lls in MC_TACO_LLS:
        per_item, pairs = [], []
        for row, item in zip(rows, items):
            assert bench.requests(item) == [(task.doc_to_text(row), " " + c) for c in task.doc_to_choice(row)]
            kit = bench.score_loglik(item, lls, [3, 4])
            lm = task.process_results(row, [(ll, False) for ll in lls])
            assert kit["paper"] == lm["acc"]
            per_item.append(kit)
            pairs.append(lm["f1"])
        assert bench.aggregate(per_item)["f1"] == pytest.approx(float(f1_score(pairs)))
    # a mixed set of predictions, so F1 is neither 0 nor 1
    per_item, pairs = [], []
    for k, (row, item) in enumerate(zip(rows, items)):
        lls = MC_TACO_LLS[k % 2]
        per_item.append(bench.score_loglik(item, lls, [3, 4]))
        pairs.append(task.process_results(row, [(ll, False) for ll in lls])["f1"])
    f1 = bench.aggregate(per_item)["f1"]
    assert 0.0 < f1 < 1.0
    assert f1 == pytest.approx(float(f1_score(pairs)))
