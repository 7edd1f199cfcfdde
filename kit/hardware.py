"""What machine this is, and what that allows: backend, dtype, whether GPU-only settings can run."""

from __future__ import annotations

from dataclasses import dataclass

from kit.errors import KitError


@dataclass(frozen=True)
class Hardware:
    cuda: bool
    name: str
    capability: tuple[int, int]
    vram_gb: float  # of one card (device 0)
    bf16: bool
    count: int = 1  # CUDA devices this process sees (a preset: the cards planned for, `--gpus`)

    @property
    def summary(self) -> str:
        if not self.cuda:
            return "CPU (no CUDA GPU)"
        one = f"{self.name} (sm_{self.capability[0]}{self.capability[1]}, {self.vram_gb:.0f} GB, bf16={self.bf16})"
        return one if self.count == 1 else f"{self.count} x {one}"


@dataclass(frozen=True)
class GpuPreset:
    """A card to plan for (`--dry-run --gpu NAME`) before renting it. `hw.name` picks the speed class in
    kit/plan/ SPEED; `vllm` says whether the kit assumes vLLM can be installed there."""

    hw: Hardware
    vllm: bool
    why: str = ""


# VRAM as torch reports it (total_memory / 2**30), which is what `detect()` would see on the card.
GPU_PRESETS: dict[str, GpuPreset] = {
    # sm_75: vLLM's last Turing-capable line is 0.11.x (torch 2.9; unslothai/notebooks pins vllm==0.11.2 with
    # trl 0.22.2 on T4), which does not fit the kit's trl==1.15.0 stack; unsloth's own T4 vLLM CI leg is
    # unwired for intermittent illegal memory access (training-anchors.md §1.7). Assumed: no vLLM on a T4.
    "t4": GpuPreset(Hardware(True, "Tesla T4", (7, 5), 14.7, False), vllm=False,
                    why="T4 (sm_75): no vLLM in the kit's stack; fp16, no bf16"),
    "l4": GpuPreset(Hardware(True, "NVIDIA L4", (8, 9), 22.0, True), vllm=True),
    "a100-40gb": GpuPreset(Hardware(True, "NVIDIA A100-SXM4-40GB", (8, 0), 39.4, True), vllm=True),
    "a100-80gb": GpuPreset(Hardware(True, "NVIDIA A100-SXM4-80GB", (8, 0), 79.1, True), vllm=True),
    "h100": GpuPreset(Hardware(True, "NVIDIA H100 80GB HBM3", (9, 0), 79.1, True), vllm=True),
    "h200": GpuPreset(Hardware(True, "NVIDIA H200", (9, 0), 139.8, True), vllm=True),
}


def gpu_preset(name: str) -> GpuPreset:
    key = name.lower()
    if key not in GPU_PRESETS:
        raise KitError(f"unknown --gpu '{name}'; known: {', '.join(GPU_PRESETS)}")
    return GPU_PRESETS[key]


def detect() -> Hardware:
    import torch

    if not torch.cuda.is_available():
        return Hardware(False, "cpu", (0, 0), 0.0, False)
    props = torch.cuda.get_device_properties(0)
    cap = torch.cuda.get_device_capability(0)
    return Hardware(True, props.name, cap, props.total_memory / 2**30, bool(torch.cuda.is_bf16_supported()),
                    torch.cuda.device_count())


def apply_cpu_threads(threads: int | None) -> None:
    """Fix torch's CPU thread count for this process (the recipe's `cpu_threads`). Why a knob: a tiny model's ops are
    too small to split, and on the project's 2-core machine a toy run with 2 threads took twice as long as with 1
    (docs/benchmarks.md); a fixed count also keeps results the same on machines with more cores."""
    if threads is None:
        return
    import torch

    torch.set_num_threads(threads)


def choose_backend(requested: str, hw: Hardware) -> str:
    """unsloth on CUDA, plain transformers+peft elsewhere; an explicit choice is honoured or refused."""
    if requested == "auto":
        if hw.cuda:
            try:
                import importlib.util

                if importlib.util.find_spec("unsloth") is not None:
                    return "unsloth"
            except (ImportError, ValueError):
                pass
        return "hf"
    if requested == "unsloth" and not hw.cuda:
        raise KitError("model.backend=unsloth needs a CUDA GPU and none was found; use model.backend=hf (or auto) on CPU")
    return requested


def training_backend(recipe, hw: Hardware, launched: bool | None = None) -> str:
    """The train stages' backend: as `choose_backend`, except that trainer processes launched by accelerate train
    with transformers+peft, the path accelerate/DeepSpeed/FSDP and TRL's server-mode rollouts support (unsloth is then
    refused by the recipe check, kit.recipe.load.validate). `launched`: whether this arm trains under the launcher
    (an arm that always trains in one process does not); None = whenever the recipe has several processes."""
    if launched is None:
        launched = recipe.distributed.processes > 1
    if launched and recipe.model.backend == "auto":
        return "hf"
    return choose_backend(recipe.model.backend, hw)


def choose_dtype(requested: str, hw: Hardware) -> str:
    """fp32 on CPU (reproducible across CPUs with and without AVX512-BF16); bf16 where the GPU has it, else fp16."""
    if requested == "auto":
        if not hw.cuda:
            return "float32"
        return "bfloat16" if hw.bf16 else "float16"
    if requested == "bfloat16" and hw.cuda and not hw.bf16:
        raise KitError(f"model.dtype=bfloat16 is not supported on {hw.name}; use float16 or auto")
    if requested == "float16" and not hw.cuda:
        raise KitError("model.dtype=float16 needs a GPU (CPU kernels are fp32/bf16); use auto or float32")
    return requested


def check_gpu_settings(recipe, hw: Hardware) -> None:
    """Refuse GPU-only settings on a machine without a GPU, and rollout settings no GPU backend can run, before
    anything is loaded (not hours later at train_grpo)."""
    from kit.registry import ARMS, resolve

    for name in recipe.arms:  # each arm's own rules (GRPO: a rollout path this card can run)
        check = ARMS.get(name).check
        if check:
            resolve(check)(recipe, hw)
    n = recipe.distributed.processes
    if hw.cuda and n > hw.count:
        raise KitError(f"distributed.processes={n} (--gpus) but this machine has {hw.count} GPU(s); one process "
                       "per GPU")
    if hw.cuda:
        return
    if recipe.grpo.use_vllm:
        raise KitError("grpo.use_vllm=true needs a CUDA GPU (vLLM); set grpo.use_vllm=false on CPU")
    if recipe.eval.engine == "vllm":
        raise KitError("eval.engine=vllm needs a CUDA GPU; use eval.engine=hf (or auto) on CPU")
    choose_backend(recipe.model.backend, hw)
    choose_dtype(recipe.model.dtype, hw)
    for opt in (recipe.sft.optim, recipe.grpo.optim):
        if "8bit" in opt:
            raise KitError(f"optimizer '{opt}' needs a CUDA GPU (bitsandbytes 8-bit optimizers); use adamw_torch on CPU")
