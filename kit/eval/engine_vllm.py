"""vLLM generation through unsloth's `fast_generate` (GPU only). Base and arms share one engine: each arm's
adapter is passed as a LoRA request, the base runs with none. Log-likelihood scoring falls back to the
HF forward pass of the same model (vLLM prompt-logprobs would need a second weight copy)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kit.eval.benchmarks.base import Decode
from kit.eval.engine import Generation, HFEngine, truncate_at_stop


class VLLMEngine:
    def __init__(self, model, tokenizer, adapters: dict[str, Path]):
        self.model = model
        self.tok = tokenizer
        self.adapters = adapters
        self.current: str = "base"
        self._lora: dict[str, Any] = {}
        self._hf = HFEngine(model, tokenizer, batch_size=8)

    def select(self, model_name: str) -> None:
        if model_name != "base" and model_name not in self.adapters:
            raise ValueError(f"no adapter '{model_name}'")
        self.current = model_name
        self._hf.select(model_name)

    def _lora_request(self):
        if self.current == "base":
            return None
        if self.current not in self._lora:
            self._lora[self.current] = self.model.load_lora(str(self.adapters[self.current]))
        return self._lora[self.current]

    def generate(self, prompts: list[str], decode: Decode, seed: int) -> list[Generation]:
        from vllm import SamplingParams

        params = SamplingParams(
            temperature=decode.temperature, top_p=decode.top_p if decode.temperature > 0 else 1.0,
            top_k=decode.top_k if decode.top_k > 0 else -1, max_tokens=decode.max_new_tokens,
            seed=seed, stop=list(decode.stop) or None,
        )
        outs = self.model.fast_generate(prompts, sampling_params=params, lora_request=self._lora_request())
        return [Generation(truncate_at_stop(o.outputs[0].text, decode.stop), list(o.outputs[0].token_ids),
                           o.outputs[0].finish_reason == "stop") for o in outs]

    def loglik(self, requests: list[tuple[str, str]]) -> list[float]:
        return self._hf.loglik(requests)
