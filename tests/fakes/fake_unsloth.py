"""Fake `unsloth` (installed as sys.modules['unsloth'] by a fixture): FastLanguageModel.from_pretrained and
get_peft_model as the kit calls them, with unsloth's fast_inference effects (see tests/fakes/__init__.py).

- from_pretrained's parameter names: unsloth/models/loader.py:1241-1275 (FastLanguageModel.from_pretrained);
  a name outside that list raises TypeError here (the real one would swallow it into **kwargs and pass it on).
- fast_inference=True: the model gets `vllm_engine` (an LLM with LoRA slots of `max_lora_rank`) and
  `fast_generate = vllm_engine.generate` (unsloth/models/llama.py:4295-4298); without it fast_generate wraps the
  HF generate (llama.py:4222), so vLLM's `sampling_params=` would fail there.
- get_peft_model keeps the engine reachable (unsloth/models/_utils.py:8079-8090 patch_peft_fast_inference).
"""

from __future__ import annotations

from typing import Any

LOADS: list[dict[str, Any]] = []  # every from_pretrained call's kwargs, newest last
PEFT: list[dict[str, Any]] = []

FROM_PRETRAINED_PARAMS = {
    "model_name", "max_seq_length", "dtype", "load_in_4bit", "load_in_8bit", "load_in_16bit", "full_finetuning",
    "token", "device_map", "device_map_planner_kwargs", "rope_scaling", "fix_tokenizer", "trust_remote_code",
    "use_gradient_checkpointing", "resize_model_vocab", "revision", "use_exact_model_name", "offload_embedding",
    "float32_mixed_precision", "fast_inference", "gpu_memory_utilization", "float8_kv_cache", "random_state",
    "max_lora_rank", "disable_log_stats", "qat_scheme", "load_in_fp8", "unsloth_tiled_mlp", "text_only",
    "on_model_resolved",
}


class FastLanguageModel:
    @staticmethod
    def from_pretrained(**kwargs):
        unknown = set(kwargs) - FROM_PRETRAINED_PARAMS
        if unknown:
            raise TypeError(f"FastLanguageModel.from_pretrained has no parameter(s) {sorted(unknown)}")
        LOADS.append(dict(kwargs))
        from transformers import AutoModelForCausalLM

        model = AutoModelForCausalLM.from_pretrained(kwargs["model_name"])
        if kwargs.get("fast_inference"):
            from vllm import LLM

            model.vllm_engine = LLM(max_lora_rank=kwargs.get("max_lora_rank", 64))  # loader.py:1266 default
            model.fast_generate = model.vllm_engine.generate
        else:
            model.fast_generate = model.generate
        return model, None

    @staticmethod
    def get_peft_model(model, r=16, lora_alpha=16, lora_dropout=0.0, target_modules=None, bias="none",
                       use_gradient_checkpointing="unsloth", random_state=3407, **kwargs):
        PEFT.append({"r": r, "lora_alpha": lora_alpha, "target_modules": target_modules})
        from peft import LoraConfig, get_peft_model

        peft_model = get_peft_model(model, LoraConfig(r=r, lora_alpha=lora_alpha, lora_dropout=lora_dropout,
                                                      target_modules=target_modules, bias=bias,
                                                      task_type="CAUSAL_LM"))
        return peft_model
