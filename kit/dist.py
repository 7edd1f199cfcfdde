"""Several processes for one run: which process this is, which device is its own, how the recipe's global batch is
shared, and the commands that start a stage's worker processes.

The runner (kit.run) stays one process: it holds the run folder's lock, writes manifests and logs, and runs the
data, probe and report stages. A train stage with `distributed.processes > 1` is handed to
`accelerate launch -m kit.worker train RUN ARM` (torchrun underneath; DDP, or DeepSpeed/FSDP from the config files
in kit/configs/accelerate), the eval stage to one plain worker per device (`kit.worker eval`), and the runner waits.
Workers find their rank in the environment that accelerate/torchrun (RANK, LOCAL_RANK, WORLD_SIZE) or the runner
(KIT_SHARD, KIT_SHARDS) set.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from kit.errors import KitError

CONFIGS = Path(__file__).parent / "configs" / "accelerate"
STRATEGY_CONFIG = {"zero2": "zero2.yaml", "zero3": "zero3.yaml", "fsdp": "fsdp.yaml"}  # ddp: accelerate's --multi_gpu
PARENT_ENV = "KIT_PARENT_PID"


def rank() -> int:
    """This process's rank among the trainer processes (0 outside a launcher)."""
    return int(os.environ.get("RANK", "0"))


def world() -> int:
    """How many trainer processes share the batch (1 outside a launcher)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def local_rank() -> int:
    return int(os.environ.get("LOCAL_RANK", "0"))


def is_main() -> bool:
    """Only the main process writes the run's logs, the adapter and its card (the trainer saves checkpoints itself)."""
    return rank() == 0


def device_map(hw) -> Any:
    """Where a process puts its model: its own GPU (LOCAL_RANK under accelerate; a worker started for one device sees
    only that one, as device 0), or the CPU."""
    return {"": local_rank()} if hw.cuda else "cpu"


def trainer_processes(recipe) -> int:
    """Processes that train: all of `distributed.processes` but the GPUs lent to the rollout server."""
    d = recipe.distributed
    return max(1, d.processes - d.rollout_gpus)


def split_batch(batch: int, grad_accum: int, n: int, what: str) -> tuple[int, int]:
    """(per-process batch, per-process accumulation) that keep the recipe's global batch (batch x grad_accum) on
    n processes: the batch is divided when it can be, else the accumulation; else a one-line error naming the keys."""
    if n <= 1:
        return batch, grad_accum
    if batch % n == 0:
        return batch // n, grad_accum
    if grad_accum % n == 0:
        return batch, grad_accum // n
    raise KitError(f"{what}: neither the batch ({batch}) nor the accumulation ({grad_accum}) divides by the {n} "
                   f"trainer processes; pick values so that one of them does (the global batch stays the recipe's)")


def accelerate_command(recipe, worker_args: list[str], n: int) -> list[str]:
    """`accelerate launch` for n trainer processes of this recipe's strategy, running `python -m kit.worker ...`.

    DDP uses accelerate's --multi_gpu launcher (torchrun): on a machine without CUDA it starts the same processes and
    the trainer (TrainingArguments use_cpu) joins them with gloo. accelerate's own --cpu launcher starts one process
    unless MPI is installed (accelerate/commands/launch.py: simple_launcher; multi-CPU goes through mpirun), so it is
    not used."""
    d = recipe.distributed
    cmd = [sys.executable, "-m", "accelerate.commands.launch", "--num_processes", str(n), "--num_machines", "1",
           "--main_process_port", str(d.main_port), "--mixed_precision", "no", "--dynamo_backend", "no"]
    if d.strategy == "ddp":
        cmd += ["--multi_gpu"] if n > 1 else []
    else:
        cmd += ["--config_file", str(CONFIGS / STRATEGY_CONFIG[d.strategy])]
    return cmd + ["-m", "kit.worker", *worker_args]


def worker_env(devices: list[int] | None = None, **extra: str) -> dict[str, str]:
    """The environment of a worker: this process's, the runner's pid (a worker whose runner died stops, see
    `watch_parent`), and the devices it may see."""
    env = dict(os.environ)
    env[PARENT_ENV] = str(os.getpid())
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    if devices is not None:
        env["CUDA_VISIBLE_DEVICES"] = ",".join(visible_devices(devices))
    env.update(extra)
    return env


def visible_devices(devices: list[int]) -> list[str]:
    """The CUDA_VISIBLE_DEVICES entries for the runner's device indices: a user who already restricted the visible
    devices (CUDA_VISIBLE_DEVICES=4,5,6,7) keeps that restriction, index 0 meaning their first device."""
    current = [d.strip() for d in os.environ.get("CUDA_VISIBLE_DEVICES", "").split(",") if d.strip()]
    if not current:
        return [str(i) for i in devices]
    if max(devices, default=-1) >= len(current):
        raise KitError(f"CUDA_VISIBLE_DEVICES={','.join(current)} shows {len(current)} device(s); the run needs "
                       f"{max(devices) + 1}")
    return [current[i] for i in devices]


def run_workers(cmds: list[tuple[list[str], dict[str, str]]], what: str) -> None:
    """Start every command, wait for all; a failed one stops the others and is one KitError line (its own error
    was printed above it). Ctrl-C stops them all."""
    procs = [subprocess.Popen(cmd, env=env) for cmd, env in cmds]
    try:
        while True:
            codes = [p.poll() for p in procs]
            failed = [c for c in codes if c not in (None, 0)]
            if failed or all(c == 0 for c in codes):
                break
            time.sleep(0.5)
    except KeyboardInterrupt:
        _stop(procs)
        raise
    if failed:
        _stop(procs)
        raise KitError(f"{what} failed in a worker process (exit code {failed[0]}; its error is printed above); "
                       "rerun the same command to continue from the last checkpoint")


def _stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        if p.poll() is None:
            p.terminate()
    for p in procs:
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()


def watch_parent(interval: float = 2.0) -> None:
    """In a worker: exit when the runner that started it is gone (killed with -9, its lock released), so no
    orphan goes on writing into a folder a new run may have claimed."""
    parent = os.environ.get(PARENT_ENV)
    if not parent:
        return

    def watch() -> None:
        while True:
            try:
                os.kill(int(parent), 0)
            except ProcessLookupError:
                print(f"[worker {rank()}] the runner (pid {parent}) is gone: stopping", file=sys.stderr, flush=True)
                os._exit(3)
            except (PermissionError, ValueError):
                return
            time.sleep(interval)

    threading.Thread(target=watch, daemon=True, name="kit-watch-parent").start()
