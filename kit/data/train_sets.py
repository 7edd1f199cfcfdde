"""The paper's training problems: `math_rl_48k` (question, golden_answer) for RL and `math_sft_40K`
(Qwen3-32B responses that passed rejection sampling) for SFT.

Both arms must see the same problems, so the two sets are joined on the normalised question text and one
seeded sample of the intersection is used by every arm. Prompts longer than the preset allows are dropped
here (TRL no longer truncates prompts for GRPO) and the count is reported.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.chat import render_completion, render_prompt, split_thinking
from kit.errors import KitError

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "train"
RL_SUFFIX = " Let's think step by step and output the final answer in the \\boxed{}."  # train/to_parquet.py
SFT_COLUMNS = {"no_think": "no_think_response", "think": "think_response"}
FULL_SIZES = {"math_rl_48k": 48_800, "math_sft_40K": 39_900}  # dataset cards (rows); used by --dry-run


@dataclass
class Problem:
    question: str
    answer: str
    response: str  # the teacher's response for SFT (think or no-think target)
    source: str


def _norm(q: str) -> str:
    return re.sub(r"\s+", " ", q).strip().lower()


def _load(dataset: str, revision: str, use_fixtures: bool) -> list[dict[str, Any]]:
    import datasets

    if use_fixtures:
        path = FIXTURES / f"{dataset.split('/')[-1]}.jsonl"
        if not path.exists():
            raise KitError(f"no fixture for training set '{dataset}' at {path}")
        return [dict(r) for r in datasets.load_dataset("json", data_files=str(path), split="train")]
    try:
        return [dict(r) for r in datasets.load_dataset(dataset, split="train", revision=revision)]
    except Exception as exc:  # network, auth, schema: one line for the user
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise KitError(f"could not load training set {dataset}@{revision}: {first}. "
                       "Use data.source=fixtures to run offline.") from exc


def toy_problems(data_cfg, per_task: int = 1000) -> list[Problem]:
    """The CPU mini-world's math training problems with the program-written teacher traces (kit/toy)."""
    from kit.toy.world import make_split, tasks_in, teacher_trace

    out = [Problem(p.question, p.answer, teacher_trace(p), p.task)
           for task in tasks_in("math") for p in make_split(task, per_task, data_cfg.seed, part="train")]
    if data_cfg.sft_target != "no_think":
        raise KitError("data.source=toy has no-think teacher traces only; set data.sft_target=no_think")
    return out


def load_problems(data_cfg) -> list[Problem]:
    """Problems present in both sets, in a seeded random order."""
    if data_cfg.source == "toy":
        problems = toy_problems(data_cfg)
        random.Random(data_cfg.seed).shuffle(problems)
        return problems
    fixtures = data_cfg.source == "fixtures"
    rl = _load(data_cfg.rl_dataset, data_cfg.rl_revision, fixtures)
    sft = _load(data_cfg.sft_dataset, data_cfg.sft_revision, fixtures)
    column = SFT_COLUMNS[data_cfg.sft_target]
    for name, rows, needed in ((data_cfg.rl_dataset, rl, ("question", "golden_answer")),
                               (data_cfg.sft_dataset, sft, ("question", column))):
        if rows and any(c not in rows[0] for c in needed):
            raise KitError(f"{name} lacks column(s) {[c for c in needed if c not in rows[0]]}; has {sorted(rows[0])}")
    responses = {_norm(r["question"]): r[column] for r in sft if r.get(column)}
    problems = [Problem(r["question"], str(r["golden_answer"]), responses[_norm(r["question"])],
                        str(r.get("data_source", ""))) for r in rl if _norm(r["question"]) in responses]
    if not problems:
        raise KitError(f"{data_cfg.rl_dataset} and {data_cfg.sft_dataset} share no questions; check the revisions")
    random.Random(data_cfg.seed).shuffle(problems)
    return problems


def sft_example(p: Problem, target: str, enable_thinking: bool) -> dict[str, str]:
    """Prompt/completion strings for TRL (already templated, so TRL's template handling cannot drift).

    think targets: the prompt opens the assistant turn without the empty think block and the completion
    carries the teacher's `<think>…</think>` then the answer. no_think targets follow `chat.enable_thinking`.
    """
    if target == "think":
        parts = split_thinking(p.response, enable_thinking=False)
        completion = render_completion(parts.answer, thinking=parts.reasoning)
        return {"prompt": render_prompt(p.question, enable_thinking=True), "completion": completion}
    return {"prompt": render_prompt(p.question, enable_thinking), "completion": render_completion(p.response.strip())}


def rl_example(p: Problem, enable_thinking: bool, suffix: bool = True) -> dict[str, str]:
    return {"prompt": render_prompt(p.question + (RL_SUFFIX if suffix else ""), enable_thinking), "answer": p.answer}


def build(recipe, tokenizer, n_problems: int, out_dir: Path) -> dict[str, Any]:
    """Write data/sft.jsonl and data/rl.jsonl for the same problems; returns counts for the summary."""
    problems = load_problems(recipe.data)
    limit = recipe.data.max_prompt_tokens
    kept, too_long_prompt, too_long_sft = [], 0, 0
    for p in problems:
        rl = rl_example(p, recipe.chat.enable_thinking, recipe.data.rl_suffix)
        sft = sft_example(p, recipe.data.sft_target, recipe.chat.enable_thinking)
        if len(tokenizer(rl["prompt"])["input_ids"]) > limit:
            too_long_prompt += 1
            continue
        if len(tokenizer(sft["prompt"] + sft["completion"])["input_ids"]) > recipe.sft.max_length:
            too_long_sft += 1
            continue
        kept.append((p, rl, sft))
        if len(kept) >= n_problems:
            break
    if not kept:
        raise KitError(f"every problem was longer than data.max_prompt_tokens={limit} or sft.max_length="
                       f"{recipe.sft.max_length}; raise them")
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "sft.jsonl", "w") as f_sft, open(out_dir / "rl.jsonl", "w") as f_rl:
        for p, rl, sft in kept:
            f_sft.write(json.dumps({**sft, "question": p.question, "answer": p.answer}) + "\n")
            f_rl.write(json.dumps({**rl, "question": p.question}) + "\n")
    return {"available": len(problems), "requested": n_problems, "used": len(kept),
            "dropped_long_prompt": too_long_prompt, "dropped_long_sft": too_long_sft}


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
