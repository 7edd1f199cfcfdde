"""Paired cluster bootstrap of the Transferability Index (TI v2 and v1) over evaluation items.

Per benchmark the items are `kit.measure.stats.BenchmarkItems` (paired base/model item scores with optional
clusters, strata and weights; see `kit.measure.stats`). A bootstrap replicate draws, for every benchmark and
stratum independently, K clusters with replacement out of the K clusters; the SAME draw is applied to base and
model (paired). From the replicate's per-benchmark scores we recompute group averages, TI v2 and TI v1 exactly
as `kit.measure.ti` does (same vectorised cores: `avg_core`, `v2_core`, `v1_core`). Intervals are percentile
intervals.

When nothing can be concluded, the result says so: ``inconclusive`` is True and ``inconclusive_reasons``
lists why (see `bootstrap_ti`).

The generic tests used to live here too; they are re-exported below so old imports keep working.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from kit.errors import KitError
from kit.measure.stats import (  # noqa: F401  (re-exported: kit.measure.bootstrap was their old home)
    DEFAULT_CI,
    DEFAULT_N_BOOT,
    BenchmarkItems,
    align_items,
    benchmark_score,
    bootstrap_mean_ci,
    ci_includes_zero,
    holm,
    mcnemar_exact,
    paired_replicates,
    paired_summary,
    paired_test,
    percentile_ci,
    wilson_ci,
)
from kit.measure.ti import (
    DEFAULT_DDOF,
    GROUPS,
    TARGET_GROUPS,
    avg_core,
    group_index,
    ti_v1,
    ti_v2,
    v1_core,
    v2_core,
)

# TI is a ratio to the math gain: an interval wider than 2x the math gain itself (200 TI points) cannot
# separate "strong positive transfer" from "strong forgetting", so we call it inconclusive.
DEFAULT_MAX_TI_CI_WIDTH = 200.0
# If more than this fraction of replicates has an undefined TI (DI_math == 0), the interval is meaningless.
MAX_UNDEFINED_FRACTION = 0.05

__all__ = [
    "DEFAULT_MAX_TI_CI_WIDTH",
    "MAX_UNDEFINED_FRACTION",
    "bootstrap_ti",
    # re-exported from kit.measure.stats
    "BenchmarkItems",
    "align_items",
    "benchmark_score",
    "bootstrap_mean_ci",
    "holm",
    "mcnemar_exact",
    "paired_test",
    "percentile_ci",
    "wilson_ci",
]


def bootstrap_ti(
    items: Mapping[str, BenchmarkItems],
    groups: Mapping[str, str],
    *,
    n_boot: int = DEFAULT_N_BOOT,
    ci: float = DEFAULT_CI,
    seed: int = 0,
    scale: float = 100.0,
    ddof: int = DEFAULT_DDOF,
    max_ti_ci_width: float = DEFAULT_MAX_TI_CI_WIDTH,
    return_replicates: bool = False,
) -> dict:
    """Paired cluster bootstrap of per-benchmark scores, group averages, TI v2 and TI v1.

    Returns a JSON-serialisable dict:
      benchmarks: {b: paired_test-like block (scores, CIs, p_bootstrap, p_holm, mcnemar, wilson)}
      groups: {g: {base_avg, model_avg, gain, *_ci}}
      ti_v2: {TI_other, TI_non, DI{g}, *_ci, undefined_fraction, flags (point), inconclusive, reasons}
      ti_v1: {TI_other, TI_non, rel_gain{g}, *_ci, undefined_fraction, flags, inconclusive, reasons}
      inconclusive (bool, about the headline v2 TI), inconclusive_reasons, verdict (one line), settings.

    The v2 TI is called inconclusive when any of these holds (thresholds are arguments):
      * the CI of the math group's average gain includes 0, or the CI of DI_math includes 0
        (the denominator of TI is not distinguishable from 0, so the ratio can have any size or sign);
      * the CI of TI_other or TI_non is wider than max_ti_ci_width (default 200 TI points);
      * more than 5 % of replicates have an undefined TI (DI_math == 0), or the point TI is undefined.
    v1 uses the same rules with its own denominator (mean relative math gain).
    """
    if not items:
        raise KitError("bootstrap_ti needs at least one benchmark")
    names = sorted(items, key=lambda b: (GROUPS.index(groups[b]) if groups.get(b) in GROUPS else -1, b))
    for b in names:
        if groups.get(b) not in GROUPS:
            raise KitError(f"benchmark {b!r} has no valid group (one of {GROUPS})")
    rng = np.random.default_rng(seed)
    rep_b = np.zeros((n_boot, len(names)))
    rep_m = np.zeros((n_boot, len(names)))
    for j, b in enumerate(names):
        rb, rm = paired_replicates(items[b], n_boot, rng)
        rep_b[:, j] = rb * scale
        rep_m[:, j] = rm * scale
    point_b = {b: benchmark_score(items[b], "base", scale) for b in names}
    point_m = {b: benchmark_score(items[b], "model", scale) for b in names}
    gidx = group_index(names, groups)

    bench = {b: paired_summary(items[b], rep_b[:, j], rep_m[:, j], ci, scale) for j, b in enumerate(names)}
    p_adj = holm({b: bench[b]["p_bootstrap"] for b in names})
    for b in names:
        bench[b]["p_holm"] = p_adj[b]

    ab, am = avg_core(rep_b, gidx), avg_core(rep_m, gidx)
    grp = {}
    for g in GROUPS:
        if len(gidx[g]) == 0:
            continue
        pb = float(np.mean([point_b[names[i]] for i in gidx[g]]))
        pm = float(np.mean([point_m[names[i]] for i in gidx[g]]))
        grp[g] = {
            "base_avg": pb,
            "model_avg": pm,
            "gain": pm - pb,
            "base_avg_ci": percentile_ci(ab[g], ci),
            "model_avg_ci": percentile_ci(am[g], ci),
            "gain_ci": percentile_ci(am[g] - ab[g], ci),
        }

    # TI v2
    pv2 = ti_v2(point_b, point_m, groups, ddof=ddof)
    c2 = v2_core(rep_b, rep_m, gidx, ddof=ddof)
    v2 = {
        "TI_other": pv2["TI_other"],
        "TI_non": pv2["TI_non"],
        "DI": pv2["DI"],
        "TI_other_ci": percentile_ci(c2["TI"]["other"], ci),
        "TI_non_ci": percentile_ci(c2["TI"]["non"], ci),
        "DI_ci": {g: percentile_ci(c2["DI"][g], ci) for g in GROUPS},
        "undefined_fraction": float(np.mean(~np.isfinite(c2["TI"]["other"]))),
        "flags": pv2["flags"],
    }
    reasons2 = []
    if "math" in grp and ci_includes_zero(grp["math"]["gain_ci"]):
        reasons2.append("math_gain_ci_includes_0")
    if ci_includes_zero(v2["DI_ci"]["math"]):
        reasons2.append("di_math_ci_includes_0")
    reasons2 += _width_reasons(v2, max_ti_ci_width)
    if not (np.isfinite(v2["TI_other"]) and np.isfinite(v2["TI_non"])):
        reasons2.append("ti_point_undefined")
    if v2["undefined_fraction"] > MAX_UNDEFINED_FRACTION:
        reasons2.append(f"ti_undefined_in_{100 * v2['undefined_fraction']:.1f}%_of_replicates")
    v2["inconclusive"] = bool(reasons2)
    v2["inconclusive_reasons"] = reasons2

    # TI v1
    pv1 = ti_v1(point_b, point_m, groups)
    c1 = v1_core(rep_b, rep_m, gidx)
    v1 = {
        "TI_other": pv1["TI_other"],
        "TI_non": pv1["TI_non"],
        "rel_gain": pv1["rel_gain"],
        "TI_other_ci": percentile_ci(c1["TI"]["other"], ci),
        "TI_non_ci": percentile_ci(c1["TI"]["non"], ci),
        "rel_gain_ci": {g: percentile_ci(c1["gain"][g], ci) for g in GROUPS},
        "undefined_fraction": float(np.mean(~np.isfinite(c1["TI"]["other"]))),
        "flags": pv1["flags"],
    }
    reasons1 = []
    if ci_includes_zero(v1["rel_gain_ci"]["math"]):
        reasons1.append("math_rel_gain_ci_includes_0")
    reasons1 += _width_reasons(v1, max_ti_ci_width)
    if not (np.isfinite(v1["TI_other"]) and np.isfinite(v1["TI_non"])):
        reasons1.append("ti_point_undefined")
    if v1["undefined_fraction"] > MAX_UNDEFINED_FRACTION:
        reasons1.append(f"ti_undefined_in_{100 * v1['undefined_fraction']:.1f}%_of_replicates")
    v1["inconclusive"] = bool(reasons1)
    v1["inconclusive_reasons"] = reasons1

    pct = int(round(ci * 100))
    if reasons2:
        verdict = "TI v2 inconclusive: " + ", ".join(reasons2)
    else:
        verdict = (
            f"TI_other = {v2['TI_other']:.1f} [{pct}% CI {v2['TI_other_ci'][0]:.1f}, {v2['TI_other_ci'][1]:.1f}], "
            f"TI_non = {v2['TI_non']:.1f} [{pct}% CI {v2['TI_non_ci'][0]:.1f}, {v2['TI_non_ci'][1]:.1f}]"
        )
    out = {
        "benchmarks": bench,
        "groups": grp,
        "ti_v2": v2,
        "ti_v1": v1,
        "inconclusive": bool(reasons2),
        "inconclusive_reasons": reasons2,
        "verdict": verdict,
        "settings": {
            "n_boot": n_boot,
            "ci": ci,
            "seed": seed,
            "scale": scale,
            "ddof": ddof,
            "max_ti_ci_width": max_ti_ci_width,
            "method": "paired cluster bootstrap within benchmark (and stratum), percentile intervals",
        },
    }
    if return_replicates:
        out["replicates"] = {"benchmarks": names, "base": rep_b, "model": rep_m}  # numpy, not JSON
    return out


def _width_reasons(block: dict, max_width: float) -> list[str]:
    r = []
    for g in TARGET_GROUPS:
        lo, hi = block[f"TI_{g}_ci"]
        if np.isfinite(lo) and np.isfinite(hi) and hi - lo > max_width:
            r.append(f"ti_{g}_ci_width_{hi - lo:.0f}>{max_width:.0f}")
    return r
