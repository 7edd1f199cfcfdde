"""Generation engines behind one interface: batched HF `generate` (CPU and GPU) and vLLM through unsloth's
fast generation (GPU, kit/gen/vllm.py). Base and arms share one loaded base model: the engine
switches LoRA adapters instead of loading a model per arm.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from kit.gen.decode import Decode


@dataclass(frozen=True)
class Generation:
    """A completion: its text (special tokens dropped, cut at stop strings) and the generated token ids
    (up to and including the end token), kept so token-level analyses score exactly what was generated."""

    text: str
    token_ids: list[int]
    finished: bool  # ended with an end token (False: cut off by the length cap)


class Engine(Protocol):
    def select(self, model_name: str) -> None: ...
    def generate(self, prompts: list[str], decode: Decode, seed: int) -> list[Generation]: ...
    def loglik(self, requests: list[tuple[str, str]]) -> list[float]: ...


def stable_seed(*parts: Any) -> int:
    """A seed from values, stable across processes (Python's hash() is salted per process)."""
    return int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:4], "little")


def truncate_at_stop(text: str, stops: tuple[str, ...]) -> str:
    cut = min((text.find(s) for s in stops if s and s in text), default=-1)
    return text[:cut] if cut >= 0 else text


class HFEngine:
    """Left-padded, length-sorted batches through `model.generate`, stopping on the chat's end tokens."""

    def __init__(self, model, tokenizer, batch_size: int):
        self.model = model
        self.tok = tokenizer
        self.batch_size = batch_size
        self.stop_ids = [i for i in {tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id,
                                     tokenizer.convert_tokens_to_ids("<|endoftext|>")} if i is not None]
        self.model.eval()

    # -- adapters ---------------------------------------------------------------------------------------
    def select(self, model_name: str) -> None:
        """"base" runs with every adapter disabled; any other name activates that LoRA adapter."""
        select_adapter(self.model, model_name)

    # -- generation -------------------------------------------------------------------------------------
    def generate(self, prompts: list[str], decode: Decode, seed: int) -> list[Generation]:
        import torch

        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i]))
        out: list[Generation] = [Generation("", [], False)] * len(prompts)
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            enc = self.tok([prompts[i] for i in idx], return_tensors="pt", padding=True,
                           add_special_tokens=False).to(self.model.device)
            kwargs: dict[str, Any] = dict(max_new_tokens=decode.max_new_tokens, eos_token_id=self.stop_ids,
                                          pad_token_id=self.tok.pad_token_id)
            if decode.temperature > 0:
                kwargs.update(do_sample=True, temperature=decode.temperature, top_p=decode.top_p,
                              top_k=decode.top_k or None)
                torch.manual_seed(stable_seed(seed, start))
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            with torch.no_grad():
                gen = self.model.generate(**enc, **kwargs)
            new = gen[:, enc["input_ids"].shape[1]:].tolist()
            stops = set(self.stop_ids)
            for row, i in enumerate(idx):
                ids = new[row]
                end = next((j for j, t in enumerate(ids) if t in stops), None)
                ids = ids if end is None else ids[:end + 1]
                text = self.tok.decode(ids, skip_special_tokens=True)
                out[i] = Generation(truncate_at_stop(text, decode.stop), ids, end is not None)
        return out

    # -- log-likelihood ---------------------------------------------------------------------------------
    def loglik(self, requests: list[tuple[str, str]]) -> list[float]:
        """Summed log-probability of each continuation given its context (encoded separately, as lm-eval).

        Batches are left-padded (explicit position ids, so padding changes nothing) and the LM head runs
        only on the last positions that score continuation tokens: full-vocabulary logits for every
        context token would dominate the cost with Qwen3's 152K vocabulary.
        """
        import torch

        encoded = []
        for ctx, cont in requests:
            c = self.tok(ctx, add_special_tokens=False)["input_ids"]
            k = self.tok(cont, add_special_tokens=False)["input_ids"]
            encoded.append((c, k))
        order = sorted(range(len(encoded)), key=lambda i: -(len(encoded[i][0]) + len(encoded[i][1])))
        out = [0.0] * len(encoded)
        pad = self.tok.pad_token_id
        for start in range(0, len(order), self.batch_size):
            idx = order[start:start + self.batch_size]
            seqs = [encoded[i][0] + encoded[i][1] for i in idx]
            width = max(len(s) for s in seqs)
            keep = max(len(encoded[i][1]) for i in idx) + 1
            ids = torch.full((len(seqs), width), pad, dtype=torch.long)
            mask = torch.zeros((len(seqs), width), dtype=torch.long)
            for r, s in enumerate(seqs):
                ids[r, width - len(s):] = torch.tensor(s)
                mask[r, width - len(s):] = 1
            positions = (mask.cumsum(-1) - 1).clamp(min=0)
            dev = self.model.device
            with torch.no_grad():
                logits = self.model(input_ids=ids.to(dev), attention_mask=mask.to(dev),
                                    position_ids=positions.to(dev), logits_to_keep=keep).logits
            logp = torch.log_softmax(logits.float(), dim=-1).cpu()  # [batch, keep, vocab]
            for r, i in enumerate(idx):
                k = encoded[i][1]
                # the last len(k) tokens are the continuation; logits at keep-1-len(k)+j predict token j
                first = keep - 1 - len(k)
                out[i] = float(logp[r, torch.arange(first, first + len(k)), torch.tensor(k)].sum())
        return out


def select_adapter(model, model_name: str) -> None:
    """Switch a PeftModel between its adapters ("base" = adapters off); a plain model only has "base"."""
    if not hasattr(model, "peft_config"):
        if model_name != "base":
            raise ValueError(f"no adapter '{model_name}' loaded")
        return
    if model_name == "base":
        model.base_model.disable_adapter_layers()
    else:
        model.base_model.enable_adapter_layers()
        model.set_adapter(model_name)


def make_engine(kind: str, model, tokenizer, batch_size: int, adapters: dict[str, Any] | None = None) -> Engine:
    if kind == "vllm":
        from kit.gen.vllm import VLLMEngine  # lazy: GPU only

        return VLLMEngine(model, tokenizer, adapters or {}, batch_size=batch_size)
    return HFEngine(model, tokenizer, batch_size)
