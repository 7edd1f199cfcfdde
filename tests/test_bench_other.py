"""GPQA-Diamond, ACPBench, HeadQA, MC-TACO: fixture -> items -> prompt/requests -> score, plus settings."""

from __future__ import annotations

import json
import re

import pytest

from kit.chat import split_thinking
from kit.errors import KitError
from kit.eval import benchmarks
from kit.eval.benchmarks.base import fixture_path, load_rows, select_items

OTHER = ("gpqa_diamond", "acpbench", "headqa", "mc_taco")


def _items(name: str):
    bench = benchmarks.get(name)
    return bench, bench.items(load_rows(bench, use_fixtures=True))


def test_registered_groups_kinds_primary():
    expect = {
        "gpqa_diamond": ("other", "generate", "fixed"),
        "acpbench": ("other", "generate", "fixed"),
        "headqa": ("other", "loglik", "paper"),
        "mc_taco": ("non", "loglik", "paper"),
    }
    for name, (group, kind, primary) in expect.items():
        bench = benchmarks.get(name)
        assert (bench.group, bench.kind, bench.primary) == (group, kind, primary), name


def test_sources():
    gpqa = benchmarks.get("gpqa_diamond").source
    assert (gpqa.path, gpqa.name, gpqa.split, gpqa.gated) == ("Idavidrein/gpqa", "gpqa_diamond", "train", True)
    acp = benchmarks.get("acpbench").source
    assert (acp.path, acp.split, len(acp.revision)) == ("ibm-research/acp_bench", "validation", 40)
    head = benchmarks.get("headqa").source
    assert (head.path, head.name, head.split) == ("EleutherAI/headqa", "en", "test")
    assert "not verified" in head.note  # branch name, not a commit: says so
    taco = benchmarks.get("mc_taco").source
    assert (taco.path, taco.revision, taco.split) == ("CogComp/mc_taco", "refs/convert/parquet", "test")
    assert "not verified" in taco.note


def test_decode_settings():
    g = benchmarks.get("gpqa_diamond").decode
    assert (g.temperature, g.top_p, g.n_samples, g.max_new_tokens) == (0.6, 0.95, 3, 32768)
    a = benchmarks.get("acpbench").decode
    assert (a.temperature, a.n_samples, a.max_new_tokens) == (0.0, 1, 32768)
    assert a.stop == ("\n\n\n\n", "**Question**:", "**Question:**", "Q:")


# -- GPQA ---------------------------------------------------------------------------------------------------
def test_gpqa_fixture_is_invented_and_in_schema():
    rows = [json.loads(line) for line in fixture_path("gpqa_diamond").read_text().splitlines()]
    assert all(len(r) == 78 for r in rows)
    assert all(r["Canary String"].startswith("KIT FIXTURE") for r in rows)


def _options(prompt: str) -> dict[str, str]:
    line = next(l for l in prompt.split("\n") if l.startswith("Options: "))
    parts = re.split(r"(?:^|, )([ABCD])\) ", line[len("Options: "):])
    return dict(zip(parts[1::2], parts[2::2]))


def test_gpqa_paper_order_always_puts_the_correct_answer_on_d():
    bench, items = _items("gpqa_diamond")
    assert len(items) == 4
    for it in items:
        opts = _options(bench.prompt(it, "paper"))
        assert opts["D"] == it.doc["choices"][0], it.id
        assert it.doc["answer_paper"] == "D"


def test_gpqa_fixed_order_is_per_question_and_stable():
    bench, items = _items("gpqa_diamond")
    letters = []
    for it in items:
        opts = _options(bench.prompt(it, "fixed"))
        assert sorted(opts.values()) == sorted(it.doc["choices"])
        assert opts[it.doc["answer_fixed"]] == it.doc["choices"][0]
        letters.append(it.doc["answer_fixed"])
    assert len(set(letters)) > 1  # not a constant position
    # stable: a fresh load gives the same orders (sha256-derived seeds, not Python's hash())
    _, again = _items("gpqa_diamond")
    assert [it.doc["order_fixed"] for it in again] == [it.doc["order_fixed"] for it in items]
    assert [it.doc["answer_fixed"] for it in items] == ["C", "B", "C", "A"]


