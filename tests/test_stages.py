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


# ------------------------------------------------------------------------------------------------------
# order, hashing and invalidation derived from what stages read and write (#11)

def _noop(ctx):
    return {}


def test_derived_order_and_edges_are_the_runs_stage_table():
    """What the hand-kept table said, now derived: the smoke recipe and one with all four arms."""
    from kit.registry import ARMS

    for arms in (None, ["sft", "grpo", "onpolicy_sft", "sft_matched_lr"]):
        recipe = R.load(ROOT / "recipes" / "smoke.yaml", [f"arms=[{','.join(arms)}]"] if arms else [])
        stages = build_stages(recipe)
        trains = [f"train_{a}" for a in recipe.arms]
        assert list(stages) == ["data", *trains, "eval", "probe", "report"]
        assert stages["data"].after == ()
        assert all(stages[t].after == ("data",) for t in trains)
        assert stages["eval"].after == tuple(trains)
        assert stages["probe"].after == (*trains, "eval")
        assert set(stages["report"].after) >= {"eval", "probe"}
        for a in recipe.arms:  # the train stage comes from the arm's record: its sections, what it reads
            st = stages[f"train_{a}"]
            assert st.writes == (f"arms/{a}",) and set(ARMS.get(a).sections) <= set(st.keys)
            assert st.reads == tuple(f"data/{n}.jsonl" for n in ARMS.get(a).needs)


def test_an_audit_has_no_data_stage_and_eval_reads_no_arm():
    recipe = R.load(ROOT / "recipes" / "smoke.yaml", ["arms=[]", "compare.ref.id=some/model"])
    stages = build_stages(recipe)
    assert list(stages) == ["eval", "probe", "report"] and stages["eval"].after == ()


def test_a_cycle_a_read_nobody_writes_and_a_shared_output_are_refused():
    from kit.stages import Stage, derive

    a = Stage("a", _noop, reads=("b/out",), writes=("a",))
    b = Stage("b", _noop, reads=("a/x.json",), writes=("b",))
    with pytest.raises(KitError, match="cycle"):
        derive([a, b])
    with pytest.raises(KitError, match="stage 'c' reads 'nowhere/x.json', which no stage of this recipe writes"):
        derive([Stage("c", _noop, reads=("nowhere/x.json",), writes=("c",))])
    with pytest.raises(KitError, match=r"'e1' \(writes 'eval'\) and 'e2' \(writes 'eval/scores.json'\) both write"):
        derive([Stage("e1", _noop, writes=("eval",)), Stage("e2", _noop, writes=("eval/scores.json",))])
    # a glob that matches no writer (no arms), a stage's own files and an input outside the run folder are fine
    t = derive([Stage("d", _noop, reads=("arms/*/adapter", "d/partial.jsonl", "/data/hub"), writes=("d",))])
    assert t["d"].after == ()


def test_the_order_is_derived_not_declared():
    """Declared first, a stage that reads eval's output still runs after eval (and after what eval reads)."""
    from kit.run import declarations
    from kit.stages import Stage, derive, redone_by_fresh, upstream

    recipe = R.load(ROOT / "recipes" / "smoke.yaml")
    dummy = Stage("dummy", _noop, keys=("report",), reads=("eval",), writes=("dummy",))
    stages = derive([dummy, *reversed(declarations(recipe))])
    names = list(stages)
    assert names.index("dummy") > names.index("eval") and stages["dummy"].after == ("eval",)
    assert all(names.index(d) < names.index(n) for n in names for d in stages[n].after)
    assert "dummy" in redone_by_fresh(stages, ["eval"]) and "dummy" not in redone_by_fresh(stages, ["probe"])
    assert set(upstream(stages, "dummy")) == {"eval", "data", *(f"train_{a}" for a in recipe.arms)}


def test_resolved_sizes_are_hashed_into_data_and_eval_only():
    from kit.stages import stage_values

    recipe = R.load(ROOT / "recipes" / "smoke.yaml")
    sizes = {"problems": 8, "rl_problems": 8, "eval_items": {"math500": 5}}
    stages = build_stages(recipe, sizes)
    assert stage_values(recipe, stages["data"])["resolved.problems"] == 8
    assert stage_values(recipe, stages["eval"])["resolved.eval_items"] == {"math500": 5}
    more = build_stages(recipe, {**sizes, "eval_items": {"math500": 6}})
    h = {n: stage_hash(recipe, st, stages) for n, st in stages.items()}
    h2 = {n: stage_hash(recipe, st, more) for n, st in more.items()}
    assert {n for n in h if h[n] != h2[n]} == {"eval", "probe", "report"}
