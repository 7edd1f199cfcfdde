"""The scale knob and the plan: concrete sizes for every stage, with memory and time estimates per card.

`scale` says how much of the study runs; the recipe's other values say how. At scale 1 the data and the
benchmarks are used whole (the paper's ~47K problems, full benchmarks); smaller scales shrink the number
of training problems and evaluation items proportionally, with `eval.min_items` as a floor per benchmark
so the statistics stay meaningful. Explicit `data.num_problems` / `eval.items` win over the scale.

Estimates (a documented model, checked against `python -m kit.gpucheck` figures in docs/benchmarks.md):
- weights: non-embedding parameters at 4.5 bits (NF4 + double-quant constants) or the dtype's bytes;
  embeddings (and an untied LM head) in the compute dtype;
- LoRA: r·(d_in+d_out) per targeted projection, 16 bytes per trainable parameter (weight, grad, Adam m, v);
- activations: gradient checkpointing keeps one hidden state per layer per token (offloaded to CPU by
  unsloth), plus one layer's working set (~34·hidden bytes per token in 16-bit) and the fp32 logits of one
  sequence chunk;
- KV cache: 2·layers·kv_heads·head_dim·2 bytes per token for every sequence in flight;
- GRPO follows TRL's batching (`rollout_of`, kit.train.rollouts.Rollout): one `generate` call per *generation batch* of
  per_device_train_batch_size × steps_per_generation sequences, reused for steps_per_generation ×
  num_iterations micro-steps. Without vLLM its whole KV cache is on the card at once; with vLLM, vLLM holds
  `model.gpu_memory_utilization` × VRAM from the start (weights shared with training under unsloth) and runs
  the batch in waves through its KV pool, and training must fit in the rest of the card;
- time: 6·N FLOPs per trained token and 2·N per scored or prefilled token at a sustained rate per card class,
  plus decoding: every sequence runs to its token cap (worst case), one decode step reads the weights and the
  KV cache in flight once (memory-bandwidth bound), and without vLLM a step costs at least
  HF_DECODE_S_PER_LAYER per layer (measured on an H100, confirmed within 0-14 % on an H200), plus a fixed
  per-optimizer-step overhead and a one-off first-step warm-up per training stage (measured). Downloads and model
  loading are not counted.

The package: this module sizes the run (`make_plan`, `n_problems`, `n_eval_items`, `rollout_of`) and calls one
estimator per stage; kit/plan/cost.py holds the cost model (speeds, measured floors, `Cost`) and the records
(`Plan`, `StagePlan`, `ArmContext`); kit/plan/arms.py the training arms' estimators, each named by its Arm's
`estimate` in the registry (kit/train/arms.py), so a new arm plans without an edit here; kit/plan/stages.py the
eval and probe planners and the plan as text or JSON (`format_plan`, `plan_json`). Every estimator is called as
`estimate(recipe, plan, cost, vram, refuse, ctx) -> StagePlan`.
"""

from __future__ import annotations

import copy
import importlib.util
import math
from dataclasses import replace
from typing import Any

from kit.data.train_sets import FULL_SIZES
from kit.errors import KitError
from kit.hardware import Hardware
from kit.plan.cost import (CUDA_CONTEXT_GB, EVAL_PROMPT_TOKENS, FIRST_STEP_S, HF_DECODE_S_PER_LAYER,  # noqa: F401
                           SPEED, VLLM_MAX_SEQS, VLLM_OVERHEAD_GB, ArmContext, Cost, Layout, Plan, StagePlan, gb,
                           layout_of, speed_for)
from kit.plan.machine import plan_machine  # noqa: F401  (kit.run: the cards a --gpus N dry run plans for)
from kit.plan.stages import eval_stage, format_plan, plan_json, probe_stage  # noqa: F401
from kit.registry import ARMS, resolve
from kit.shapes import QWEN3_SHAPES, VOCAB, Shape, shape_of  # noqa: F401  (the plan's cost model reads shapes)
from kit.train.rollouts import Rollout, derived_rollout  # noqa: F401

