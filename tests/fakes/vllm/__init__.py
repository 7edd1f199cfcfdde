"""Fake `vllm`: SamplingParams, LLM.generate and its outputs, the engine's LoRA config (see tests/fakes/__init__.py).

Sources of each name:
- SamplingParams fields n, temperature, top_p, top_k, min_p, repetition_penalty, max_tokens, logprobs:
  trl/generation/vllm_generation.py:661-683 (`SamplingParams(**generation_kwargs)`); seed, stop,
  stop_token_ids, skip_special_tokens: vLLM's documented SamplingParams fields (not in the pinned sources).
  Unknown fields raise TypeError, as vLLM's msgspec struct does.
- LLM.generate(prompts, sampling_params, use_tqdm=..., lora_request=...): unsloth_zoo/vllm_utils.py:7236, 7305-7307,
  7840; outputs[i].outputs[0].token_ids / .text: vllm_utils.py:7842; finish_reason: TRL reads it from vLLM outputs.
- llm.llm_engine.vllm_config.lora_config.max_lora_rank: unsloth_zoo/vllm_utils.py:5578-5581.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

_FIELDS = {"n": 1, "temperature": 1.0, "top_p": 1.0, "top_k": 0, "min_p": 0.0, "repetition_penalty": 1.0,
           "max_tokens": 16, "logprobs": None, "seed": None, "stop": None, "stop_token_ids": None,
           "skip_special_tokens": True}


class SamplingParams:
    def __init__(self, **kwargs: Any):
        unknown = set(kwargs) - set(_FIELDS)
        if unknown:
            raise TypeError(f"SamplingParams got unexpected fields {sorted(unknown)}")
        for k, v in {**_FIELDS, **kwargs}.items():
            setattr(self, k, v)
        if self.top_k is None:
            raise TypeError("top_k must be an int (-1 or 0 = off), not None")  # rl_replacements.py:160-161


@dataclass
class CompletionOutput:
    index: int
    text: str
    token_ids: list[int]
    finish_reason: str


@dataclass
class RequestOutput:
    prompt: str
    outputs: list[CompletionOutput]


@dataclass
class LLM:
    """An engine that answers every prompt with `reply` (token ids `reply_ids`), recording each call."""

    max_lora_rank: int = 16
    reply: str = "The answer is 42."
    reply_ids: tuple[int, ...] = (785, 4226, 374, 220, 19, 17, 13, 151645)
    calls: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self):
        self.llm_engine = SimpleNamespace(vllm_config=SimpleNamespace(
            lora_config=SimpleNamespace(max_lora_rank=self.max_lora_rank)))

    def generate(self, prompts, sampling_params=None, use_tqdm=True, lora_request=None):
        prompts = [prompts] if isinstance(prompts, str) else list(prompts)
        params = sampling_params if isinstance(sampling_params, list) else [sampling_params] * len(prompts)
        if len(params) != len(prompts):
            raise ValueError("one SamplingParams per prompt, or one for all")
        if lora_request is not None and not isinstance(lora_request, _lora_request_type()):
            raise TypeError("lora_request must be a vllm.lora.request.LoRARequest")
        self.calls.append({"prompts": prompts, "params": params, "lora_request": lora_request})
        return [RequestOutput(p, [CompletionOutput(0, self.reply, list(self.reply_ids), "stop")]) for p in prompts]


def _lora_request_type():
    from vllm.lora.request import LoRARequest

    return LoRARequest
