"""The paper's training problems: `math_rl_48k` (question, golden_answer) for RL and `math_sft_40K`
(Qwen3-32B responses that passed rejection sampling) for SFT.

Both arms must see the same problems, so the two sets are joined on the normalised question text and one
seeded sample of the intersection is used by every arm. Prompts longer than the preset allows are dropped
here (TRL no longer truncates prompts for GRPO) and the count is reported.

`data.rl_problems=all` is the paper's own split instead: RL trains on the whole math_rl_48k (48.8K rows, the
paper's "47K" queries) while SFT keeps the shared problems (the 39.9K that survived rejection sampling). The
RL file then starts with the SFT problems, in the same order, followed by RL-only problems.

`data.source` names an entry of `kit.registry.DATA_SOURCES` ("hub", "fixtures": kit/data/sources.py; plug-ins
register their own generators), which gives the problems and, for `rl_problems=all`, the RL pool.
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
from kit.registry import DATA_SOURCES, DataSource, resolve

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "train"
RL_SUFFIX = " Let's think step by step and output the final answer in the \\boxed{}."  # train/to_parquet.py
# `no_think_response` is confirmed (a third-party converter of the released set reads it); the think column's
# name is NOT confirmed by the dataset card (paper.md §5.1); `data.sft_column` overrides both.
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


def sft_column(data_cfg) -> str:
    """The SFT set's response column: `data.sft_column`, else the one named for `data.sft_target`."""
    return data_cfg.sft_column or SFT_COLUMNS[data_cfg.sft_target]


def _check_columns(name: str, rows: list[dict[str, Any]], needed: tuple[str, ...], data_cfg) -> None:
    missing = [c for c in needed if rows and c not in rows[0]]
    if not missing:
        return
    hint = "set data.sft_column to the column holding the teacher's responses" if sft_column(data_cfg) in missing \
        else "check the dataset id and revision"
    raise KitError(f"{name} (sft_target={data_cfg.sft_target}) lacks column(s) {missing}; "
                   f"it has {sorted(rows[0])}: {hint}")


def _rl_problem(r: dict[str, Any], response: str = "") -> Problem:
    return Problem(r["question"], str(r["golden_answer"]), response, str(r.get("data_source", "")))


def _load_sets(data_cfg) -> tuple[list[dict[str, Any]], dict[str, str]]:
    """(RL rows, normalised question -> SFT response) of the two released sets, columns checked."""
    fixtures = data_cfg.source == "fixtures"
    rl = _load(data_cfg.rl_dataset, data_cfg.rl_revision, fixtures)
    sft = _load(data_cfg.sft_dataset, data_cfg.sft_revision, fixtures)
    column = sft_column(data_cfg)
    _check_columns(data_cfg.rl_dataset, rl, ("question", "golden_answer"), data_cfg)
    _check_columns(data_cfg.sft_dataset, sft, ("question", column), data_cfg)
    return rl, {_norm(r["question"]): r[column] for r in sft if r.get(column)}


def _shared(rl: list[dict[str, Any]], responses: dict[str, str], data_cfg) -> list[Problem]:
    problems = [_rl_problem(r, responses[_norm(r["question"])]) for r in rl if _norm(r["question"]) in responses]
    if not problems:
        raise KitError(f"{data_cfg.rl_dataset} and {data_cfg.sft_dataset} share no questions; check the revisions")
    random.Random(data_cfg.seed).shuffle(problems)
    return problems


def released_problems(data_cfg) -> list[Problem]:
    """The released sets' shared problems (present in both), in a seeded random order: sources hub, fixtures."""
    return _shared(*_load_sets(data_cfg), data_cfg)


def released_rl_pool(data_cfg) -> list[Problem]:
    """Every row of math_rl_48k (no teacher response): what `data.rl_problems=all` tops the RL set up from."""
    rl = _load(data_cfg.rl_dataset, data_cfg.rl_revision, data_cfg.source == "fixtures")
    _check_columns(data_cfg.rl_dataset, rl, ("question", "golden_answer"), data_cfg)
    return [_rl_problem(r) for r in rl]


