"""`--dry-run` for every shipped recipe: a plan with sizes and estimates, numbers that follow the recipe."""

from __future__ import annotations

import math

import pytest

from kit import recipe as R
from kit.hardware import Hardware
from kit.plan import BENCH_SIZES, HF_DECODE_S_PER_LAYER, format_plan, make_plan, n_eval_items
from kit.run import main as kit_main
from tests.conftest import ROOT

RECIPES = sorted(p.name for p in (ROOT / "recipes").glob("*.yaml"))
H100 = Hardware(True, "NVIDIA H100 80GB HBM3", (9, 0), 80.0, True)
T4 = Hardware(True, "Tesla T4", (7, 5), 15.0, False)


@pytest.mark.parametrize("name", RECIPES)
def test_every_recipe_dry_runs(name, tmp_path, capsys):
    """On this CPU machine: a CPU recipe's plan fits (exit 0); a GPU recipe's plan is printed and exits 3 with one
    line saying why it cannot run here, and fits the card it was written for (--gpu h100, exit 0)."""
    import torch

    from kit.models import BUILT_IDS

    recipe = R.load(ROOT / "recipes" / name)
    # GPU-only settings come with training (8-bit optimizers, vLLM rollouts); the audit trains nothing, and the plan
    # does not model CPU memory, so its CPU plan "fits"
    cpu_recipe = recipe.model.id in BUILT_IDS or not recipe.arms
    rc = kit_main([str(ROOT / "recipes" / name), f"output_dir={tmp_path}", "--dry-run"])
    out, err = capsys.readouterr()
    if cpu_recipe or torch.cuda.is_available():
        assert rc == 0, err
    else:
        assert rc == 3 and err.count("\n") == 1 and "this plan does not fit CPU" in err, err
        assert "eval" in out and "report" in out  # the plan is still printed
        assert kit_main([str(ROOT / "recipes" / name), f"output_dir={tmp_path}", "--dry-run", "--gpu", "h100"]) == 0
        out, err = capsys.readouterr()
    assert "eval" in out and "report" in out
    assert "GB peak" in out or "memory and time not estimated" in out  # toy: its own shape
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
    # one generate call per rollout batch (TRL), each decode step at least the measured per-layer floor
    rollouts = next(st.sizes["rollouts"] for st in slow.stages if st.name == "train_grpo")
    floor_s = rollouts * 2048 * HF_DECODE_S_PER_LAYER * 36  # qwen3-4b.yaml: 2048-token cap, 36 layers
    assert minutes["slow"] * 60 >= floor_s > minutes["fast"] * 60, (minutes, floor_s)
    assert minutes["slow"] > 2 * minutes["fast"], minutes


# --- #12: TRL's real batching, plans per card, presets that finish -------------------------------------------

import json
import re

from kit.hardware import GPU_PRESETS, choose_dtype
from kit.plan import plan_json, rollout_of

CARDS = list(GPU_PRESETS)
HEADER_ENTRY = re.compile(r"(?<![\w-])(" + "|".join(map(re.escape, CARDS)) + r"): (?:([\d.]+) h|does not fit)")


def _plan(name: str, overrides: list[str] | None = None, gpu: str = "h100"):
    preset = GPU_PRESETS[gpu]
    r = R.load(ROOT / "recipes" / name, overrides or [])
    return r, make_plan(r, preset.hw, choose_dtype(r.model.dtype, preset.hw), vllm_available=preset.vllm)


def _stage(plan, name):
    return next(st for st in plan.stages if st.name == name)


def test_rollout_batch_is_what_trl_resolves(tmp_path):
    """The plan's generation batch is TRL's generation_batch_size for the same per-device batch, accumulation
    and steps_per_generation (trl/trainer/grpo_config.py:1085-1099), default and the 14B's rollout reuse."""
    from trl import GRPOConfig

    for name in ("qwen3-0.6b-t4.yaml", "qwen3-14b.yaml"):
        r = R.load(ROOT / "recipes" / name)
        g, ro = r.grpo, rollout_of(r)
        cfg = GRPOConfig(output_dir=str(tmp_path), use_cpu=True, per_device_train_batch_size=ro.micro_batch,
                         gradient_accumulation_steps=g.grad_accum, steps_per_generation=g.steps_per_generation,
                         num_generations=g.num_generations, num_iterations=g.num_iterations, report_to="none")
        assert (cfg.generation_batch_size, cfg.steps_per_generation) == (ro.generation_batch, ro.steps_per_generation)
    # the 14B recipe reproduces the paper's reuse: 512-prompt rollouts x 16, 16 updates of 32 prompts each
    assert (ro.prompts_per_generation, ro.generation_batch, ro.prompts_per_optimizer_step) == (512, 8192, 32)
    assert ro.generations(16) == 1 and ro.generations(17) == 2


