"""The CPU mini-world: three task groups that mirror the paper's benchmark groups, each task with a seeded
generator and an exact verifier (the tasks themselves are in kit/toy/tasks.py; the registry `TASKS`, the splits
and the public helpers are here).

- math (the training domain): arithmetic word problems of two or three steps on small numbers (every value
  0..20). The answer goes in `\\boxed{}`; when the base works a problem out it reads the story back sentence
  by sentence with each sentence's equation after it.
- other reasoning (never trained on): boolean logic over named variables, picking who has the most (or
  fewest) of something from stated amounts, counting a word in a list. The answer goes in `\\boxed{}` too,
  so the "reason, then box" habit matters across both reasoning groups.
- non-reasoning (never trained on): recall of invented facts that appear in the pretraining corpus, copying
  a word with a separator, writing words in upper case. The answer is given directly (no box) and checked
  as an exact string after stripping.

Every problem has a base-style response (`base_style`: the pretrained base's own answer; for math the story
read back with its equations, then the box, and sometimes just the box, `direct_answer`) and every math problem
a teacher trace (`teacher_trace`: a longer, program-written solution in a style unlike the base's, one line per
sentence and per equation and a check line, but in words the base knows; the off-policy SFT target).

Questions fall into three disjoint parts by a hash of (task, question): "eval" (20 %), "train" (20 %, the
math problems for SFT/RL) and "pretrain" (60 %, what the toy base is pretrained on). `make_split` only ever
returns questions of the part it is asked for, so any train split and any eval split are disjoint, whatever
their seeds and sizes.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from kit.groups import GROUPS  # noqa: F401  (the world's groups are the kit's)
from kit.toy.tasks import (  # noqa: F401  (re-exported: the world's public names)
    FACTS,
    Problem,
    Task,
    _boxed_style,
    _gen_compare,
    _gen_count,
    _gen_logic,
    _gen_math_items,
    _gen_math_shop,
    _gen_recall,
    _gen_repeat,
    _gen_upper,
    _math_style,
    _math_trace,
    math_equations,
    _plain_style,
    _verify_boxed_int,
    _verify_boxed_str,
    _verify_exact,
    all_fact_sentences,
    fact_document,
)

# Bump when a generator, a template or the fact table (kit/toy/tasks.py) changes: cached toy bases are keyed by it.
WORLD_VERSION = "toy-world-10"

PARTS: tuple[str, ...] = ("eval", "train", "pretrain")


# -----------------------------------------------------------------------------------------------------
# registry and splits

TASKS: dict[str, Task] = {
    "math_items": Task("math_items", "math", _gen_math_items, _verify_boxed_int, _math_style, _math_trace),
    "math_shop": Task("math_shop", "math", _gen_math_shop, _verify_boxed_int, _math_style, _math_trace),
    "logic": Task("logic", "other", _gen_logic, _verify_boxed_str, _boxed_style),
    "compare": Task("compare", "other", _gen_compare, _verify_boxed_str, _boxed_style),
    "count": Task("count", "other", _gen_count, _verify_boxed_int, _boxed_style),
    "recall": Task("recall", "non", _gen_recall, _verify_exact, _plain_style),
    "repeat": Task("repeat", "non", _gen_repeat, _verify_exact, _plain_style),
    "upper": Task("upper", "non", _gen_upper, _verify_exact, _plain_style),
}


def tasks_in(group: str) -> list[str]:
    return [name for name, t in TASKS.items() if t.group == group]


def _task(task: str | Task) -> Task:
    return task if isinstance(task, Task) else TASKS[task]


def part_of(task: str, question: str) -> str:
    """Which part a question belongs to: a fixed hash of (task, question), so parts never overlap."""
    h = int(hashlib.sha256(f"{task}|{question}".encode()).hexdigest()[:8], 16) % 100
    return "eval" if h < 20 else ("train" if h < 40 else "pretrain")


def problem_id(task: str, question: str) -> str:
    return f"{task}-{hashlib.sha256(f'{task}|{question}'.encode()).hexdigest()[:12]}"


def sample(task: str | Task, rng: random.Random, part: str = "pretrain") -> Problem:
    """One problem of `task` from `part` (rejection sampling on the hash partition), with its id set."""
    t = _task(task)
    if part not in PARTS:
        raise ValueError(f"unknown part '{part}' (one of {PARTS})")
    while True:
        p = t.generate(rng)
        if part_of(t.name, p.question) == part:
            return Problem(p.question, p.answer, p.meta, problem_id(t.name, p.question))


def make_split(task: str | Task, n: int, seed: int, part: str = "eval") -> list[Problem]:
    """`n` distinct problems of `task` from `part` ("eval", "train" or "pretrain"), the same for the same
    arguments. Where a task's question space holds fewer than `n` questions in that part, the split is
    shorter (it stops after many draws find nothing new)."""
    t = _task(task)
    rng = random.Random(f"{t.name}:{part}:{seed}")
    out: list[Problem] = []
    seen: set[str] = set()
    misses = 0
    while len(out) < n and misses < 2000:
        p = sample(t, rng, part)
        if p.question in seen:
            misses += 1
            continue
        seen.add(p.question)
        out.append(p)
        misses = 0
    return out


def verify(answer_text: str, problem: Problem) -> bool:
    """Check an answer (the text after `</think>`) against a problem of any task."""
    return TASKS[problem.task].verify(answer_text, problem)


def base_style(problem: Problem) -> str:
    """The base model's own response to a problem, one short line: the bare equations and the boxed answer
    (math), "The answer is \\boxed{...}." (other reasoning), the answer itself (non-reasoning)."""
    return TASKS[problem.task].base_style(problem)


def direct_answer(problem: Problem) -> str:
    """The base's other habit on math: the boxed result with no equations before it. Pretraining renders a
    share of math problems this way (kit.toy.pretrain, `math_direct`), so the base sometimes works a problem
    out and sometimes guesses, as real base models sometimes reason and sometimes answer at once; both
    fine-tuning arms can raise math by making it work problems out."""
    if TASKS[problem.task].group != "math":
        raise ValueError(f"task '{problem.task}' is not a math task")
    return _boxed_style(problem)


def teacher_trace(problem: Problem) -> str:
    """The teacher's verbose step-by-step solution (math tasks only), ending with the boxed answer."""
    fn = TASKS[problem.task].teacher_trace
    if fn is None:
        raise ValueError(f"task '{problem.task}' has no teacher trace (math tasks only)")
    return fn(problem)


def problem_to_dict(problem: Problem) -> dict[str, Any]:
    return {"id": problem.id, "question": problem.question, "answer": problem.answer, "meta": problem.meta}


def problem_from_dict(row: dict[str, Any]) -> Problem:
    return Problem(row["question"], row["answer"], dict(row["meta"]), row.get("id", ""))
