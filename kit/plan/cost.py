"""The plan's cost model and the records it fills: sustained speeds per card, measured floors and overheads, the
memory and time of the pieces of a stage (`Cost`), and `Plan` / `StagePlan` / `ArmContext`.

The model is described in the package docstring (kit/plan/__init__.py); the figures here are checked against
`python -m kit.gpucheck` measurements in docs/benchmarks.md.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

from kit.hardware import Hardware
from kit.shapes import VOCAB, Shape
from kit.train.rollouts import Rollout
from kit.train.server import SERVER_GPU_MEMORY_UTILIZATION  # noqa: F401  (each rollout-server card's vLLM share)

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
# Several GPUs (distributed.processes > 1). Collectives between the cards of one machine are planned at 100 GB/s of
# bus bandwidth (below NVLink's 300-450 GB/s per direction on A100/H100 SXM, above PCIe 4/5): ring all-reduce of the
# LoRA gradients each optimizer step, and under ZeRO-3/FSDP an all-gather of the weights in every forward and backward.
LINK_BYTES_S = 1e11


@dataclass(frozen=True)
class Layout:
    """How a stage's processes share the machine (kit.dist): `trainers` processes train (DDP, ZeRO-2/3 or FSDP),
    `rollout_gpus` more serve GRPO's rollouts (`trl vllm-serve`, tensor parallel over all of them). The default is
    one process on one card."""

    processes: int = 1
    trainers: int = 1
    rollout_gpus: int = 0
    strategy: str = "ddp"

    @property
    def sharded_params(self) -> bool:
        return self.trainers > 1 and self.strategy in ("zero3", "fsdp")


def layout_of(recipe, multiprocess: bool = True) -> Layout:
    """The recipe's layout for an arm (`multiprocess`: whether its trainer runs under accelerate, kit.registry.Arm),
    or for the eval stage; an arm that trains in one process keeps one card."""
    d = recipe.distributed
    if d.processes == 1 or not multiprocess:
        return Layout()
    return Layout(d.processes, max(1, d.processes - d.rollout_gpus), d.rollout_gpus, d.strategy)


def speed_for(hw: Hardware, on_gpu: bool) -> tuple[float, float, float]:
    if not on_gpu:
        return SPEED["cpu"]
    for key in ("T4", "L4", "A100", "H100", "H200"):
        if hw.cuda and key in hw.name:
            return SPEED[key]
    return SPEED["gpu"]


def bytes_per_weight(recipe, dtype: str) -> float:
    if recipe.model.load_in_4bit:
        return 4.5 / 8
    return {"float32": 4.0, "bfloat16": 2.0, "float16": 2.0}[dtype]


def gb(b: float) -> float:
    return round(b / 2**30, 2)


class Cost:
    """Memory (bytes) and time (seconds) of the pieces of a stage, for one model shape on one card."""

    def __init__(self, recipe, hw: Hardware, dtype: str, shape: Shape, on_gpu: bool):
        self.shape, self.hw, self.on_gpu = shape, hw, on_gpu
        self.flops, self.bandwidth, self.overhead = speed_for(hw, on_gpu)
        self.dt = 4.0 if dtype == "float32" else 2.0
        self.weights = shape.non_embedding * bytes_per_weight(recipe, dtype) + shape.embedding * self.dt
        self.params = shape.non_embedding + shape.embedding
        self.lora = shape.lora_params(recipe.lora.r, recipe.lora.target_modules) * 16
        offload = on_gpu and recipe.model.backend in ("auto", "unsloth")
        self.kept = 0 if offload else shape.layers  # unsloth offloads checkpointed layer inputs to CPU RAM
        # several processes train with transformers+peft (kit.hardware.training_backend), which keeps them on the card
        self.train_kept = self.kept if recipe.distributed.processes == 1 else shape.layers
        self.four_bit = bool(recipe.model.load_in_4bit)
        self.context = CUDA_CONTEXT_GB * 2**30 if hw.cuda else 0.3 * 2**30
        self.warmup = FIRST_STEP_S if on_gpu else 0.0  # per training stage

    def act(self, tokens: int, kept: int | None = None) -> float:
        """Training/forward activations for `tokens` tokens in one micro-batch (`kept`: checkpointed layer inputs
        on the card, default the loading backend's)."""
        kept = self.kept if kept is None else kept
        return tokens * self.shape.hidden * self.dt * (kept + 34) + min(tokens, 8192) * VOCAB * 4

    def train_act(self, tokens: int) -> float:
        """Activations of a training micro-batch, on the training backend (kit.hardware.training_backend)."""
        return self.act(tokens, self.train_kept)

    def kv(self, tokens: int) -> float:
        return tokens * self.shape.kv_bytes_per_token

    def decode_seconds(self, seqs: int, start_len: int, steps: int, vllm: bool, weights: float | None = None,
                       gpus: int = 1) -> float:
        """`steps` decode steps for `seqs` sequences in flight that start `start_len` tokens long; `weights` (default:
        the base's) and KV cache read from `gpus` cards at once (tensor parallel: each reads its share)."""
        kv_avg = self.kv(seqs * (start_len + steps / 2))
        step = ((self.weights if weights is None else weights) + kv_avg) / (self.bandwidth * gpus)
        if self.on_gpu and not vllm:
            step = max(step, HF_DECODE_S_PER_LAYER * self.shape.layers)
        return steps * step + 2 * self.params * seqs * start_len / (self.flops * gpus)  # + prefill

    def trainer_weights(self, lay: Layout) -> float:
        """Base weights on one trainer card: whole under DDP and ZeRO-2; under ZeRO-3/FSDP a 1/trainers shard plus
        two blocks gathered at a time (the one computing and the prefetched next). ZeRO-3 does not partition
        bitsandbytes' 4-bit weights (kit/configs/accelerate/zero3.yaml), so a 4-bit base stays whole there."""
        if not lay.sharded_params or (lay.strategy == "zero3" and self.four_bit):
            return self.weights
        return self.weights / lay.trainers + 2 * self.weights / self.shape.layers

    def trainer_lora(self, lay: Layout) -> float:
        """LoRA weight, gradient and Adam state (16 bytes per parameter) on one trainer card: DDP adds its gradient
        buckets (4 more bytes); ZeRO-2 shards gradients and optimizer state (12 of the 16); ZeRO-3/FSDP all of it."""
        if lay.trainers == 1:
            return self.lora
        if lay.strategy == "ddp":
            return self.lora * 20 / 16
        if lay.strategy == "zero2":
            return self.lora * (4 + 12 / lay.trainers) / 16
        return self.lora / lay.trainers

    def sync_seconds(self, lay: Layout, micro_steps: int) -> float:
        """Collectives of one optimizer step of `micro_steps` micro-batches per process: a ring all-reduce of the
        fp32 LoRA gradients, and under ZeRO-3/FSDP an all-gather of the weights in each forward and backward."""
        if lay.trainers == 1:
            return 0.0
        ring = (lay.trainers - 1) / lay.trainers
        sec = 2 * ring * self.lora / 4 / LINK_BYTES_S
        if lay.sharded_params and self.trainer_weights(lay) < self.weights:
            sec += micro_steps * 2 * ring * self.weights / LINK_BYTES_S
        return sec

    def train_seconds(self, tokens: float) -> float:
        return 6 * self.params * tokens / self.flops

    def score_seconds(self, tokens: float) -> float:
        return 2 * self.params * tokens / self.flops


@dataclass
class StagePlan:
    name: str
    sizes: dict[str, Any]
    peak_gb: float | None = None  # per card: the busiest card of the stage
    minutes: float | None = None
    processes: int = 1  # processes (one per card) the stage runs in
    parts: dict[str, float] = field(default_factory=dict)  # seconds by part (rollouts, training, sync, ...)

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
    gpus: int = 1  # cards planned for (distributed.processes; one process per card)
    full_scale: "Plan | None" = None  # a multi-card plan's scale-1 twin: what the paper's whole study costs there

    @property
    def total_minutes(self) -> float:
        return round(sum(st.minutes or 0.0 for st in self.stages), 2)

    @property
    def peak_gb(self) -> float | None:
        peaks = [st.peak_gb for st in self.stages if st.peak_gb is not None]
        return max(peaks) if peaks else None


# refuse(stage, need_bytes, limit_bytes, what, knob): records that a stage does not fit the card
Refuse = Callable[[str, float, float, str, str], None]


@dataclass(frozen=True)
class ArmContext:
    """What an estimator needs besides the recipe, the plan, the cost model, the card's memory and `refuse`.

    Every estimator (an Arm's `estimate`, and the eval and probe planners) is called as
    `estimate(recipe, plan, cost, vram, refuse, ctx) -> StagePlan`; `cost` is None when the model's shape is
    unknown (sizes only), `vram` None without a GPU (nothing refused)."""

    arm: str  # the arm planned ("" for the eval and probe stages)
    hw: Hardware
    rollout: Rollout  # the recipe's GRPO batching for one process holding the global batch (kit.train.rollouts)
    vllm_available: bool  # whether vLLM will be installed where the plan runs
    layout: Layout = Layout()  # the processes the stage runs in (one by default)

    @property
    def stage(self) -> str:
        return f"train_{self.arm}"