def test_gpqa_golden_prompts():
    bench, items = _items("gpqa_diamond")
    head = (
        "Return your final response within \\boxed{} and only include the letter choice (A, B, C, or D) as your "
        "final response.\nProblem: A chemist dissolves 0.10 mol of a weak monoprotic acid with Ka = 1.0 x 10^-5 "
        "in water and dilutes the solution to 1.0 L at 25 C. What is the approximate pH of the solution?\n"
    )
    assert bench.prompt(items[0], "paper") == head + "Options: A) 5.0, B) 1.0, C) 7.0, D) 3.0\nAnswer:"
    assert bench.prompt(items[0], "fixed") == head + "Options: A) 7.0, B) 5.0, C) 3.0, D) 1.0\nAnswer:"
    with pytest.raises(KitError):
        bench.prompt(items[0], "nope")


def test_gpqa_scores_per_variant():
    bench, items = _items("gpqa_diamond")
    it = items[0]  # paper order: correct = D; fixed order: correct = C

    def score(output, variant):
        return bench.score(it, split_thinking(output, True).answer, output, variant)

    assert score("<think>pH 3</think>\n\\boxed{D}", "paper") == {"paper": 1.0, "paper_strict": 1.0}
    assert score("<think>pH 3</think>\n\\boxed{C}", "fixed") == {"fixed": 1.0, "fixed_paper_rule": 1.0}
    assert score("<think>pH 3</think>\n\\boxed{B}", "fixed") == {"fixed": 0.0, "fixed_paper_rule": 0.0}
    # the paper's rule upper-cases the text: the article "a" after the answer reads as option A
    assert score("</think>\\boxed{D}, a weak-acid estimate.", "paper") == {"paper": 0.0, "paper_strict": 1.0}
    # truncated thinking -> 0 in every column
    assert score("the pH is about 3 so D", "paper") == {"paper": 0.0, "paper_strict": 0.0}
    assert score("the pH is about 3 so C", "fixed") == {"fixed": 0.0, "fixed_paper_rule": 0.0}


def test_gpqa_variant_columns_merge_without_clashes():
    bench, items = _items("gpqa_diamond")
    merged = {}
    for v in bench.variants:
        cols = bench.score(items[0], "\\boxed{A}", "\\boxed{A}", v)
        assert not set(cols) & set(merged)
        merged.update(cols)
    assert {"paper", "fixed"} <= set(merged)


# -- ACPBench -----------------------------------------------------------------------------------------------
ACP_PROG_PROMPT = (
    "**Question**: A robot with a left and a right gripper carries balls between rooms. The robot can move from "
    "one room to a different room, pick up a ball that is in its current room with a free gripper, and drop a ball "
    "it holds into its current room. There are 2 rooms and 2 balls. Currently, the robot is in room r1, the left "
    "gripper is free, the right gripper holds ball b2, and ball b1 is in room r2.  Which of the following facts "
    "will hold after performing the action \"drop ball b2 into room r1 from the right gripper\" in the current "
    "state? A. ball b2 is in room r1. B. the right gripper holds ball b2. C. the robot is in room r2. D. ball b1 "
    "is in room r1. **Thoughts**: Let's think step by step. Step 1: Dropping ball b2 makes ball b2 be in room r1 "
    "and frees the right gripper. Step 2: The robot stays in room r1 and ball b1 stays in room r2. "
    "**Final Answer**: A.\n\n"
    "**Question**: A robotic arm rearranges blocks on a table. The arm can pick up a clear block from the table, "
    "unstack a clear block from the block below it, put the block it holds down on the table, or stack the block "
    "it holds on a clear block. The arm holds at most one block. There are 3 blocks. Currently, b1 and b3 are on "
    "the table, b2 is on b1, b2 and b3 are clear, and the arm is empty.  Which of the following facts will hold "
    "after performing the action \"unstack b2 from b1\" in the current state? A. b2 is on b1. B. the arm is "
    "empty. C. b1 is clear. D. b3 is on b2. **Thoughts**: Let's think step by step. Step 1: Unstacking b2 from b1 "
    "makes the arm hold b2 and makes b1 clear. Step 2: b2 is no longer on b1 and the arm is no longer empty. "
    "**Final Answer**: C.\n\n"
    "**Question**: A robotic arm rearranges blocks on a table. The arm can pick up a clear block from the table, "
    "unstack a clear block from the block below it, put the block it holds down on the table, or stack the block "
    "it holds on a clear block. The arm holds at most one block. There are 3 blocks. Currently, b3 is on b2, b2 "
    "is on b1, b1 is on the table, b3 is clear, and the arm is empty.  Which of the following facts will hold "
    "after performing the action \"unstack b3 from b2\" in the current state? A. b3 is on b2. B. b2 is clear. "
    "C. the arm is empty. D. b3 is clear. **Thoughts**:"
)


