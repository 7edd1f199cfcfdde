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
- GRPO follows TRL's batching (`rollout_of`): one `generate` call per *generation batch* of
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
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from typing import Any

from kit.data.train_sets import FULL_SIZES
from kit.errors import KitError
from kit.hardware import Hardware
from kit.shapes import QWEN3_SHAPES, VOCAB, Shape, shape_of  # noqa: F401  (the plan's cost model reads shapes)


def __getattr__(name: str) -> Any:
    """`BENCH_SIZES`: items of each whole benchmark, a view read from the registry on every access (each
    benchmark's `full_size` is the one source; a benchmark registered later is in it)."""
    if name == "BENCH_SIZES":
        from kit.eval import benchmarks

        return benchmarks.full_sizes()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


# Sustained throughput assumptions: (training/scoring FLOP/s, memory bandwidth B/s, per-step overhead s).
# GPU rows are ~30-40 % of each card's dense 16-bit peak and ~50 % of its memory bandwidth (4-bit kernels and
# LoRA overheads included); `gpu` is the H100-class default when the card is unknown or absent. Checks: the T4
# row gives ~1.8e13 FLOP/s for unsloth's Qwen3-14B QLoRA SFT notebook (16K tokens/step in ~83 s) and ~100 s per
# step for its Qwen3-4B vLLM GRPO notebook (4 x <=1,846 tokens; measured ~106 s), training-anchors.md §5.2.
SPEED = {"cpu": (3e10, 2e10, 0.25), "gpu": (1.5e14, 1.5e12, 0.05), "T4": (2e13, 1.6e11, 0.1),
         "L4": (4e13, 1.5e11, 0.08), "A100": (1e14, 8e11, 0.05), "H100": (1.5e14, 1.5e12, 0.05),
         "H200": (1.6e14, 2.2e12, 0.05)}
# Without vLLM (transformers/unsloth `generate`), a GPU decode step is bound by per-layer kernel launches and
# Python, not by memory bandwidth: on an H100 a 4-bit Qwen3-4B (36 layers) took <= 45 ms per decode step at
# batch 8 in GRPO rollouts (kit.gpucheck, 2026-11-28, first step incl. compilation; docs/benchmarks.md),
# ~30x the bandwidth bound. Used as a floor per layer for the non-vLLM paths on every card. Checked on an H200
# (kit.gpucheck --decode, 2026-11-30): 1.10-1.25 ms per layer at batch 16-64 for 0.6B and 4B. A slower host CPU,
# as on Colab, may be slower still.
HF_DECODE_S_PER_LAYER = 1.25e-3
# One-off compilation and warm-up of a GPU training stage (unsloth compiles per block on the first step): the first
# GRPO step of the 0.6B T4 preset took 72.1 s on an H200 where the plan gave 29.1 s (docs/benchmarks.md, 2026-11-30).
FIRST_STEP_S = 45.0
# Prompt tokens assumed per evaluation sequence (CoQA stories and LiveCodeBench problems are the long ones).
EVAL_PROMPT_TOKENS = 1024
# vLLM runs at most this many sequences at once (its default max_num_seqs) and keeps ~1 GB of its share for
# activations and graphs besides weights and KV pool.
VLLM_MAX_SEQS = 256
VLLM_OVERHEAD_GB = 1.0
CUDA_CONTEXT_GB = 1.0


def speed_for(hw: Hardware, on_gpu: bool) -> tuple[float, float, float]:
    if not on_gpu:
        return SPEED["cpu"]
    for key in ("T4", "L4", "A100", "H100", "H200"):
        if hw.cuda and key in hw.name:
            return SPEED[key]
    return SPEED["gpu"]


