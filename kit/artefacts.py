"""The files stages pass to each other, one record per file: where it lives in the run folder, what it holds, how
it is written (atomically) and read (a cut-off or foreign file is a one-line KitError naming the stage to redo).
Every writer and reader goes through these, so a file's shape is stated once. Base layer: stdlib only.

    eval/samples/<model>/<benchmark>.jsonl   Sample rows (appended per chunk; torn last line tolerated)
    eval/samples/<model>/<benchmark>.jsonl.shard<r>  the same rows, by eval worker r (merged into the above)
    eval/scores.json, eval/item_scores.json  EvalResults (written together by the eval stage)
    probe/results.json                       ProbeResults
    analysis.json                            Analysis (the report's bootstrap TI and tests, read by the study)
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from kit.errors import KitError

SAMPLES_DIR = "eval/samples"
SCORES = "eval/scores.json"
ITEM_SCORES = "eval/item_scores.json"
PROBE_RESULTS = "probe/results.json"
ANALYSIS = "analysis.json"


def write_json(path: Path, data: Any, indent: int | None = 1) -> None:
    """Write next to the target and rename: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=indent, default=float))
    os.replace(tmp, path)


def read_json(path: Path, stage: str) -> Any:
    """A stage's JSON output, or None when absent; a cut-off or garbage file is a one-line error saying how to redo
    the stage that wrote it (nothing may be built from half a result)."""
    if not path.exists():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, ValueError):
        raise KitError(f"'{path}' is unreadable (truncated or not JSON); redo {stage} with --fresh --stages "
                       f"{stage}") from None


# --- per-sample rows ----------------------------------------------------------------------------------------

@dataclass
class Sample:
    """One line of a per-sample log: one generation (or one log-likelihood scoring) of one item by one model."""

    model: str
    benchmark: str
    item_id: str
    cluster: str
    sample: int
    variant: str
    prompt: str
    output: str
    answer: str
    truncated: bool
    scores: dict[str, float]
    enable_thinking: bool
    finished: bool | None = None  # False: the length cap cut the generation (loglik rows: absent)
    output_ids: list[int] | None = None
    logliks: list[float] | None = None
    decode: dict[str, Any] | None = None

    def to_row(self) -> dict[str, Any]:
        return {k: v for k, v in asdict(self).items() if v is not None}


REQUIRED = ("item_id", "sample", "scores")


def samples_path(run_dir: Path, model: str, benchmark: str) -> Path:
    return run_dir / SAMPLES_DIR / model / f"{benchmark}.jsonl"


def shard_path(path: Path, shard: int) -> Path:
    """Where eval worker `shard` appends its rows of the per-sample log `path` (one writer per file; the runner
    merges them into `path`). Not `*.jsonl`, so nothing that lists the logs takes it for one."""
    return path.with_name(f"{path.name}.shard{shard}")


def shard_logs(path: Path) -> list[Path]:
    """The shard logs of `path` present on disk (any number of shards, e.g. from a run with another
    `distributed.processes`), by shard number."""
    prefix = f"{path.name}.shard"
    found = [(int(p.name[len(prefix):]), p) for p in path.parent.glob(f"{prefix}*")
             if p.name[len(prefix):].isdigit()] if path.parent.is_dir() else []
    return [p for _, p in sorted(found)]


def append_samples(path: Path, samples: list[Sample]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as f:
        f.write("".join(json.dumps(s.to_row()) + "\n" for s in samples))


def read_samples(path: Path) -> list[dict[str, Any]]:
    """The rows of a per-sample log (as dicts: readers use the keys they need). A torn line (killed mid-write) is
    skipped, to be regenerated; a line that parses but is not a Sample row is a KitError naming the file."""
    if not path.exists():
        return []
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            continue
        missing = [k for k in REQUIRED if k not in row] if isinstance(row, dict) else list(REQUIRED)
        if missing:
            names = ", ".join(repr(k) for k in missing)
            raise KitError(f"{path}:{n}: not a per-sample row of the eval stage (no {names}); "
                           f"delete that line (or the file) and rerun to regenerate it")
        rows.append(row)
    return rows


def rewrite_samples(path: Path, rows: list[dict[str, Any]]) -> None:
    """Replace a log by `rows` (dropping a torn line and chunks to redo), atomically."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    os.replace(tmp, path)


# --- stage results ------------------------------------------------------------------------------------------

@dataclass
class EvalResults:
    """`scores`: model → benchmark → {group, kind, primary, paper_column, n_items, n_samples, truncation_rate,
    unfinished_rate, scores: {column: value}}; `per_item`: model → benchmark → item id → {cluster, stratum,
    weight, column: value}."""

    scores: dict[str, dict[str, dict[str, Any]]]
    per_item: dict[str, dict[str, dict[str, dict[str, Any]]]]

    def write(self, run_dir: Path) -> None:
        write_json(run_dir / ITEM_SCORES, self.per_item, indent=None)
        write_json(run_dir / SCORES, self.scores)  # last: scores.json present means both are

    @classmethod
    def read(cls, run_dir: Path) -> EvalResults | None:
        scores, per_item = read_json(run_dir / SCORES, "eval"), read_json(run_dir / ITEM_SCORES, "eval")
        if scores is None or per_item is None:
            return None
        for what, data in (("scores.json", scores), ("item_scores.json", per_item)):
            if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
                raise KitError(f"'{run_dir / 'eval' / what}' is not the eval stage's output (model → benchmark "
                               f"mapping expected); redo eval with --fresh --stages eval")
        return cls(scores, per_item)

    @property
    def models(self) -> list[str]:
        return list(self.scores)


@dataclass
class ProbeResults:
    """`arms`: model → {pca, cka, tokens, linear, …} as the probe stage computes them; `extra`: the rest."""

    arms: dict[str, dict[str, Any]] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)

    def write(self, run_dir: Path) -> None:
        write_json(run_dir / PROBE_RESULTS, {**self.extra, "arms": self.arms})

    @classmethod
    def read(cls, run_dir: Path) -> ProbeResults | None:
        data = read_json(run_dir / PROBE_RESULTS, "probe")
        if data is None:
            return None
        if not isinstance(data, dict) or not isinstance(data.get("arms", {}), dict):
            raise KitError(f"'{run_dir / PROBE_RESULTS}' is not the probe stage's output; redo probe with "
                           f"--fresh --stages probe")
        rest = {k: v for k, v in data.items() if k != "arms"}
        return cls(data.get("arms", {}), rest)

    def as_dict(self) -> dict[str, Any]:
        return {**self.extra, "arms": self.arms}


@dataclass
class Analysis:
    """The report's statistics per arm (arm → {ti_v2, ti_v1, groups, benchmarks, inconclusive, …})."""

    arms: dict[str, dict[str, Any]]

    def write(self, run_dir: Path) -> None:
        write_json(run_dir / ANALYSIS, self.arms)

    @classmethod
    def read(cls, run_dir: Path) -> Analysis | None:
        data = read_json(run_dir / ANALYSIS, "report")
        if data is None:
            return None
        if not isinstance(data, dict) or not all(isinstance(v, dict) for v in data.values()):
            raise KitError(f"'{run_dir / ANALYSIS}' is not the report's analysis; redo it with --fresh --stages report")
        return cls(data)
