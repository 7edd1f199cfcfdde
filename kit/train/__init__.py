"""Training arms, looked up by name; each trains a LoRA adapter from the same base model."""

from __future__ import annotations

from importlib import import_module
from pathlib import Path
from typing import Any, Callable


def _lazy(module: str, entry: str = "run") -> Callable[..., Any]:
    def run(ctx, out_dir: Path) -> Any:  # import trl only when an arm actually trains
        return getattr(import_module(module), entry)(ctx, out_dir)

    return run


ARMS: dict[str, Callable[..., Any]] = {
    "sft": _lazy("kit.train.sft"),  # off-policy: teacher responses
    "grpo": _lazy("kit.train.grpo"),  # on-policy RL
    "onpolicy_sft": _lazy("kit.train.onpolicy_sft"),  # the paper's ablation: SFT on the model's own correct answers
    "sft_matched_lr": _lazy("kit.train.sft", "run_matched_lr"),  # control: off-policy SFT at the RL learning rate
}

# Recipe sections whose values change each arm's results (used for the stage's config hash).
ARM_SECTIONS: dict[str, tuple[str, ...]] = {"sft": ("sft",), "grpo": ("grpo",), "onpolicy_sft": ("sft", "onpolicy"),
                                            "sft_matched_lr": ("sft", "grpo.learning_rate")}
