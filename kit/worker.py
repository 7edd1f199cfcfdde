"""`python -m kit.worker train RUN_DIR ARM`: one of the processes a multi-process stage runs in.

Started by the runner (kit.run, through kit.dist), never by hand: the runner holds the run folder's lock and writes
the manifests; a worker reads the recipe the runner saved (RUN_DIR/recipe.resolved.yaml, with the sizes the plan
resolved), does its share and exits. Under `accelerate launch` each trainer process finds its rank in RANK/LOCAL_RANK;
the main one writes the stage's summary for the runner to read (`SUMMARY`).
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
    from kit.hardware import detect
    from kit.run import Context
    from kit.rundir import RESOLVED

    path = run_dir / RESOLVED
    if not path.exists():
        raise KitError(f"{path} is missing: a worker runs inside a run the runner (python -m kit.run) started")
    recipe = load_recipe(str(path), [])
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


COMMANDS = {"train": lambda a: train(Path(a.run_dir), a.arm)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kit.worker", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="command", required=True)
    t = sub.add_parser("train", help="train one arm as one of the processes accelerate launched")
    t.add_argument("run_dir")
    t.add_argument("arm")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    from kit import dist

    dist.watch_parent()
    try:
        COMMANDS[args.command](args)
    except KitError as exc:
        print(f"error [worker {dist.rank()}]: {exc}", file=sys.stderr, flush=True)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
