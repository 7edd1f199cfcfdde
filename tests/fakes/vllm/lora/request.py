"""Fake vllm.lora.request.LoRARequest: positional (lora_name, lora_int_id, lora_path), the form unsloth builds
(unsloth_zoo/vllm_utils.py:7266 `LoRARequest(str(lora_request_id), lora_request_id, save_directory)`)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str = ""

    def __post_init__(self):
        if self.lora_int_id < 1:
            raise ValueError("lora_int_id must be > 0")
