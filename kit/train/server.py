"""The GRPO rollout server: `trl vllm-serve` on the GPUs lent to it (distributed.rollout_gpus), for TRL's server mode.

The runner (kit.run.Context.train_arm) starts it before the trainer processes and stops it after them:
`with rollout_server(recipe, hw): <accelerate launch ...>`. The trainers reach it at SERVER_HOST:server_port
(kit.train.rollouts._vllm_server). In TRL 1.15 `trl vllm-serve` parses its own ScriptArguments and execs vLLM's
OpenAI server with the weight-transfer endpoints on (trl/scripts/vllm_serve.py:195-293); the trainer's client waits
for GET /health == 200 (trl/generation/vllm_client.py:267-301), the route this module waits for too.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

from kit.dist import die_with_parent, worker_env
from kit.errors import KitError
from kit.hardware import Hardware, choose_dtype
from kit.train.rollouts import SERVER_HOST, check_server_layout

# The `trl` console script is `trl.cli.main:main`, and vllm-serve one of its commands (trl/cli/commands/
# vllm_serve.py:20-38); run through this interpreter so the venv's trl is the one that serves. Tests replace it.
SERVE: list[str] = [sys.executable, "-m", "trl.cli.main", "vllm-serve"]
# The server's GPUs do nothing else, so vLLM may take most of them (TRL's own default for vllm-serve, stated).
SERVER_GPU_MEMORY_UTILIZATION = 0.9
HEALTH_TIMEOUT_S = 1200.0  # loading a 14B checkpoint and capturing CUDA graphs on a cold disk takes minutes
POLL_S = 1.0
PROGRESS_S = 30.0
STOP_WAIT_S = 30.0
LOG_NAME = "rollout_server.log"  # in the GRPO arm's folder


def model_source(recipe) -> tuple[str, str | None]:
    """(what the server loads, its revision): a kit-built model's local folder (built once by its provider, under
    the cache root kit.run.Context uses), else the Hub id at the recipe's revision."""
    from kit.models import BUILT_IDS, cache_root, resolve_path

    if recipe.model.id in BUILT_IDS:
        return resolve_path(recipe.model, cache_root(recipe)), None
    return recipe.model.id, recipe.model.revision


def serve_command(recipe, hw: Hardware) -> list[str]:
    """The `trl vllm-serve` command line (argument names of trl/scripts/vllm_serve.py ScriptArguments :85-189), every
    value explicit: one engine over rollout_gpus GPUs, the recipe's dtype, context = prompt + completion caps."""
    d, g = recipe.distributed, recipe.grpo
    model, revision = model_source(recipe)
    cmd = [*SERVE, "--model", model]
    if revision:
        cmd += ["--revision", revision]
    return cmd + [
        "--tensor_parallel_size", str(d.rollout_tensor_parallel),
        "--data_parallel_size", str(max(1, d.rollout_gpus // d.rollout_tensor_parallel)),
        "--host", SERVER_HOST, "--port", str(d.server_port),
        "--gpu_memory_utilization", str(SERVER_GPU_MEMORY_UTILIZATION),
        "--dtype", choose_dtype(recipe.model.dtype, hw),
        "--max_model_len", str(recipe.data.max_prompt_tokens + g.max_completion_length),
        # GRPO sends each prompt num_generations times; TRL resets the cache after every weight sync (:514-517)
        "--enable_prefix_caching", "true",
        "--enforce_eager", "false", "--kv_cache_dtype", "auto", "--vllm_model_impl", "vllm",
        "--log_level", "warning",
    ]


def health_url(recipe) -> str:
    return f"http://{SERVER_HOST}:{recipe.distributed.server_port}/health"


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2.0) as response:
            return response.status == 200
    except (urllib.error.URLError, OSError):
        return False


def _tail(path: Path, n: int = 3) -> str:
    """The last `n` non-empty lines of the server's log, joined on one line (for a one-line error)."""
    try:
        lines = [ln.strip() for ln in path.read_text(errors="replace").splitlines() if ln.strip()]
    except OSError:
        return "(no log)"
    return " | ".join(lines[-n:]) or "(empty log)"


def _wait_healthy(proc: subprocess.Popen, url: str, log: Path, timeout_s: float) -> None:
    """Until GET /health answers 200; a server that exits, or is not up within timeout_s, is one KitError line."""
    t0 = last = time.monotonic()
    while not _healthy(url):
        code = proc.poll()
        if code is not None:
            raise KitError(f"the rollout server (trl vllm-serve) exited with code {code} before it was up: "
                           f"{_tail(log)} (full log: {log})")
        now = time.monotonic()
        if now - t0 > timeout_s:
            raise KitError(f"the rollout server (trl vllm-serve) was not up at {url} after {timeout_s:.0f} s: "
                           f"{_tail(log)} (full log: {log})")
        if now - last >= PROGRESS_S:
            print(f"[rollout_server] waiting for {url} ({now - t0:.0f} s of {timeout_s:.0f} s; log: {log})",
                  flush=True)
            last = now
        time.sleep(POLL_S)


def _stop(proc: subprocess.Popen) -> None:
    """Terminate the server's process group (vLLM runs its engine and tensor-parallel workers as children), then
    kill it if it has not exited within STOP_WAIT_S."""
    if proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, STOP_WAIT_S), (signal.SIGKILL, 10.0)):
        try:
            os.killpg(proc.pid, sig)  # its own session (start_new_session): the group is the server's alone
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


@contextlib.contextmanager
def rollout_server(recipe, hw: Hardware, timeout_s: float = HEALTH_TIMEOUT_S) -> Iterator[str]:
    """Run `trl vllm-serve` on GPUs 0..rollout_gpus-1 for the duration of the block, yielding its base URL.

    Its output goes to arms/grpo/rollout_server.log in the run folder. It runs in its own session, so Ctrl-C in the
    terminal reaches the runner, whose exit (normal, error or interrupt) stops the server here."""
    check_server_layout(recipe)
    d = recipe.distributed
    url = health_url(recipe)
    if _healthy(url):
        raise KitError(f"something already answers at {url}: another rollout server? stop it or set "
                       "distributed.server_port to a free port")
    log = Path(recipe.run_dir) / "arms" / "grpo" / LOG_NAME
    log.parent.mkdir(parents=True, exist_ok=True)
    devices = list(range(d.rollout_gpus))
    cmd = serve_command(recipe, hw)
    print(f"[rollout_server] trl vllm-serve on GPU(s) {','.join(map(str, devices))} (tensor parallel "
          f"{d.rollout_tensor_parallel}), port {d.server_port}; log: {log}", flush=True)
    with open(log, "ab") as out:
        out.write(f"$ {' '.join(cmd)}\n".encode())
        out.flush()
        proc = subprocess.Popen(cmd, env=worker_env(devices if hw.cuda else None), stdout=out,
                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
                                preexec_fn=die_with_parent)  # a runner killed with -9 takes the server along
    try:
        _wait_healthy(proc, url, log, timeout_s)
        print(f"[rollout_server] up at {url.removesuffix('/health')}", flush=True)
        yield url.removesuffix("/health")
    finally:
        _stop(proc)