@dataclass(frozen=True)
class Rollout:
    """TRL's GRPO batching, in sequences (trl/trainer/grpo_config.py:1085-1099, grpo_trainer.py:1496-1503), and
    how the kit generates it (kit/train/grpo.py GENERATION: vllm_unsloth, vllm_trl, continuous, generate)."""

    micro_batch: int  # per_device_train_batch_size: sequences per forward/backward
    grad_accum: int
    steps_per_generation: int  # micro-batches cut from one generation batch
    num_iterations: int  # passes over each generation batch
    num_generations: int
    mode: str = "generate"
    chunk: int | None = None  # sequences per `generate` call on the plain path (kit.train.grpo.chunk_generate)

    @property
    def generation_batch(self) -> int:
        """Sequences produced per rollout (TRL's generation_batch_size, one process)."""
        return self.micro_batch * self.steps_per_generation

    @property
    def prompts_per_generation(self) -> int:
        return self.generation_batch // self.num_generations

    @property
    def prompts_per_optimizer_step(self) -> int:
        """Prompt groups per optimizer step (the kit's steps_for: prompts_per_step x grad_accum)."""
        return self.micro_batch * self.grad_accum // self.num_generations

    def generations(self, optimizer_steps: int) -> int:
        """Rollouts (generation batches) for `optimizer_steps`: TRL regenerates every S x mu micro-steps."""
        return math.ceil(optimizer_steps * self.grad_accum / (self.steps_per_generation * self.num_iterations))


def _derived_rollout(recipe) -> Rollout:
    """The same shape derived without building a GRPOConfig (fallback when kit.train.grpo cannot say)."""
    g = recipe.grpo
    return Rollout(micro_batch=g.prompts_per_step * g.num_generations, grad_accum=g.grad_accum,
                   steps_per_generation=g.steps_per_generation or g.grad_accum,
                   num_iterations=g.num_iterations, num_generations=g.num_generations,
                   mode="vllm_unsloth" if g.use_vllm else "generate",
                   chunk=g.generation_chunk or g.prompts_per_step * g.num_generations * g.grad_accum)


def rollout_of(recipe, hw: Hardware | None = None) -> Rollout:
    """The GRPO arm's batching read off the real GRPOConfig the arm builds (kit.train.grpo.rollout_shape), for
    the machine planned for. Raises KitError where the arm itself would refuse the recipe on that machine."""
    hw = hw or Hardware(True, "NVIDIA H100 80GB HBM3", (9, 0), 79.1, True)
    try:
        from kit.train.grpo import rollout_shape
    except ImportError:
        return _derived_rollout(recipe)
    try:
        r = rollout_shape(recipe, hw, check_installed=False)
    except KitError:
        raise
    except Exception as exc:  # a TRL that refuses the config: the arm would fail the same way
        raise KitError(f"GRPOConfig refused this recipe: {str(exc).splitlines()[0]}") from None
    return Rollout(micro_batch=r["per_device_train_batch_size"], grad_accum=r["gradient_accumulation_steps"],
                   steps_per_generation=r["steps_per_generation"], num_iterations=r["num_iterations"],
                   num_generations=r["num_generations"], mode=r["mode"], chunk=r.get("generate_chunk"))


@dataclass
class StagePlan:
    name: str
    sizes: dict[str, Any]
    peak_gb: float | None = None
    minutes: float | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.minutes is None else round(self.minutes * 60, 1)