def test_kit_grpo_config_has_the_planned_rollout(tmp_path):
    """The GRPOConfig the kit builds (kit/train/grpo.py) generates the batch the plan counts."""
    from kit.train.grpo import grpo_config

    r = R.load(ROOT / "recipes" / "qwen3-0.6b-t4.yaml", ["grpo.optim=adamw_torch"])
    cfg = grpo_config(r, Hardware(False, "cpu", (0, 0), 0.0, False), tmp_path, 100, [1.0, 0.0])
    ro = rollout_of(r)
    assert (cfg.per_device_train_batch_size, cfg.generation_batch_size) == (ro.micro_batch, ro.generation_batch)


def test_14b_plan_counts_the_rollout_kv_cache():
    r, plan = _plan("qwen3-14b.yaml")
    grpo = _stage(plan, "train_grpo")
    kv_per_token = 2 * 40 * 8 * 128 * 2
    seqs, seq_len = 8192, r.data.max_prompt_tokens + r.grpo.max_completion_length
    assert grpo.sizes["rollout_kv_gb"] == pytest.approx(seqs * seq_len * kv_per_token / 2**30, rel=0.01)
    assert grpo.sizes["vllm_waves"] > 1  # vLLM's pool holds a fraction of it: the batch runs in waves
    # vLLM reserves its share up front: the peak is that share plus training beside it
    assert grpo.peak_gb > r.model.gpu_memory_utilization * GPU_PRESETS["h100"].hw.vram_gb
    assert not plan.too_big, plan.too_big
    # without vLLM the whole rollout batch is one generate call: refused, naming the knob
    _, hf = _plan("qwen3-14b.yaml", ["grpo.use_vllm=false"])
    assert hf.too_big and hf.too_big.startswith("train_grpo") and "grpo.steps_per_generation" in hf.too_big


def test_decoding_is_counted_once_per_rollout_batch():
    """Same prompts per step and the same 64-sequence rollout, split into 8 or 4 accumulation steps: TRL decodes
    once per rollout either way, so the plan's GRPO time barely moves (it used to scale with grad_accum)."""
    one = ["grpo.steps_per_generation=null", "grpo.generation_chunk=64"]  # TRL's default: S = grad_accum
    _, a = _plan("qwen3-0.6b-t4.yaml", ["grpo.grad_accum=8", "grpo.prompts_per_step=1", *one], "t4")
    _, b = _plan("qwen3-0.6b-t4.yaml", ["grpo.grad_accum=4", "grpo.prompts_per_step=2", *one], "t4")
    ga, gb = _stage(a, "train_grpo"), _stage(b, "train_grpo")
    assert ga.sizes["rollouts"] == gb.sizes["rollouts"] == a.grpo_steps == b.grpo_steps
    assert ga.minutes == pytest.approx(gb.minutes, rel=0.05)
    # reusing each rollout for twice as many optimizer steps halves the rollouts
    _, reuse = _plan("qwen3-0.6b-t4.yaml", ["grpo.steps_per_generation=16"], "t4")
    assert _stage(reuse, "train_grpo").sizes["rollouts"] == math.ceil(a.grpo_steps / 2)


def test_chunked_generate_trades_memory_for_time():
    """Without vLLM the kit splits TRL's one generate call into grpo.generation_chunk-sized calls
    (kit/train/rollouts.py chunk_generate): less KV cache at once, one decode pass per chunk."""
    _, one = _plan("qwen3-0.6b-t4.yaml", ["grpo.generation_chunk=64"], "t4")
    _, eight = _plan("qwen3-0.6b-t4.yaml", ["grpo.generation_chunk=8"], "t4")
    g1, g8 = _stage(one, "train_grpo"), _stage(eight, "train_grpo")  # rollout batches of 128 prompts x 8
    assert (g1.sizes["generate_calls"], g8.sizes["generate_calls"]) == ("16 x 64 seqs", "128 x 8 seqs")
    assert g8.peak_gb < g1.peak_gb and g8.minutes > 3 * g1.minutes


def test_vllm_share_leaves_room_for_training():
    _, tight = _plan("qwen3-8b.yaml", ["model.gpu_memory_utilization=0.6"], "a100-40gb")
    assert tight.too_big and "model.gpu_memory_utilization" in tight.too_big
    _, ok = _plan("qwen3-8b.yaml", [], "a100-40gb")
    assert not ok.too_big, ok.too_big


