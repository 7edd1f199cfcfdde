"""How the runner hands a train stage to several processes: `accelerate launch -m kit.worker train ...` on the
trainer GPUs, TRL's rollout server on its own GPUs for the arms that generate through it, and the checks that keep
a resume on the layout that wrote its checkpoints (kit.dist holds the mechanics)."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

from kit.errors import KitError

ROLLOUT_SERVER_ARMS = ("grpo",)  # arms whose trainer generates through TRL's vLLM server in server mode


def train_arm(ctx, arm: str, out: Path) -> dict[str, Any]:
    """Train one arm in this process, or, with distributed.processes > 1 and an arm that runs in several processes,
    in the trainer processes accelerate starts, waiting for them and returning their summary."""
    from kit import dist
    from kit.hardware import training_backend
    from kit.registry import ARMS
    from kit.worker import SUMMARY

    record = ARMS.get(arm)
    d = ctx.recipe.distributed
    launched = not ctx.worker and d.processes > 1 and record.multiprocess
    n = dist.trainer_processes(ctx.recipe) if launched else 1
    if not ctx.worker:  # checkpoints another layout wrote are refused here, in the one runner process
        dist.check_layout(out, {"strategy": d.strategy if launched else "ddp", "processes": n,
                                "backend": training_backend(ctx.recipe, ctx.hw, launched)})
    if not launched:
        try:
            return record.train(ctx, out)
        finally:
            if d.processes > 1:
                free_gpu_memory()  # the next stage's workers share this process's GPU 0
    (out / SUMMARY).unlink(missing_ok=True)
    from kit.tracking import tracker_env

    tracker_env(ctx.recipe, out)  # the arm's tracker folder and W&B run id, made once here, read by every trainer
    devices = list(range(d.rollout_gpus, d.processes)) if ctx.hw.cuda else None
    cmd = dist.accelerate_command(ctx.recipe, ["train", str(ctx.run_dir), arm], n)
    where = f"GPUs {','.join(map(str, devices))}" if devices else "CPU/gloo"
    print(f"[train_{arm}] {n} trainer processes ({d.strategy}, {where})", flush=True)
    with rollout_server(ctx, arm):
        dist.run_workers([(cmd, dist.worker_env(devices))], f"train_{arm}")
    if not (out / SUMMARY).exists():
        raise KitError(f"train_{arm}: the trainer processes exited without a summary ({out / SUMMARY})")
    summary = json.loads((out / SUMMARY).read_text())
    (out / SUMMARY).unlink()
    return {**summary, "processes": n}


def rollout_server(ctx, arm: str):
    """The rollout server (TRL's `trl vllm-serve` on distributed.rollout_gpus GPUs) for an arm whose trainer
    generates through it, started before its trainer processes and stopped after; otherwise nothing."""
    if not ctx.recipe.distributed.rollout_gpus or arm not in ROLLOUT_SERVER_ARMS:
        return contextlib.nullcontext()
    from kit.train.server import rollout_server as server

    return server(ctx.recipe, ctx.hw)


def free_gpu_memory() -> None:
    """An arm trained inside the runner leaves cached CUDA memory that the launched workers on GPU 0 would lack."""
    import gc

    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass
