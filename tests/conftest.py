"""Shared test setup: offline, one CPU thread per test process, one tiny-model cache for the session."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # before any torch import (see kit/__init__.py)
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


@pytest.fixture(scope="session")
def kit_cache(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kit-cache")
    os.environ["KIT_CACHE"] = str(path)
    return path


@pytest.fixture(scope="session")
def tokenizer():
    from kit.models import load_tokenizer
    from kit.recipe import ModelCfg

    return load_tokenizer(ModelCfg())


@pytest.fixture(scope="session")
def quick_base(tmp_path_factory):
    """The quick toy base, built once per session into `<root>/toy`, the folder the kit looks in when
    KIT_CACHE=<root>; with two threads for the build (other test modules pin torch to one).
    Returns (toy folder, base folder, build seconds)."""
    import time

    import torch

    from kit.toy import pretrain

    cache = tmp_path_factory.mktemp("toy-cache") / "toy"
    threads = torch.get_num_threads()
    torch.set_num_threads(max(1, min(2, os.cpu_count() or 1)))
    try:
        t0 = time.time()
        path = pretrain.ensure_base(cache, quick=True)
        return cache, path, time.time() - t0
    finally:
        torch.set_num_threads(threads)


def run_kit(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `python -m kit.run …` in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "kit.run", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
