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

import json
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


def split_grpo(batch: int, grad_accum: int, steps_per_generation: int | None, n: int) -> tuple[int, int, int]:
    """(per-process batch, accumulation, steps_per_generation) of one of n GRPO trainer processes, the one rule the
    trainer (kit.train.grpo) and the plan (kit.plan.arms) share. TRL's rollout is per-process batch x n x
    steps_per_generation (trl/trainer/grpo_config.py:1083-1099); it stays the recipe's one-process rollout
    (batch x steps_per_generation, the latter defaulting to the accumulation): when the accumulation is split, an
    explicit steps_per_generation is split with it."""
    b, a = split_batch(batch, grad_accum, n, "grpo.prompts_per_step x num_generations / grad_accum")
    if steps_per_generation is None:
        return b, a, a
    if a == grad_accum or n == 1:
        return b, a, steps_per_generation
    if steps_per_generation % n:
        raise KitError(f"grpo.steps_per_generation ({steps_per_generation}) does not divide by the {n} trainer "
                       "processes that share grpo.grad_accum; pick a multiple of them")
    return b, a, steps_per_generation // n


LAYOUT = "layout.json"  # in an arm's folder: how its checkpoints were written (check_layout)
SHARDED_STATE = ("zero2", "zero3", "fsdp")  # optimizer state partitioned by the process count


def check_layout(out_dir: Path, layout: dict[str, Any]) -> None:
    """Refuse to resume an arm's checkpoints under a layout that cannot read them, then record the current one.
    Called by the runner (one process) before training. A checkpoint written under DeepSpeed/FSDP has no plain
    optimizer.pt (transformers would silently start the optimizer over) and partitions its state by the process
    count; another backend (unsloth vs transformers+peft) trains other numbers. DDP and one process read each
    other's checkpoints (TRL/transformers save the same files), so only the strategy and backend, and with sharded
    state the process count, must match."""
    path = out_dir / LAYOUT
    checkpoints = any((out_dir / "checkpoints").glob("checkpoint-*"))
    if checkpoints and path.exists():
        try:
            then = json.loads(path.read_text())
        except (OSError, ValueError):
            then = {}
        differ = [k for k in ("strategy", "backend") if then.get(k) != layout[k]]
        if layout["strategy"] in SHARDED_STATE and then.get("processes") != layout["processes"]:
            differ.append("processes")
        if differ:
            was = ", ".join(f"{k}={then.get(k)}" for k in differ)
            now = ", ".join(f"{k}={layout[k]}" for k in differ)
            raise KitError(f"the checkpoints in {out_dir / 'checkpoints'} were written with {was}; this run has {now}, "
                           "which cannot resume them: rerun with the same layout, or redo the arm with --fresh --stages "
                           f"train_{out_dir.name}")
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(layout))
    os.replace(tmp, path)


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


def die_with_parent() -> None:
    """A child's preexec_fn: the kernel sends it SIGTERM when the process that started it dies (Linux
    PR_SET_PDEATHSIG), so a runner killed with -9 takes its launcher, rollout server and their children along.
    Elsewhere a no-op (watch_parent still stops the workers)."""
    import ctypes
    import signal

    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, int(signal.SIGTERM), 0, 0, 0)  # 1 = PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass


def run_workers(cmds: list[tuple[list[str], dict[str, str]]], what: str) -> None:
    """Start every command, wait for all; a failed one stops the others and is one KitError line (its own error
    was printed above it). Ctrl-C stops them all."""
    procs = [subprocess.Popen(cmd, env=env, preexec_fn=die_with_parent) for cmd, env in cmds]
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
                       "once it is fixed, rerun the same command: finished work is kept")


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