def test_acpbench_items_and_golden_prompt():
    bench, items = _items("acpbench")
    assert [it.id for it in items] == [
        "app/7310001", "areach/7310002", "land/7310003", "prog/7310004", "val/7310005",
    ]
    assert [it.doc["answer"] for it in items] == ["B", "C", "C", "B", "D"]
    assert bench.prompt(items[3]) == ACP_PROG_PROMPT


def test_acpbench_every_task_has_two_shots_in_the_prompt():
    from kit.eval.benchmarks.acpbench import SHOTS, TASKS

    bench, items = _items("acpbench")
    assert set(SHOTS) == set(TASKS)
    for task, shots in SHOTS.items():
        assert len(shots) == 2
        for _, question, answer in shots:
            assert re.search(r"\*\*Final Answer\*\*: [ABCD]\.$", answer)
            assert all(f"{letter}. " in question for letter in "ABCD")
    for it in items:
        p = bench.prompt(it)
        assert p.count("**Question**: ") == 3 and p.endswith(" **Thoughts**:")
        assert p.count("**Thoughts**: Let's think step by step.") == 2


def test_acpbench_scores():
    bench, items = _items("acpbench")
    it = items[3]  # gold B

    def score(output):
        return bench.score(it, split_thinking(output, True).answer, output)

    prog = {"_task": 4.0}  # index of "prog", used by aggregate
    assert score("</think>Step 1: b2 becomes clear. **Final Answer**: B.") == {"paper": 1.0, "fixed": 1.0, **prog}
    # the paper's filter takes the last capital A-D anywhere: "Done" starts with option D
    assert score("</think>**Final Answer**: B. Done.") == {"paper": 0.0, "fixed": 1.0, **prog}
    assert score("</think>**Final Answer**: C.") == {"paper": 0.0, "fixed": 0.0, **prog}
    assert score("reasoning that never ends ... B") == {"paper": 0.0, "fixed": 0.0, **prog}


def test_acpbench_aggregate_averages_tasks_and_strata_agree():
    bench, items = _items("acpbench")
    assert [bench.stratum(it) for it in items] == ["app", "areach", "land", "prog", "val"]
    app, prog = items[0], items[3]
    rows = [bench.score(app, "**Final Answer**: B.", ""),  # right
            bench.score(prog, "**Final Answer**: B.", ""),  # right
            bench.score(prog, "**Final Answer**: A.", ""),  # wrong
            bench.score(prog, "**Final Answer**: A.", "")]  # wrong
    agg = bench.aggregate(rows)
    # per task: app 1.0, prog 1/3 -> mean of the two tasks, not of the four items (0.5)
    assert agg["fixed"] == pytest.approx((1.0 + 1 / 3) / 2)
    assert agg["fixed_app"] == 1.0 and agg["fixed_prog"] == pytest.approx(1 / 3)
    assert "fixed_val" not in agg and "_task" not in agg


