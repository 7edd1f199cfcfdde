"""What machine this is, and what that allows: backend, dtype, whether GPU-only settings can run."""

from __future__ import annotations

from dataclasses import dataclass

from kit.errors import KitError


@dataclass(frozen=True)
class Hardware:
    cuda: bool
    name: str
    capability: tuple[int, int]
    vram_gb: float
    bf16: bool

    @property
    def summary(self) -> str:
        if not self.cuda:
            return "CPU (no CUDA GPU)"
        return f"{self.name} (sm_{self.capability[0]}{self.capability[1]}, {self.vram_gb:.0f} GB, bf16={self.bf16})"


def detect() -> Hardware:
    import torch

    if not torch.cuda.is_available():
        return Hardware(False, "cpu", (0, 0), 0.0, False)
    props = torch.cuda.get_device_properties(0)
    cap = torch.cuda.get_device_capability(0)
    return Hardware(True, props.name, cap, props.total_memory / 2**30, bool(torch.cuda.is_bf16_supported()))


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
    """Refuse GPU-only settings on a machine without a GPU, before anything is loaded."""
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
