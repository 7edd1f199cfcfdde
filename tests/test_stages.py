"""Stage bookkeeping: a kit-built model's build is part of every stage's settings."""

from __future__ import annotations

import time

import pytest

from kit import recipe as R
from kit.errors import KitError
from kit.run import build_stages
from kit.stages import Ledger, stage_hash
from tests.conftest import ROOT


def test_a_changed_toy_world_makes_finished_stages_stale(tmp_path, monkeypatch):
    import kit.toy.pretrain as pretrain

    recipe = R.load(ROOT / "recipes" / "toy.yaml")
    stages = build_stages(recipe)
    ledger = Ledger(tmp_path)
    h = {name: stage_hash(recipe, st, stages) for name, st in stages.items()}
    ledger.mark_done(recipe, stages["train_sft"], h["train_sft"], time.time(), {}, {})
    assert ledger.check(recipe, stages["train_sft"], h["train_sft"]) == "done"
    monkeypatch.setattr(pretrain, "WORLD_VERSION", "toy-world-changed")  # what a new world version does
    moved = {name: stage_hash(recipe, st, stages) for name, st in stages.items()}
    assert all(moved[name] != h[name] for name in stages)
    with pytest.raises(KitError, match="model.build"):
        ledger.check(recipe, stages["train_sft"], moved["train_sft"])


def test_hub_models_have_no_build_in_their_stage_values():
    from kit.stages import stage_values

    recipe = R.load(ROOT / "recipes" / "qwen3-0.6b.yaml")
    stages = build_stages(recipe)
    assert all("model.build" not in stage_values(recipe, st) for st in stages.values())


def test_probe_reads_eval_so_fresh_eval_forgets_probe_and_report():
    from kit.stages import redone_by_fresh, upstream

    recipe = R.load(ROOT / "recipes" / "smoke.yaml")
    stages = build_stages(recipe)
    assert "eval" in stages["probe"].after  # token shift reads eval's per-sample logs
    assert redone_by_fresh(stages, ["eval"]) == {"eval", "probe", "report"}
    assert redone_by_fresh(stages, ["train_sft"]) == {"train_sft", "eval", "probe", "report"}
    assert upstream(stages, "report") == [n for n in stages if n != "report"]
    assert "analysis.json" in stages["report"].outputs  # the report writes it: --fresh must forget it
