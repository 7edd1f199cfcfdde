"""`python -m kit.worker train RUN_DIR ARM` / `eval RUN_DIR --shard R --shards N`: one of a multi-process stage's
processes.

Started by the runner (kit.run, through kit.dist), never by hand: the runner holds the run folder's lock and writes
the manifests; a worker reads the recipe the runner saved (RUN_DIR/recipe.resolved.yaml, with the sizes the plan
resolved), does its share and exits. Under `accelerate launch` each trainer process finds its rank in RANK/LOCAL_RANK;
the main one writes the stage's summary for the runner to read (`SUMMARY`). An eval worker is a plain process (one
device, seen as device 0) that appends its chunks to its own shard logs, which the runner merges.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from kit.errors import KitError

SUMMARY = ".worker_summary.json"  # in the stage's own folder: written by the main process, read by the runner


def context(run_dir: Path):
    """The runner's Context rebuilt from the run folder: the saved recipe, this process's machine, and the plan's
    resolved sizes (all a worker's stage reads of the plan)."""
    import yaml

    from kit.compose import load_recipe
    from kit.hardware import apply_cpu_threads, detect
    from kit.run import Context
    from kit.rundir import RESOLVED

    path = run_dir / RESOLVED
    if not path.exists():
        raise KitError(f"{path} is missing: a worker runs inside a run the runner (python -m kit.run) started")
    recipe = load_recipe(str(path), [])
    apply_cpu_threads(recipe.cpu_threads)
    sizes = (yaml.safe_load(path.read_text()) or {}).get("resolved") or {}
    plan = SimpleNamespace(problems=sizes.get("problems"), rl_problems=sizes.get("rl_problems"),
                           eval_items=dict(sizes.get("eval_items") or {}))
    return Context(recipe, detect(), plan, run_dir, worker=True)


def train(run_dir: Path, arm: str) -> dict[str, Any]:
    from kit import dist
    from kit.registry import ARMS

    ctx = context(run_dir)
    expected = dist.trainer_processes(ctx.recipe)
    if dist.world() != expected:
        raise KitError(f"this worker is one of {dist.world()} processes, the recipe plans {expected} trainers")
    out = run_dir / "arms" / arm
    summary = ARMS.get(arm).train(ctx, out)
    if dist.is_main():
        (out / SUMMARY).write_text(json.dumps(summary, default=str))
    return summary


def eval_shard(run_dir: Path, shard: int, shards: int) -> dict[str, Any]:
    """Shard `shard` of `shards` of the eval stage's generation (kit.eval.stage.run_shard)."""
    from kit.hardware import choose_backend

    ctx = context(run_dir)
    if choose_backend(ctx.recipe.model.backend, ctx.hw) == "unsloth":
        import unsloth  # noqa: F401  (before the eval code, as in kit.run: it patches transformers, peft and trl)
    from kit.eval.stage import run_shard

    return run_shard(ctx, shard, shards)


COMMANDS = {"train": lambda a: train(Path(a.run_dir), a.arm),
            "eval": lambda a: eval_shard(Path(a.run_dir), a.shard, a.shards)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kit.worker", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train one arm as one of the processes accelerate launched")
    t.add_argument("run_dir")
    t.add_argument("arm")
    e = sub.add_parser("eval", help="generate one shard of the eval stage's chunks (started by the runner)")
    e.add_argument("run_dir")
    e.add_argument("--shard", type=int, required=True, help="this worker's number, 0..N-1")
    e.add_argument("--shards", type=int, required=True, help="N: the eval workers of this run")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    from kit import dist

    dist.watch_parent()
    try:
        COMMANDS[args.command](args)
    except KitError as exc:
        who = f"eval shard {args.shard}" if args.command == "eval" else f"worker {dist.rank()}"
        print(f"error [{who}]: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
