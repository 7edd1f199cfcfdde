"""Per-arm plan estimators: the StagePlan (sizes, peak memory, minutes) of one training arm.

Each Arm names its estimator in kit/train/arms.py (`estimate="kit.plan.arms:sft_stage"`, …); make_plan calls
every arm's the same way, `estimate(recipe, plan, cost, vram, refuse, ctx)` (kit.plan.cost.ArmContext), so an
arm registered elsewhere brings its own estimator and the planner needs no edit.
"""

from __future__ import annotations

import math
from dataclasses import replace
from typing import Any

from kit.dist import split_batch, split_grpo
from kit.errors import KitError
from kit.plan.cost import (HF_DECODE_S_PER_LAYER, LINK_BYTES_S, SERVER_GPU_MEMORY_UTILIZATION, VLLM_MAX_SEQS,
                           VLLM_OVERHEAD_GB, VOCAB, ArmContext, Cost, Layout, Plan, Refuse, Rollout, StagePlan, gb)


def _refused(plan: Plan, stage: str, exc: KitError) -> None:
    """A layout the trainer would refuse (a batch that does not split over the processes): the plan's refusal."""
    if plan.too_big is None:
        plan.too_big = f"{stage}: {exc}"
    plan.notes.append(f"refused: {stage}: {exc}")


def _sft_split(recipe, lay: Layout) -> tuple[int, int]:
    """(micro-batch, accumulation) of one trainer process, as kit.train.sft splits the recipe's global batch."""
    s = recipe.sft
    return split_batch(s.batch_size, s.grad_accum, lay.trainers, "sft.batch_size/grad_accum")


def _sft_peak(recipe, cost: Cost, lay: Layout = Layout()) -> float:
    batch = _sft_split(recipe, lay)[0]
    return (cost.trainer_weights(lay) + cost.trainer_lora(lay) + cost.train_act(batch * recipe.sft.max_length)
            + cost.context)


def _sft_refuse(recipe, stage: str, peak: float, vram, refuse: Refuse, lay: Layout = Layout()) -> None:
    s = recipe.sft
    if vram and peak > vram:
        batch = _sft_split(recipe, lay)[0]
        more = " or distributed.strategy=fsdp (shards the weights)" if lay.trainers > 1 else ""
        refuse(stage, peak, vram, f"a micro-batch of {batch} x {s.max_length} tokens",
               f"lower sft.batch_size (raise sft.grad_accum to keep the batch) or sft.max_length{more}")


def _sft_parts(recipe, cost: Cost, steps: int, lay: Layout = Layout()) -> dict[str, float]:
    """Seconds by part: the global batch's compute shared by the trainer processes; per optimizer step the
    overhead and the collectives (kit.plan.cost.Cost.sync_seconds)."""
    s = recipe.sft
    return {"training": cost.train_seconds(steps * s.grad_accum * s.batch_size * s.max_length) / lay.trainers,
            "overhead": steps * cost.overhead, "sync": steps * cost.sync_seconds(lay, _sft_split(recipe, lay)[1])}


def _sft_train_seconds(recipe, cost: Cost, steps: int, lay: Layout = Layout()) -> float:
    return sum(_sft_parts(recipe, cost, steps, lay).values())


def _stage(stage: str, sizes: dict[str, Any], peak: float, parts: dict[str, float], cards: int) -> StagePlan:
    return StagePlan(stage, sizes, gb(peak), round(sum(parts.values()) / 60, 2), cards,
                     {k: round(v, 1) for k, v in parts.items()})


def sft_stage(recipe, plan: Plan, cost: Cost | None, vram, refuse: Refuse, ctx: ArmContext) -> StagePlan:
    """Off-policy SFT (and its matched-learning-rate control): plan.sft_steps micro-batches of sft.max_length, the
    global batch shared by ctx.layout's trainer processes."""
    s, lay = recipe.sft, ctx.layout
    sizes = {"problems": plan.problems, "steps": plan.sft_steps, "batch": s.batch_size, "grad_accum": s.grad_accum,
             "max_length": s.max_length}
    try:
        batch, accum = _sft_split(recipe, lay)
    except KitError as exc:  # refused; planned as if one trainer held the global batch
        _refused(plan, ctx.stage, exc)
        lay = replace(lay, trainers=1)
        batch, accum = s.batch_size, s.grad_accum
    if lay.trainers > 1:
        sizes.update(processes=lay.trainers, per_process=f"{batch} x {accum} ({lay.strategy})")
    if lay.rollout_gpus:
        plan.notes.append(f"{ctx.stage} trains on the {lay.trainers} trainer GPUs; the {lay.rollout_gpus} rollout "
                          "GPU(s) wait (distributed.rollout_gpus serves GRPO only)")
    if cost is None:
        return StagePlan(ctx.stage, sizes, processes=lay.trainers)
    peak = _sft_peak(recipe, cost, lay)
    _sft_refuse(recipe, ctx.stage, peak, vram, refuse, lay)
    parts = {**_sft_parts(recipe, cost, plan.sft_steps, lay), "warmup": cost.warmup}
    return _stage(ctx.stage, sizes, peak, parts, lay.trainers)