_Cost = Cost  # the name before kit/plan.py became a package


def __getattr__(name: str) -> Any:
    """`BENCH_SIZES`: items of each whole benchmark, a view read from the registry on every access (each
    benchmark's `full_size` is the one source; a benchmark registered later is in it)."""
    if name == "BENCH_SIZES":
        from kit.eval import benchmarks

        return benchmarks.full_sizes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def rollout_of(recipe, hw: Hardware | None = None) -> Rollout:
    """The GRPO arm's batching read off the real GRPOConfig the arm builds (kit.train.grpo.rollout_shape), for
    the machine planned for. Raises KitError where the arm itself would refuse the recipe on that machine."""
    hw = hw or Hardware(True, "NVIDIA H100 80GB HBM3", (9, 0), 79.1, True)
    try:
        from kit.train.grpo import rollout_shape
    except ImportError:
        return derived_rollout(recipe)
    try:
        r = rollout_shape(recipe, hw, check_installed=False)
    except KitError:
        raise
    except Exception as exc:  # a TRL that refuses the config: the arm would fail the same way
        raise KitError(f"GRPOConfig refused this recipe: {str(exc).splitlines()[0]}") from None
    return Rollout(micro_batch=r["per_device_train_batch_size"], grad_accum=r["gradient_accumulation_steps"],
                   steps_per_generation=r["steps_per_generation"], num_iterations=r["num_iterations"],
                   num_generations=r["num_generations"], mode=r["mode"], chunk=r.get("generate_chunk"))


def n_problems(recipe) -> int:
    """Training problems. Both arms use the problems the two released sets share: at most the SFT set's
    39.9K (the paper's 47K queries after its rejection sampling)."""
    if recipe.data.num_problems:
        return recipe.data.num_problems
    shared = min(FULL_SIZES["math_rl_48k"], FULL_SIZES["math_sft_40K"])
    return max(1, round(recipe.scale * shared))


def _rl_problems(recipe, shared: int) -> int:
    """GRPO's problems: the shared set, or with data.rl_problems=all the whole math_rl_48k at this scale."""
    try:
        from kit.data.train_sets import rl_problem_count
    except ImportError:  # older checkouts: RL always trains on the shared problems
        return shared
    return rl_problem_count(recipe, shared)


def n_eval_items(recipe, bench: str) -> int | None:
    """Items per benchmark; None = the whole benchmark. Never more than the benchmark has (its `full_size`)."""
    from kit.eval import benchmarks

    full = benchmarks.get(bench).full_size
    if recipe.eval.items:
        return min(recipe.eval.items, full)
    if recipe.scale >= 1.0:
        return None
    return min(full, max(recipe.eval.min_items, round(recipe.scale * full)))


