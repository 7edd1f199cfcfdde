"""Published numbers of arXiv 2507.00432 (v2 Tables 1, 5, 9–11; Other-reasoning averages corrected as in the
ICML version), keyed by the paper's row names, for printing beside a run that replicates or audits them.
Scores in %. The paper's TI values are not reproducible from its own per-benchmark tables (see the
reference dossier §2.3), so the report shows the published TI and the TI recomputed from these scores."""

from __future__ import annotations

from typing import Any

from kit.eval import benchmarks


def __getattr__(name: str) -> Any:
    """`ORDER`: the benchmarks of the paper's tables in their column order, a view read from the registry on every
    access (each benchmark's `paper_position` is the one source; a benchmark registered later is in it)."""
    if name == "ORDER":
        return benchmarks.paper_order()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _row(*values: float) -> dict[str, float]:
    """One published row, its values in the paper's column order: value i is the score of the benchmark whose
    `paper_position` is i + 1 (by position, not by rank in ORDER, so a benchmark added later shifts nothing)."""
    benchmarks.names()  # load every benchmark module
    column = {cls.paper_position: name for name, cls in benchmarks.REGISTRY.items() if cls.paper_position}
    missing = [i + 1 for i in range(len(values)) if i + 1 not in column]
    if missing:
        raise RuntimeError(f"published row has values for paper columns {missing} that no benchmark claims")
    return {column[i + 1]: v for i, v in enumerate(values)}


PAPER_ROWS: dict[str, dict[str, float]] = {
    "Qwen3-14B-Base": _row(13.0, 9.3, 60.4, 27.9, 42.6, 29.7, 10.7, 37.6, 10.0, 67.7, 69.2, 35.7),
    "UniReason-Qwen3-14B-think (SFT)": _row(52.0, 37.0, 85.0, 25.0, 55.9, 21.9, 68.6, 34.8, 1.7, 38.2, 42.3, 2.3),
    "UniReason-Qwen3-14B-no-think (SFT)": _row(16.0, 13.0, 77.2, 22.7, 48.7, 23.5, 69.3, 35.0, 5.3, 66.1, 41.4, 3.3),
    "UniReason-Qwen3-14B (RL)": _row(55.7, 38.0, 87.8, 33.8, 57.7, 40.6, 65.4, 40.2, 28.2, 74.0, 70.0, 40.7),
    "Qwen3-14B (think)": _row(79.0, 67.7, 92.0, 44.7, 65.0, 81.0, 85.7, 35.2, 2.6, 66.1, 42.9, 5.5),
    "Qwen3-14B (no-think)": _row(27.3, 21.3, 82.2, 36.1, 50.8, 51.8, 64.3, 36.3, 44.1, 74.9, 90.5, 70.7),
    "General-Reasoner-Qwen3-14B (SFT)": _row(35.0, 22.6, 78.4, 30.6, 43.9, 19.7, 64.3, 39.9, 1.4, 49.4, 31.7, 10.8),
    "General-Reasoner-Qwen3-14B (RL)": _row(24.4, 19.2, 83.0, 33.5, 56.1, 32.9, 75.0, 44.0, 4.8, 51.19, 72.0, 55.7),
    "Qwen2.5-7B-Instruct": _row(12.0, 9.7, 72.8, 29.6, 23.4, 32.9, 57.5, 33.7, 8.1, 74.6, 80.0, 64.6),
    "s1.1-7B": _row(23.3, 13.3, 75.8, 28.7, 41.4, 10.7, 36.7, 31.4, 1.1, 70.0, 40.2, 14.3),
    "Qwen2.5-7B-Base": _row(3.3, 1.6, 59.1, 11.6, 37.5, 7.8, 26.8, 38.4, 0.9, 61.7, 47.4, 17.2),
    "SimpleRL-7B": _row(15.7, 7.6, 69.8, 24.1, 29.3, 14.7, 35.4, 34.1, 1.2, 59.7, 48.4, 28.9),
}

# Published (TI_other, TI_non) of Table 5 for the rows above that have one.
PAPER_TI: dict[str, tuple[float, float]] = {
    "UniReason-Qwen3-14B-think (SFT)": (52.2, -104.1),
    "UniReason-Qwen3-14B-no-think (SFT)": (165.4, -278.9),
    "UniReason-Qwen3-14B (RL)": (82.3, 52.2),
    "General-Reasoner-Qwen3-14B (SFT)": (77.8, -127.6),
    "General-Reasoner-Qwen3-14B (RL)": (121.6, 66.5),
    "s1.1-7B": (-65.5, -213.3),
    "SimpleRL-7B": (15.4, 34.4),
}
