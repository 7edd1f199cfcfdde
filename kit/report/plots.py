"""Plots for the report (matplotlib, Agg backend). Each function takes plain data and writes one PNG."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

COLORS = {"base": "#7f7f7f", "sft": "#d62728", "grpo": "#1f77b4", "onpolicy_sft": "#2ca02c"}
GROUP_LABEL = {"math": "math", "other": "other reasoning", "non": "non-reasoning"}


def _color(name: str, i: int) -> str:
    return COLORS.get(name, f"C{i + 3}")


def _save(fig, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def benchmark_bars(scores: dict[str, dict[str, tuple[float, float, float]]], order: list[str],
                   groups: dict[str, str], path: Path) -> Path:
    """scores[model][bench] = (value, lo, hi) in %; one bar group per benchmark, CI as error bars."""
    models = list(scores)
    fig, ax = plt.subplots(figsize=(max(6, 0.9 * len(order) + 2), 4))
    width = 0.8 / max(1, len(models))
    for i, m in enumerate(models):
        xs, ys, err = [], [], [[], []]
        for j, b in enumerate(order):
            v, lo, hi = scores[m].get(b, (float("nan"),) * 3)
            xs.append(j + (i - (len(models) - 1) / 2) * width)
            ys.append(v)
            err[0].append(max(0.0, v - lo) if lo == lo else 0)
            err[1].append(max(0.0, hi - v) if hi == hi else 0)
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=m, color=_color(m, i))
    ax.set_xticks(range(len(order)))
    ax.set_xticklabels([f"{b}\n({GROUP_LABEL.get(groups.get(b, ''), '')})" for b in order], rotation=45,
                       ha="right", fontsize=7)
    ax.set_ylabel("score (%)")
    ax.set_ylim(0, 100)
    ax.set_title("Per-benchmark scores (primary column, 95% CI)")
    ax.legend(fontsize=8)
    return _save(fig, path)


def ti_scatter(points: dict[str, dict[str, Any]], path: Path) -> Path:
    """points[arm] = {TI_other, TI_non, TI_other_ci, TI_non_ci}; like the paper's Figure 2."""
    fig, ax = plt.subplots(figsize=(5, 4.5))
    ax.axhline(0, color="k", lw=0.8)
    ax.axvline(0, color="k", lw=0.8)
    for i, (arm, p) in enumerate(points.items()):
        x, y = p["TI_other"], p["TI_non"]
        if x != x or y != y:
            continue
        xe = [[max(0, x - p["TI_other_ci"][0])], [max(0, p["TI_other_ci"][1] - x)]]
        ye = [[max(0, y - p["TI_non_ci"][0])], [max(0, p["TI_non_ci"][1] - y)]]
        ax.errorbar([x], [y], xerr=xe, yerr=ye, fmt="o", capsize=3, color=_color(arm, i), label=arm)
    ax.set_xlabel("TI other reasoning (%)")
    ax.set_ylabel("TI non-reasoning (%)")
    ax.set_title("Transferability Index v2 (95% CI)")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    else:
        ax.text(0.5, 0.5, "TI undefined for every arm\n(no math gain)", ha="center", va="center",
                transform=ax.transAxes, color="gray")
    return _save(fig, path)


def training_curves(logs: dict[str, list[dict[str, Any]]], path: Path) -> Path:
    """Loss of every arm; reward and completion length of RL arms."""
    keys = [("loss", "loss"), ("reward", "mean reward"), ("completions/mean_length", "completion length")]
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.3))
    for ax, (key, label) in zip(axes, keys):
        for i, (arm, rows) in enumerate(logs.items()):
            pts = [(r["step"], r[key]) for r in rows if key in r and isinstance(r[key], (int, float))]
            if pts:
                ax.plot(*zip(*pts), marker=".", label=arm, color=_color(arm, i))
        ax.set_title(label)
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(fontsize=8)
    return _save(fig, path)


def per_layer(series: dict[str, list[float]], ylabel: str, title: str, path: Path,
              bands: dict[str, tuple[list[float], list[float]]] | None = None) -> Path:
    """One line per arm over layers (PCA shift, probe accuracy, CKA), with optional CI bands."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, (name, ys) in enumerate(series.items()):
        ax.plot(range(len(ys)), ys, marker=".", label=name, color=_color(name.split(" ")[0], i))
        if bands and name in bands:
            lo, hi = bands[name]
            ax.fill_between(range(len(ys)), lo, hi, alpha=0.2, color=_color(name.split(" ")[0], i))
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, path)


def histogram(values: dict[str, list[float]], xlabel: str, title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    for i, (name, vs) in enumerate(values.items()):
        if vs:
            ax.hist(vs, bins=30, alpha=0.5, label=name, color=_color(name, i))
    ax.set_xlabel(xlabel)
    ax.set_ylabel("tokens")
    ax.set_yscale("log")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, path)