@dataclass
class Plan:
    problems: int
    sft_steps: int
    grpo_steps: int
    eval_items: dict[str, int | None]
    stages: list[StagePlan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    too_big: str | None = None  # set when a stage cannot fit the card: what overflows and the knob to turn
    rl_problems: int | None = None  # GRPO's problems (data.rl_problems=all: the whole RL set at this scale)

    @property
    def total_minutes(self) -> float:
        return round(sum(st.minutes or 0.0 for st in self.stages), 2)

    @property
    def peak_gb(self) -> float | None:
        peaks = [st.peak_gb for st in self.stages if st.peak_gb is not None]
        return max(peaks) if peaks else None


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


def _bytes_per_weight(recipe, dtype: str) -> float:
    if recipe.model.load_in_4bit:
        return 4.5 / 8
    return {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0}[dtype]


class _Cost:
    """Memory (bytes) and time (seconds) of the pieces of a stage, for one model shape on one card."""

    def __init__(self, recipe, hw: Hardware, dtype: str, shape: Shape, on_gpu: bool):
        self.shape, self.hw, self.on_gpu = shape, hw, on_gpu
        self.flops, self.bandwidth, self.overhead = speed_for(hw, on_gpu)
        self.dt = 4.0 if dtype == "float32" else 2.0
        self.weights = shape.non_embedding * _bytes_per_weight(recipe, dtype) + shape.embedding * self.dt
        self.params = shape.non_embedding + shape.embedding
        self.lora = shape.lora_params(recipe.lora.r, recipe.lora.target_modules) * 16
        offload = on_gpu and recipe.model.backend in ("auto", "unsloth")
        self.kept = 0 if offload else shape.layers  # unsloth offloads checkpointed layer inputs to CPU RAM
        self.context = CUDA_CONTEXT_GB * 2**30 if hw.cuda else 0.3 * 2**30
        self.warmup = FIRST_STEP_S if on_gpu else 0.0  # per training stage

    def act(self, tokens: int) -> float:
        """Training/forward activations for `tokens` tokens in one micro-batch."""
        return tokens * self.shape.hidden * self.dt * (self.kept + 34) + min(tokens, 8192) * VOCAB * 4

    def kv(self, tokens: int) -> float:
        return tokens * self.shape.kv_bytes_per_token

    def decode_seconds(self, seqs: int, start_len: int, steps: int, vllm: bool) -> float:
        """`steps` decode steps for `seqs` sequences in flight that start `start_len` tokens long."""
        kv_avg = self.kv(seqs * (start_len + steps / 2))
        step = (self.weights + kv_avg) / self.bandwidth
        if self.on_gpu and not vllm:
            step = max(step, HF_DECODE_S_PER_LAYER * self.shape.layers)
        return steps * step + 2 * self.params * seqs * start_len / self.flops  # + prefill

    def train_seconds(self, tokens: float) -> float:
        return 6 * self.params * tokens / self.flops

    def score_seconds(self, tokens: float) -> float:
        return 2 * self.params * tokens / self.flops


def _gb(b: float) -> float:
    return round(b / 2**30, 2)


def make_plan(recipe, hw: Hardware, dtype: str, available_problems: int | None = None,
              vllm_available: bool | None = None) -> Plan:
    """Sizes, peak memory and time per stage. `vllm_available`: whether vLLM will be installed where the
    plan runs (None: installed here on a CUDA machine; planned from a machine without a GPU, assumed yes)."""
    from kit.eval import benchmarks

    problems = n_problems(recipe)
    if available_problems is not None:
        problems = min(problems, available_problems)
    rl_problems = _rl_problems(recipe, problems)
    if available_problems is not None:
        rl_problems = min(rl_problems, available_problems)
    s, g = recipe.sft, recipe.grpo
    on_gpu = hw.cuda or recipe.model.id != "tiny-random-qwen3"
    refused = None
    try:  # planned without a GPU for a real model: for the H100-class card the times assume
        ro = rollout_of(recipe, hw if hw.cuda or not on_gpu else None) if "grpo" in recipe.arms \
            else _derived_rollout(recipe)
    except KitError as exc:
        ro, refused = _derived_rollout(recipe), f"train_grpo: {exc}"
    sft_steps = s.max_steps or max(1, math.ceil(problems * s.epochs / (s.batch_size * s.grad_accum)))
    grpo_steps = g.max_steps or max(1, math.ceil(rl_problems * g.epochs / ro.prompts_per_optimizer_step))
    items = {b: n_eval_items(recipe, b) for b in recipe.eval.benchmarks}
    plan = Plan(problems, sft_steps, grpo_steps, items, rl_problems=rl_problems, too_big=refused)
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
    cost = _Cost(recipe, hw, dtype, shape, on_gpu) if shape else None
    vram = hw.vram_gb * 2**30 if hw.cuda else None

    def refuse(stage: str, need: float, limit: float, what: str, knob: str) -> None:
        if plan.too_big is None:
            plan.too_big = (f"{stage}: {what} needs ~{_gb(need):.1f} GB, which exceeds this GPU's "
                            f"{hw.vram_gb:.0f} GB ({_gb(limit):.1f} GB available to it); {knob}")
        plan.notes.append(f"does not fit: {stage}: ~{_gb(need):.1f} GB > {_gb(limit):.1f} GB ({knob})")

    data_sizes: dict[str, Any] = {"problems": problems}
    if recipe.data.source == "hub":
        data_sizes["of"] = f"{min(FULL_SIZES.values())} shared (RL set {FULL_SIZES['math_rl_48k']}, SFT set {FULL_SIZES['math_sft_40K']})"
    if recipe.arms:
        plan.stages.append(StagePlan("data", data_sizes))
    for arm in recipe.arms:
        if arm == "sft":
            plan.stages.append(_sft_stage(recipe, plan, cost, vram, refuse))
        elif arm == "grpo":
            plan.stages.append(_grpo_stage(recipe, plan, cost, vram, refuse, ro, vllm_available))
        else:
            plan.stages.append(StagePlan(f"train_{arm}", {"problems": problems}))
    plan.stages.append(_eval_stage(recipe, plan, cost, vram, refuse, benchmarks, vllm_available))
    plan.stages.append(_probe_stage(recipe, plan, cost, vram, refuse, benchmarks))
    plan.stages.append(StagePlan("report", {}))
    if cost and on_gpu and not vllm_available and (g.use_vllm or recipe.eval.engine == "vllm"):
        plan.notes.append("vLLM is not expected on this card (see kit/hardware.py GPU_PRESETS): set "
                          "grpo.use_vllm=false and eval.engine=hf, or install a vLLM that supports it")
    return plan


def _sft_stage(recipe, plan: Plan, cost: _Cost | None, vram, refuse) -> StagePlan:
    s = recipe.sft
    sizes = {"problems": plan.problems, "steps": plan.sft_steps, "batch": s.batch_size, "grad_accum": s.grad_accum,
             "max_length": s.max_length}
    if cost is None:
        return StagePlan("train_sft", sizes)
    toks = s.batch_size * s.max_length
    peak = cost.weights + cost.lora + cost.act(toks) + cost.context
    if vram and peak > vram:
        refuse("train_sft", peak, vram, f"a micro-batch of {s.batch_size} x {s.max_length} tokens",
               "lower sft.batch_size (raise sft.grad_accum to keep the batch) or sft.max_length")
    sec = cost.train_seconds(plan.sft_steps * s.grad_accum * toks) + plan.sft_steps * cost.overhead + cost.warmup
    return StagePlan("train_sft", sizes, _gb(peak), round(sec / 60, 2))


def _grpo_stage(recipe, plan: Plan, cost: _Cost | None, vram, refuse, ro: Rollout, vllm_available: bool) -> StagePlan:
    g = recipe.grpo
    seq_len = recipe.data.max_prompt_tokens + g.max_completion_length
    gens = ro.generations(plan.grpo_steps)
    sizes = {"problems": plan.rl_problems or plan.problems, "steps": plan.grpo_steps,
             "rollout": f"{ro.prompts_per_generation} prompts x {g.num_generations} = {ro.generation_batch} seqs",
             "rollouts": gens, "micro_batch": ro.micro_batch, "grad_accum": ro.grad_accum,
             "updates/rollout": max(1, ro.steps_per_generation * ro.num_iterations // ro.grad_accum),
             "max_completion": g.max_completion_length, "generation": ro.mode}
    if cost is None:
        return StagePlan("train_grpo", sizes)
    prompt, new = recipe.data.max_prompt_tokens, g.max_completion_length
    train_side = cost.lora + cost.act(ro.micro_batch * seq_len)
    sizes["rollout_kv_gb"] = _gb(cost.kv(ro.generation_batch * seq_len))
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
            refuse("train_grpo", cost.weights + cost.kv(seq_len) + VLLM_OVERHEAD_GB * 2**30, share,
                   "vLLM's weights plus one rollout's KV cache", "raise model.gpu_memory_utilization")
        elif vram and peak > vram:
            refuse("train_grpo", outside + cost.context, vram - share,
                   f"training beside vLLM's {recipe.model.gpu_memory_utilization:.0%} share (micro-batch of "
                   f"{ro.micro_batch} x {seq_len} tokens)",
                   "lower model.gpu_memory_utilization, grpo.prompts_per_step or grpo.max_completion_length")
        calls, per_call, vllm = math.ceil(ro.generation_batch / per_wave), per_wave, True
        sizes["vllm_waves"] = calls
        if not vllm_available:
            plan.notes.append("train_grpo is planned with vLLM, which is not expected on this card")
    else:
        if ro.mode == "continuous":  # transformers' paged cache within max_memory_percent=0.5 (kit/train/grpo.py)
            budget = 0.5 * (vram or 80 * 2**30)
            per_call = min(ro.generation_batch, max(1, int(budget // cost.kv(avg_seq))))
            gen_side = budget
        else:  # plain generate, split into calls of ro.chunk sequences (kit/train/grpo.py chunk_generate)
            per_call = min(ro.generation_batch, ro.chunk or ro.generation_batch)
            prefill = per_call * prompt * cost.shape.hidden * cost.dt * 34  # one layer's working set
            gen_side = cost.kv(per_call * seq_len) + max(prefill, per_call * VOCAB * 4 * 2)
        calls, vllm = math.ceil(ro.generation_batch / per_call), False
        sizes["generate_calls"] = f"{calls} x {per_call} seqs"
        sizes["call_kv_gb"] = _gb(cost.kv(per_call * seq_len))
        peak = cost.weights + cost.lora + max(gen_side, cost.act(ro.micro_batch * seq_len)) + cost.context
        if vram and peak > vram:
            refuse("train_grpo", peak, vram,
                   f"generate calls of {per_call} sequences x {seq_len} tokens (KV cache "
                   f"{_gb(cost.kv(per_call * seq_len)):.1f} GB) beside training",
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
    return StagePlan("train_grpo", sizes, _gb(peak), round(sec / 60, 2))


def _eval_stage(recipe, plan: Plan, cost: _Cost | None, vram, refuse, benchmarks, vllm_available: bool) -> StagePlan:
    from kit.eval.stage import resolved_decode

    e = recipe.eval
    models = 1 + len(recipe.arms) + len(recipe.compare)
    fast = e.engine == "vllm" or (e.engine == "auto" and vllm_available)
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
            sec += _chunks_seconds(cost, seqs, e.batch_size, d.max_new_tokens, fast and cost.on_gpu,
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
    return StagePlan("eval", sizes, _gb(peak), round(models * sec / 60, 2))


def _chunks_seconds(cost: _Cost, seqs: int, chunk: int, new_tokens: int, vllm: bool, share: float) -> float:
    """Generating `seqs` sequences in chunks of `chunk` (the eval engine's batches); under vLLM a chunk whose KV
    cache exceeds vLLM's pool runs in waves of what fits."""
    per_wave = chunk
    if vllm:
        pool = share - cost.weights - VLLM_OVERHEAD_GB * 2**30
        avg_seq = EVAL_PROMPT_TOKENS + new_tokens // 2  # continuous batching, as in _grpo_stage
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


def _probe_stage(recipe, plan: Plan, cost: _Cost | None, vram, refuse, benchmarks) -> StagePlan:
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
    return StagePlan("probe", sizes, _gb(peak), round(sec / 60, 2))


def _duration(minutes: float) -> str:
    if minutes >= 48 * 60:
        return f"~{minutes / 1440:.1f} days"
    if minutes >= 120:
        return f"~{minutes / 60:.1f} h"
    return f"~{minutes:.1f} min"


def format_plan(recipe, plan: Plan, hw: Hardware) -> str:
    lines = [f"plan for '{recipe.name}' on {hw.summary} (scale {recipe.scale}, seed {recipe.seed})", ""]
    for st in plan.stages:
        est = []
        if st.peak_gb is not None:
            est.append(f"~{st.peak_gb:.2f} GB peak")
        if st.minutes is not None:
            est.append(_duration(st.minutes))
        sizes = ", ".join(f"{k}={v}" for k, v in st.sizes.items())
        lines.append(f"  {st.name:<12} {sizes}" + (f"  [{'; '.join(est)}]" if est else ""))
    lines += [f"  note: {n}" for n in plan.notes]
    lines.append("  (estimates come from the model in kit/plan.py: worst case, every sequence to its token cap; "
                 "downloads and loading not counted; GPU figures are checked by kit.gpucheck)")
    total = plan.total_minutes
    fits = "no: " + plan.too_big if plan.too_big else ("yes" if hw.cuda else "not checked (no GPU; use --gpu)")
    lines.append(f"total: {_duration(total)} ({total / 60:.2f} h); peak ~{plan.peak_gb or 0:.1f} GB; fits: {fits}")
    return "\n".join(lines)


def plan_json(recipe, plan: Plan, hw: Hardware) -> dict[str, Any]:
    """The same plan as `format_plan`, as data: per stage seconds and peak GB, and the total."""
    return {"recipe": recipe.name, "gpu": hw.summary, "vram_gb": round(hw.vram_gb, 1) if hw.cuda else None,
            "scale": recipe.scale, "seed": recipe.seed,
            "stages": [{"name": st.name, "sizes": st.sizes, "seconds": st.seconds, "peak_gb": st.peak_gb}
                       for st in plan.stages],
            "total_seconds": round(plan.total_minutes * 60, 1), "total_hours": round(plan.total_minutes / 60, 3),
            "peak_gb": plan.peak_gb, "fits": (plan.too_big is None) if hw.cuda else None,
            "refusal": plan.too_big, "notes": plan.notes}
