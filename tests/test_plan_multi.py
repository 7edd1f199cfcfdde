"""The plan for several GPUs (`--gpus N`, distributed.processes): per-GPU memory, each stage's time shared by the
processes that run it, the scale-1 line, and the refusals of layouts that cannot run."""

from __future__ import annotations

import dataclasses
import json

import pytest

import kit.hardware
from kit import recipe as R
from kit.hardware import GPU_PRESETS, Hardware
from kit.plan import Cost, Layout, format_plan, layout_of, make_plan, plan_json, shape_of
from kit.run import main as kit_main
from tests.conftest import ROOT

RECIPE = ROOT / "recipes" / "qwen3-14b.yaml"
CPU = Hardware(False, "cpu", (0, 0), 0.0, False)
# 8 trainers, rollouts with chunked `generate` (64 sequences a call): fits an 80 GB card per process
FITS_8 = ["grpo.use_vllm=false", "grpo.generation_chunk=64"]


def _card(name: str, n: int) -> Hardware:
    return dataclasses.replace(GPU_PRESETS[name].hw, count=n)


def _plan(overrides: list[str], n: int, card: str = "h100"):
    r = R.load(RECIPE, [*overrides, f"distributed.processes={n}"])
    return r, make_plan(r, _card(card, n), "bfloat16", vllm_available=True)


def _stage(plan, name: str):
    return next(st for st in plan.stages if st.name == name)


@pytest.mark.parametrize("card", ["h100", "a100-80gb"])
@pytest.mark.parametrize("overrides", [FITS_8, ["grpo.use_vllm=false", "grpo.continuous_batching=true"]])
def test_14b_at_scale_1_on_8_cards_fits_each_card(card, overrides):
    r, plan = _plan(overrides, 8, card)
    assert r.scale == 1.0 and plan.problems == 39_900 and plan.gpus == 8
    assert plan.too_big is None, plan.notes
    vram = GPU_PRESETS[card].hw.vram_gb
    assert all(st.peak_gb <= vram for st in plan.stages if st.peak_gb is not None)
    assert {st.name: st.processes for st in plan.stages} == {
        "data": 1, "train_sft": 8, "train_grpo": 8, "eval": 8, "probe": 1, "report": 1}


def test_train_time_is_shared_by_the_trainers_plus_their_collectives():
    """Exactly what kit/plan/arms.py implements: compute / trainers; per-step overhead and warm-up unchanged; plus
    the LoRA all-reduce per optimizer step (Cost.sync_seconds); each process generates 1/8 of every rollout."""
    r1, one = _plan(FITS_8, 1)
    r8, eight = _plan(FITS_8, 8)
    cost = Cost(r8, _card("h100", 8), "bfloat16", shape_of(r8.model), True)
    lay = layout_of(r8)
    assert lay == Layout(8, 8, 0, "ddp")
    for name, accum, steps in (("train_sft", 4, eight.sft_steps), ("train_grpo", 32, eight.grpo_steps)):
        p1, p8 = _stage(one, name).parts, _stage(eight, name).parts
        assert p8["training"] == pytest.approx(p1["training"] / 8, abs=0.1)
        assert p8["overhead"] == p1["overhead"] and p8["warmup"] == p1["warmup"]
        assert p1["sync"] == 0 and p8["sync"] == pytest.approx(steps * cost.sync_seconds(lay, accum), abs=0.1)
        assert p8["sync"] > 0
        assert _stage(eight, name).minutes == pytest.approx(sum(p8.values()) / 60, abs=0.01)
    g1, g8 = _stage(one, "train_grpo").parts, _stage(eight, "train_grpo").parts
    # 8192 sequences per rollout in calls of 64 on one card, 1024 per process on eight: 128 vs 16 calls
    assert g8["rollouts"] == pytest.approx(g1["rollouts"] / 8, rel=1e-3)
    assert g8["rescoring"] == pytest.approx(g1["rescoring"] / 8, rel=1e-3)
    assert _stage(eight, "train_grpo").sizes["micro_batch"] == 2  # 16 sequences / 8 processes


def test_eval_is_sharded_over_every_process_and_the_probe_stays_on_one():
    _, one = _plan(FITS_8, 1)
    _, eight = _plan(FITS_8, 8)
    assert _stage(eight, "eval").minutes == pytest.approx(_stage(one, "eval").minutes / 8, abs=0.01)
    assert _stage(eight, "probe").minutes == _stage(one, "probe").minutes
    assert _stage(eight, "eval").peak_gb == _stage(one, "eval").peak_gb  # every process holds the whole model


