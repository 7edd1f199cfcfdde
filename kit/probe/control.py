"""Norm-matched random LoRA control (eval-anchors §7.2, R9).

For every LoRA module of a trained adapter (weight update dW = scaling * B @ A), draw random Gaussian A', B' of
the same shapes and rescale both by the same factor so that ||B' @ A'||_F = ||B @ A||_F (the scaling is the same
for both adapters because the control reuses the trained adapter's config). Running the latent/token shift
metrics on this control tells how much shift ANY update of that size per module would cause; the trained
adapter's shift is only informative relative to it.

Norms are computed without forming the out x in matrix: ||B A||_F^2 = sum((B^T B) * (A A^T)) (r x r).

* ``norm_matched_random_state_dict`` works on a plain {name: tensor} LoRA state dict (``lora_A``/``lora_B`` and
  ``lora_embedding_A``/``lora_embedding_B`` keys, as peft saves them).
* ``add_norm_matched_random_adapter`` adds the control as a new adapter to a loaded peft ``PeftModel`` (same
  config as the source adapter) and fills it; switch to it with ``model.set_adapter(name)``.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import torch

from kit.errors import KitError

__all__ = [
    "lora_delta_norm",
    "norm_matched_random_state_dict",
    "lora_modules",
    "adapter_delta_norms",
    "add_norm_matched_random_adapter",
]

_PAIRS = (("lora_A", "lora_B"), ("lora_embedding_A", "lora_embedding_B"))


def lora_delta_norm(A: torch.Tensor, B: torch.Tensor) -> float:
    """||B @ A||_F for A [r, in] and B [out, r] (also for embedding LoRA: A [r, n_emb], B [dim, r])."""
    A64 = A.detach().to(torch.float64).cpu()
    B64 = B.detach().to(torch.float64).cpu()
    if A64.ndim != 2 or B64.ndim != 2 or A64.shape[0] != B64.shape[1]:
        raise KitError(f"unsupported LoRA shapes A {tuple(A.shape)}, B {tuple(B.shape)} (only linear/embedding LoRA)")
    val = torch.sum((B64.T @ B64) * (A64 @ A64.T)).item()
    return float(max(val, 0.0) ** 0.5)


def _random_pair(A: torch.Tensor, B: torch.Tensor, target: float, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    Ar = torch.randn(tuple(A.shape), generator=gen, dtype=torch.float64)
    Br = torch.randn(tuple(B.shape), generator=gen, dtype=torch.float64)
    if target <= 0.0:
        return Ar.to(A.dtype), torch.zeros_like(B)
    cur = lora_delta_norm(Ar, Br)
    f = (target / cur) ** 0.5
    return (Ar * f).to(A.dtype), (Br * f).to(B.dtype)


def norm_matched_random_state_dict(
    state_dict: Mapping[str, torch.Tensor], *, seed: int = 0
) -> tuple[dict[str, torch.Tensor], dict]:
    """Random LoRA weights with the same keys/shapes/dtypes and the same ||B A||_F per module.

    Keys other than LoRA A/B (e.g. modules_to_save copies, biases) are copied unchanged and listed in
    report['copied_unchanged']. Returns (new_state_dict, report) with report['modules'][prefix] =
    {'trained_norm', 'random_norm'} (norms of B @ A, without the LoRA scaling) and report['zero_modules'].
    """
    gen = torch.Generator().manual_seed(int(seed))
    out: dict[str, torch.Tensor] = {}
    report = {"seed": int(seed), "modules": {}, "zero_modules": [], "copied_unchanged": []}
    done = set()
    for key in sorted(state_dict):
        if key in done:
            continue
        pair = None
        for a_tag, b_tag in _PAIRS:
            tok = f".{a_tag}."
            if tok in key or key.startswith(f"{a_tag}."):
                bkey = key.replace(a_tag, b_tag, 1)
                if bkey not in state_dict:
                    raise KitError(f"{key} has no matching {bkey}")
                pair = (key, bkey)
                break
            if f".{b_tag}." in key or key.startswith(f"{b_tag}."):
                pair = (key.replace(b_tag, a_tag, 1), key)
                if pair[0] not in state_dict:
                    raise KitError(f"{key} has no matching {pair[0]}")
                break
        if pair is None:
            out[key] = state_dict[key].clone()
            report["copied_unchanged"].append(key)
            continue
        akey, bkey = pair
        A, B = state_dict[akey], state_dict[bkey]
        target = lora_delta_norm(A, B)
        Ar, Br = _random_pair(A, B, target, gen)
        out[akey], out[bkey] = Ar.to(A.device), Br.to(B.device)
        prefix = akey.split(".lora_")[0]
        report["modules"][prefix] = {"trained_norm": target, "random_norm": lora_delta_norm(Ar, Br)}
        if target <= 0.0:
            report["zero_modules"].append(prefix)
        done.update(pair)
    return out, report


def lora_modules(model, adapter_name: str = "default") -> dict[str, torch.nn.Module]:
    """name -> peft LoRA layer holding `adapter_name` (linear layers via lora_A/lora_B, embeddings too)."""
    mods = {}
    for name, mod in model.named_modules():
        la = getattr(mod, "lora_A", None)
        le = getattr(mod, "lora_embedding_A", None)
        if (la is not None and adapter_name in la) or (le is not None and adapter_name in le):
            mods[name] = mod
    return mods


def _get_ab(mod, adapter: str):
    if adapter in getattr(mod, "lora_A", {}):
        return mod.lora_A[adapter].weight, mod.lora_B[adapter].weight
    return mod.lora_embedding_A[adapter], mod.lora_embedding_B[adapter]


def adapter_delta_norms(model, adapter_name: str = "default") -> dict[str, float]:
    """||scaling * B @ A||_F per LoRA module of a PeftModel's adapter."""
    out = {}
    for name, mod in lora_modules(model, adapter_name).items():
        A, B = _get_ab(mod, adapter_name)
        out[name] = float(mod.scaling[adapter_name]) * lora_delta_norm(A, B)
    return out


