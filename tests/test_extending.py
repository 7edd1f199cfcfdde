"""Issue #11's test of the architecture: a new arm is one module (an `Arm` registration with its own recipe section)
and a new benchmark is one module; the recipe, the stage graph, the plan, the report and the study take both with
no other edit. The arm and the benchmark here are registered by the test and removed after it."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from kit import recipe as R
from kit.compose import load_recipe
from kit.errors import KitError
from kit.hardware import Hardware
from kit.plan import make_plan
from kit.plan.cost import StagePlan
from kit.recipe.schema import knob
from kit.registry import ARMS, Arm, register_arm
from kit.run import build_stages
from kit.stages import stage_hash
from tests.conftest import ROOT
from tests.test_arm_registry_views import RIGHT, _fake_run
from tests.test_registry import Dummy, registered

SMOKE = str(ROOT / "recipes" / "smoke.yaml")
CPU = Hardware(False, "cpu", None, 0.0, False)


@dataclass
class DPOCfg:
    """The dummy arm's own section: `dpo_dummy:` in a recipe."""

    beta: float = knob(0.1, lo=0.0, hi=10.0)
    steps: int = knob(3, lo=1)


def _estimate(recipe, plan, cost, vram, refuse, ctx) -> StagePlan:
    section = recipe.dpo_dummy  # the estimator reads its arm's own section
    return StagePlan(f"train_{ctx.arm}",
                     {"steps": section.steps, "beta": section.beta})


@pytest.fixture
def dpo() -> Iterator[Arm]:
    ARMS.names()  # the bundled arms first, as in a run
    arm = register_arm(Arm("dpo_dummy", "DPO (dummy)", "#9467bd", "ablation", ("dpo_dummy",),
                           trainer=lambda ctx, out: {"steps": ctx.recipe.dpo_dummy.steps}, estimate=_estimate,
                           needs=("sft",), section="dpo_dummy", config=DPOCfg))
    try:
        with registered(Dummy):
            yield arm
    finally:
        ARMS.unregister("dpo_dummy")


def _recipe(tmp_path, *extra: str):
    return load_recipe(SMOKE, [f"output_dir={tmp_path}", "arms=[sft,dpo_dummy]",
                               "eval.benchmarks=[math500,dummy13]", *extra])


def test_the_arm_owns_its_recipe_section(tmp_path, dpo):
    recipe = _recipe(tmp_path, "dpo_dummy.beta=0.5")
    assert recipe.dpo_dummy.beta == 0.5 and recipe.dpo_dummy.steps == 3  # the file's value, the schema's default
    assert _recipe(tmp_path).dpo_dummy.beta == 0.1  # no section in the file: the schema's defaults
    with pytest.raises(KitError, match=r"'dpo_dummy\.beta' is -1\.0; it must be >= 0\.0"):
        _recipe(tmp_path, "dpo_dummy.beta=-1")
    with pytest.raises(KitError, match=r"unknown key 'dpo_dummy\.gamma'"):
        _recipe(tmp_path, "dpo_dummy.gamma=1")
    saved = tmp_path / "saved.yaml"
    R.dump(recipe, saved)  # the saved recipe has the section at the top level and loads back equal
    assert "dpo_dummy:" in saved.read_text() and R.load(saved) == recipe


def test_without_the_arm_registered_its_section_is_an_unknown_key(tmp_path):
    with pytest.raises(KitError, match="unknown key 'dpo_dummy'"):
        R.load(SMOKE, [f"output_dir={tmp_path}", "dpo_dummy.beta=0.5"])


def test_the_stage_graph_trains_it_and_hashes_its_section(tmp_path, dpo):
    a, b = _recipe(tmp_path), _recipe(tmp_path, "dpo_dummy.beta=0.7")
    sa, sb = build_stages(a), build_stages(b)
    assert list(sa) == ["data", "train_sft", "train_dpo_dummy", "eval", "probe", "report"]
    assert "train_dpo_dummy" in sa["eval"].after
    h = {n: (stage_hash(a, sa[n], sa), stage_hash(b, sb[n], sb)) for n in sa}
    assert h["train_sft"][0] == h["train_sft"][1] and h["data"][0] == h["data"][1]
    assert all(h[n][0] != h[n][1] for n in ("train_dpo_dummy", "eval", "probe", "report"))  # it and what reads it


def test_the_plan_calls_its_estimator_and_sizes_the_new_benchmark(tmp_path, dpo):
    recipe = _recipe(tmp_path, "dpo_dummy.steps=9")
    plan = make_plan(recipe, CPU, "float32", available_problems=16)
    stage = {s.name: s for s in plan.stages}["train_dpo_dummy"]
    assert stage.sizes == {"steps": 9, "beta": 0.1}
    assert plan.eval_items["dummy13"] == min(Dummy.full_size, plan.eval_items["dummy13"]) > 0


def test_the_report_and_the_study_take_the_arm_and_the_benchmark(tmp_path, dpo):
    from kit.report.build import build
    from kit.study import seed_metrics

    run_dir = tmp_path / "run"
    _fake_run(run_dir, ["sft", "grpo", "dpo_dummy"])
    scores = json.loads((run_dir / "eval" / "scores.json").read_text())
    items = json.loads((run_dir / "eval" / "item_scores.json").read_text())
    for m in scores:  # the 13th benchmark's results, as the eval stage would write them
        right = RIGHT.get(m, RIGHT["dpo_dummy"])["other"]
        items[m]["dummy13"] = {str(i): {"paper": float(i < right), "cluster": str(i)} for i in range(8)}
        scores[m]["dummy13"] = {"group": "other", "primary": "paper", "paper_column": "paper", "n_items": 8,
                                "scores": {"paper": right / 8}, "truncation_rate": 0.0}
    (run_dir / "eval" / "scores.json").write_text(json.dumps(scores))
    (run_dir / "eval" / "item_scores.json").write_text(json.dumps(items))
    build(run_dir)
    md = (run_dir / "report.md").read_text()
    assert "dummy13" in md and "DPO (dummy)" in md
    metrics = seed_metrics(run_dir)
    assert set(metrics) == {"sft", "grpo", "dpo_dummy"} and metrics["dpo_dummy"]["math_gain"] > 0
