"""Running a study's seeds (kit.study): one after another in this process, or `jobs` at a time as child processes.

Why child processes: the toy model's ops are too small to use two cores (a toy seed's GRPO stage took 355 s with two
threads, 186-192 s with one beside another job; docs/benchmarks.md), so on a 2-core machine two one-thread seeds side
by side do twice the work of one two-thread seed in about the same time. Each seed is still its own ordinary,
resumable `python -m kit.run` run in its own folder (locked by kit.rundir), and a fixed `cpu_threads` makes its
numbers the same whether it ran alone or beside another. A child's output goes to `<output_dir>/<run name>.log`
(beside its run folder, never inside it: kit.rundir claims only folders the kit made); this process prints one line
as each seed starts and ends.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import IO

from kit.errors import KitError

POLL_S = 2.0  # how often the parent looks at its children


def run_argv(recipe: str, overrides: list[str], seed: int, name: str, fresh: bool) -> list[str]:
    """kit.run's arguments for one seed of the study (the same in this process and in a child)."""
    return [recipe, *overrides, f"seed={seed}", f"run_name={name}", *(["--fresh"] * fresh)]


def log_path(output_dir: Path, name: str) -> Path:
    return Path(output_dir) / f"{name}.log"


def run_seeds(recipe: str, overrides: list[str], seeds: list[int], names: dict[int, str], output_dir: Path,
              jobs: int = 1, fresh: bool = False, cpu_threads: int | None = None) -> int:
    """Run every seed; 0 when all finished, else the first failing seed's exit code (the others still finish,
    so a rerun continues only what failed)."""
    if jobs < 1:
        raise KitError(f"--jobs {jobs}: give at least 1")
    if jobs == 1 or len(seeds) == 1:
        from kit.run import main as run_main

        for s in seeds:
            print(f"=== seed {s}: {Path(output_dir) / names[s]} ===", flush=True)
            rc = run_main(run_argv(recipe, overrides, s, names[s], fresh))
            if rc != 0:
                return rc
        return 0
    if cpu_threads is None:
        print(f"note: the recipe leaves cpu_threads unset, so each of the {jobs} runs uses torch's default "
              f"({os.cpu_count()} threads) and they compete for cores; set cpu_threads=1 for small models",
              flush=True)
    return _run_children(recipe, overrides, seeds, names, Path(output_dir), jobs, fresh)


def _run_children(recipe: str, overrides: list[str], seeds: list[int], names: dict[int, str], output_dir: Path,
                  jobs: int, fresh: bool) -> int:
    output_dir.mkdir(parents=True, exist_ok=True)
    waiting = list(seeds)
    running: dict[int, tuple[subprocess.Popen, IO[bytes], float]] = {}
    first_failure = 0
    try:
        while waiting or running:
            while waiting and len(running) < jobs:
                s = waiting.pop(0)
                log = log_path(output_dir, names[s])
                out = open(log, "ab")  # appended: a resumed seed keeps the earlier attempt's lines
                child = subprocess.Popen([sys.executable, "-m", "kit.run",
                                          *run_argv(recipe, overrides, s, names[s], fresh)],
                                         stdout=out, stderr=subprocess.STDOUT)
                running[s] = (child, out, time.time())
                print(f"=== seed {s}: {output_dir / names[s]} (started; its output: {log}) ===", flush=True)
            time.sleep(POLL_S)
            for s, (child, out, t0) in list(running.items()):
                rc = child.poll()
                if rc is None:
                    continue
                out.close()
                del running[s]
                if rc == 0:
                    print(f"seed {s}: finished in {time.time() - t0:.0f} s", flush=True)
                else:
                    print(f"seed {s}: failed (exit code {rc}); the end of {log_path(output_dir, names[s])} says why",
                          flush=True)
                    first_failure = first_failure or rc
    except KeyboardInterrupt:
        for child, out, _ in running.values():
            child.terminate()  # kit.run treats SIGTERM as Ctrl-C: it releases its lock and stops where it is
        for child, out, _ in running.values():
            child.wait()
            out.close()
        raise
    return first_failure
