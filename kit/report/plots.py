"""Plots for the report and the study (matplotlib, Agg). Each function takes plain data and a `context` line
("run · model · seed") and writes one PNG (plus an SVG of the same stem) in the shared style of kit.report.style."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from kit.report.intervals import finite, mean_ci
from kit.report.style import (BASE_COLOUR, INTERVAL_COLOUR, NARROW, SQUARE, WIDE, Style, clip, interval,  # noqa: F401
                              legend_outside, new_figure, save as _save, slide, styles, ti_limits, title)

GROUP_LABEL = {"math": "math", "other": "other reasoning", "non": "non-reasoning"}
HOLLOW = Line2D([], [], marker="o", ls="none", mfc="none", color="#444444", label="inconclusive (hollow)")
CLIPPED = Line2D([], [], marker=">", ls="none", color="#444444", label="interval clipped at the axis edge")
MARKERS = ("o", "s", "^", "v", "D", "P", "X", "*", "h", "<", ">", "p")


@slide
def benchmark_bars(scores: dict[str, dict[str, tuple[float, float, float]]], order: list[str],
                   groups: dict[str, str], path: Path, context: str = "", ci: float = 0.95) -> Path:
    """scores[model][bench] = (value, lo, hi) in %; one bar group per benchmark, real intervals as error bars
    (`ci`: their level, the run's report.ci)."""
    models = list(scores)
    fig, axes = new_figure((max(WIDE[0], 0.75 * len(order) + 4), WIDE[1] + 0.6))
    ax = axes[0][0]
    width = 0.8 / max(1, len(models))
    st = styles(models)
    for i, m in enumerate(models):
        xs = [j + (i - (len(models) - 1) / 2) * width for j in range(len(order))]
        vals = [scores[m].get(b, (math.nan,) * 3) for b in order]
        ax.bar(xs, [v[0] for v in vals], width, label=st[m].label, color=st[m].colour,
               hatch="//" if st[m].dashed else None, edgecolor="white" if st[m].dashed else None)
        bars = [(x, v[0], interval(*v)) for x, v in zip(xs, vals)]
        real = [(x, y, e) for x, y, e in bars if e is not None]
        if real:
            ax.errorbar([x for x, _, _ in real], [y for _, y, _ in real], fmt="none", capsize=2, lw=1,
                        yerr=[[e[0] for *_, e in real], [e[1] for *_, e in real]], color=INTERVAL_COLOUR)
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels([f"{b}\n({GROUP_LABEL.get(groups.get(b, ''), '')})" for b in order], rotation=35, ha="right")
    ax.set_xlabel("benchmark (group)")
    ax.set_ylabel("score (%)")
    ax.set_ylim(0, 100)
    title(fig, f"Per-benchmark scores (primary column; bars: {100 * ci:g}% paired-bootstrap CI)", context)
    legend_outside(ax)
    return _save(fig, path)


def _ti_axis(ax, which: str, estimates: list[float]) -> tuple[float, float]:
    """Limits from the estimates, symlog when they span decades; the limits (intervals are clipped to them)."""
    lo, hi, symlog = ti_limits(estimates)
    if symlog:
        (ax.set_xscale if which == "x" else ax.set_yscale)("symlog", linthresh=10)
    (ax.set_xlim if which == "x" else ax.set_ylim)(lo, hi)
    return lo, hi


def _mark_clipped(ax, x: float, y: float, colour: str, which: str, ends: tuple[bool, bool],
                  lim: tuple[float, float]) -> bool:
    """An arrowhead where an interval leaves the axis; True when one was drawn."""
    low, high = ends
    for flag, edge, marker in ((low, lim[0], "<" if which == "x" else "v"), (high, lim[1], ">" if which == "x" else "^")):
        if flag:
            ax.plot([edge] if which == "x" else [x], [y] if which == "x" else [edge], marker=marker, ms=9,
                    color=colour, ls="none", clip_on=False, label="_clipped")
    return low or high


@slide
def ti_scatter(points: dict[str, dict[str, Any]], path: Path, context: str = "", ci: float = 0.95) -> Path:
    """points[arm] = {TI_other, TI_non, TI_other_ci, TI_non_ci, inconclusive}; like the paper's Figure 2. The axes
    follow the estimates; intervals (level `ci`) beyond them are clipped and marked; inconclusive TIs are hollow."""
    fig, axes = new_figure(SQUARE)
    ax = axes[0][0]
    ax.axhline(0, color="k", lw=0.8)
    ax.axvline(0, color="k", lw=0.8)
    st = styles(list(points))
    ok = {a: p for a, p in points.items() if math.isfinite(p["TI_other"]) and math.isfinite(p["TI_non"])}
    xlim = _ti_axis(ax, "x", [p["TI_other"] for p in ok.values()])
    ylim = _ti_axis(ax, "y", [p["TI_non"] for p in ok.values()])
    clipped = hollow = False
    for arm, p in ok.items():
        x, y = p["TI_other"], p["TI_non"]
        xe, *xends = clip(x, *p.get("TI_other_ci", [math.nan] * 2), xlim)
        ye, *yends = clip(y, *p.get("TI_non_ci", [math.nan] * 2), ylim)
        weak = bool(p.get("inconclusive", False))
        hollow |= weak
        bars = ax.errorbar([x], [y], xerr=None if xe is None else [[xe[0]], [xe[1]]],
                           yerr=None if ye is None else [[ye[0]], [ye[1]]], fmt="o", ms=9, capsize=3,
                           color=st[arm].colour, label=st[arm].label, mfc="none" if weak else st[arm].colour)
        for line in bars.lines[2]:
            line.set_linestyle("--" if st[arm].dashed else "-")
        clipped |= _mark_clipped(ax, x, y, st[arm].colour, "x", tuple(xends), xlim)
        clipped |= _mark_clipped(ax, x, y, st[arm].colour, "y", tuple(yends), ylim)
    undefined = [st[a].label for a in points if a not in ok]
    if undefined:
        ax.text(0.5, 0.5 if not ok else 0.03, "TI undefined (no math gain): " + ", ".join(undefined), ha="center",
                transform=ax.transAxes, fontsize=9, color="#555555", bbox={"fc": "white", "ec": "none"})
    ax.set_xlabel("TI other reasoning (%)")
    ax.set_ylabel("TI non-reasoning (%)")
    title(fig, f"Transferability Index v2 ({100 * ci:g}% bootstrap CI)", context)
    handles, labels = ax.get_legend_handles_labels()
    extra = [h for h, flag in ((HOLLOW, hollow), (CLIPPED, clipped)) if flag]
    legend_outside(ax, handles + extra, labels + [h.get_label() for h in extra])
    return _save(fig, path)


TRAIN_KEYS = [("loss", "training loss (nats/token)"), ("reward", "mean reward (0 to 1)"),
              ("completions/mean_length", "completion length (tokens)")]


@slide
def training_curves(logs: dict[str, list[dict[str, Any]]], path: Path, context: str = "") -> Path:
    """Loss of every arm that logged; reward and completion length of RL arms (panels without data left out)."""
    keys = [(k, lab) for k, lab in TRAIN_KEYS if any(k in r for rows in logs.values() for r in rows)] or TRAIN_KEYS[:1]
    fig, axes = new_figure((4.2 * len(keys) + 2.5, 4.2), ncols=len(keys))
    st = styles(list(logs))
    for ax, (key, label) in zip(axes[0], keys):
        for arm, rows in logs.items():
            pts = [(r["step"], r[key]) for r in rows if isinstance(r.get(key), (int, float))]
            if pts:
                ax.plot(*zip(*pts), marker=".", label=st[arm].label, color=st[arm].colour, linestyle=st[arm].line)
        ax.set_xlabel("optimizer step")
        ax.set_ylabel(label)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    seen: dict[str, Any] = {}
    for ax in axes[0]:
        for h, lab in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(lab, h)
    title(fig, "Training curves", context)
    legend_outside(axes[0][-1], list(seen.values()), list(seen))
    return _save(fig, path)


def _layer_axis(ax, ylabel: str) -> None:
    ax.set_xlabel("layer index (0 = embeddings)")
    ax.set_ylabel(ylabel)
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _all_equal(series: dict[str, list[float]]) -> float | None:
    vals = [v for ys in series.values() for v in ys]
    return vals[0] if vals and all(abs(v - vals[0]) <= 1e-9 for v in vals) else None


@slide
def per_layer(series: dict[str, list[float]], ylabel: str, what: str, path: Path,
              bands: dict[str, tuple[list[float], list[float]]] | None = None, context: str = "",
              reference: tuple[float, str] | None = None) -> Path:
    """One line per model over layers (probe accuracy, CKA), optional CI bands and a reference line (chance);
    when every model has the same value at every layer the figure says so instead of stacking lines."""
    fig, axes = new_figure(NARROW)
    ax = axes[0][0]
    st = styles(list(series))
    for name, ys in series.items():
        ax.plot(range(len(ys)), ys, marker="o", label=st[name].label, color=st[name].colour, linestyle=st[name].line)
        if bands and name in bands:
            ax.fill_between(range(len(ys)), *bands[name], alpha=0.2, color=st[name].colour)
    if reference is not None:
        ax.axhline(reference[0], color=BASE_COLOUR, lw=1, ls=":", label=reference[1])
    same = _all_equal(series)
    if same is not None and len(series) > 1:
        ax.text(0.5, 0.5, f"all {len(series)} models at {same:.3g} on every layer (lines overlap)",
                transform=ax.transAxes, ha="center", va="center", fontsize=11,
                bbox={"boxstyle": "round", "fc": "white", "ec": "#999999"})
    _layer_axis(ax, ylabel)
    title(fig, what, context)
    legend_outside(ax)
    return _save(fig, path)


@slide
def pca_shift(shifts: dict[str, dict[str, list[float]]], ylabel: str, path: Path, context: str = "") -> Path:
    """shifts[model][benchmark] = per-layer shift: colour = model, marker = benchmark, and a legend grouped in
    those two parts (models + benchmarks entries, not their product)."""
    fig, axes = new_figure((WIDE[0], WIDE[1] + 0.5))
    ax = axes[0][0]
    st = styles(list(shifts))
    benches = list(dict.fromkeys(b for per in shifts.values() for b in per))
    mk = {b: MARKERS[i % len(MARKERS)] for i, b in enumerate(benches)}
    for name, per in shifts.items():
        for b, ys in per.items():
            ax.plot(range(len(ys)), ys, marker=mk[b], color=st[name].colour, linestyle=st[name].line, alpha=0.85,
                    label="_nolegend_")
    head = [Line2D([], [], ls="none", label=t) for t in ("model:", "benchmark:")]
    models = [Line2D([], [], color=st[n].colour, ls=st[n].line, label=st[n].label) for n in shifts]
    marks = [Line2D([], [], color="#444444", ls="none", marker=mk[b], label=b) for b in benches]
    handles = [head[0], *models, head[1], *marks]
    _layer_axis(ax, ylabel)
    title(fig, "PCA shift of PC1 per layer (faithful mode)", context)
    legend_outside(ax, handles, [h.get_label() for h in handles])
    return _save(fig, path)


@slide
def histogram(values: dict[str, list[float]], xlabel: str, what: str, path: Path, context: str = "") -> Path:
    fig, axes = new_figure(NARROW)
    ax = axes[0][0]
    st = styles(list(values))
    for name, vs in values.items():
        if vs:
            ax.hist(vs, bins=30, alpha=0.5, label=st[name].label, color=st[name].colour,
                    histtype="step" if st[name].dashed else "bar", linestyle=st[name].line)
    ax.set_xlabel(xlabel)
    ax.set_ylabel("tokens (count, log scale)")
    ax.set_yscale("log")
    title(fig, what, context)
    legend_outside(ax)
    return _save(fig, path)


@slide
def study_ti(per_seed: dict[int, dict[str, dict[str, float]]], rl: str | None, sft: str | None, out: Path,
             context: str, ci: float = 0.95) -> list[Path]:
    """out/ti_by_seed.png: each arm's TI (other reasoning, non-reasoning) in every seed, with no error bar per seed
    (a run's TI has its own bootstrap interval in its report), and the mean with its t-interval over seeds (level
    `ci`: the study's criteria.ci) where >= 2 seeds have a finite TI. Inconclusive seeds are hollow; undefined
    ones (NaN) are named on the axis."""
    seeds = sorted(per_seed)
    present = sorted({a for s in seeds for a in per_seed[s]})
    arms = [a for a in (rl, sft) if a in present] + [a for a in present if a not in (rl, sft)]
    st = styles(arms)
    fig, axes = new_figure((max(WIDE[0], 3.2 * len(arms) + 4), WIDE[1] + 0.8), ncols=2)
    clipped = hollow = False
    for ax, key, what in zip(axes[0], ("TI_other", "TI_non"), ("other reasoning", "non-reasoning")):
        vals = {a: [per_seed[s].get(a, {}).get(key, math.nan) for s in seeds] for a in arms}
        ylim = _ti_axis(ax, "y", [v for vs in vals.values() for v in vs])
        ax.axhline(0, color="k", lw=0.8)
        ticks = []
        for i, a in enumerate(arms):
            for k, (s, v) in enumerate(zip(seeds, vals[a])):
                if not math.isfinite(v):
                    continue
                weak = not per_seed[s].get(a, {}).get("ti_conclusive", 0)
                hollow |= weak
                x = i - 0.25 + 0.5 * (k + 0.5) / len(seeds)  # the axis follows the seeds' values: none clipped
                ax.plot([x], [v], "o", ms=8, color=st[a].colour, mfc="none" if weak else st[a].colour, label="_seed")
            mean = mean_ci(vals[a], ci)
            if finite(*mean):
                err, *ends = clip(mean[0], mean[1], mean[2], ylim)
                ax.errorbar([i + 0.33], [mean[0]], yerr=None if err is None else [[err[0]], [err[1]]], fmt="D",
                            ms=8, capsize=5, color=INTERVAL_COLOUR, mfc=st[a].colour, label="_mean")
                clipped |= _mark_clipped(ax, i + 0.33, mean[0], INTERVAL_COLOUR, "y", tuple(ends), ylim)
            bad = [str(s) for s, v in zip(seeds, vals[a]) if not math.isfinite(v)]
            ticks.append(st[a].label + (f"\nundefined: seed {', '.join(bad)}" if bad else ""))
        ax.set_xticks(range(len(arms)))
        ax.set_xticklabels(ticks)
        ax.set_xlim(-0.6, len(arms) - 0.4)
        ax.set_xlabel("arm (points: seeds, left to right)")
        ax.set_ylabel(f"TI {what} (%)")
    handles = [Line2D([], [], marker="o", ls="none", color="#444444", label="one seed (conclusive TI)")]
    handles += [h for h, flag in ((HOLLOW, hollow),) if flag]
    handles.append(Line2D([], [], marker="D", color=INTERVAL_COLOUR, mfc="#bbbbbb",
                          label=f"mean, {100 * ci:g}% t-interval over seeds"))
    handles += [h for h, flag in ((CLIPPED, clipped),) if flag]
    title(fig, f"Transferability Index by seed (seeds {', '.join(map(str, seeds))})", context)
    legend_outside(axes[0][-1], handles, [h.get_label() for h in handles])
    out = Path(out)
    return [_save(fig, out / "ti_by_seed.png")]