def data_source(data_cfg) -> DataSource:
    """`data.source` looked up in the registry (an unknown name is one line listing the known ones), its own
    rules checked (`DataSource.check`), and `data.rl_problems=all` refused for a source without an RL pool."""
    source = DATA_SOURCES.get(data_cfg.source)
    if source.check is not None:
        resolve(source.check)(data_cfg)
    if getattr(data_cfg, "rl_problems", "shared") == "all" and source.rl_pool is None:
        pools = ", ".join(n for n, s in DATA_SOURCES.items() if s.rl_pool is not None)
        raise KitError(f"data.rl_problems=all needs the released sets (a data source with an RL pool: {pools}); "
                       f"data.source={data_cfg.source} has one problem set; set data.rl_problems=shared")
    return source


def load_problems(data_cfg) -> list[Problem]:
    """The problems both arms train on, in the source's seeded order."""
    return list(resolve(data_source(data_cfg).problems)(data_cfg))


def rl_problem_count(recipe, shared: int) -> int:
    """RL problems to plan for when `shared` problems are planned for SFT (kit/plan/'s n_problems).

    'shared': the same count. 'all': the whole math_rl_48k at the same scale, i.e. `shared` times the
    released sets' ratio (48.8K / 39.9K), so `scale=1` gives the full 48.8K and `data.num_problems` keeps
    meaning the SFT (shared) count.
    """
    if recipe.data.rl_problems != "all":
        return shared
    return max(shared, round(shared * FULL_SIZES["math_rl_48k"] / FULL_SIZES["math_sft_40K"]))


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
    """Write data/sft.jsonl and data/rl.jsonl; returns counts for the summary.

    Both files hold the same problems unless `data.rl_problems=all`: then rl.jsonl has the SFT problems first
    and is topped up with the rest of math_rl_48k (RL needs no teacher response, so problems dropped only for
    SFT length come back) up to `rl_problem_count(recipe, n_problems)`.
    """
    cfg = recipe.data
    rl_all = getattr(cfg, "rl_problems", "shared") == "all"
    source = data_source(cfg)
    problems = list(resolve(source.problems)(cfg))
    rl_pool: list[Problem] = list(resolve(source.rl_pool)(cfg)) if rl_all and source.rl_pool is not None else []
    limit = cfg.max_prompt_tokens

    def prompt_fits(rl: dict[str, str]) -> bool:
        return len(tokenizer(rl["prompt"])["input_ids"]) <= limit

    kept, too_long_prompt, too_long_sft = [], 0, 0
    for p in problems:
        rl = rl_example(p, recipe.chat.enable_thinking, cfg.rl_suffix)
        sft = sft_example(p, cfg.sft_target, recipe.chat.enable_thinking)
        if not prompt_fits(rl):
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
    rl_out = [(p, rl) for p, rl, _ in kept]
    summary: dict[str, Any] = {"available": len(problems), "requested": n_problems, "used": len(kept),
                               "dropped_long_prompt": too_long_prompt, "dropped_long_sft": too_long_sft}
    if rl_all:
        target = rl_problem_count(recipe, n_problems)
        taken = {(_norm(p.question), p.answer) for p, _ in rl_out}
        rest = list(rl_pool)
        random.Random(cfg.seed + 1).shuffle(rest)
        rl_long = 0
        for p in rest:
            if len(rl_out) >= target:
                break
            key = (_norm(p.question), p.answer)
            if key in taken:
                continue
            rl = rl_example(p, recipe.chat.enable_thinking, cfg.rl_suffix)
            if not prompt_fits(rl):
                rl_long += 1
                continue
            taken.add(key)
            rl_out.append((p, rl))
        summary.update({"rl_problems": "all", "rl_available": len(rl_pool), "rl_requested": target,
                        "rl_used": len(rl_out), "rl_dropped_long_prompt": rl_long})
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / "sft.jsonl", "w") as f_sft:
        for p, _, sft in kept:
            f_sft.write(json.dumps({**sft, "question": p.question, "answer": p.answer}) + "\n")
    with open(out_dir / "rl.jsonl", "w") as f_rl:
        for p, rl in rl_out:
            f_rl.write(json.dumps({**rl, "question": p.question}) + "\n")
    return summary


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