def local_rollout(recipe, ro: Rollout, trainers: int) -> Rollout:
    """One trainer process's share of the GRPO batching, by the rule the trainer applies (kit.dist.split_grpo)."""
    if trainers == 1:
        return ro
    batch, accum, spg = split_grpo(ro.micro_batch, ro.grad_accum, recipe.grpo.steps_per_generation, trainers)
    return replace(ro, micro_batch=batch, grad_accum=accum, steps_per_generation=spg)


def _server_rollouts(recipe, cost: Cost, vram, refuse: Refuse, stage: str, lay: Layout,
                     ro: Rollout, sizes: dict[str, Any]) -> tuple[float, float]:
    """(seconds per rollout, peak bytes per server card) of `trl vllm-serve` on lay.rollout_gpus cards, one engine
    tensor parallel over all of them (kit.train.rollouts.check_server_layout): it loads the 16-bit checkpoint, holds
    SERVER_GPU_MEMORY_UTILIZATION of each card, decodes the whole global generation batch in waves, and gets the
    merged weights over NCCL before each rollout (trl/generation/vllm_generation.py:496-512)."""
    g, k = recipe.grpo, lay.rollout_gpus
    card = vram or 80 * 2**30
    weights16 = cost.params * 2
    prompt, new = recipe.data.max_prompt_tokens, g.max_completion_length
    pool = k * (SERVER_GPU_MEMORY_UTILIZATION * card - VLLM_OVERHEAD_GB * 2**30) - weights16
    if vram and pool < cost.kv(prompt + new):
        refuse(stage, (weights16 + cost.kv(prompt + new)) / k + VLLM_OVERHEAD_GB * 2**30,
               SERVER_GPU_MEMORY_UTILIZATION * card, f"the rollout server's 16-bit weights plus one rollout's KV cache "
               f"(per card, tensor parallel {k})", "raise distributed.rollout_gpus and rollout_tensor_parallel")
    per_wave = min(VLLM_MAX_SEQS, ro.generation_batch, max(1, int(max(pool, 0) // cost.kv(prompt + new // 2))))
    waves = math.ceil(ro.generation_batch / per_wave)
    sizes.update(server=f"trl vllm-serve on {k} GPU(s), tensor parallel {k}", vllm_waves=waves)
    sec = waves * cost.decode_seconds(per_wave, prompt, new, vllm=True, weights=weights16, gpus=k)
    return sec + weights16 / LINK_BYTES_S, SERVER_GPU_MEMORY_UTILIZATION * card + cost.context


def grpo_stage(recipe, plan: Plan, cost: Cost | None, vram, refuse: Refuse, ctx: ArmContext) -> StagePlan:
    """GRPO: ctx.rollout's generation batches (vLLM waves, continuous batching or chunked `generate`; each trainer
    process generates its share, or the rollout server all of it), the re-scoring of reused batches, and training
    on every micro-batch, the global batch shared by the trainer processes."""
    g, glob, stage, lay = recipe.grpo, ctx.rollout, ctx.stage, ctx.layout
    try:
        ro = local_rollout(recipe, glob, lay.trainers)
    except KitError as exc:  # refused; planned as if one trainer held the global batch
        _refused(plan, stage, exc)
        ro, lay = glob, replace(lay, trainers=1)
    seq_len = recipe.data.max_prompt_tokens + g.max_completion_length
    gens = ro.generations(plan.grpo_steps)
    sizes: dict[str, Any] = {
        "problems": plan.rl_problems or plan.problems, "steps": plan.grpo_steps,
        "rollout": f"{glob.prompts_per_generation} prompts x {g.num_generations} = {glob.generation_batch} seqs",
        "rollouts": gens, "micro_batch": ro.micro_batch, "grad_accum": ro.grad_accum,
        "updates/rollout": max(1, ro.steps_per_generation * ro.num_iterations // ro.grad_accum),
        "max_completion": g.max_completion_length, "generation": ro.mode}
    if lay.trainers > 1:
        sizes["processes"] = f"{lay.trainers} trainers ({lay.strategy})" + (
            f" + {lay.rollout_gpus} rollout GPU(s)" if lay.rollout_gpus else "")
    cards = lay.trainers + (lay.rollout_gpus if ro.mode == "vllm_server" else 0)
    if cost is None:
        return StagePlan(stage, sizes, processes=cards)
    prompt, new = recipe.data.max_prompt_tokens, g.max_completion_length
    weights, lora = cost.trainer_weights(lay), cost.trainer_lora(lay)
    train_side = lora + cost.train_act(ro.micro_batch * seq_len)
    sizes["rollout_kv_gb"] = gb(cost.kv(ro.generation_batch * seq_len))
    avg_seq = prompt + new // 2  # paged caches: in steady state a sequence holds its prompt and half its completion
    if ro.mode == "vllm_server" and cost.on_gpu:
        per_rollout, server_peak = _server_rollouts(recipe, cost, vram, refuse, stage, lay, glob, sizes)
        trainer_peak = weights + train_side + cost.context
        sizes.update(trainer_gb=gb(trainer_peak), server_gb=gb(server_peak))
        if vram and trainer_peak > vram:
            refuse(stage, trainer_peak, vram, f"a trainer's micro-batch of {ro.micro_batch} x {seq_len} tokens",
                   "lower grpo.prompts_per_step or grpo.max_completion_length, or distributed.strategy=fsdp")
        peak = max(trainer_peak, server_peak)
    elif ro.mode.startswith("vllm") and cost.on_gpu:
        share = recipe.model.gpu_memory_utilization * (vram or 80 * 2**30)
        # unsloth's engine shares the weights with training (unsloth_zoo/vllm_utils.py:4637); TRL's colocated
        # vLLM (vllm_trl, 16-bit) holds its own copy
        outside = train_side + (weights if ro.mode == "vllm_trl" else 0)
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
        calls = math.ceil(ro.generation_batch / per_wave)
        per_rollout = calls * cost.decode_seconds(per_wave, prompt, new, vllm=True)
        sizes["vllm_waves"] = calls
    else:
        if ro.mode == "continuous":  # transformers' paged cache within max_memory_percent=0.5 (kit/train/grpo.py)
            budget = 0.5 * (vram or 80 * 2**30)
            per_call = min(ro.generation_batch, max(1, int(budget // cost.kv(avg_seq))))
            gen_side = budget
        else:  # plain generate, split into calls of ro.chunk sequences (kit/train/rollouts.py chunk_generate)
            per_call = min(ro.generation_batch, ro.chunk or ro.generation_batch)
            prefill = per_call * prompt * cost.shape.hidden * cost.dt * 34  # one layer's working set
            gen_side = cost.kv(per_call * seq_len) + max(prefill, per_call * VOCAB * 4 * 2)
        calls = math.ceil(ro.generation_batch / per_call)
        sizes["generate_calls"] = f"{calls} x {per_call} seqs"
        sizes["call_kv_gb"] = gb(cost.kv(per_call * seq_len))
        # generation runs on the whole model (TRL unwraps a ZeRO-3/FSDP model for it), training on the shard
        peak = max(cost.weights + lora + gen_side, weights + train_side) + cost.context
        if vram and peak > vram:
            refuse(stage, peak, vram,
                   f"generate calls of {per_call} sequences x {seq_len} tokens (KV cache "
                   f"{gb(cost.kv(per_call * seq_len)):.1f} GB) beside training",
                   "lower grpo.generation_chunk (or grpo.steps_per_generation, grpo.grad_accum, "
                   "grpo.prompts_per_step), grpo.max_completion_length, or use grpo.use_vllm=true")
        per_rollout = calls * cost.decode_seconds(per_call, prompt, new, vllm=False)
        if cost.on_gpu:
            plan.notes.append(f"GRPO rollouts without vLLM: {calls} generate call(s) of {per_call} sequences per "
                              f"rollout{' and process' if lay.trainers > 1 else ''}, planned at >= "
                              f"{HF_DECODE_S_PER_LAYER * 1e3:.2f} ms per layer per decode step "
                              "(measured on an H100, docs/benchmarks.md)")
    if ro.mode.startswith("vllm") and cost.on_gpu and not ctx.vllm_available:
        plan.notes.append(f"{stage} is planned with vLLM, which is not expected on this card")
    trained = plan.grpo_steps * glob.grad_accum * glob.micro_batch * seq_len  # global, shared by the trainers
    # old log-probs: one scoring pass over each process's generation batch when it serves more than one step
    rescore = ro.generation_batch * seq_len if ro.steps_per_generation * ro.num_iterations > ro.grad_accum else 0
    parts = {"rollouts": gens * per_rollout, "rescoring": gens * cost.score_seconds(rescore),
             "training": cost.train_seconds(trained) / lay.trainers, "overhead": plan.grpo_steps * cost.overhead,
             "sync": plan.grpo_steps * cost.sync_seconds(lay, ro.grad_accum), "warmup": cost.warmup}
    return _stage(stage, sizes, peak, parts, cards)


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
