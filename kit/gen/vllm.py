"""vLLM generation (GPU only) on the engine unsloth starts with the base (`fast_inference=True`, kit/models.py).

Base and arms share one engine: the base runs with no LoRA request, each arm with a LoRA request for its saved
adapter folder, so no second copy of the weights is loaded. The engine's LoRA slots are sized at start
(`max_lora_rank`); an adapter of higher rank is refused here with the key to change, before vLLM would fail
inside its scheduler. Log-likelihood scoring runs the HF forward pass of the same model (vLLM prompt-logprobs
would need a second weight copy).

The vLLM calls are the ones unsloth makes (vLLM is not installed on CI; tests/fakes/vllm mirrors them):
`LoRARequest(name, int_id, path)` (unsloth_zoo/vllm_utils.py:7266), `llm.generate(prompts, sampling_params,
lora_request=...)` (vllm_utils.py:7305-7307, 7840), the engine's rank at `llm.llm_engine.vllm_config.lora_config
.max_lora_rank` (vllm_utils.py:5578-5581).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kit.errors import KitError
from kit.gen.decode import Decode
from kit.gen.engine import Generation, HFEngine, stable_seed, truncate_at_stop


def vllm_engine_of(model) -> Any | None:
    """unsloth's vLLM engine on a model loaded with fast_inference (a PeftModel forwards the attribute)."""
    return getattr(model, "vllm_engine", None)


def engine_max_lora_rank(llm) -> int | None:
    engine = getattr(llm, "llm_engine", None)
    lora_config = getattr(getattr(engine, "vllm_config", None), "lora_config", None) or getattr(engine, "lora_config", None)
    rank = getattr(lora_config, "max_lora_rank", None)
    return rank if isinstance(rank, int) else None


def adapter_rank(path: Path) -> int:
    return int(json.loads((Path(path) / "adapter_config.json").read_text())["r"])


def sampling_params(decode: Decode, seed: int, stop_ids: list[int]):
    """One request's vLLM SamplingParams, every field the kit depends on explicit. vLLM stops on the model's
    eos only; Qwen3-Base's eos is <|endoftext|>, so <|im_end|> is added as the HF engine does."""
    from vllm import SamplingParams

    sampled = decode.temperature > 0
    return SamplingParams(
        n=1, temperature=decode.temperature, top_p=decode.top_p if sampled else 1.0,
        top_k=decode.top_k if (sampled and decode.top_k > 0) else -1, max_tokens=decode.max_new_tokens,
        seed=seed, stop=list(decode.stop) or None, stop_token_ids=list(stop_ids), skip_special_tokens=True,
    )


class VLLMEngine:
    def __init__(self, model, tokenizer, adapters: dict[str, Path], batch_size: int = 8):
        self.llm = vllm_engine_of(model)
        if self.llm is None:
            raise KitError("eval.engine=vllm needs the base loaded with unsloth's vLLM engine (model.backend=unsloth "
                           "with vllm installed); use eval.engine=hf")
        self.tok = tokenizer
        self.adapters = dict(adapters)
        self.current: str = "base"
        max_rank = engine_max_lora_rank(self.llm)
        for name, path in self.adapters.items():
            r = adapter_rank(path)
            if max_rank is not None and r > max_rank:
                raise KitError(f"adapter '{name}' has LoRA rank {r} but the vLLM engine was started with "
                               f"max_lora_rank={max_rank}; load it with lora.r >= {r} or use eval.engine=hf")
        self._ids = {name: i + 1 for i, name in enumerate(self.adapters)}  # vLLM wants int ids > 0, stable per arm
        self._lora: dict[str, Any] = {}
        self.stop_ids = [i for i in {tokenizer.convert_tokens_to_ids("<|im_end|>"), tokenizer.eos_token_id,
                                     tokenizer.convert_tokens_to_ids("<|endoftext|>")} if i is not None]
        self._hf = HFEngine(model, tokenizer, batch_size=batch_size)

    def select(self, model_name: str) -> None:
        if model_name != "base" and model_name not in self.adapters:
            raise ValueError(f"no adapter '{model_name}'")
        self.current = model_name
        self._hf.select(model_name)

    def lora_request(self):
        """None for the base; the arm's LoRA request (one per arm, reused: vLLM caches adapters by id)."""
        if self.current == "base":
            return None
        if self.current not in self._lora:
            from vllm.lora.request import LoRARequest

            self._lora[self.current] = LoRARequest(self.current, self._ids[self.current],
                                                   str(self.adapters[self.current]))
        return self._lora[self.current]

    def generate(self, prompts: list[str], decode: Decode, seed: int) -> list[Generation]:
        # one seed per prompt: the eval stage puts an item's samples in one batch under one seed, and vLLM's
        # per-request seed would make them identical
        params = [sampling_params(decode, stable_seed(seed, i), self.stop_ids) for i in range(len(prompts))]
        outs = self.llm.generate(prompts, sampling_params=params, lora_request=self.lora_request(), use_tqdm=False)
        return [Generation(truncate_at_stop(o.outputs[0].text, decode.stop), list(o.outputs[0].token_ids),
                           o.outputs[0].finish_reason == "stop") for o in outs]

    def loglik(self, requests: list[tuple[str, str]]) -> list[float]:
        return self._hf.loglik(requests)


def choose_eval_engine(recipe, hw) -> str:
    """'vllm' or 'hf'. The vLLM engine is unsloth's fast_inference one, so it needs a GPU, vllm and the unsloth
    backend; 'auto' takes it when all three are there, an explicit 'vllm' without them is refused."""
    import importlib.util

    from kit.hardware import choose_backend

    requested = recipe.eval.engine
    if requested == "hf":
        return "hf"
    if not hw.cuda:
        if requested == "vllm":
            raise KitError("eval.engine=vllm needs a CUDA GPU; use eval.engine=hf (or auto) on CPU")
        return "hf"
    unsloth = choose_backend(recipe.model.backend, hw) == "unsloth"
    installed = importlib.util.find_spec("vllm") is not None
    if requested == "auto":
        return "vllm" if unsloth and installed else "hf"
    if not unsloth:
        raise KitError("eval.engine=vllm runs on unsloth's fast_inference engine; use model.backend=unsloth (or auto) "
                       "or eval.engine=hf")
    if not installed:
        raise KitError("eval.engine=vllm but vllm is not installed; install vllm or use eval.engine=hf")
    return "vllm"


def reference_engine(ctx, name: str, tokenizer, batch_size: int):
    """(engine, model) for the compare model `name`: with the vLLM eval engine, its own unsloth vLLM engine, in bf16
    where the weights fit (kit/models.py reference_in_bf16), else the HF engine on the recipe's load. Release the
    base's engine first (`release`): two engines at the recipe's memory share do not fit one card."""
    from kit.gen.engine import make_engine
    from kit.models import load_reference, vllm_spec

    kind = ctx.eval_engine_name
    model = load_reference(ctx.recipe, ctx.recipe.compare[name], ctx.hw,
                           vllm=vllm_spec(ctx.recipe) if kind == "vllm" else None)
    return make_engine(kind, model, tokenizer, batch_size), model


def release(engine) -> None:
    """Free a vLLM engine's GPU memory before another model loads: `del` does not (the engine holds its share
    until the process ends). unsloth_zoo's delete_vllm (unsloth_zoo/vllm_utils.py:7314-7346) tears it down; the
    HF model sharing its weights is unusable afterwards. An HF engine needs nothing."""
    llm = getattr(engine, "llm", None)
    if llm is None:
        return
    from unsloth_zoo.vllm_utils import delete_vllm

    delete_vllm(llm)
