"""The toy world: seeded generators, exact verifiers, base-style answers, teacher traces, disjoint splits."""

from __future__ import annotations

import random
import re

import pytest

from kit.toy import world
from kit.toy.tasks import MATH_MAX
from kit.toy.world import (FACTS, GROUPS, PARTS, TASKS, Problem, base_style, make_split, part_of, problem_id,
                           sample, tasks_in, teacher_trace, verify)

MATH = tasks_in("math")
# every word of the math documents the base is pretrained on (questions and worked answers)
PRETRAIN_WORDS = {w for t in MATH for p in make_split(t, 1500, seed=0, part="pretrain")
                  for w in re.findall(r"[A-Za-z]+", p.question + base_style(p))}


def test_registry_has_three_groups_with_two_or_more_tasks_each():
    assert set(GROUPS) == {"math", "other", "non"}
    for g in GROUPS:
        assert len(tasks_in(g)) >= 2, g
    for name, task in TASKS.items():
        assert task.name == name
        assert (task.teacher_trace is not None) == (task.group == "math")


@pytest.mark.parametrize("name", sorted(TASKS))
def test_generators_are_deterministic(name):
    a = [TASKS[name].generate(random.Random(7)) for _ in range(1)]
    b = [TASKS[name].generate(random.Random(7)) for _ in range(1)]
    assert [(p.question, p.answer, p.meta) for p in a] == [(p.question, p.answer, p.meta) for p in b]
    s1, s2 = make_split(name, 30, seed=3), make_split(name, 30, seed=3)
    assert [(p.id, p.question, p.answer) for p in s1] == [(p.id, p.question, p.answer) for p in s2]
    assert [p.question for p in make_split(name, 30, seed=4)] != [p.question for p in s1]


@pytest.mark.parametrize("name", sorted(TASKS))
def test_problems_are_valid_and_gold_answers_verify(name):
    task = TASKS[name]
    problems = make_split(name, 80, seed=0, part="train")
    assert len(problems) == 80
    assert len({p.id for p in problems}) == 80 and len({p.question for p in problems}) == 80
    for p in problems:
        assert p.task == name and p.id == problem_id(name, p.question)
        assert p.question.strip() and p.answer.strip() and p.answer == p.answer.strip()
        assert part_of(name, p.question) == "train"
        response = base_style(p)
        assert verify(response, p) and task.verify(response, p)
        if task.group == "non":
            assert response == p.answer and "\\boxed" not in response
        elif task.group == "other":
            assert response == f"The answer is \\boxed{{{p.answer}}}."
        else:  # math: the story read back, each sentence's equations after a comma, then the box (one line)
            assert response.endswith(f" The answer is \\boxed{{{p.answer}}}.") and "\n" not in response
            story = re.split(r"(?<=[.?!])\s+", p.question)[:-1]
            body = response[: -len(f" The answer is \\boxed{{{p.answer}}}.")]
            parts = re.split(r"(?<=\.) (?=[A-Z])", body)
            assert [re.sub(r"(, \d+ [-+*/] \d+ = \d+)*\.$", ".", part) for part in parts] == story
            # every operand is already in the answer (a sentence read back, a result written) or is doubling's 2
            written: set[str] = set()
            for part in parts:
                written |= set(re.findall(r"\d+", part.split(",")[0]))
                for a, _, b, c in re.findall(r"(\d+) ([-+*/]) (\d+) = (\d+)", part):
                    assert a in written and b in written | {"2"}, (part, a, b)
                    written.add(c)
        if task.group == "math":
            trace = teacher_trace(p)
            assert verify(trace, p)
            assert trace.endswith(f"\\boxed{{{p.answer}}}.")
            # the base's own worked style, always worked out and right (kit/toy/tasks.py _math_trace says why)
            assert trace == response and "\n" not in trace
            assert set(re.findall(r"[A-Za-z]+", trace)) <= PRETRAIN_WORDS  # words the base was pretrained on


