"""Generic paired statistics over evaluation items: paired cluster bootstrap of a difference, p-values,
Holm adjustment, McNemar, Wilson and percentile intervals.

Kept apart from the TI bootstrap (`kit.measure.bootstrap`) so that a per-benchmark test needs no TI code.

Input per benchmark (`BenchmarkItems`): per-item primary scores of the base and of the fine-tuned model on the
SAME items (aligned by item id; an item's score is already averaged over its samples), plus optionally

* ``clusters``: items sharing a context (CoQA story, MC-TACO question, IFEval prompt for instruction-level
  items). Whole clusters are resampled; default: every item is its own cluster.
* ``strata``: sub-tasks whose scores are averaged with equal weight (HaluEval qa/dialogue/summarization,
  ACPBench tasks). The benchmark score is the mean over strata of the stratum means, and clusters are
  resampled within each stratum. Cluster ids are nested in strata: the same id in two strata names two
  different clusters. Default: one stratum.
* ``weights``: item weights inside a stratum (e.g. number of instructions of an IFEval prompt when the item
  score is the fraction followed, so that the weighted mean is instruction-level accuracy). Default 1.

A bootstrap replicate draws, for every stratum independently, K clusters with replacement out of the K
clusters; the SAME draw is applied to base and model (paired). Intervals are percentile intervals.

Scores: item scores are in [0, 1] by default and multiplied by ``scale=100`` to give %; pass ``scale=1`` if
items are already in %.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from statistics import NormalDist

import numpy as np

from kit.errors import KitError

DEFAULT_N_BOOT = 1000
DEFAULT_CI = 0.95

__all__ = [
    "DEFAULT_CI",
    "DEFAULT_N_BOOT",
    "BenchmarkItems",
    "align_items",
    "benchmark_score",
    "bootstrap_mean_ci",
    "bootstrap_p_value",
    "ci_includes_zero",
    "holm",
    "mcnemar_exact",
    "paired_replicates",
    "paired_summary",
    "paired_test",
    "percentile_ci",
    "wilson_ci",
]


@dataclass
class BenchmarkItems:
    """Per-item scores of one benchmark for base and model, aligned (same item at the same index)."""

    base: np.ndarray
    model: np.ndarray
    clusters: np.ndarray | None = None
    strata: np.ndarray | None = None
    weights: np.ndarray | None = None
    ids: list | None = None
    _plan: list = field(default=None, init=False, repr=False, compare=False)

    def __post_init__(self):
        self.base = np.asarray(self.base, dtype=float).ravel()
        self.model = np.asarray(self.model, dtype=float).ravel()
        n = len(self.base)
        if n == 0:
            raise KitError("a benchmark has no items")
        if len(self.model) != n:
            raise KitError(f"base has {n} items but model has {len(self.model)}; align them by item id")
        if not (np.all(np.isfinite(self.base)) and np.all(np.isfinite(self.model))):
            raise KitError("item scores must be finite numbers")
        for name in ("clusters", "strata", "weights"):
            v = getattr(self, name)
            if v is not None:
                v = np.asarray(v) if name != "weights" else np.asarray(v, dtype=float)
                if len(v) != n:
                    raise KitError(f"{name} has {len(v)} entries for {n} items")
                setattr(self, name, v)
        if self.weights is not None and (np.any(self.weights < 0) or not np.all(np.isfinite(self.weights))):
            raise KitError("item weights must be finite and >= 0")

    @property
    def n_items(self) -> int:
        return len(self.base)

    def plan(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Per stratum: (sum of w*base per cluster, sum of w*model per cluster, sum of w per cluster)."""
        if self._plan is not None:
            return self._plan
        n = self.n_items
        w = np.ones(n) if self.weights is None else self.weights
        strata = np.zeros(n, dtype=int) if self.strata is None else _codes(self.strata)
        clusters = np.arange(n) if self.clusters is None else _codes(self.clusters)
        plan = []
        for s in np.unique(strata):
            sel = strata == s
            cl = clusters[sel]
            ucl, inv = np.unique(cl, return_inverse=True)
            k = len(ucl)
            sb = np.bincount(inv, weights=w[sel] * self.base[sel], minlength=k)
            sm = np.bincount(inv, weights=w[sel] * self.model[sel], minlength=k)
            sw = np.bincount(inv, weights=w[sel], minlength=k)
            if sw.sum() <= 0:
                raise KitError("a stratum has total item weight 0")
            plan.append((sb, sm, sw))
        self._plan = plan
        return plan

    @property
    def n_clusters(self) -> int:
        return int(sum(len(p[0]) for p in self.plan()))

    def is_binary(self) -> bool:
        return bool(np.all(np.isin(self.base, (0.0, 1.0))) and np.all(np.isin(self.model, (0.0, 1.0))))


def _codes(values) -> np.ndarray:
    """Map arbitrary hashable ids to integer codes (order of first appearance does not matter)."""
    arr = np.asarray(values)
    if arr.dtype.kind in "iub":
        return arr.astype(np.int64)
    mapping: dict = {}
    return np.array([mapping.setdefault(v, len(mapping)) for v in arr.tolist()], dtype=np.int64)