def make_plan(recipe, hw: Hardware, dtype: str, available_problems: int | None = None,
              vllm_available: bool | None = None, full_scale: bool = True) -> Plan:
    """Sizes, peak memory and time per stage. `vllm_available`: whether vLLM will be installed where the
    plan runs (None: installed here on a CUDA machine; planned from a machine without a GPU, assumed yes).
    Each arm's stage comes from its registered estimator (kit.registry.Arm.estimate), with the processes it runs
    in (kit.plan.cost.Layout); peaks are per card. A plan for several cards also carries its scale-1 twin
    (`Plan.full_scale`, when `full_scale`): what the paper's whole study costs on the same cards."""
    problems = n_problems(recipe)
    if available_problems is not None:
        problems = min(problems, available_problems)
    rl_problems = _rl_problems(recipe, problems)
    if available_problems is not None:
        rl_problems = min(rl_problems, available_problems)
    s, g = recipe.sft, recipe.grpo
    on_gpu = hw.cuda or recipe.model.id != "tiny-random-qwen3"
    refused = None
    # the real GRPOConfig is built only when an arm trains on the RL prompts (the GRPO arm); planned without a GPU
    # for a real model, the times assume an H100-class card
    rl_arm = next((a for a in recipe.arms if "rl" in ARMS.get(a).needs), None)
    try:
        ro = rollout_of(recipe, hw if hw.cuda or not on_gpu else None) if rl_arm else derived_rollout(recipe)
    except KitError as exc:
        ro, refused = derived_rollout(recipe), f"train_{rl_arm}: {exc}"
    sft_steps = s.max_steps or max(1, math.ceil(problems * s.epochs / (s.batch_size * s.grad_accum)))
    grpo_steps = g.max_steps or max(1, math.ceil(rl_problems * g.epochs / ro.prompts_per_optimizer_step))
    items = {b: n_eval_items(recipe, b) for b in recipe.eval.benchmarks}
    plan = Plan(problems, sft_steps, grpo_steps, items, rl_problems=rl_problems, too_big=refused,
                gpus=recipe.distributed.processes)
    if refused:
        plan.notes.append(f"refused: {refused}")
    try:
        shape = shape_of(recipe.model)
    except KeyError:
        shape = None
        plan.notes.append(f"no shape known for {recipe.model.id}: memory and time not estimated")
    if on_gpu and not hw.cuda:
        plan.notes.append("no GPU here: times assume one GPU at ~150 TFLOP/s and ~1.5 TB/s (H100-class, 4-bit); "
                          "plan for a card with --gpu")
    if vllm_available is None:
        vllm_available = not hw.cuda or importlib.util.find_spec("vllm") is not None
    cost = Cost(recipe, hw, dtype, shape, on_gpu) if shape else None
    vram = hw.vram_gb * 2**30 if hw.cuda else None

    def refuse(stage: str, need: float, limit: float, what: str, knob: str) -> None:
        if plan.too_big is None:
            plan.too_big = (f"{stage}: {what} needs ~{gb(need):.1f} GB, which exceeds this GPU's "
                            f"{hw.vram_gb:.0f} GB ({gb(limit):.1f} GB available to it); {knob}")
        plan.notes.append(f"does not fit: {stage}: ~{gb(need):.1f} GB > {gb(limit):.1f} GB ({knob})")

    data_sizes: dict[str, Any] = {"problems": problems}
    if recipe.data.source == "hub":
        data_sizes["of"] = f"{min(FULL_SIZES.values())} shared (RL set {FULL_SIZES['math_rl_48k']}, SFT set {FULL_SIZES['math_sft_40K']})"
    if any(ARMS.get(a).needs for a in recipe.arms):  # as kit.run declares the data stage
        plan.stages.append(StagePlan("data", data_sizes))
    for arm in recipe.arms:
        ctx = ArmContext(arm, hw, ro, vllm_available, layout_of(recipe, ARMS.get(arm).multiprocess))
        plan.stages.append(resolve(ARMS.get(arm).estimate)(recipe, plan, cost, vram, refuse, ctx))
    ctx = ArmContext("", hw, ro, vllm_available, layout_of(recipe))  # eval: sharded over every process
    plan.stages.append(eval_stage(recipe, plan, cost, vram, refuse, ctx))
    plan.stages.append(probe_stage(recipe, plan, cost, vram, refuse, replace(ctx, layout=Layout())))
    plan.stages.append(StagePlan("report", {}))
    if cost and on_gpu and not vllm_available and (g.use_vllm or recipe.eval.engine == "vllm"):
        plan.notes.append("vLLM is not expected on this card (see kit/hardware.py GPU_PRESETS): set "
                          "grpo.use_vllm=false and eval.engine=hf, or install a vLLM that supports it")
    if full_scale and plan.gpus > 1 and hw.cuda:
        plan.full_scale = make_plan(scale_one(recipe), hw, dtype, available_problems, vllm_available, False)
    return plan


def scale_one(recipe):
    """The recipe at the paper's full scale: scale 1, every shared training problem and whole benchmarks (its
    other values, token caps included, unchanged)."""
    full = copy.deepcopy(recipe)
    full.scale, full.data.num_problems, full.eval.items = 1.0, None, None
    return full
