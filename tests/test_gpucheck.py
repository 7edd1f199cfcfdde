"""The GPU self-check's CPU twin: the same code path with the tiny model, figures written to JSON."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # trains and times the tiny model


def test_gpucheck_cpu_twin(tmp_path, kit_cache):
    out = tmp_path / "g.json"
    res = subprocess.run([sys.executable, "-m", "kit.gpucheck", "--recipes", "smoke", "--shapes", "tiny",
                          "--steps", "1", "--set", "eval.batch_size=3", "--out", str(out)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    (row,) = json.loads(out.read_text())
    for arm in ("sft", "grpo"):
        assert row[arm]["steps"] == 1 and row[arm]["seconds_per_step"] > 0 and row[arm]["peak_gb"] > 0
        assert row["estimate"][f"train_{arm}"]["peak_gb"] > 0
    assert row["generate"]["tokens_per_s"] > 0
    assert row["overrides"] == ["eval.batch_size=3"] and row["generate"]["batch"] == 3  # --set took effect
    assert "s/step" in res.stdout and "tok/s" in res.stdout


def test_gpucheck_decode_cpu_twin(tmp_path, kit_cache):
    """--decode times the kit's HF engine per decode step at each batch size (prefill subtracted)."""
    from kit.gpucheck import main

    out = tmp_path / "d.json"
    assert main(["--decode", "tiny", "--batches", "1,4", "--new-tokens", "24", "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert row["layers"] == 2 and row["backend"] == "hf" and set(row["batches"]) == {"1", "4"}
    for m in row["batches"].values():
        assert m["s_per_decode_step"] > 0 and m["tokens_per_s"] > 0
        assert abs(m["s_per_step_per_layer"] * 2 - m["s_per_decode_step"]) < 1e-5


def test_gpucheck_grpo_only_keeps_its_work_folder_logs(tmp_path, kit_cache):
    """--skip-sft runs GRPO alone (no SFT figures, no generation batch) on rollout-sized data, and --work puts the
    work folder where a killed check still leaves the training log behind."""
    from kit.gpucheck import main

    out, work = tmp_path / "g.json", tmp_path / "work"
    work.mkdir()
    assert main(["--recipes", "smoke", "--shapes", "tiny", "--steps", "1", "--skip-sft", "--work", str(work),
                 "--out", str(out)]) == 0
    (row,) = json.loads(out.read_text())
    assert "sft" not in row and "generate" not in row and row["grpo"]["steps"] == 1
    assert row["rollout"]["prompts_per_rollout"] >= 1 and row["estimate"]["train_grpo"]["seconds_per_step"] > 0
    assert not any(work.iterdir())  # a finished check cleans its work folder; a killed one leaves it (by design)