def align_items(
    base_scores: Mapping[Hashable, float],
    model_scores: Mapping[Hashable, float],
    clusters: Mapping[Hashable, Hashable] | None = None,
    strata: Mapping[Hashable, Hashable] | None = None,
    weights: Mapping[Hashable, float] | None = None,
    *,
    on_mismatch: str = "error",
) -> BenchmarkItems:
    """Build `BenchmarkItems` from {item_id: score} dicts, aligned by item id (sorted ids).

    on_mismatch: "error" (default) raises when the id sets differ; "intersect" keeps the common ids.
    """
    ids_b, ids_m = set(base_scores), set(model_scores)
    if ids_b != ids_m:
        if on_mismatch == "intersect":
            common = ids_b & ids_m
        else:
            raise KitError(
                f"base and model were scored on different items ({len(ids_b - ids_m)} only in base, "
                f"{len(ids_m - ids_b)} only in model); score the same item ids or pass on_mismatch='intersect'"
            )
    else:
        common = ids_b
    ids = sorted(common, key=lambda x: (str(type(x)), x))
    if not ids:
        raise KitError("no common items between base and model")

    def pick(m, name):
        if m is None:
            return None
        miss = [i for i in ids if i not in m]
        if miss:
            raise KitError(f"{name} is missing for {len(miss)} items (e.g. {miss[:3]})")
        return [m[i] for i in ids]

    return BenchmarkItems(
        base=np.array([float(base_scores[i]) for i in ids]),
        model=np.array([float(model_scores[i]) for i in ids]),
        clusters=pick(clusters, "cluster"),
        strata=pick(strata, "stratum"),
        weights=pick(weights, "weight"),
        ids=list(ids),
    )


def _draw_counts(k: int, n_boot: int, rng: np.random.Generator) -> np.ndarray:
    """[n_boot, k] multiplicities of a with-replacement draw of k out of k clusters."""
    idx = rng.integers(0, k, size=(n_boot, k))
    flat = idx + (np.arange(n_boot, dtype=np.int64) * k)[:, None]
    return np.bincount(flat.ravel(), minlength=n_boot * k).reshape(n_boot, k).astype(float)


