"""The paper's three benchmark groups, defined once (no imports, so every layer can use it): math (the training
domain), other reasoning and non-reasoning. The order is the order of every group-wise table and computation."""

from __future__ import annotations

from typing import Literal

Group = Literal["math", "other", "non"]
GROUPS: tuple[str, ...] = ("math", "other", "non")