def test_acpbench_hub_load_reads_all_seven_validation_configs(monkeypatch):
    import kit.eval.benchmarks.acpbench as acp

    seen = []

    def fake_hub_rows(bench, src):
        seen.append((src.path, src.name, src.split, src.revision))
        return [{"id": 1, "group": "whatever", "context": "c", "question": "q A. a. B. b. C. c. D. d.",
                 "choices": {"label": list("ABCD"), "text": list("abcd")}, "query": "q", "answer": "A"}]

    monkeypatch.setattr(acp, "hub_rows", fake_hub_rows)
    bench = benchmarks.get("acpbench")
    rows = load_rows(bench, use_fixtures=False)
    assert [s[1] for s in seen] == [f"acp_{t}_mcq" for t in acp.TASKS]
    assert {s[2] for s in seen} == {"validation"} and {s[0] for s in seen} == {"ibm-research/acp_bench"}
    items = bench.items(rows)  # the task comes from the config, not from the (unknown) group
    assert [it.doc["task"] for it in items] == list(acp.TASKS)
    assert len({it.id for it in items}) == 7


def test_acpbench_unknown_group_is_an_error():
    bench = benchmarks.get("acpbench")
    row = dict(load_rows(bench, use_fixtures=True)[0], group="some_new_task")
    with pytest.raises(KitError, match="unknown task group"):
        bench.items([row])


# -- HeadQA -------------------------------------------------------------------------------------------------
def test_headqa_requests_and_scores():
    bench, items = _items("headqa")
    assert [it.id for it in items][:2] == ["Cuaderno_2099_1_B/1", "Cuaderno_2099_1_M/2"]
    first = items[0]
    assert bench.requests(first) == [
        ("Question: Which organelle is the main site of ATP synthesis by oxidative phosphorylation?\nAnswer:", " Ribosome."),
        ("Question: Which organelle is the main site of ATP synthesis by oxidative phosphorylation?\nAnswer:", " Mitochondrion."),
        ("Question: Which organelle is the main site of ATP synthesis by oxidative phosphorylation?\nAnswer:", " Golgi apparatus."),
        ("Question: Which organelle is the main site of ATP synthesis by oxidative phosphorylation?\nAnswer:", " Lysosome."),
    ]
    assert first.doc["gold"] == 1  # ra = 2 -> aid 2 -> second option
    lengths = [len(c) for _, c in bench.requests(first)]
    assert bench.score_loglik(first, [-9.0, -2.0, -7.0, -8.0], lengths) == {"paper": 1.0, "acc": 1.0, "acc_norm": 1.0}
    assert bench.score_loglik(first, [-1.0, -2.0, -7.0, -8.0], lengths) == {"paper": 0.0, "acc": 0.0, "acc_norm": 0.0}
    # five options; the long right answer loses on total log-likelihood but wins per character
    pharma = items[2]
    assert len(pharma.doc["choices"]) == 5 and pharma.doc["gold"] == 1
    lls = [-10.0, -12.0, -30.0, -30.0, -30.0]
    assert bench.score_loglik(pharma, lls, [0] * 5) == {"paper": 0.0, "acc": 0.0, "acc_norm": 1.0}
    with pytest.raises(KitError):
        bench.score_loglik(pharma, lls[:4], [0] * 4)


def test_headqa_gold_is_looked_up_by_aid():
    bench = benchmarks.get("headqa")
    row = dict(load_rows(bench, use_fixtures=True)[1])
    row["answers"] = list(reversed(row["answers"]))  # aids 4,3,2,1
    (it,) = bench.items([row])
    assert it.doc["choices"][it.doc["gold"]] == "Vitamin C."
    bad = dict(row, ra=9)
    with pytest.raises(KitError):
        bench.items([bad])


# -- MC-TACO ------------------------------------------------------------------------------------------------
def test_mc_taco_items_requests_scores():
    bench, items = _items("mc_taco")
    assert len(items) == 7
    sizes = {}
    for it in items:
        sizes[it.cluster] = sizes.get(it.cluster, 0) + 1
    assert sorted(sizes.values()) == [2, 2, 3]
    first = items[0]
    assert first.id == f"{first.cluster}-0" and items[1].id == f"{first.cluster}-1"
    assert bench.requests(first) == [
        ("Mara baked bread for the school fair on Saturday morning.\nQuestion: How long did it take Mara to bake "
         "the bread?\nAnswer: about three hours\nPlausible:", " no"),
        ("Mara baked bread for the school fair on Saturday morning.\nQuestion: How long did it take Mara to bake "
         "the bread?\nAnswer: about three hours\nPlausible:", " yes"),
    ]
    assert first.doc["label"] == 1 and first.doc["category"] == "Event Duration"
    assert bench.score_loglik(first, [-3.0, -0.5], [3, 4])["paper"] == 1.0
    assert bench.score_loglik(first, [-0.5, -3.0], [3, 4])["paper"] == 0.0
    assert bench.score_loglik(first, [-1.0, -1.0], [3, 4])["paper"] == 0.0  # tie -> "no"


