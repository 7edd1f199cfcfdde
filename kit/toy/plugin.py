"""The CPU mini-world's registrations (kit/builtin.py imports this): the toy base as a built model
(`model.id: toy-qwen3`), its training problems as a data source (`data.source: toy`) and its tasks as benchmarks
(`toy_<task>`). The core looks each up by name and never imports kit.toy; nothing heavy is imported here."""

from __future__ import annotations

import random
from pathlib import Path

from kit.errors import KitError
from kit.registry import DATA_SOURCES, MODEL_PROVIDERS, DataSource, ModelProvider

TOY_ID = "toy-qwen3"  # the mini-world's pretrained base, built once and cached
SOURCE = "toy"
TRAIN_PER_TASK = 1000  # training problems generated per math task


def build_base(model_cfg, cache_root: Path) -> Path:
    """The toy base's folder under the cache (pretrained on the world on first use)."""
    from kit.toy.pretrain import ensure_base

    return ensure_base(cache_root / "toy", quick=model_cfg.toy_quick, log=print)


def base_fingerprint(model_cfg) -> str:
    """The toy base's build key: its world, tokenizer and pretraining code versions and settings."""
    from kit.toy.pretrain import DEFAULT, QUICK, cfg_key

    return f"{TOY_ID}-{cfg_key(QUICK if model_cfg.toy_quick else DEFAULT)}"


def check_data(data_cfg) -> None:
    """What the toy source cannot serve: it writes no-think teacher traces only."""
    if data_cfg.sft_target != "no_think":
        raise KitError(f"data.source={SOURCE} has no-think teacher traces only; set data.sft_target=no_think")


def toy_problems(data_cfg, per_task: int = TRAIN_PER_TASK) -> list:
    """The world's math training problems with the program-written teacher traces, in a seeded order."""
    from kit.data.train_sets import Problem
    from kit.toy.world import make_split, tasks_in, teacher_trace

    check_data(data_cfg)
    out = [Problem(p.question, p.answer, teacher_trace(p), p.task)
           for task in tasks_in("math") for p in make_split(task, per_task, data_cfg.seed, part="train")]
    random.Random(data_cfg.seed).shuffle(out)
    return out


MODEL_PROVIDERS.register(TOY_ID, ModelProvider(
    id=TOY_ID, build="kit.toy.plugin:build_base", fingerprint="kit.toy.plugin:base_fingerprint",
    description="the CPU mini-world's tiny Qwen3, pretrained from scratch on the world (kit/toy/pretrain.py)"))
DATA_SOURCES.register(SOURCE, DataSource(
    name=SOURCE, problems="kit.toy.plugin:toy_problems", check="kit.toy.plugin:check_data",
    description="the CPU mini-world's math training problems with program-written teacher traces"))

import kit.toy.benchmarks  # noqa: E402,F401  (registers the toy_<task> benchmarks)
