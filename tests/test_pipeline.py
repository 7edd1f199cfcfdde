"""The spine end to end, as a user runs it: the smoke recipe, rerun skipping, kill -9 and resume, refusal
of changed settings, the dry-run plan."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit import recipe as R
from tests.conftest import ROOT, run_kit

SMOKE = str(ROOT / "recipes" / "smoke.yaml")
ARMS = R.load(SMOKE).arms
STAGES = ["data"] + [f"train_{a}" for a in ARMS] + ["eval", "probe", "report"]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory, kit_cache):
    out = tmp_path_factory.mktemp("smoke")
    res = run_kit(SMOKE, f"output_dir={out}")
    return out / "smoke", res


@pytest.mark.slow
def test_smoke_run_writes_report(smoke_run):
    run_dir, res = smoke_run
    assert res.returncode == 0, res.stderr[-3000:]
    for stage in STAGES:
        m = json.loads((run_dir / "manifests" / f"{stage}.json").read_text())
        assert m["config_hash"] and m["versions"]["torch"] and m["seconds"] >= 0
        assert not (run_dir / "manifests" / f"{stage}.started.json").exists()
    report = (run_dir / "report.md").read_text()
    assert "## Transferability Index" in report and "| sft |" in report and "| grpo |" in report
    assert "![" in report and (run_dir / "report.html").read_text().count("data:image/png;base64,") >= 1
    pngs = list((run_dir / "plots").glob("*.png"))
    assert len(pngs) >= 6 and all(p.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" for p in pngs)
    assert set(ARMS) >= {"sft", "grpo", "onpolicy_sft"}  # the smoke recipe trains all three arms
    for arm in ARMS:
        assert (run_dir / "arms" / arm / "adapter" / "adapter_model.safetensors").exists()
        assert (run_dir / "arms" / arm / "adapter" / "README.md").exists()
    scores = json.loads((run_dir / "eval" / "scores.json").read_text())
    assert set(scores) == {"base", *ARMS}
    assert (run_dir / "recipe.resolved.yaml").exists()
    assert json.loads((run_dir / ".kit-run.json").read_text())["made_by"] == "kit"  # --fresh may clean it
    assert json.loads((run_dir / ".kit-lock").read_text())["command"]  # who ran it last (the lock's holder)


@pytest.mark.slow
def test_rerun_skips_every_stage(smoke_run):
    run_dir, _ = smoke_run
    before = {s: (run_dir / "manifests" / f"{s}.json").stat().st_mtime_ns for s in STAGES}
    res = run_kit(SMOKE, f"output_dir={run_dir.parent}")
    assert res.returncode == 0, res.stderr[-2000:]
    for s in STAGES:
        assert f"[{s}] done earlier, skipped" in res.stdout
        assert (run_dir / "manifests" / f"{s}.json").stat().st_mtime_ns == before[s]


@pytest.mark.slow
def test_changed_settings_are_refused_then_fresh_redoes(smoke_run):
    run_dir, _ = smoke_run
    res = run_kit(SMOKE, f"output_dir={run_dir.parent}", "report.bootstrap=50")
    assert res.returncode == 2
    assert "stage 'report' was finished with different settings (changed: report.bootstrap)" in res.stderr
    res = run_kit(SMOKE, f"output_dir={run_dir.parent}", "report.bootstrap=50", "--stages", "report", "--fresh")
    assert res.returncode == 0, res.stderr[-2000:]
    assert "[report] running" in res.stdout
    assert json.loads((run_dir / "manifests" / "report.json").read_text())["values"]["report"]["bootstrap"] == 50


@pytest.mark.slow
def test_report_rebuilds_from_the_run_folder(smoke_run):
    run_dir, _ = smoke_run
    (run_dir / "report.md").unlink()
    res = subprocess.run([sys.executable, "-m", "kit.report", str(run_dir)], capture_output=True, text=True,
                         cwd=ROOT, timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert "## Transferability Index" in (run_dir / "report.md").read_text()


@pytest.mark.slow
def test_dry_run_prints_the_plan(tmp_path):
    res = run_kit(SMOKE, f"output_dir={tmp_path}", "--dry-run")
    assert res.returncode == 0, res.stderr
    out = res.stdout
    for s in STAGES:
        assert s in out
    assert "problems=8" in out and "steps=" in out and "GB peak" in out and "min" in out
    assert not (tmp_path / "smoke").exists()  # nothing ran


def _wait_for(path_glob: Path, pattern: str, proc: subprocess.Popen, timeout: float) -> bool:
    end = time.time() + timeout
    while time.time() < end:
        if list(path_glob.glob(pattern)):
            return True
        if proc.poll() is not None:
            return False
        time.sleep(0.2)
    return False


@pytest.mark.slow
def test_kill_during_grpo_then_resume(tmp_path, kit_cache):
    args = [SMOKE, f"output_dir={tmp_path}", "grpo.max_steps=14", "grpo.save_steps=2",
            "--stages", "data,train_sft,train_grpo"]
    proc = subprocess.Popen([sys.executable, "-m", "kit.run", *args], cwd=ROOT, env=os.environ.copy(),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    ckpts = tmp_path / "smoke" / "arms" / "grpo" / "checkpoints"
    try:
        ok = _wait_for(ckpts, "checkpoint-*/trainer_state.json", proc, timeout=240)
        assert ok, "GRPO never wrote a checkpoint"
        os.killpg(proc.pid, signal.SIGKILL)  # kill -9 mid-stage
    finally:
        proc.wait(timeout=30)
    run_dir = tmp_path / "smoke"
    assert (run_dir / "manifests" / "train_grpo.started.json").exists()
    assert not (run_dir / "manifests" / "train_grpo.json").exists()
    sft_manifest = (run_dir / "manifests" / "train_sft.json").stat().st_mtime_ns

    res = run_kit(*args)
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    assert "[train_sft] done earlier, skipped" in res.stdout
    assert "[train_grpo] resuming" in res.stdout
    assert (run_dir / "manifests" / "train_sft.json").stat().st_mtime_ns == sft_manifest
    summary = json.loads((run_dir / "manifests" / "train_grpo.json").read_text())["summary"]
    assert summary["resumed_from"] and "checkpoint-" in summary["resumed_from"]
    state = json.loads(sorted(ckpts.glob("checkpoint-*/trainer_state.json"))[-1].read_text())
    assert state["global_step"] == 14