def test_t4_preset_finishes_in_three_hours():
    r, plan = _plan("qwen3-0.6b-t4.yaml", gpu="t4")
    assert not plan.too_big, plan.too_big
    assert plan.total_minutes <= 180
    for name in ("train_sft", "train_grpo", "eval", "probe"):
        assert _stage(plan, name).minutes > 0
    assert all(n >= min(50, BENCH) for n, BENCH in ((plan.eval_items[b], BENCH_SIZES[b]) for b in plan.eval_items))
    assert not r.grpo.use_vllm and r.eval.engine == "hf"  # no vLLM on a T4 in the kit's stack


def test_dry_run_for_a_card_text_and_json(tmp_path, capsys):
    recipe = str(ROOT / "recipes" / "qwen3-0.6b-t4.yaml")
    rc = kit_main([recipe, f"output_dir={tmp_path}", "--dry-run", "--gpu", "t4"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "Tesla T4" in out and re.search(r"^total: .*fits: yes$", out.splitlines()[-1])
    rc = kit_main([recipe, f"output_dir={tmp_path}", "--dry-run", "--gpu", "t4", "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    plan = json.loads(out)
    assert plan["fits"] is True and plan["refusal"] is None
    stages = {s["name"]: s for s in plan["stages"]}
    assert {"train_sft", "train_grpo", "eval", "probe"} <= set(stages)
    assert stages["train_grpo"]["peak_gb"] > 0 and stages["train_grpo"]["seconds"] > 0
    assert plan["total_seconds"] == pytest.approx(sum(s["seconds"] or 0 for s in plan["stages"]), abs=1)
    assert not any(tmp_path.iterdir())
    rc = kit_main([recipe, f"output_dir={tmp_path}", "--gpu", "t4"])
    out, err = capsys.readouterr()
    assert rc == 2 and "--dry-run" in err and err.startswith("error: ") and len(err.strip().splitlines()) == 1


def test_dry_run_json_names_the_refusal(tmp_path, capsys):
    rc = kit_main([str(ROOT / "recipes" / "qwen3-14b.yaml"), f"output_dir={tmp_path}", "--dry-run", "--gpu", "t4",
                   "--json"])
    out, err = capsys.readouterr()
    assert rc == 3 and "does not fit Tesla T4" in err, err  # the JSON is printed, the exit code says "no"
    plan = json.loads(out)
    assert plan["fits"] is False and "lower" in plan["refusal"]


@pytest.mark.parametrize("name", [n for n in RECIPES if n not in ("toy.yaml", "toy-quick.yaml", "smoke.yaml")])
def test_recipe_header_states_planned_hours_per_card(name):
    """Every GPU recipe's header gives the planned wall time on every card, as the dry-run plans it now."""
    header = "".join(line for line in (ROOT / "recipes" / name).read_text().splitlines(keepends=True)
                     if line.startswith("#"))
    entries: dict[str, str | None] = {}
    for m in HEADER_ENTRY.finditer(header):  # the first entry per card is the recipe's own planned hours
        entries.setdefault(m.group(1), m.group(2))
    assert set(entries) == set(CARDS), f"{name}: header lacks planned hours for {set(CARDS) - set(entries)}"
    for card, hours in entries.items():
        _, plan = _plan(name, gpu=card)
        if hours is None:
            assert plan.too_big, f"{name} on {card}: header says it does not fit, the plan fits"
        else:
            assert not plan.too_big, f"{name} on {card}: {plan.too_big}"
            assert float(hours) == pytest.approx(plan.total_minutes / 60, rel=0.05, abs=0.1), (name, card)


# --- #11: the plan as a package; each arm plans through its registered estimator ----------------------------

from kit.plan.cost import ArmContext, StagePlan
from kit.registry import ARMS, Arm, register_arm


@pytest.fixture
def dummy_arm():
    """An arm registered from outside the planner, with an estimator that records its calls."""
    calls = []

    def estimate(recipe, plan, cost, vram, refuse, ctx):
        calls.append((recipe, plan, cost, vram, ctx))
        return StagePlan(ctx.stage, {"dummies": 7, "arm": ctx.arm}, peak_gb=1.25, minutes=3.0)

    arm = register_arm(Arm("dummy_arm", "Dummy", "#9467bd", "ablation", ("sft",), trainer=lambda c, o: {},
                           estimate=estimate))
    yield arm, calls
    ARMS.unregister("dummy_arm")
    assert "dummy_arm" not in ARMS


def test_a_registered_arm_is_planned_by_its_own_estimator(dummy_arm):
    _, calls = dummy_arm
    r, plan = _plan("qwen3-0.6b-t4.yaml", ["arms=[sft,dummy_arm]"], "t4")
    assert len(calls) == 1
    recipe, seen_plan, cost, vram, ctx = calls[0]
    assert recipe is r and seen_plan is plan and cost is not None and vram == GPU_PRESETS["t4"].hw.vram_gb * 2**30
    assert isinstance(ctx, ArmContext) and ctx.arm == "dummy_arm" and ctx.hw == GPU_PRESETS["t4"].hw
    assert [st.name for st in plan.stages] == ["data", "train_sft", "train_dummy_arm", "eval", "probe", "report"]
    dummy = _stage(plan, "train_dummy_arm")
    assert (dummy.peak_gb, dummy.minutes) == (1.25, 3.0)
    assert plan.total_minutes == pytest.approx(sum(st.minutes or 0 for st in plan.stages)) and plan.total_minutes > 3
    text = format_plan(r, plan, GPU_PRESETS["t4"].hw)
    assert re.search(r"train_dummy_arm dummies=7, arm=dummy_arm  \[~1\.25 GB peak; ~3\.0 min\]", text), text
    stages = {s["name"]: s for s in plan_json(r, plan, GPU_PRESETS["t4"].hw)["stages"]}
    assert stages["train_dummy_arm"] == {"name": "train_dummy_arm", "sizes": {"dummies": 7, "arm": "dummy_arm"},
                                         "seconds": 180.0, "peak_gb": 1.25}


def test_sft_matched_lr_is_planned_as_sft():
    """The matched-learning-rate control trains SFT's steps at GRPO's rate: the same estimator, its own stage."""
    _, plan = _plan("qwen3-0.6b-t4.yaml", ["arms=[sft,grpo,sft_matched_lr]"], "t4")
    sft, control = _stage(plan, "train_sft"), _stage(plan, "train_sft_matched_lr")
    assert (control.sizes, control.peak_gb, control.minutes) == (sft.sizes, sft.peak_gb, sft.minutes)
    assert control.minutes > 0


def test_onpolicy_sft_is_estimated_from_its_sampling_and_training():
    """Sampling (plain generate: the per-layer decode floor, every answer to its cap) plus SFT on at most every
    sample: more samples or longer answers cost more; an oversized sampling batch is refused naming its knob."""
    base = ["arms=[sft,grpo,onpolicy_sft]", "onpolicy.max_completion_length=512", "onpolicy.batch_size=16"]
    r, plan = _plan("qwen3-0.6b-t4.yaml", base, "t4")
    st = _stage(plan, "train_onpolicy_sft")
    problems = plan.rl_problems or plan.problems
    samples = problems * r.onpolicy.samples_per_problem
    assert st.sizes["samples"] == samples and st.peak_gb > 0
    floor_s = math.ceil(samples / 16) * 512 * HF_DECODE_S_PER_LAYER * 28  # qwen3-0.6b: 28 layers
    assert st.minutes * 60 >= floor_s
    _, more = _plan("qwen3-0.6b-t4.yaml", [*base, f"onpolicy.samples_per_problem={2 * r.onpolicy.samples_per_problem}"],
                    "t4")
    assert _stage(more, "train_onpolicy_sft").minutes > 1.8 * st.minutes
    assert any("upper bound" in n for n in plan.notes)
    _, big = _plan("qwen3-0.6b-t4.yaml", [*base, "onpolicy.batch_size=4096", "onpolicy.max_completion_length=16384"],
                   "t4")
    assert big.too_big and big.too_big.startswith("train_onpolicy_sft") and "onpolicy.batch_size" in big.too_big


def test_derived_rollout_matches_the_grpo_config():
    """kit.train.rollouts.derived_rollout (no TRL import) gives the shape TRL resolves for the shipped recipes."""
    from kit.train.rollouts import derived_rollout

    for name in ("qwen3-0.6b-t4.yaml", "qwen3-4b.yaml", "qwen3-14b.yaml"):
        r = R.load(ROOT / "recipes" / name)
        real, derived = rollout_of(r), derived_rollout(r)
        fields = ("micro_batch", "grad_accum", "steps_per_generation", "num_iterations", "num_generations")
        assert [getattr(derived, f) for f in fields] == [getattr(real, f) for f in fields], name
        assert derived.generation_batch == real.generation_batch


def test_rollouts_module_stays_light():
    import subprocess
    import sys

    code = ("import sys, kit.train.rollouts; "
            "assert not {'transformers', 'trl', 'torch'} & set(sys.modules), sorted({'transformers', 'trl', 'torch'} & set(sys.modules))")
    res = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr


def test_no_plan_module_is_long():
    for path in (ROOT / "kit" / "plan").glob("*.py"):
        assert len(path.read_text().splitlines()) <= 400, path
