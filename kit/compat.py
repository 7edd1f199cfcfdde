"""Small fixes for the pinned stack on CPU (see shared reference stack-notes §3 and §5).

- trl 1.15 computes completion log-probs with a Triton-only fused kernel; without Triton the kernel object is
  None and SFT/GRPO crash. We route non-CUDA tensors through a plain torch implementation.
- bitsandbytes 4-bit layers on AVX512-BF16 CPUs repack their weights on the first no-grad forward and then
  silently stop passing gradients; we switch that packing off on every layer after loading.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


class _TorchLogProb:
    """Same outputs as trl's chunked log-prob kernel, computed with plain torch (full-vocab logits)."""

    @staticmethod
    def apply(hidden, weight, bias, targets, temperature, chunk_size, final_logit_softcapping=None,
              logit_scale=1.0, outputs=("entropy", "log_sum_sq_probs", "mean_logits", "is_top1")):
        logits = F.linear(hidden, weight, bias).float() * logit_scale
        if final_logit_softcapping is not None:
            logits = final_logit_softcapping * torch.tanh(logits / final_logit_softcapping)
        logits = logits / temperature
        logp = logits.log_softmax(-1)
        token_logp = logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1)
        entropy = -(logp.exp() * logp).sum(-1) if "entropy" in outputs else None
        lssp = torch.logsumexp(2 * logp, -1).detach() if "log_sum_sq_probs" in outputs else None
        mean_logits = logits.mean(-1).detach() if "mean_logits" in outputs else None
        top1 = (logits.argmax(-1) == targets) if "is_top1" in outputs else None
        return token_logp, entropy, lssp, mean_logits, top1


_PATCHED = False


def patch_trl_for_cpu() -> bool:
    """Install the torch fallback for trl's fused log-prob kernel. Returns True if trl needed it."""
    global _PATCHED
    if _PATCHED:
        return True
    from trl.trainer import utils as trl_utils

    kernel = getattr(trl_utils, "_ChunkedLogProbFunction", "absent")
    if kernel == "absent":
        return False

    class _Dispatch:
        @staticmethod
        def apply(hidden, *args, **kwargs):
            if kernel is not None and hidden.device.type in ("cuda", "xpu"):
                return kernel.apply(hidden, *args, **kwargs)
            return _TorchLogProb.apply(hidden, *args, **kwargs)

    trl_utils._ChunkedLogProbFunction = _Dispatch
    _PATCHED = True
    return True


def disable_bnb_cpu_packing(model: torch.nn.Module) -> int:
    """Turn off bitsandbytes' AVX512 weight repacking; returns how many layers were touched."""
    n = 0
    for mod in model.modules():
        if hasattr(mod, "support_avx512bf16_for_cpu"):
            mod.support_avx512bf16_for_cpu = False
            n += 1
    return n


_CPU_INDEX_REGISTERED = False


def accept_indexed_cpu_locations() -> None:
    """Let torch.load restore storages tagged "cpu:<n>". The trainer processes of a multi-process CPU run (gloo) save
    their RNG state (rng_state_<rank>.pth) tagged "cpu:0", and torch's own CPU deserializer accepts exactly "cpu"
    (torch/serialization.py:561-563), so resuming such a run failed with "don't know how to restore data location
    ... (tagged with cpu:0)". Registered once, after torch's own handlers; it claims only "cpu:<n>" tags."""
    global _CPU_INDEX_REGISTERED
    if _CPU_INDEX_REGISTERED:
        return
    import torch.serialization

    def restore(obj, location: str):
        if location.startswith("cpu:") and location[4:].isdigit():
            return obj
        return None

    torch.serialization.register_package(99, lambda obj: None, restore)
    _CPU_INDEX_REGISTERED = True
