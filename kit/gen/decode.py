"""Decode settings: how one prompt is sampled. Below everything that generates (eval, train, probe), so a
trainer can sample like an evaluation without importing the evaluation."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Decode:
    """Decode settings as the paper states them (A.3.5); recipes may override per benchmark."""

    temperature: float = 0.0  # 0 means greedy
    top_p: float = 1.0
    top_k: int = 0  # 0 means off
    n_samples: int = 1
    max_new_tokens: int = 32768
    stop: tuple[str, ...] = ()
