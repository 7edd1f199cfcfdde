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


def run_kit(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
            timeout: int = 600) -> subprocess.CompletedProcess:
    """Run `python -m kit.run …` in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "kit.run", *args], cwd=cwd or ROOT, env=full_env,
                          capture_output=True, text=True, timeout=timeout)