def add_norm_matched_random_adapter(
    model, *, source_adapter: str = "default", new_adapter: str = "random_control", seed: int = 0
) -> dict:
    """Add `new_adapter` to a peft PeftModel: same config as `source_adapter`, random norm-matched weights.

    The active adapter is left unchanged; use ``model.set_adapter(new_adapter)`` to run the control and
    ``model.set_adapter(source_adapter)`` to go back. Returns a JSON-serialisable report: per module
    {'trained', 'random'} = ||scaling * B @ A||_F, plus zero_modules, seed, new_adapter.
    """
    cfgs = getattr(model, "peft_config", None)
    if not cfgs or source_adapter not in cfgs:
        raise KitError(f"model has no peft adapter named {source_adapter!r}")
    if new_adapter in cfgs:
        raise KitError(f"adapter {new_adapter!r} already exists")
    cfg = copy.deepcopy(cfgs[source_adapter])
    if getattr(cfg, "use_dora", False):
        raise KitError("DoRA adapters are not supported by the norm-matched control (dW is not B @ A)")
    if getattr(cfg, "modules_to_save", None):
        raise KitError("adapters with modules_to_save have full-weight copies; the LoRA-only control would not match")
    active = getattr(model, "active_adapter", None)
    src_mods = lora_modules(model, source_adapter)
    if not src_mods:
        raise KitError(f"no LoRA layers found for adapter {source_adapter!r}")
    model.add_adapter(new_adapter, cfg)
    gen = torch.Generator().manual_seed(int(seed))
    report = {"new_adapter": new_adapter, "source_adapter": source_adapter, "seed": int(seed), "modules": {}, "zero_modules": []}
    with torch.no_grad():
        for name in sorted(src_mods):
            mod = src_mods[name]
            A, B = _get_ab(mod, source_adapter)
            tA, tB = _get_ab(mod, new_adapter)
            target = lora_delta_norm(A, B)
            Ar, Br = _random_pair(A, B, target, gen)
            tA.copy_(Ar.to(tA.device, tA.dtype))
            tB.copy_(Br.to(tB.device, tB.dtype))
            sc = float(mod.scaling[source_adapter])
            report["modules"][name] = {"trained": sc * target, "random": float(mod.scaling[new_adapter]) * lora_delta_norm(tA, tB)}
            if target <= 0.0:
                report["zero_modules"].append(name)
    if active is not None and getattr(model, "active_adapter", None) != active:
        model.set_adapter(active)
    # peft marks newly added adapters trainable in some versions; the control is for inference only
    for n, p in model.named_parameters():
        if f".{new_adapter}." in n:
            p.requires_grad_(False)
    return report
