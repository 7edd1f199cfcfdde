"""Transferability Index (TI) of arXiv 2507.00432, v2 (paper §2.1) and v1 (§2.2).

All scores are percentages in [0, 100]; a model is always compared with its own base model.

v2 (the published definition), for group g in {math, other, non} and benchmark b in B_g::

    dR_b   = R_b^model - R_b^base
    sigma_g = std{dR_b : b in B_g}                       (no mean subtraction in delta)
    delta_b = dR_b / sigma_g
    s_b     = sign(delta_b) * |delta_b| ** 0.5            (signed square root)
    w_b     = 100 - R_b^base ;  w^_b = w_b / sum_{u in B_g} w_u   (headroom of the BASE model)
    DI_g    = sum_b w^_b * s_b
    TI_g    = DI_g / DI_math * 100 ,   g in {other, non}

The paper does not say which standard deviation it uses. We use the sample std (ddof=1) by default.
Switching ddof multiplies every sigma_g by sqrt(n_g/(n_g-ddof)); when the math group and group g have
the same number of benchmarks (4 each in the paper) the factor cancels in TI_g, so TI does not depend
on the choice. DI_g itself does (by a common factor).

Degenerate cases are never turned into inf and are always listed in ``flags``:

* sigma_g == 0 (all dR_b equal in a group, e.g. all zero) or undefined (a single benchmark with ddof=1):
  delta_b := 0 for the whole group (so DI_g = 0), flag ``sigma_zero:<g>`` / ``sigma_undefined:<g>``.
* DI_math == 0 (or math group missing): TI_other = TI_non = nan, flag ``di_math_zero`` / ``group_missing:math``.
* sum of headroom weights == 0 (base scores 100 on every benchmark of a group): uniform weights,
  flag ``zero_headroom:<g>``.
* v1: a benchmark with base score 0 has an undefined relative gain; it is left out of its group's mean
  (flag ``zero_base:<b>``); mean relative math gain == 0 -> TI = nan (flag ``math_gain_zero``).

The vectorised cores (``v2_core``/``v1_core``/``avg_core``, indexed by ``group_index``) work on [R, n_bench]
arrays so the bootstrap (`kit.measure.bootstrap`) can evaluate thousands of replicates at once; ``ti_v2``/``ti_v1``
are thin dict wrappers around them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from kit.errors import KitError
from kit.groups import GROUPS

TARGET_GROUPS = tuple(g for g in GROUPS if g != "math")  # the groups TI is reported for: all but the trained one
DEFAULT_DDOF = 1
SIGMA_TOL = 1e-9  # scores are in % with at most a few decimals; anything below is rounding noise
DI_TOL = 1e-12

__all__ = [
    "GROUPS",
    "DEFAULT_DDOF",
    "validate_scores",
    "group_averages",
    "ti_v2",
    "ti_v1",
    "ti_both",
    "TARGET_GROUPS",
    "group_index",
    "v2_core",
    "v1_core",
    "avg_core",
]


def validate_scores(
    base: Mapping[str, float], model: Mapping[str, float], groups: Mapping[str, str]
) -> list[str]:
    """Check inputs and return the benchmark names in a fixed order (grouped by GROUPS, then name).

    ``groups`` may contain benchmarks that were not scored (they are ignored); every scored benchmark must
    have a group, and base and model must score the same benchmarks.
    """
    if set(base) != set(model):
        only_b = sorted(set(base) - set(model))
        only_m = sorted(set(model) - set(base))
        raise KitError(f"base and model score different benchmarks: only base {only_b}, only model {only_m}")
    if not base:
        raise KitError("no benchmark scores given")
    missing = sorted(b for b in base if b not in groups)
    if missing:
        raise KitError(f"benchmarks without a group: {missing}; add them to `groups` (one of {GROUPS})")
    for b in base:
        g = groups[b]
        if g not in GROUPS:
            raise KitError(f"benchmark {b!r} has group {g!r}; groups must be one of {GROUPS}")
        for who, scores in (("base", base), ("model", model)):
            v = float(scores[b])
            if not math.isfinite(v) or v < 0.0 or v > 100.0:
                raise KitError(f"{who} score of {b!r} is {v!r}; scores must be percentages in [0, 100]")
    return sorted(base, key=lambda b: (GROUPS.index(groups[b]), b))


def group_index(names: list[str], groups: Mapping[str, str]) -> dict[str, np.ndarray]:
    """Column indices of each group's benchmarks in `names` (the column order of the cores' arrays)."""
    return {g: np.array([i for i, b in enumerate(names) if groups[b] == g], dtype=int) for g in GROUPS}


def _signed_sqrt(x: np.ndarray) -> np.ndarray:
    return np.sign(x) * np.sqrt(np.abs(x))


def v2_core(base: np.ndarray, model: np.ndarray, gidx: Mapping[str, np.ndarray], ddof: int = DEFAULT_DDOF) -> dict:
    """Vectorised TI v2. base/model: [R, n] in %. Returns arrays of shape [R] (and [R, n] for per-benchmark).

    One row per replicate: the point estimate (`ti_v2`, R = 1) and the bootstrap share this code, so both
    handle degenerate groups identically."""
    base = np.asarray(base, dtype=float)
    model = np.asarray(model, dtype=float)
    R = base.shape[0]
    d = model - base
    delta = np.zeros_like(d)
    s = np.zeros_like(d)
    what = np.zeros_like(d)
    di, sigma, sigma_zero, sigma_undef, zero_head = {}, {}, {}, {}, {}
    for g in GROUPS:
        idx = gidx[g]
        n = len(idx)
        if n == 0:
            di[g] = np.full(R, np.nan)
            sigma[g] = np.full(R, np.nan)
            sigma_zero[g] = np.zeros(R, bool)
            sigma_undef[g] = np.ones(R, bool)
            zero_head[g] = np.zeros(R, bool)
            continue
        dg = d[:, idx]
        if n - ddof <= 0:
            sg = np.full(R, np.nan)
        else:
            sg = dg.std(axis=1, ddof=ddof)
        undef = ~np.isfinite(sg)
        zero = np.isfinite(sg) & (sg <= SIGMA_TOL)
        bad = undef | zero
        safe = np.where(bad, 1.0, sg)
        dz = np.where(bad[:, None], 0.0, dg / safe[:, None])
        sq = _signed_sqrt(dz)
        w = 100.0 - base[:, idx]
        wsum = w.sum(axis=1)
        zh = ~(wsum > 0)
        wn = np.where(zh[:, None], 1.0 / n, w / np.where(zh, 1.0, wsum)[:, None])
        delta[:, idx] = dz
        s[:, idx] = sq
        what[:, idx] = wn
        di[g] = (wn * sq).sum(axis=1)
        sigma[g] = sg
        sigma_zero[g] = zero
        sigma_undef[g] = undef
        zero_head[g] = zh
    dm = di["math"]
    math_bad = ~np.isfinite(dm) | (np.abs(np.nan_to_num(dm)) <= DI_TOL)
    ti = {}
    for g in TARGET_GROUPS:
        with np.errstate(divide="ignore", invalid="ignore"):
            ti[g] = np.where(math_bad, np.nan, di[g] / np.where(math_bad, 1.0, dm) * 100.0)
    return {
        "d": d,
        "delta": delta,
        "s": s,
        "w": what,
        "sigma": sigma,
        "DI": di,
        "TI": ti,
        "sigma_zero": sigma_zero,
        "sigma_undefined": sigma_undef,
        "zero_headroom": zero_head,
        "di_math_zero": math_bad,
    }


def v1_core(base: np.ndarray, model: np.ndarray, gidx: Mapping[str, np.ndarray]) -> dict:
    """Vectorised TI v1 (mean relative gain per group, ratio to math). base/model: [R, n] in %.

    Shared by `ti_v1` (R = 1) and the bootstrap, like `v2_core`."""
    base = np.asarray(base, dtype=float)
    model = np.asarray(model, dtype=float)
    R = base.shape[0]
    zero_base = base <= 0.0
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.where(zero_base, np.nan, (model - base) / np.where(zero_base, 1.0, base))
    gain = {}
    for g in GROUPS:
        idx = gidx[g]
        if len(idx) == 0:
            gain[g] = np.full(R, np.nan)
            continue
        rg = rel[:, idx]
        cnt = np.isfinite(rg).sum(axis=1)
        tot = np.nansum(rg, axis=1)
        gain[g] = np.where(cnt > 0, tot / np.maximum(cnt, 1), np.nan)
    gm = gain["math"]
    math_bad = ~np.isfinite(gm) | (np.abs(np.nan_to_num(gm)) <= DI_TOL)
    ti = {}
    for g in TARGET_GROUPS:
        with np.errstate(divide="ignore", invalid="ignore"):
            ti[g] = np.where(math_bad, np.nan, gain[g] / np.where(math_bad, 1.0, gm) * 100.0)
    return {"rel": rel, "gain": gain, "TI": ti, "zero_base": zero_base, "math_gain_zero": math_bad}


def avg_core(scores: np.ndarray, gidx: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Per group, the plain mean over its benchmarks of scores [R, n] -> [R] (nan for an empty group)."""
    scores = np.asarray(scores, dtype=float)
    return {
        g: (scores[:, idx].mean(axis=1) if len(idx) else np.full(scores.shape[0], np.nan)) for g, idx in gidx.items()
    }


