"""The stages every recipe plans besides its arms (evaluation and the probe), and the plan as text or data
(`format_plan`, `plan_json`). The eval and probe planners take the estimators' signature
(kit.plan.cost.ArmContext)."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from kit.hardware import Hardware
from kit.plan.cost import (EVAL_PROMPT_TOKENS, HF_DECODE_S_PER_LAYER, VLLM_MAX_SEQS, VLLM_OVERHEAD_GB, VOCAB,
                           ArmContext, Cost, Plan, Refuse, StagePlan, gb)


def eval_stage(recipe, plan: Plan, cost: Cost | None, vram, refuse: Refuse, ctx: ArmContext) -> StagePlan:
    from kit.eval import benchmarks
    from kit.eval.stage import resolved_decode

    e = recipe.eval
    models = 1 + len(recipe.arms) + len(recipe.compare)
    fast = e.engine == "vllm" or (e.engine == "auto" and ctx.vllm_available)
    sizes: dict[str, Any] = {"models": models, "engine": "vllm" if fast else "hf"}
    sec = 0.0
    longest = 0
    for b in e.benchmarks:
        bench = benchmarks.get(b)
        n = plan.eval_items[b] if plan.eval_items[b] is not None else bench.full_size
        if bench.kind == "loglik":
            sizes[b] = f"{n} items (log-likelihood)"
            if cost:  # ~5 choices of ~256 tokens, one forward each
                sec += cost.score_seconds(n * 5 * 256) + math.ceil(n * 5 / e.batch_size) * cost.overhead
            continue
        d = resolved_decode(bench, e)
        sizes[b] = f"{n} items x {d.n_samples} samples x {len(bench.variants)} order(s), <= {d.max_new_tokens} tok"
        seqs = n * d.n_samples * len(bench.variants)
        longest = max(longest, d.max_new_tokens)
        if cost:
            sec += chunks_seconds(cost, seqs, e.batch_size, d.max_new_tokens, fast and cost.on_gpu,
                                  recipe.model.gpu_memory_utilization * (vram or 80 * 2**30))
    if cost is None:
        return StagePlan("eval", sizes)
    adapters = cost.lora / 8 * len(recipe.arms)  # 16-bit adapter weights, no optimizer state
    kv = cost.kv(e.batch_size * (EVAL_PROMPT_TOKENS + longest))
    if fast and cost.on_gpu:
        share = recipe.model.gpu_memory_utilization * (vram or 80 * 2**30)
        peak = share + adapters + cost.act(e.batch_size * 256) + cost.context
        one = cost.weights + cost.kv(EVAL_PROMPT_TOKENS + longest) + VLLM_OVERHEAD_GB * 2**30
        if vram and one > share:  # a chunk larger than vLLM's KV pool runs in waves; one sequence must fit
            refuse("eval", one, share,
                   f"vLLM's weights plus one sequence's KV cache ({EVAL_PROMPT_TOKENS + longest} tokens)",
                   "raise model.gpu_memory_utilization or lower eval.max_new_tokens")
    else:
        peak = cost.weights + adapters + kv + e.batch_size * VOCAB * 4 * 2 + cost.context
        if vram and peak > vram:
            refuse("eval", peak, vram, f"the KV cache of {e.batch_size} x {EVAL_PROMPT_TOKENS + longest} tokens",
                   "lower eval.batch_size or eval.max_new_tokens")
    if not fast and cost.on_gpu:
        plan.notes.append(f"evaluation without vLLM: planned at >= {HF_DECODE_S_PER_LAYER * 1e3:.2f} ms per layer per "
                          "decode step (measured on an H100, docs/benchmarks.md); every sequence to its cap")
    # base and arms sharded over every process (each holds the whole model): their chunks are shared, the figures
    # per card; compare models are evaluated by the runner alone, after them (kit.eval.stage.run_sharded)
    procs = ctx.layout.processes
    sharded = 1 + len(recipe.arms)
    total = sharded * sec / procs + len(recipe.compare) * sec
    if procs > 1:
        sizes["processes"] = procs
    return StagePlan("eval", sizes, gb(peak), round(total / 60, 2), procs, {"generation": round(total, 1)})


def chunks_seconds(cost: Cost, seqs: int, chunk: int, new_tokens: int, vllm: bool, share: float) -> float:
    """Generating `seqs` sequences in chunks of `chunk` (the eval engine's batches); under vLLM a chunk whose KV
    cache exceeds vLLM's pool runs in waves of what fits."""
    per_wave = chunk
    if vllm:
        pool = share - cost.weights - VLLM_OVERHEAD_GB * 2**30
        avg_seq = EVAL_PROMPT_TOKENS + new_tokens // 2  # continuous batching, as in kit.plan.arms.grpo_stage
        per_wave = max(1, min(chunk, VLLM_MAX_SEQS, int(max(pool, 0) // cost.kv(avg_seq))))
    sec = 0.0
    while seqs > 0:
        n = min(chunk, seqs)
        waves, last = divmod(n, per_wave)
        sec += waves * cost.decode_seconds(per_wave, EVAL_PROMPT_TOKENS, new_tokens, vllm=vllm)
        if last:
            sec += cost.decode_seconds(last, EVAL_PROMPT_TOKENS, new_tokens, vllm=vllm)
        seqs -= n
    return sec


def probe_stage(recipe, plan: Plan, cost: Cost | None, vram, refuse: Refuse, ctx: ArmContext) -> StagePlan:
    from kit.eval import benchmarks

    p = recipe.probe
    if not p.enabled:
        return StagePlan("probe", {"enabled": False})
    sizes = {"texts/benchmark": p.texts_per_benchmark, "max_length": p.max_length, "token_samples": p.token_samples}
    if cost is None:
        return StagePlan("probe", sizes)
    texts = p.texts_per_benchmark * len(recipe.eval.benchmarks)
    arms = len(recipe.arms) + len(recipe.compare)
    # hidden states: base + each arm + its norm-matched random control, two modes each
    passes = (1 + 2 * arms) * 2
    sec = passes * (cost.score_seconds(texts * p.max_length) + math.ceil(texts / p.batch_size) * cost.overhead)
    # token shift: each arm's own generations (up to token_samples per generative benchmark) scored by arm and base
    gen_len = EVAL_PROMPT_TOKENS + recipe.eval.max_new_tokens
    scored = 0
    for b in recipe.eval.benchmarks:
        if benchmarks.get(b).kind != "loglik":
            scored += p.token_samples
    sec += arms * 2 * (cost.score_seconds(scored * gen_len) + math.ceil(scored / p.batch_size) * cost.overhead)
    longest = gen_len  # a batch of generations that all ran to the cap (base models often do)
    peak = cost.weights + cost.lora / 8 * (1 + arms) + cost.act(p.batch_size * longest) + cost.context
    if vram and peak > vram:
        refuse("probe", peak, vram, f"scoring {p.batch_size} generations of up to {longest} tokens at once",
               "lower probe.batch_size")
    return StagePlan("probe", sizes, gb(peak), round(sec / 60, 2))


def _duration(minutes: float) -> str:
    if minutes >= 48 * 60:
        return f"~{minutes / 1440:.1f} days"
    if minutes >= 120:
        return f"~{minutes / 60:.1f} h"
    return f"~{minutes:.1f} min"


def _cards(plan: Plan, hw: Hardware) -> str:
    if not hw.cuda or plan.gpus == 1:
        return hw.summary
    return f"{plan.gpus} × {dataclasses.replace(hw, count=1).summary}"


def format_plan(recipe, plan: Plan, hw: Hardware) -> str:
    multi = plan.gpus > 1 and hw.cuda  # several cards (several CPU processes share one machine's cores)
    lines = [f"plan for '{recipe.name}' on {_cards(plan, hw)} (scale {recipe.scale}, seed {recipe.seed})", ""]
    for st in plan.stages:
        est = []
        if st.peak_gb is not None:
            est.append(f"~{st.peak_gb:.2f} GB peak" + (" per GPU" if multi else ""))
        if st.minutes is not None:
            est.append(_duration(st.minutes) + (f" on {st.processes} process(es)" if multi else ""))
        sizes = ", ".join(f"{k}={v}" for k, v in st.sizes.items())
        lines.append(f"  {st.name:<12} {sizes}" + (f"  [{'; '.join(est)}]" if est else ""))
    lines += [f"  note: {n}" for n in plan.notes]
    lines.append("  (estimates come from the model in kit/plan/: worst case, every sequence to its token cap; "
                 "downloads and loading not counted; GPU figures are checked by kit.gpucheck)")
    if multi:
        lines.append(f"  (several GPUs: each stage's time is shared by the processes that run it: training by the "
                     "trainer processes, GRPO rollouts by them or the rollout server's GPUs, evaluation by all, probe "
                     "and report by one; peaks are per GPU: DDP/ZeRO-2 keep the whole base on every trainer, "
                     "ZeRO-3/FSDP shard it; collectives at 100 GB/s)")
    total = plan.total_minutes
    fits = "no: " + plan.too_big if plan.too_big else ("yes" if hw.cuda else "not checked (no GPU; use --gpu)")
    where = f" on {plan.gpus} GPUs ({total / 60 * plan.gpus:.0f} GPU-hours)" if multi else ""
    lines.append(f"total: {_duration(total)} ({total / 60:.2f} h){where}; peak ~{plan.peak_gb or 0:.1f} GB"
                 f"{' per GPU' if multi else ''}; fits: {fits}")
    full = plan.full_scale
    if full is not None:
        t = full.total_minutes
        verdict = ""
        if full.too_big:
            stage = full.too_big.split(":")[0]
            verdict = f"; does not fit: {stage} (as above)" if full.too_big == plan.too_big else f"; does not fit: {full.too_big}"
        lines.append(f"paper's full scale (scale 1: {full.problems} problems, whole benchmarks, this recipe's token "
                     f"caps) on {_cards(full, hw)}: {_duration(t)} ({t / 60:.1f} h, {t / 60 * full.gpus:.0f} "
                     f"GPU-hours){verdict}")
    return "\n".join(lines)


def _stage_json(st: StagePlan, multi: bool) -> dict[str, Any]:
    """A stage as data; a plan for several cards adds the processes it runs in, its peak per card and its seconds
    by part (a one-card plan keeps the fields it always had)."""
    out = {"name": st.name, "sizes": st.sizes, "seconds": st.seconds, "peak_gb": st.peak_gb}
    if multi:
        out.update(peak_gb_per_gpu=st.peak_gb, processes=st.processes, parts_seconds=st.parts)
    return out


def plan_json(recipe, plan: Plan, hw: Hardware) -> dict[str, Any]:
    """The same plan as `format_plan`, as data: per stage seconds (and their parts), peak GB per card and the
    processes it runs in, the total, and for several cards the layout and the scale-1 twin."""
    d = recipe.distributed
    out = {"recipe": recipe.name, "gpu": hw.summary, "vram_gb": round(hw.vram_gb, 1) if hw.cuda else None,
           "gpus": plan.gpus, "scale": recipe.scale, "seed": recipe.seed,
           "layout": {"processes": d.processes, "trainer_processes": max(1, d.processes - d.rollout_gpus),
                      "rollout_gpus": d.rollout_gpus, "strategy": d.strategy},
           "stages": [_stage_json(st, plan.gpus > 1) for st in plan.stages],
           "total_seconds": round(plan.total_minutes * 60, 1), "total_hours": round(plan.total_minutes / 60, 3),
           "gpu_hours": round(plan.total_minutes / 60 * plan.gpus, 1),
           "peak_gb": plan.peak_gb, "fits": (plan.too_big is None) if hw.cuda else None,
           "refusal": plan.too_big, "notes": plan.notes, "full_scale": None}
    if plan.full_scale is not None:
        f = plan.full_scale
        out["full_scale"] = {"problems": f.problems, "total_hours": round(f.total_minutes / 60, 3),
                             "gpu_hours": round(f.total_minutes / 60 * f.gpus, 1), "peak_gb": f.peak_gb,
                             "fits": (f.too_big is None) if hw.cuda else None, "refusal": f.too_big}
    return out