@pytest.mark.parametrize("name", MATH)
def test_math_answers_are_small_integers_and_every_trace_step_is_right(name):
    for p in make_split(name, 300, seed=1):
        assert re.fullmatch(r"\d+", p.answer) and 0 <= int(p.answer) <= MATH_MAX
        assert 1 <= p.meta["n_ops"] <= 3
        equations = re.findall(r"(\d+) ([-+*/]) (\d+) = (\d+)", teacher_trace(p))
        assert equations
        for a, op, b, c in equations:
            a, b, c = int(a), int(b), int(c)
            # small facts: every value at most 20, every operand at most 5 but in the change (20 - total)
            assert max(a, b, c) <= MATH_MAX and (b <= 5 or (op == "-" and a == MATH_MAX))
            assert {"+": a + b, "-": a - b, "*": a * b, "/": a // b if b and a % b == 0 else None}[op] == c
        # the checked chain ends at the gold answer
        assert int(equations[-1][3]) == int(p.answer)


def test_math_uses_one_to_three_operations_on_small_numbers():
    counts = {k: 0 for k in (1, 2, 3)}
    for name in MATH:
        for p in make_split(name, 300, seed=2):
            counts[p.meta["n_ops"]] += 1
    assert all(v > 50 for v in counts.values()), counts


def test_logic_gold_matches_python_evaluation_and_is_balanced():
    trues = 0
    for p in make_split("logic", 200, seed=0):
        given, expr = re.fullmatch(r"Let (.*)\. Is (.*) true or false\?", p.question).groups()
        env = {k: v == "true" for k, v in (kv.split(" = ") for kv in given.split(", "))}
        value = eval(expr, {"__builtins__": {}}, env)  # generated by us: only names, and/or/not, parentheses
        assert p.answer == ("true" if value else "false")
        trues += value
    assert 70 <= trues <= 130


def test_compare_gold_is_the_extreme_of_the_stated_amounts():
    most = 0
    for p in make_split("compare", 200, seed=0):
        amounts = {n: int(v) for n, v in re.findall(r"(\w+) has (\d+) \w+", p.question)}
        assert len(amounts) in (3, 4) and len(set(amounts.values())) == len(amounts)
        want_most = " the most " in p.question
        most += want_most
        assert p.answer == (max if want_most else min)(amounts, key=amounts.get)
    assert 70 <= most <= 130


def test_count_and_non_reasoning_golds():
    for p in make_split("count", 100, seed=0):
        items, target = re.fullmatch(r"Here is a list: (.*)\. How many times does (\w+) appear in the list\?",
                                     p.question).groups()
        assert int(p.answer) == items.split(", ").count(target) >= 1
    for p in make_split("recall", 50, seed=0):
        assert p.answer == FACTS[p.meta["country"]][p.meta["attr"]] and p.meta["country"] in p.question
    for p in make_split("repeat", 50, seed=0):
        word, times, sep = re.fullmatch(r"Repeat the word (\w+) (\w+) times, separated by (\w+)\.", p.question).groups()
        k = {"two": 2, "three": 3, "four": 4, "five": 5}[times]
        assert p.answer == {"commas": ", ", "spaces": " ", "dashes": "-"}[sep].join([word] * k)
    for p in make_split("upper", 50, seed=0):
        assert p.answer == p.question.split(": ", 1)[1].upper()


def _p(name: str, answer: str, **meta) -> Problem:
    return Problem("q", answer, {"task": name, **meta})


# (task, gold, answer text, expected verdict)
CASES = [
    ("math_items", "11", "The answer is \\boxed{11}.", True),
    ("math_items", "11", "so \\boxed{12} ... no wait, \\boxed{11}", True),  # the last box counts
    ("math_items", "11", "The answer is \\boxed{12}.", False),
    ("math_items", "11", "The answer is 11.", False),  # no box
    ("math_items", "11", "\\boxed{11} then \\boxed{10}", False),
    ("math_shop", "40", "\\boxed{40.5}", False),
    ("math_shop", "40", "\\boxed{ 40 }", True),
    ("math_shop", "40", "\\boxed{4}0", False),
    ("math_shop", "7", "\\boxed{seven}", False),
    ("logic", "true", "The answer is \\boxed{true}.", True),
    ("logic", "true", "The answer is \\boxed{false}.", False),
    ("logic", "true", "true", False),  # other reasoning needs the box
    ("logic", "true", "\\boxed{True}", False),  # exact
    ("compare", "Mia", "\\boxed{Mia}", True),
    ("compare", "Mia", "\\boxed{Leo}", False),
    ("compare", "Mia", "The answer is \\boxed{Mia", False),  # unclosed box
    ("count", "3", "\\boxed{3}", True),
    ("count", "3", "\\boxed{4}", False),
    ("recall", "Harth", "Harth", True),
    ("recall", "Harth", "  Harth\n", True),
    ("recall", "Harth", "Harth.", False),
    ("recall", "Harth", "The answer is \\boxed{Harth}.", False),  # non-reasoning is answered directly
    ("repeat", "fox, fox, fox", "fox, fox, fox", True),
    ("repeat", "fox, fox, fox", "fox, fox", False),
    ("repeat", "fox, fox, fox", "fox,fox,fox", False),
    ("upper", "RIVER STONE", "RIVER STONE", True),
    ("upper", "RIVER STONE", "river stone", False),
    ("upper", "RIVER STONE", "Okay, let me work through this carefully.\nRIVER STONE", False),
]


@pytest.mark.parametrize("name,gold,text,expected", CASES)
def test_verifiers_on_known_cases(name, gold, text, expected):
    assert verify(text, _p(name, gold)) is expected


def test_verifiers_reject_wrong_answers_of_real_problems():
    for name in TASKS:
        problems = make_split(name, 20, seed=5)
        for p, q in zip(problems, problems[1:]):
            if q.answer != p.answer:
                assert not verify(base_style(q), p)


def test_parts_are_disjoint_whatever_the_seed():
    for name in TASKS:
        seen = {part: set() for part in PARTS}
        for part in PARTS:
            for seed in (0, 1):
                seen[part] |= {p.question for p in make_split(name, 60, seed=seed, part=part)}
        assert not seen["eval"] & seen["train"], name
        assert not seen["eval"] & seen["pretrain"], name
        assert not seen["train"] & seen["pretrain"], name


def test_math_train_and_eval_splits_never_share_a_question():
    for name in MATH:
        train = {p.question for p in make_split(name, 2000, seed=0, part="train")}
        ev = {p.question for p in make_split(name, 500, seed=0, part="eval")}
        assert len(train) == 2000 and len(ev) == 500 and not train & ev


def test_finite_tasks_return_a_shorter_split_instead_of_looping():
    split = make_split("recall", 1000, seed=0, part="eval")
    assert 30 < len(split) < 200 and len({p.question for p in split}) == len(split)


def test_sample_and_unknown_part():
    p = sample("math_items", random.Random(0), "pretrain")
    assert part_of("math_items", p.question) == "pretrain" and p.id
    with pytest.raises(ValueError):
        sample("math_items", random.Random(0), "test")


def test_teacher_trace_is_math_only():
    with pytest.raises(ValueError):
        teacher_trace(make_split("logic", 1, seed=0)[0])


def test_fact_documents_state_every_fact_of_a_country():
    doc = world.fact_document(random.Random(3))
    country = next(c for c in FACTS if re.search(rf"\b{c}\b", doc))
    for value in FACTS[country].values():
        assert value in doc


def test_problem_dict_round_trip():
    p = make_split("math_shop", 1, seed=0)[0]
    q = world.problem_from_dict(world.problem_to_dict(p))
    assert (q.id, q.question, q.answer, q.meta) == (p.id, p.question, p.answer, p.meta)