def test_mc_taco_aggregate_reports_acc_and_yes_f1():
    bench, items = _items("mc_taco")
    # predict "yes" for the first four pairs, "no" for the rest
    scores = [bench.score_loglik(it, [-1.0, 0.0] if k < 4 else [0.0, -1.0], [3, 4]) for k, it in enumerate(items)]
    golds = [it.doc["label"] for it in items]  # 1,0,0,1,0,1,0
    preds = [1, 1, 1, 1, 0, 0, 0]
    acc = sum(g == p for g, p in zip(golds, preds)) / 7
    tp, fp, fn = 2, 2, 1
    agg = bench.aggregate(scores)
    assert set(agg) == {"paper", "f1"}
    assert agg["paper"] == pytest.approx(acc)
    assert agg["f1"] == pytest.approx(2 * tp / (2 * tp + fp + fn))


def test_mc_taco_subsets_keep_questions_whole_and_are_seeded():
    _, items = _items("mc_taco")
    by_cluster = {}
    for it in items:
        by_cluster.setdefault(it.cluster, set()).add(it.id)
    for seed in range(10):
        chosen = select_items(items, 2, seed=seed)
        ids = {it.id for it in chosen}
        for cluster in {it.cluster for it in chosen}:
            assert by_cluster[cluster] <= ids  # every candidate of a chosen question is in
        assert [it.id for it in chosen] == [it.id for it in select_items(items, 2, seed=seed)]


def test_mc_taco_accepts_string_labels():
    bench = benchmarks.get("mc_taco")
    row = dict(load_rows(bench, use_fixtures=True)[0], label="yes", category="Frequency")
    (it,) = bench.items([row])
    assert it.doc["label"] == 1 and it.doc["category"] == "Frequency"
    with pytest.raises(KitError):
        bench.items([dict(row, label="maybe")])


@pytest.mark.parametrize("name", OTHER)
def test_fixture_loads_through_load_rows(name):
    bench, items = _items(name)
    assert 3 <= len(items) <= 7
    assert len({it.id for it in items}) == len(items)
    json.dumps([it.doc for it in items])  # docs are saved with the results


def test_unfinished_outputs_get_no_credit_from_stray_letters():
    # #10 item 7: thinking off, cut by the length cap. The strict columns used to fall back on the last
    # standalone capital ("... option C" mid-sentence); the paper-rule columns keep the paper's behaviour
    gpqa, items = _items("gpqa_diamond")
    it = items[0]  # fixed order: correct = C; paper order: correct = D
    cut = "Comparing the options, C looks plausible but I need to check whether"
    assert gpqa.score_sample(it, cut, cut, "fixed", finished=False) == {"fixed": 0.0, "fixed_paper_rule": 1.0}
    assert gpqa.score_sample(it, cut, cut, "fixed", finished=True)["fixed"] == 1.0
    boxed = "So the answer is \\boxed{C}. To double-check, consider"
    assert gpqa.score_sample(it, boxed, boxed, "fixed", finished=False)["fixed"] == 1.0
    cut_d = "Option D seems to fit, although"
    assert gpqa.score_sample(it, cut_d, cut_d, "paper", finished=False) == {"paper": 1.0, "paper_strict": 0.0}

    acp, items = _items("acpbench")
    it = items[3]  # gold B
    cut = "Looking at option B first, the block b2 is"
    assert acp.score_sample(it, cut, cut, "", finished=False)["fixed"] == 0.0
    assert acp.score_sample(it, cut, cut, "", finished=True)["fixed"] == 1.0
    done = "**Final Answer**: B. Checking the other"
    assert acp.score_sample(it, done, done, "", finished=False)["fixed"] == 1.0