def test_rollout_gpus_take_cards_from_the_trainers():
    server = ["model.load_in_4bit=false", "grpo.use_vllm=true", "distributed.rollout_gpus=4",
              "distributed.rollout_tensor_parallel=4"]
    _, one = _plan(["model.load_in_4bit=false", "grpo.use_vllm=false"], 1)
    r, plan = _plan(server, 8)
    assert layout_of(r).trainers == 4 and plan.too_big is None, plan.notes
    sft, grpo = _stage(plan, "train_sft"), _stage(plan, "train_grpo")
    assert sft.processes == 4 and sft.parts["training"] == pytest.approx(_stage(one, "train_sft").parts["training"] / 4,
                                                                         abs=0.1)
    assert grpo.processes == 8 and grpo.sizes["generation"] == "vllm_server"
    assert grpo.sizes["processes"] == "4 trainers (ddp) + 4 rollout GPU(s)" and grpo.sizes["micro_batch"] == 4
    assert grpo.sizes["trainer_gb"] <= 79.1 and grpo.sizes["server_gb"] <= 79.1
    assert any("rollout GPU(s) wait" in n for n in plan.notes)


def test_sharding_strategies_lower_the_per_card_memory():
    peaks = {s: _stage(_plan([*FITS_8, f"distributed.strategy={s}", "model.load_in_4bit=false"], 8)[1],
                       "train_sft").peak_gb for s in ("ddp", "zero2", "zero3", "fsdp")}
    assert peaks["fsdp"] == peaks["zero3"] < peaks["zero2"] < peaks["ddp"]
    four_bit = {s: _stage(_plan([*FITS_8, f"distributed.strategy={s}"], 8)[1], "train_sft").peak_gb
                for s in ("zero2", "zero3", "fsdp")}
    # ZeRO-3 shards the LoRA state but not bitsandbytes' 4-bit weights (~10 GB for 14B); FSDP shards both
    assert four_bit["fsdp"] + 5 < four_bit["zero3"] < four_bit["zero2"]


def test_a_plan_that_does_not_fit_names_the_stage_and_knob():
    _, plan = _plan(["grpo.use_vllm=false"], 8)  # generate calls of 512 sequences: ~360 GB of KV cache
    assert plan.too_big.startswith("train_grpo: generate calls of 512 sequences")
    assert "lower grpo.generation_chunk" in plan.too_big and "exceeds this GPU's 79 GB" in plan.too_big


def test_layouts_the_trainers_would_refuse_are_the_plans_refusal():
    _, plan = _plan(["grpo.use_vllm=true", "model.load_in_4bit=false", "distributed.rollout_gpus=2",
                     "distributed.rollout_tensor_parallel=2"], 8)  # 6 trainers: 2 x 32 and 16 x 32 do not split
    assert plan.too_big.startswith("train_sft: sft.batch_size/grad_accum: neither the batch (2)")
    assert any(n.startswith("refused: train_grpo:") and "6 trainer processes" in n for n in plan.notes)
    _, plan = _plan(["grpo.use_vllm=true", "model.load_in_4bit=false", "distributed.rollout_gpus=4",
                     "distributed.rollout_tensor_parallel=2"], 8)
    assert "trl vllm-serve refuses for dense models" in plan.too_big
    _, plan = _plan([], 8)  # the recipe as it is: QLoRA + vLLM under transformers+peft
    assert plan.too_big.startswith("train_grpo:") and "set model.load_in_4bit=false or grpo.use_vllm=false" in plan.too_big


def test_one_gpu_plans_are_unchanged_by_the_layout():
    """The single-card plan is the one-process layout: the 14B header figures (2212.0 h on an h100) still hold."""
    r = R.load(RECIPE)
    plan = make_plan(r, GPU_PRESETS["h100"].hw, "bfloat16", vllm_available=True)
    assert plan.gpus == 1 and plan.full_scale is None and round(plan.total_minutes / 60, 1) == 2212.0
    assert all(st.parts.get("sync", 0) == 0 for st in plan.stages)


# ---------------------------------------------------------------------------------------------------------
# the command line


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(kit.hardware, "detect", lambda: CPU)


