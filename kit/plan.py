"""The scale knob and the plan: concrete sizes for every stage, with rough memory and time estimates.

`scale` says how much of the study runs; the recipe's other values say how. At scale 1 the data and the
benchmarks are used whole (the paper's ~47K problems, full benchmarks); smaller scales shrink the number
of training problems and evaluation items proportionally, with `eval.min_items` as a floor per benchmark
so the statistics stay meaningful. Explicit `data.num_problems` / `eval.items` win over the scale.

Estimates (documented model, to be checked against `python -m kit.gpucheck` figures):
- weights: non-embedding parameters at 4.5 bits (NF4 + double-quant constants) or the dtype's bytes;
  embeddings (and an untied LM head) in the compute dtype;
- LoRA: r·(d_in+d_out) per targeted projection, 16 bytes per trainable parameter (weight, grad, Adam m, v);
- activations: gradient checkpointing keeps one hidden state per layer per token, plus one layer's working
  set (~34·hidden bytes per token in 16-bit) and the fp32 logits of one sequence chunk;
- generation: KV cache 2·layers·kv_heads·head_dim·2 bytes per token for every sequence in flight;
- time: 6·N FLOPs per trained token and 2·N per scored token at an assumed sustained rate, plus
  memory-bound decoding (weight bytes read once per decode step per batch), plus a fixed per-step overhead.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from typing import Any

from kit.data.train_sets import FULL_SIZES
from kit.hardware import Hardware

# Paper sizes (items) of each benchmark (paper.md §1); used to scale subsets and for the dry-run.
BENCH_SIZES = {"math500": 500, "aime24": 30, "aime25": 30, "olympiadbench": 675, "gpqa_diamond": 198,
               "livecodebench": 511, "acpbench": 280, "headqa": 2742, "coqa": 500, "ifeval": 541,
               "halueval": 30000, "mc_taco": 9442}

# Qwen3 shapes (config.json of each Hub repo): layers, hidden, intermediate, heads, kv heads, head_dim, tied.
QWEN3_SHAPES = {
    "0.6b": (28, 1024, 3072, 16, 8, 128, True),
    "1.7b": (28, 2048, 6144, 16, 8, 128, True),
    "4b": (36, 2560, 9728, 32, 8, 128, True),
    "8b": (36, 4096, 12288, 32, 8, 128, False),
    "14b": (40, 5120, 17408, 40, 8, 128, False),
}
VOCAB = 151936
# Sustained throughput assumptions: (training/scoring FLOP/s, memory bandwidth B/s, per-step overhead s).
# GPU rows are ~30-40 % of each card's dense 16-bit peak and ~50 % of its memory bandwidth (4-bit kernels and
# LoRA overheads included); `gpu` is the H100-class default when the card is unknown or absent.
SPEED = {"cpu": (3e10, 2e10, 0.25), "gpu": (1.5e14, 1.5e12, 0.05), "T4": (2e13, 1.6e11, 0.1),
         "L4": (4e13, 1.5e11, 0.08), "A100": (1e14, 8e11, 0.05), "H100": (1.5e14, 1.5e12, 0.05),
         "H200": (1.6e14, 2.2e12, 0.05)}
# Without vLLM (transformers/unsloth `generate`), a GPU decode step is bound by per-layer kernel launches and
# Python, not by memory bandwidth: on an H100 a 4-bit Qwen3-4B (36 layers) took <= 45 ms per decode step at
# batch 8 in GRPO rollouts (kit.gpucheck, 2026-11-28, first step incl. compilation; docs/benchmarks.md),
# ~30x the bandwidth bound. Used as a floor per layer for the non-vLLM paths (an upper-bound calibration).
HF_DECODE_S_PER_LAYER = 1.25e-3


def speed_for(hw: Hardware, on_gpu: bool) -> tuple[float, float, float]:
    if not on_gpu:
        return SPEED["cpu"]
    for key in ("T4", "L4", "A100", "H100", "H200"):
        if hw.cuda and key in hw.name:
            return SPEED[key]
    return SPEED["gpu"]


@dataclass
class Shape:
    layers: int
    hidden: int
    intermediate: int
    heads: int
    kv_heads: int
    head_dim: int
    tied: bool

    @property
    def layer_params(self) -> int:
        attn = self.hidden * self.head_dim * (self.heads * 2 + self.kv_heads * 2)
        return attn + 3 * self.hidden * self.intermediate

    @property
    def non_embedding(self) -> int:
        return self.layers * self.layer_params

    @property
    def embedding(self) -> int:
        return VOCAB * self.hidden * (1 if self.tied else 2)

    def lora_params(self, r: int, targets: list[str]) -> int:
        dims = {"q_proj": (self.hidden, self.heads * self.head_dim), "k_proj": (self.hidden, self.kv_heads * self.head_dim),
                "v_proj": (self.hidden, self.kv_heads * self.head_dim), "o_proj": (self.heads * self.head_dim, self.hidden),
                "gate_proj": (self.hidden, self.intermediate), "up_proj": (self.hidden, self.intermediate),
                "down_proj": (self.intermediate, self.hidden)}
        return self.layers * sum(r * sum(dims[t]) for t in targets if t in dims)


def shape_of(model_cfg) -> Shape:
    if model_cfg.id == "tiny-random-qwen3":
        t = model_cfg.tiny
        return Shape(t.num_hidden_layers, t.hidden_size, t.intermediate_size, t.num_attention_heads,
                     t.num_key_value_heads, t.head_dim, True)
    key = model_cfg.id.lower().split("qwen3-")[-1].replace("-base", "").split("-")[0]
    if key not in QWEN3_SHAPES:
        raise KeyError(model_cfg.id)
    return Shape(*QWEN3_SHAPES[key])


@dataclass
class StagePlan:
    name: str
    sizes: dict[str, Any]
    peak_gb: float | None = None
    minutes: float | None = None


@dataclass
class Plan:
    problems: int
    sft_steps: int
    grpo_steps: int
    eval_items: dict[str, int | None]
    stages: list[StagePlan] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    too_big: str | None = None  # set when the estimate exceeds the detected GPU's memory


def n_problems(recipe) -> int:
    """Training problems. Both arms use the problems the two released sets share: at most the SFT set's
    39.9K (the paper's 47K queries after its rejection sampling)."""
    if recipe.data.num_problems:
        return recipe.data.num_problems
    shared = min(FULL_SIZES["math_rl_48k"], FULL_SIZES["math_sft_40K"])
    return max(1, round(recipe.scale * shared))


def n_eval_items(recipe, bench: str) -> int | None:
    """Items per benchmark; None = the whole benchmark."""
    if recipe.eval.items:
        return recipe.eval.items
    if recipe.scale >= 1.0:
        return None
    full = BENCH_SIZES.get(bench)
    if full is None:
        return recipe.eval.min_items
    return min(full, max(recipe.eval.min_items, round(recipe.scale * full)))


def _bytes_per_weight(recipe, dtype: str) -> float:
    if recipe.model.load_in_4bit:
        return 4.5 / 8
    return {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0}[dtype]


def make_plan(recipe, hw: Hardware, dtype: str, available_problems: int | None = None) -> Plan:
    from kit.eval.stage import resolved_decode
    from kit.eval import benchmarks

    problems = n_problems(recipe)
    if available_problems is not None:
        problems = min(problems, available_problems)
    s, g = recipe.sft, recipe.grpo
    sft_steps = s.max_steps or max(1, math.ceil(problems * s.epochs / (s.batch_size * s.grad_accum)))
    grpo_steps = g.max_steps or max(1, math.ceil(problems * g.epochs / (g.prompts_per_step * g.grad_accum)))
    items = {b: n_eval_items(recipe, b) for b in recipe.eval.benchmarks}
    plan = Plan(problems, sft_steps, grpo_steps, items)
    try:
        shape = shape_of(recipe.model)
    except KeyError:
        shape = None
        plan.notes.append(f"no shape known for {recipe.model.id}: memory and time not estimated")
    on_gpu = hw.cuda or recipe.model.id != "tiny-random-qwen3"
    flops, bandwidth, overhead = speed_for(hw, on_gpu)
    if on_gpu and not hw.cuda:
        plan.notes.append("no GPU here: times assume one GPU at ~150 TFLOP/s and ~1.5 TB/s (H100-class, 4-bit)")
    dt_bytes = 4.0 if dtype == "float32" else 2.0
    offload = on_gpu and recipe.model.backend in ("auto", "unsloth")

    def mem(batch_tokens: int, kv_tokens: int) -> float | None:
        if shape is None:
            return None
        w = shape.non_embedding * _bytes_per_weight(recipe, dtype) + shape.embedding * dt_bytes
        lora = shape.lora_params(recipe.lora.r, recipe.lora.target_modules) * 16
        kept = 0 if offload else shape.layers  # unsloth offloads checkpointed layer inputs to CPU RAM
        act = batch_tokens * shape.hidden * dt_bytes * (kept + 34) + min(batch_tokens, 8192) * VOCAB * 4
        kv = kv_tokens * 2 * shape.layers * shape.kv_heads * shape.head_dim * 2
        return round((w + lora + act + kv) / 2**30 + (1.0 if hw.cuda else 0.3), 2)

    def minutes(train_tokens: int, decode_steps: int, steps: int, fast_decode: bool = True) -> float | None:
        if shape is None:
            return None
        n = shape.non_embedding + shape.embedding
        weight_bytes = shape.non_embedding * _bytes_per_weight(recipe, dtype) + shape.embedding * dt_bytes
        decode_s = weight_bytes / bandwidth
        if on_gpu and not fast_decode:
            decode_s = max(decode_s, HF_DECODE_S_PER_LAYER * shape.layers)
        sec = 6 * n * train_tokens / flops + decode_steps * decode_s + steps * overhead
        return round(sec / 60, 2)

    data_sizes: dict[str, Any] = {"problems": problems}
    if recipe.data.source == "hub":
        data_sizes["of"] = f"{min(FULL_SIZES.values())} shared (RL set {FULL_SIZES['math_rl_48k']}, SFT set {FULL_SIZES['math_sft_40K']})"
    if recipe.arms:
        plan.stages.append(StagePlan("data", data_sizes))
    for arm in recipe.arms:
        if arm == "sft":
            toks = s.batch_size * s.max_length
            plan.stages.append(StagePlan("train_sft", {"problems": problems, "steps": sft_steps, "batch": s.batch_size,
                                                       "grad_accum": s.grad_accum, "max_length": s.max_length},
                                         mem(toks, 0), minutes(sft_steps * s.grad_accum * toks, 0, sft_steps)))
        elif arm == "grpo":
            seqs = g.prompts_per_step * g.num_generations
            seq_len = recipe.data.max_prompt_tokens + g.max_completion_length
            plan.stages.append(StagePlan(
                "train_grpo", {"problems": problems, "steps": grpo_steps, "prompts/step": g.prompts_per_step,
                               "generations": g.num_generations, "max_completion": g.max_completion_length},
                mem(seqs * seq_len, seqs * seq_len),
                minutes(grpo_steps * g.grad_accum * seqs * seq_len, grpo_steps * g.grad_accum * g.max_completion_length,
                        grpo_steps, fast_decode=g.use_vllm)))
        else:
            plan.stages.append(StagePlan(f"train_{arm}", {"problems": problems}))
    eval_sizes: dict[str, Any] = {}
    gen_tokens = 0
    decode_steps = 0
    for b in recipe.eval.benchmarks:
        bench = benchmarks.get(b)
        n = items[b] if items[b] is not None else BENCH_SIZES.get(b, 0)
        if bench.kind == "loglik":
            eval_sizes[b] = f"{n} items (log-likelihood)"
            continue
        d = resolved_decode(bench, recipe.eval)
        eval_sizes[b] = f"{n} items x {d.n_samples} samples x {len(bench.variants)} order(s), <= {d.max_new_tokens} tok"
        seqs = n * d.n_samples * len(bench.variants)
        gen_tokens += seqs * d.max_new_tokens
        decode_steps += math.ceil(seqs / recipe.eval.batch_size) * d.max_new_tokens
    models = 1 + len(recipe.arms) + len(recipe.compare)
    # "auto" picks vLLM where it is installed on a CUDA machine (kit.run.Context.eval_engine); planned from a
    # machine without a GPU, assume the GPU it is meant for has it
    eval_fast = recipe.eval.engine == "vllm" or (recipe.eval.engine == "auto" and (
        not hw.cuda or importlib.util.find_spec("vllm") is not None))
    if on_gpu and shape and not (eval_fast and ("grpo" not in recipe.arms or g.use_vllm)):
        plan.notes.append("generation without vLLM is planned at ~1.25 ms per layer per decode step (measured on an "
                          "H100, docs/benchmarks.md), far slower than the memory-bandwidth bound")
    plan.stages.append(StagePlan("eval", {"models": models, **eval_sizes},
                                 mem(0, recipe.eval.batch_size * recipe.eval.max_new_tokens),
                                 minutes(0, models * decode_steps, 0, fast_decode=eval_fast)
                                 if shape else None))
    plan.stages.append(StagePlan("probe", {"texts/benchmark": recipe.probe.texts_per_benchmark,
                                           "max_length": recipe.probe.max_length} if recipe.probe.enabled else {"enabled": False}))
    plan.stages.append(StagePlan("report", {}))
    if shape and hw.cuda:
        peak = max((st.peak_gb or 0) for st in plan.stages)
        if peak > hw.vram_gb:
            plan.too_big = f"estimated peak {peak:.1f} GB exceeds this GPU's {hw.vram_gb:.0f} GB"
            plan.notes.append(plan.too_big)
    return plan


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
    lines.append("  (estimates come from the model in kit/plan.py; GPU figures are checked by kit.gpucheck)")
    return "\n".join(lines)