def paired_replicates(
    items: BenchmarkItems, n_boot: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Paired replicate benchmark scores (in item units): base [n_boot], model [n_boot].

    One draw of clusters per stratum serves both arms, so the difference keeps the pairing. Public because the
    TI bootstrap draws all benchmarks from one generator in a fixed order (that order fixes its numbers)."""
    rb = np.zeros(n_boot)
    rm = np.zeros(n_boot)
    plan = items.plan()
    for sb, sm, sw in plan:
        c = _draw_counts(len(sw), n_boot, rng)
        den = c @ sw
        den = np.where(den > 0, den, np.nan)  # only possible with zero-weight clusters
        rb += (c @ sb) / den
        rm += (c @ sm) / den
    return rb / len(plan), rm / len(plan)


def benchmark_score(items: BenchmarkItems, which: str = "base", scale: float = 100.0) -> float:
    """Point score of one arm (mean over strata of weighted stratum means) x scale."""
    k = 1 if which == "base" else 2 if which == "model" else None
    if k is None:
        raise KitError("which must be 'base' or 'model'")
    plan = items.plan()
    return float(np.mean([p[k - 1].sum() / p[2].sum() for p in plan]) * scale)


def percentile_ci(samples: np.ndarray, ci: float = DEFAULT_CI) -> list[float]:
    """Percentile interval over the finite entries of samples ([nan, nan] if none)."""
    x = np.asarray(samples, dtype=float)
    x = x[np.isfinite(x)]
    if len(x) == 0:
        return [float("nan"), float("nan")]
    a = (1.0 - ci) / 2.0
    lo, hi = np.quantile(x, [a, 1.0 - a])
    return [float(lo), float(hi)]


def bootstrap_p_value(point: float, reps: np.ndarray) -> float:
    """Two-sided paired-bootstrap p-value for H0: mean difference = 0.

    The replicate distribution is shifted to the null (centred at 0): p = (1 + #{|d* - d| >= |d|}) / (B + 1).
    """
    reps = reps[np.isfinite(reps)]
    if len(reps) == 0:
        return float("nan")
    if point == 0.0:
        return 1.0
    return float((1 + np.sum(np.abs(reps - point) >= abs(point) - 1e-12)) / (len(reps) + 1))


def mcnemar_exact(base: Sequence[float], model: Sequence[float]) -> dict:
    """Exact McNemar test for paired binary outcomes (0/1). Two-sided binomial p on the discordant pairs.

    Returns {'b': #(base=1, model=0), 'c': #(base=0, model=1), 'n_discordant', 'p_value'}.
    Assumes independent items (it ignores clusters; use the bootstrap p-value when items are clustered).
    """
    b_arr = np.asarray(base, dtype=float)
    m_arr = np.asarray(model, dtype=float)
    if b_arr.shape != m_arr.shape:
        raise KitError("mcnemar_exact needs aligned arrays of equal length")
    if not (np.all(np.isin(b_arr, (0.0, 1.0))) and np.all(np.isin(m_arr, (0.0, 1.0)))):
        raise KitError("mcnemar_exact needs binary (0/1) item scores")
    b = int(np.sum((b_arr == 1) & (m_arr == 0)))
    c = int(np.sum((b_arr == 0) & (m_arr == 1)))
    n = b + c
    if n == 0:
        p = 1.0
    else:
        k = min(b, c)
        tail = sum(math.comb(n, i) for i in range(k + 1))
        p = min(1.0, 2.0 * tail / 2**n)
    return {"b": b, "c": c, "n_discordant": n, "p_value": float(p)}


def wilson_ci(successes: float, n: int, ci: float = DEFAULT_CI) -> list[float]:
    """Wilson score interval for a proportion (in [0, 1])."""
    if n <= 0:
        return [float("nan"), float("nan")]
    z = NormalDist().inv_cdf(0.5 + ci / 2.0)
    p = successes / n
    den = 1.0 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    lo = 0.0 if successes <= 0 else max(0.0, centre - half)  # exact endpoints at 0 / n
    hi = 1.0 if successes >= n else min(1.0, centre + half)
    return [float(lo), float(hi)]


def bootstrap_mean_ci(
    values: Sequence[float],
    clusters: Sequence[Hashable] | None = None,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    ci: float = DEFAULT_CI,
    seed: int = 0,
) -> list[float]:
    """Percentile bootstrap CI of a mean (cluster bootstrap if clusters are given), same units as values."""
    v = np.asarray(values, dtype=float)
    items = BenchmarkItems(base=v, model=v, clusters=clusters)
    rb, _ = paired_replicates(items, n_boot, np.random.default_rng(seed))
    return percentile_ci(rb, ci)


def holm(pvalues: Mapping[str, float]) -> dict[str, float]:
    """Holm-Bonferroni adjusted p-values (nan stays nan)."""
    keys = [k for k, p in pvalues.items() if np.isfinite(p)]
    order = sorted(keys, key=lambda k: pvalues[k])
    m = len(order)
    out = {k: float("nan") for k in pvalues}
    running = 0.0
    for i, k in enumerate(order):
        running = max(running, min(1.0, (m - i) * pvalues[k]))
        out[k] = float(running)
    return out


def paired_test(
    items: BenchmarkItems,
    *,
    n_boot: int = DEFAULT_N_BOOT,
    ci: float = DEFAULT_CI,
    seed: int = 0,
    scale: float = 100.0,
) -> dict:
    """Base vs model on one benchmark: point scores, paired-bootstrap CI and p-value of the difference,
    McNemar exact and Wilson CIs (only for binary items with equal weights in a single stratum)."""
    rng = np.random.default_rng(seed)
    rb, rm = paired_replicates(items, n_boot, rng)
    return paired_summary(items, rb * scale, rm * scale, ci, scale)


def paired_summary(items: BenchmarkItems, rb: np.ndarray, rm: np.ndarray, ci: float, scale: float) -> dict:
    """The `paired_test` block from given replicates (already x scale), so the TI bootstrap reuses its draws."""
    pb = benchmark_score(items, "base", scale)
    pm = benchmark_score(items, "model", scale)
    out = {
        "n_items": items.n_items,
        "n_clusters": items.n_clusters,
        "base": pb,
        "model": pm,
        "delta": pm - pb,
        "base_ci": percentile_ci(rb, ci),
        "model_ci": percentile_ci(rm, ci),
        "delta_ci": percentile_ci(rm - rb, ci),
        "p_bootstrap": bootstrap_p_value(pm - pb, rm - rb),
        "mcnemar": None,
        "base_wilson": None,
        "model_wilson": None,
    }
    uniform_w = items.weights is None or bool(np.all(items.weights == items.weights[0]))
    one_stratum = items.strata is None or len(np.unique(_codes(items.strata))) == 1
    if items.is_binary() and uniform_w and one_stratum:
        out["mcnemar"] = mcnemar_exact(items.base, items.model)
        if items.clusters is not None and items.n_clusters < items.n_items:
            out["mcnemar"]["note"] = "items are clustered; McNemar assumes independence, prefer p_bootstrap"
        n = items.n_items
        out["base_wilson"] = [x * scale for x in wilson_ci(items.base.sum(), n, ci)]
        out["model_wilson"] = [x * scale for x in wilson_ci(items.model.sum(), n, ci)]
    return out


def ci_includes_zero(iv: list[float]) -> bool:
    """True when [lo, hi] contains 0 or is undefined: then the sign of the difference is not established."""
    lo, hi = iv
    return not (np.isfinite(lo) and np.isfinite(hi)) or (lo <= 0.0 <= hi)
