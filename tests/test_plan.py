"""`--dry-run` for every shipped recipe: a plan with sizes and estimates, numbers that follow the recipe."""

from __future__ import annotations

import math

import pytest

from kit import recipe as R
from kit.hardware import Hardware
from kit.plan import format_plan, make_plan, n_eval_items
from tests.conftest import ROOT, run_kit

RECIPES = sorted(p.name for p in (ROOT / "recipes").glob("*.yaml"))
H100 = Hardware(True, "NVIDIA H100 80GB HBM3", (9, 0), 80.0, True)
T4 = Hardware(True, "Tesla T4", (7, 5), 15.0, False)


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_dry_runs(name, tmp_path):
    res = run_kit(str(ROOT / "recipes" / name), f"output_dir={tmp_path}", "--dry-run")
    assert res.returncode == 0, res.stderr
    assert "eval" in res.stdout and "report" in res.stdout
    assert "GB peak" in res.stdout or "memory and time not estimated" in res.stdout  # toy: its own shape
    assert not any(tmp_path.iterdir())  # a dry run writes nothing


def test_14b_full_scale_plan_uses_the_papers_data():
    r = R.load(ROOT / "recipes" / "qwen3-14b.yaml")
    plan = make_plan(r, H100, "bfloat16")
    assert plan.problems == 39_900  # the problems both released sets share (math_sft_40K's rows)
    s, g = r.sft, r.grpo
    assert plan.sft_steps == math.ceil(39_900 * 1.5 / (s.batch_size * s.grad_accum))
    assert plan.grpo_steps == math.ceil(39_900 * 1.5 / (g.prompts_per_step * g.grad_accum))
    assert all(v is None for v in plan.eval_items.values())  # scale 1: whole benchmarks
    assert not plan.too_big, plan.notes


def test_scale_shrinks_items_with_a_floor():
    r = R.load(ROOT / "recipes" / "qwen3-14b.yaml", ["scale=0.01", "eval.min_items=50"])
    assert n_eval_items(r, "math500") == 50 and n_eval_items(r, "mc_taco") == 94
    assert n_eval_items(r, "aime24") == 30  # never more than the benchmark has


def test_plan_refuses_what_cannot_fit():
    r = R.load(ROOT / "recipes" / "qwen3-14b.yaml", ["grpo.num_generations=32", "grpo.max_completion_length=16384"])
    plan = make_plan(r, T4, "float16")
    assert plan.too_big and "exceeds this GPU's 15 GB" in plan.too_big
    assert "exceeds" in format_plan(r, plan, T4)


def test_rollouts_without_vllm_are_planned_slower():
    """Measured on an H100: transformers/unsloth `generate` is far from the memory-bandwidth bound."""
    fast = make_plan(R.load(ROOT / "recipes" / "qwen3-4b.yaml", ["grpo.use_vllm=true"]), H100, "bfloat16")
    slow = make_plan(R.load(ROOT / "recipes" / "qwen3-4b.yaml", ["grpo.use_vllm=false"]), H100, "bfloat16")
    minutes = {p: next(st.minutes for st in plan.stages if st.name == "train_grpo") for p, plan in
               (("fast", fast), ("slow", slow))}
    assert minutes["slow"] > 5 * minutes["fast"], minutes
