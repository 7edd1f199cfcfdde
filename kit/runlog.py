"""Reading a run folder's training logs (arms/<arm>/train_log.jsonl) without importing any training code: the
report and other read-only views of a run use this (base layer: stdlib and kit.errors only)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kit.errors import KitError


def read_log(path: Path) -> list[dict[str, Any]]:
    """Training log rows, the last row per (step, keys) kept: a resumed run re-logs the steps after its checkpoint.
    A missing log is an empty list. A line that is not JSON is a write cut off by a kill: skipped (the resumed run
    logged that step again). A JSON line that is not a row (no step) is a one-line KitError naming file and line."""
    path = Path(path)
    if not path.exists():
        return []
    rows: dict[tuple[int, tuple[str, ...]], dict[str, Any]] = {}
    for n, line in enumerate(path.read_text().splitlines(), 1):
        if not line.strip():
            continue
        try:
            r = json.loads(line)
        except ValueError:
            continue
        try:
            key = (r["step"], tuple(sorted(r)))
        except (KeyError, TypeError):
            raise KitError(f"'{path}' line {n} is not a training-log row (no step: edited or another file); redo "
                           "that arm's training with --fresh --stages train_<arm>") from None
        rows[key] = r
    return sorted(rows.values(), key=lambda r: r["step"])
