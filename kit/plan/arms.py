"""Per-arm plan estimators: the StagePlan (sizes, peak memory, minutes) of one training arm.

Each Arm names its estimator in kit/train/arms.py (`estimate="kit.plan.arms:sft_stage"`, …); make_plan calls
every arm's the same way, `estimate(recipe, plan, cost, vram, refuse, ctx)` (kit.plan.cost.ArmContext), so an
arm registered elsewhere brings its own estimator and the planner needs no edit.
"""

from __future__ import annotations

import math
from typing import Any

from kit.plan.cost import (HF_DECODE_S_PER_LAYER, VLLM_MAX_SEQS, VLLM_OVERHEAD_GB, VOCAB, ArmContext, Cost, Plan,
                           Refuse, StagePlan, gb)


def _sft_peak(recipe, cost: Cost) -> float:
    s = recipe.sft
    return cost.weights + cost.lora + cost.act(s.batch_size * s.max_length) + cost.context


def _sft_refuse(recipe, stage: str, peak: float, vram, refuse: Refuse) -> None:
    s = recipe.sft
    if vram and peak > vram:
        refuse(stage, peak, vram, f"a micro-batch of {s.batch_size} x {s.max_length} tokens",
               "lower sft.batch_size (raise sft.grad_accum to keep the batch) or sft.max_length")


def _sft_train_seconds(recipe, cost: Cost, steps: int) -> float:
    s = recipe.sft
    return cost.train_seconds(steps * s.grad_accum * s.batch_size * s.max_length) + steps * cost.overhead


def sft_stage(recipe, plan: Plan, cost: Cost | None, vram, refuse: Refuse, ctx: ArmContext) -> StagePlan:
    """Off-policy SFT (and its matched-learning-rate control): plan.sft_steps micro-batches of sft.max_length."""
    s = recipe.sft
    sizes = {"problems": plan.problems, "steps": plan.sft_steps, "batch": s.batch_size, "grad_accum": s.grad_accum,
             "max_length": s.max_length}
    if cost is None:
        return StagePlan(ctx.stage, sizes)
    peak = _sft_peak(recipe, cost)
    _sft_refuse(recipe, ctx.stage, peak, vram, refuse)
    sec = _sft_train_seconds(recipe, cost, plan.sft_steps) + cost.warmup
    return StagePlan(ctx.stage, sizes, gb(peak), round(sec / 60, 2))


