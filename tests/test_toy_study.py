"""The CPU mini-study, reduced for CI: the same command as `make toy` (`python -m kit.study recipes/toy.yaml`)
on the quick toy base with fewer problems and items. It must run every stage for every seed, write the study
report with a verdict per claim, and give the same numbers when a seed is run again in another folder."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

pytestmark = pytest.mark.slow  # whole toy studies in subprocesses

SMALL = ["model.toy_quick=true", "arms=[sft,grpo,onpolicy_sft]", "study.seeds=[0,1]", "data.num_problems=16",
         "eval.items=6", "onpolicy.rounds=1",
         "probe.texts_per_benchmark=8", "probe.token_samples=8", "probe.bootstrap=20", "report.bootstrap=100"]
VERDICTS = ("reproduced", "weakly reproduced", "not reproduced", "reversed", "undetermined")


def _study(out: Path, seeds: str, toy_dir: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "KIT_CACHE": str(toy_dir.parent)}
    return subprocess.run([sys.executable, "-m", "kit.study", "recipes/toy.yaml", *SMALL, f"output_dir={out}",
                           "--seeds", seeds, *extra], cwd=ROOT, env=env, capture_output=True, text=True, timeout=1200)


def _scores(run: Path) -> dict:
    """What a seed measured, without timings: every arm's group scores and TI, and the drift measures."""
    analysis = json.loads((run / "analysis.json").read_text())
    probe = json.loads((run / "probe" / "results.json").read_text())
    drift = {arm: {k: v for k, v in a.items() if k in ("pca", "cka", "tokens", "linear")}
             for arm, a in probe["arms"].items()}
    return {"analysis": analysis, "drift": drift}


def test_reduced_study_runs_every_stage_and_repeats_exactly(quick_base, tmp_path):
    toy_dir, _, _ = quick_base
    res = _study(tmp_path / "a", "0,1", toy_dir, "--jobs", "2")  # as `make toy` runs it: two seeds side by side
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    for seed in (0, 1):
        run = tmp_path / "a" / f"toy-seed{seed}"
        manifests = {p.stem for p in (run / "manifests").glob("*.json")}
        assert {"data", "train_sft", "train_grpo", "train_onpolicy_sft", "eval", "probe", "report"} <= manifests
        assert (run / "report.md").exists() and len(list((run / "plots").glob("*.png"))) >= 5
    study = tmp_path / "a" / "toy-study"
    data = json.loads((study / "study.json").read_text())
    assert data["seeds"] == [0, 1]
    for seed in ("0", "1"):
        for arm in ("sft", "grpo"):
            m = data["per_seed"][seed][arm]
            assert all(math.isfinite(m[k]) for k in ("math_gain", "pca_d", "one_minus_cka", "token_kl")), m
    md = (study / "study.md").read_text()
    for claim in data["findings"].values():
        assert claim["verdict"].startswith(VERDICTS), claim
        assert claim["verdict"] in md
    # the same seed alone in another folder: the same numbers (what lets anyone check the committed example)
    again = _study(tmp_path / "b", "1", toy_dir)
    assert again.returncode == 0, again.stderr[-3000:]
    assert _scores(tmp_path / "b" / "toy-seed1") == _scores(tmp_path / "a" / "toy-seed1")


def test_select_lr_trains_every_rate_and_keeps_the_best_on_math_validation(quick_base, tmp_path):
    toy_dir, _, _ = quick_base
    env = {**os.environ, "KIT_CACHE": str(toy_dir.parent)}
    res = subprocess.run([sys.executable, "-m", "kit.toy.select_lr", "recipes/toy.yaml", "model.toy_quick=true",
                          "data.num_problems=16", f"output_dir={tmp_path}", "--arms", "sft", "--grid", "1e-4,1e-2",
                          "--per-task", "5"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert res.returncode == 0, res.stdout[-3000:] + res.stderr[-3000:]
    table = json.loads((tmp_path / "toy-lr" / "selection.json").read_text())
    assert table["validation_problems"] == 10 and 0.0 <= table["base"] <= 1.0
    scores = table["arms"]["sft"]["scores"]
    assert set(scores) == {"0.0001", "0.01"}
    best = max(scores.values())
    assert table["arms"]["sft"]["chosen"] == min(float(k) for k, v in scores.items() if v == best)
    for lr in ("0.0001", "0.01"):
        assert (tmp_path / "toy-lr" / f"sft-{lr}" / "arms" / "sft" / "adapter" / "adapter_config.json").exists()
    assert "chosen learning rate" in res.stdout