def _f(x) -> float:
    return float(x)


def group_averages(scores: Mapping[str, float], groups: Mapping[str, str]) -> dict[str, float]:
    """Plain mean of the per-benchmark scores in each group (nan for a group with no benchmark)."""
    names = validate_scores(scores, scores, groups)
    arr = np.array([[float(scores[b]) for b in names]])
    return {g: _f(v[0]) for g, v in avg_core(arr, group_index(names, groups)).items()}


def _averages_block(b: np.ndarray, m: np.ndarray, gidx) -> dict:
    ab, am = avg_core(b, gidx), avg_core(m, gidx)
    return {
        "base_avg": {g: _f(ab[g][0]) for g in GROUPS},
        "model_avg": {g: _f(am[g][0]) for g in GROUPS},
        "gain_avg": {g: _f(am[g][0] - ab[g][0]) for g in GROUPS},
    }


def ti_v2(
    base: Mapping[str, float],
    model: Mapping[str, float],
    groups: Mapping[str, str],
    *,
    ddof: int = DEFAULT_DDOF,
) -> dict:
    """TI v2 of `model` against its `base` (paper §2.1). Scores are % per benchmark; groups map benchmark -> group.

    Returns a JSON-serialisable dict with keys: version, ddof, benchmarks (ordered), group_of, TI_other,
    TI_non, DI {g}, sigma {g}, delta_R {b}, delta {b}, s {b}, weights {b}, base_avg/model_avg/gain_avg {g},
    n_benchmarks {g}, flags (list of str).
    """
    names = validate_scores(base, model, groups)
    gidx = group_index(names, groups)
    b = np.array([[float(base[x]) for x in names]])
    m = np.array([[float(model[x]) for x in names]])
    core = v2_core(b, m, gidx, ddof=ddof)
    flags = []
    for g in GROUPS:
        if len(gidx[g]) == 0:
            flags.append(f"group_missing:{g}")
            continue
        if core["sigma_undefined"][g][0]:
            flags.append(f"sigma_undefined:{g}")
        if core["sigma_zero"][g][0]:
            flags.append(f"sigma_zero:{g}")
        if core["zero_headroom"][g][0]:
            flags.append(f"zero_headroom:{g}")
    if core["di_math_zero"][0] and len(gidx["math"]):
        flags.append("di_math_zero")
    if all(float(base[x]) <= 1.0 and float(model[x]) <= 1.0 for x in names):
        flags.append("scores_look_like_fractions")  # TI expects %, headroom weights are 100 - R
    out = {
        "version": "v2",
        "ddof": ddof,
        "benchmarks": names,
        "group_of": {x: groups[x] for x in names},
        "TI_other": _f(core["TI"]["other"][0]),
        "TI_non": _f(core["TI"]["non"][0]),
        "DI": {g: _f(core["DI"][g][0]) for g in GROUPS},
        "sigma": {g: _f(core["sigma"][g][0]) for g in GROUPS},
        "delta_R": {x: _f(core["d"][0, i]) for i, x in enumerate(names)},
        "delta": {x: _f(core["delta"][0, i]) for i, x in enumerate(names)},
        "s": {x: _f(core["s"][0, i]) for i, x in enumerate(names)},
        "weights": {x: _f(core["w"][0, i]) for i, x in enumerate(names)},
        "n_benchmarks": {g: int(len(gidx[g])) for g in GROUPS},
        "flags": flags,
    }
    out.update(_averages_block(b, m, gidx))
    return out