def test_dry_run_gpus_8_without_a_gpu_plans_8_h100s(no_gpu, tmp_path, capsys):
    rc = kit_main([str(RECIPE), f"output_dir={tmp_path}", *FITS_8, "scale=0.008", "--dry-run", "--gpus", "8"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "on 8 × NVIDIA H100 80GB HBM3" in out and "no GPU here: planned for 8 × h100" in out
    assert "GB peak per GPU" in out and "on 8 process(es)" in out and "fits: yes" in out
    full = next(ln for ln in out.splitlines() if ln.startswith("paper's full scale"))
    assert "scale 1: 39900 problems" in full and "on 8 × NVIDIA H100" in full and "GPU-hours" in full
    assert not any(tmp_path.iterdir())


def test_dry_run_json_has_the_per_gpu_figures(no_gpu, tmp_path, capsys):
    rc = kit_main([str(RECIPE), f"output_dir={tmp_path}", *FITS_8, "--dry-run", "--gpus", "8", "--gpu", "a100-80gb",
                   "--json"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    d = json.loads(out)
    assert d["gpus"] == 8 and d["layout"] == {"processes": 8, "trainer_processes": 8, "rollout_gpus": 0,
                                              "strategy": "ddp"}
    grpo = next(s for s in d["stages"] if s["name"] == "train_grpo")
    assert grpo["processes"] == 8 and grpo["peak_gb_per_gpu"] <= 79.1 and grpo["parts_seconds"]["training"] > 0
    assert d["gpu_hours"] == pytest.approx(d["total_hours"] * 8, abs=0.1)
    assert d["full_scale"]["fits"] is True and d["full_scale"]["total_hours"] == pytest.approx(d["total_hours"])


def test_dry_run_on_a_one_gpu_machine_plans_n_of_its_card(monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(kit.hardware, "detect", lambda: GPU_PRESETS["h200"].hw)
    rc = kit_main([str(RECIPE), f"output_dir={tmp_path}", *FITS_8, "--dry-run", "--gpus", "4"])
    out, err = capsys.readouterr()
    assert rc == 0, err
    assert "on 4 × NVIDIA H200" in out and "this machine has 1 GPU(s): planned for 4 × its card" in out


@pytest.mark.parametrize("argv, message", [
    (["distributed.rollout_gpus=8", "grpo.use_vllm=true", "--gpus", "8"], "'distributed.rollout_gpus' (8) leaves no"),
    (["--gpus", "0"], "--gpus 0: give at least 1"),
    (["grpo.use_vllm=false", "--gpus", "8"], "distributed.processes=8 (--gpus) but this machine has 1 GPU(s)"),
])
def test_invalid_layouts_are_one_line_errors(argv, message, monkeypatch, tmp_path, capsys):
    monkeypatch.setattr(kit.hardware, "detect", lambda: GPU_PRESETS["h100"].hw)  # one GPU
    rc = kit_main([str(RECIPE), f"output_dir={tmp_path}", *argv])
    err = capsys.readouterr().err
    assert rc == 2 and message in err and err.count("\n") == 1, err
    assert not any(tmp_path.iterdir())


def test_format_names_the_cards_once_per_plan():
    r, plan = _plan(FITS_8, 8)
    text = format_plan(r, plan, _card("h100", 8))
    assert text.splitlines()[0].startswith("plan for 'qwen3-14b' on 8 × NVIDIA H100 80GB HBM3 (sm_90, 79 GB")
    assert plan_json(r, plan, _card("h100", 8))["stages"][1]["processes"] == 8


def test_compare_models_are_not_divided_over_the_processes():
    """The eval stage shards base and arms over the processes; compare models run in the runner alone
    (kit.eval.stage), so the plan divides only their share."""
    from kit.hardware import Hardware
    from kit.plan import make_plan

    h100 = Hardware(True, "NVIDIA H100 80GB HBM3", (9, 0), 79.1, True, 8)
    r1 = R.load(ROOT / "recipes" / "audit-unireason-14b.yaml", ["scale=0.01"])
    r8 = R.load(ROOT / "recipes" / "audit-unireason-14b.yaml", ["scale=0.01", "distributed.processes=8"])
    one = {s.name: s for s in make_plan(r1, h100, "bfloat16").stages}["eval"].minutes
    eight = {s.name: s for s in make_plan(r8, h100, "bfloat16").stages}["eval"].minutes
    models, compared = 1 + len(r1.arms) + len(r1.compare), len(r1.compare)
    assert compared and eight == pytest.approx(one * ((models - compared) / 8 + compared) / models, rel=0.02)
