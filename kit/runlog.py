"""Reading a run folder's training logs (arms/<arm>/train_log.jsonl) without importing any training code: the
report and other read-only views of a run use this (base layer: stdlib and kit.errors only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kit.errors import KitError


def read_log(path: Path) -> list[dict[str, Any]]:
    """Training log rows, the last row per (step, keys) kept: a resumed run re-logs the steps after its checkpoint.
    A missing log is an empty list; a row that is not JSON (a log cut off mid-line) is a one-line KitError."""
    path = Path(path)
    if not path.exists():
        return []
    rows: dict[tuple[int, tuple[str, ...]], dict[str, Any]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
            key = (r["step"], tuple(sorted(r)))
        except (ValueError, KeyError, TypeError):
            raise KitError(f"'{path}' line {n} is not a training-log row (cut off or edited); redo that arm's "
                           "training with --fresh --stages train_<arm>") from None
        rows[key] = r
    return sorted(rows.values(), key=lambda r: r["step"])