def grpo_stage(recipe, plan: Plan, cost: Cost | None, vram, refuse: Refuse, ctx: ArmContext) -> StagePlan:
    """GRPO: ctx.rollout's generation batches (vLLM waves, continuous batching or chunked `generate`), the
    re-scoring of reused batches, and training on every micro-batch."""
    g, ro, stage = recipe.grpo, ctx.rollout, ctx.stage
    seq_len = recipe.data.max_prompt_tokens + g.max_completion_length
    gens = ro.generations(plan.grpo_steps)
    sizes: dict[str, Any] = {
        "problems": plan.rl_problems or plan.problems, "steps": plan.grpo_steps,
        "rollout": f"{ro.prompts_per_generation} prompts x {g.num_generations} = {ro.generation_batch} seqs",
        "rollouts": gens, "micro_batch": ro.micro_batch, "grad_accum": ro.grad_accum,
        "updates/rollout": max(1, ro.steps_per_generation * ro.num_iterations // ro.grad_accum),
        "max_completion": g.max_completion_length, "generation": ro.mode}
    if cost is None:
        return StagePlan(stage, sizes)
    prompt, new = recipe.data.max_prompt_tokens, g.max_completion_length
    train_side = cost.lora + cost.act(ro.micro_batch * seq_len)
    sizes["rollout_kv_gb"] = gb(cost.kv(ro.generation_batch * seq_len))
    avg_seq = prompt + new // 2  # paged caches: in steady state a sequence holds its prompt and half its completion
    if ro.mode.startswith("vllm") and cost.on_gpu:
        share = recipe.model.gpu_memory_utilization * (vram or 80 * 2**30)
        # unsloth's engine shares the weights with training (unsloth_zoo/vllm_utils.py:4637); TRL's colocated
        # vLLM (vllm_trl, 16-bit) holds its own copy
        outside = train_side + (cost.weights if ro.mode == "vllm_trl" else 0)
        pool = share - cost.weights - VLLM_OVERHEAD_GB * 2**30
        per_wave = min(VLLM_MAX_SEQS, ro.generation_batch, max(1, int(max(pool, 0) // cost.kv(avg_seq))))
        peak = share + outside + cost.context
        if vram and pool < cost.kv(seq_len):  # one whole rollout must fit vLLM's KV pool
            refuse(stage, cost.weights + cost.kv(seq_len) + VLLM_OVERHEAD_GB * 2**30, share,
                   "vLLM's weights plus one rollout's KV cache", "raise model.gpu_memory_utilization")
        elif vram and peak > vram:
            refuse(stage, outside + cost.context, vram - share,
                   f"training beside vLLM's {recipe.model.gpu_memory_utilization:.0%} share (micro-batch of "
                   f"{ro.micro_batch} x {seq_len} tokens)",
                   "lower model.gpu_memory_utilization, grpo.prompts_per_step or grpo.max_completion_length")
        calls, per_call, vllm = math.ceil(ro.generation_batch / per_wave), per_wave, True
        sizes["vllm_waves"] = calls
        if not ctx.vllm_available:
            plan.notes.append(f"{stage} is planned with vLLM, which is not expected on this card")
    else:
        if ro.mode == "continuous":  # transformers' paged cache within max_memory_percent=0.5 (kit/train/grpo.py)
            budget = 0.5 * (vram or 80 * 2**30)
            per_call = min(ro.generation_batch, max(1, int(budget // cost.kv(avg_seq))))
            gen_side = budget
        else:  # plain generate, split into calls of ro.chunk sequences (kit/train/rollouts.py chunk_generate)
            per_call = min(ro.generation_batch, ro.chunk or ro.generation_batch)
            prefill = per_call * prompt * cost.shape.hidden * cost.dt * 34  # one layer's working set
            gen_side = cost.kv(per_call * seq_len) + max(prefill, per_call * VOCAB * 4 * 2)
        calls, vllm = math.ceil(ro.generation_batch / per_call), False
        sizes["generate_calls"] = f"{calls} x {per_call} seqs"
        sizes["call_kv_gb"] = gb(cost.kv(per_call * seq_len))
        peak = cost.weights + cost.lora + max(gen_side, cost.act(ro.micro_batch * seq_len)) + cost.context
        if vram and peak > vram:
            refuse(stage, peak, vram,
                   f"generate calls of {per_call} sequences x {seq_len} tokens (KV cache "
                   f"{gb(cost.kv(per_call * seq_len)):.1f} GB) beside training",
                   "lower grpo.generation_chunk (or grpo.steps_per_generation, grpo.grad_accum, "
                   "grpo.prompts_per_step), grpo.max_completion_length, or use grpo.use_vllm=true")
        if cost.on_gpu:
            plan.notes.append(f"GRPO rollouts without vLLM: {calls} generate call(s) of {per_call} sequences per "
                              f"rollout, planned at >= {HF_DECODE_S_PER_LAYER * 1e3:.2f} ms per layer per decode step "
                              "(measured on an H100, docs/benchmarks.md)")
    decode = calls * cost.decode_seconds(per_call, prompt, new, vllm=vllm)
    trained = plan.grpo_steps * ro.grad_accum * ro.micro_batch * seq_len
    # old log-probs: one scoring pass over each generation batch when it serves more than one optimizer step
    rescore = ro.generation_batch * seq_len if ro.steps_per_generation * ro.num_iterations > ro.grad_accum else 0
    sec = (gens * (decode + cost.score_seconds(rescore)) + cost.train_seconds(trained) + plan.grpo_steps * cost.overhead
           + cost.warmup)
    return StagePlan(stage, sizes, gb(peak), round(sec / 60, 2))


def onpolicy_sft_stage(recipe, plan: Plan, cost: Cost | None, vram, refuse: Refuse, ctx: ArmContext) -> StagePlan:
    """On-policy SFT (kit/train/onpolicy_sft.py): per round, the model samples onpolicy.samples_per_problem answers
    to each of its problems (rl.jsonl) with plain `generate` in batches of onpolicy.batch_size, every sequence to
    onpolicy.max_completion_length (worst case), then SFT (the `sft` section's batch, accumulation and max_length)
    for onpolicy.epochs_per_round on the kept answers, planned as if every sample were kept (an upper bound)."""
    o, s, stage = recipe.onpolicy, recipe.sft, ctx.stage
    problems = plan.rl_problems or plan.problems
    rounds = max(1, min(o.rounds, problems))
    per_round = -(-problems // rounds)
    batches = [min(per_round, problems - i * per_round) for i in range(rounds)]  # problems per round
    samples = problems * o.samples_per_problem
    steps = [s.max_steps or max(1, math.ceil(n * o.samples_per_problem * o.epochs_per_round
                                             / (s.batch_size * s.grad_accum))) for n in batches if n > 0]
    sizes: dict[str, Any] = {"problems": problems, "rounds": rounds, "samples": samples,
                             "generate": f"batches of {o.batch_size}, <= {o.max_completion_length} tok",
                             "steps": f"<= {sum(steps)}", "batch": s.batch_size, "grad_accum": s.grad_accum,
                             "max_length": s.max_length}
    if cost is None:
        return StagePlan(stage, sizes)
    prompt, new = recipe.data.max_prompt_tokens, o.max_completion_length
    sample_peak = (cost.weights + cost.lora + cost.kv(o.batch_size * (prompt + new)) + o.batch_size * VOCAB * 4 * 2
                   + cost.context)
    if vram and sample_peak > vram:
        refuse(stage, sample_peak, vram, f"sampling {o.batch_size} answers of up to {prompt + new} tokens at once",
               "lower onpolicy.batch_size or onpolicy.max_completion_length")
    train_peak = _sft_peak(recipe, cost)
    _sft_refuse(recipe, stage, train_peak, vram, refuse)
    full, last = divmod(samples, o.batch_size)
    sec = full * cost.decode_seconds(o.batch_size, prompt, new, vllm=False)
    if last:
        sec += cost.decode_seconds(last, prompt, new, vllm=False)
    sec += sum(_sft_train_seconds(recipe, cost, n) for n in steps) + cost.warmup
    plan.notes.append(f"{stage}: sampling with plain generate (no vLLM), every answer to its cap; training planned "
                      "as if every sample were kept (an upper bound: only correct answers are trained on)")
    return StagePlan(stage, sizes, gb(max(sample_peak, train_peak)), round(sec / 60, 2))