def ti_v1(base: Mapping[str, float], model: Mapping[str, float], groups: Mapping[str, str]) -> dict:
    """TI v1 (paper §2.2): mean relative gain (R_model - R_base)/R_base per group, ratio to math, x100.

    Returns keys: version, benchmarks, TI_other, TI_non, rel_gain {g} (mean relative gain, a fraction),
    rel_gain_per_benchmark {b} (nan where base == 0), base_avg/model_avg/gain_avg {g}, flags.
    """
    names = validate_scores(base, model, groups)
    gidx = group_index(names, groups)
    b = np.array([[float(base[x]) for x in names]])
    m = np.array([[float(model[x]) for x in names]])
    core = v1_core(b, m, gidx)
    flags = [f"group_missing:{g}" for g in GROUPS if len(gidx[g]) == 0]
    flags += [f"zero_base:{x}" for i, x in enumerate(names) if core["zero_base"][0, i]]
    for g in GROUPS:
        if len(gidx[g]) and not np.isfinite(core["gain"][g][0]):
            flags.append(f"group_undefined:{g}")
    if core["math_gain_zero"][0] and len(gidx["math"]):
        flags.append("math_gain_zero")
    out = {
        "version": "v1",
        "benchmarks": names,
        "TI_other": _f(core["TI"]["other"][0]),
        "TI_non": _f(core["TI"]["non"][0]),
        "rel_gain": {g: _f(core["gain"][g][0]) for g in GROUPS},
        "rel_gain_per_benchmark": {x: _f(core["rel"][0, i]) for i, x in enumerate(names)},
        "flags": flags,
    }
    out.update(_averages_block(b, m, gidx))
    return out


def ti_both(
    base: Mapping[str, float], model: Mapping[str, float], groups: Mapping[str, str], *, ddof: int = DEFAULT_DDOF
) -> dict:
    """{'v2': ti_v2(...), 'v1': ti_v1(...)} for reports that show both."""
    return {"v2": ti_v2(base, model, groups, ddof=ddof), "v1": ti_v1(base, model, groups)}
