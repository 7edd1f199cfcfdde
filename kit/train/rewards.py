"""GRPO rewards: correctness of the final boxed answer (math-verify) and an optional small format reward.

A completion that hit the length cap without finishing, or a thinking completion with no `</think>`, earns
nothing: the paper's reward only credits a finished answer, and crediting cut-off text would teach the
model to ramble into the cap.
"""

from __future__ import annotations

from typing import Any, Callable

from kit.chat import split_thinking
from kit.eval.scoring.boxed import last_boxed


def math_equal(gold: str, predicted: str) -> bool:
    """math-verify equivalence of a gold answer and a predicted boxed content (gold first: it is asymmetric)."""
    from math_verify import parse, verify

    gold_parsed = parse(f"${gold}$")
    pred_parsed = parse(f"$\\boxed{{{predicted}}}$")
    if not gold_parsed or not pred_parsed:
        return gold.strip() == predicted.strip()
    return bool(verify(gold_parsed, pred_parsed))


class _Reward:
    """Base for TRL reward callables: TRL calls `f(prompts, completions, completion_ids, **columns)`."""

    __name__ = "reward"

    def __init__(self, enable_thinking: bool, max_completion_length: int, eos_ids: set[int]):
        self.enable_thinking = enable_thinking
        self.max_len = max_completion_length
        self.eos_ids = eos_ids

    def truncated(self, ids: list[int] | None) -> bool:
        return ids is not None and len(ids) >= self.max_len and (not ids or ids[-1] not in self.eos_ids)

    def __call__(self, prompts: list[Any], completions: list[Any], completion_ids: list[list[int]] | None = None,
                 **columns: Any) -> list[float]:
        ids = completion_ids or [None] * len(completions)
        # dataset columns arrive as per-completion lists; TRL also passes objects (trainer_state, log_metric …)
        per_row = {k: v for k, v in columns.items() if isinstance(v, (list, tuple)) and len(v) == len(completions)}
        out = []
        for i, completion in enumerate(completions):
            text = completion if isinstance(completion, str) else completion[0]["content"]
            out.append(0.0 if self.truncated(ids[i]) else self.score(text, {k: v[i] for k, v in per_row.items()}))
        return out

    def score(self, text: str, row: dict[str, Any]) -> float:
        raise NotImplementedError


class Correctness(_Reward):
    __name__ = "correctness"

    def score(self, text: str, row: dict[str, Any]) -> float:
        parts = split_thinking(text, self.enable_thinking)
        if parts.truncated:
            return 0.0
        boxed = last_boxed(parts.answer)
        return 1.0 if boxed is not None and math_equal(str(row["answer"]), boxed) else 0.0


class Format(_Reward):
    """1 when the answer has exactly one \\boxed{} (and, with thinking on, the reasoning was closed)."""

    __name__ = "format"

    def score(self, text: str, row: dict[str, Any]) -> float:
        parts = split_thinking(text, self.enable_thinking)
        return 1.0 if not parts.truncated and parts.answer.count("\\boxed{") == 1 else 0.0


REWARDS: dict[str, type[_Reward]] = {"correctness": Correctness, "format": Format}


def build_rewards(weights: dict[str, float], enable_thinking: bool, max_completion_length: int,
                  eos_ids: set[int]) -> tuple[list[Callable[..., list[float]]], list[float]]:
    """Reward callables and their weights, skipping rewards weighted 0 (they would only cost time)."""
    funcs, ws = [], []
    for name, w in weights.items():
        if w != 0:
            funcs.append(REWARDS[name](enable_thinking, max_completion_length, eos_ids))
            ws.append(float(w))
    return funcs, ws
