"""Plots for the report (matplotlib, Agg backend). Each function takes plain data and writes one PNG."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

BASE_COLOUR = "#7f7f7f"
GROUP_LABEL = {"math": "math", "other": "other reasoning", "non": "non-reasoning"}
# colours cycled over models the arm registry does not know (`compare:` references, audited full models)
CYCLE = ("#ff7f0e", "#8c564b", "#e377c2", "#bcbd22", "#17becf", "#9467bd", "#2ca02c", "#1f77b4", "#d62728")


@dataclass(frozen=True)
class Style:
    colour: str
    label: str
    dashed: bool


def styles(names: list[str]) -> dict[str, Style]:
    """Colour, legend label and line style of each plotted name, from the arm registry (kit.registry.ARMS).

    A name is an arm or "base", optionally followed by a space and a qualifier ("sft (math500)", "grpo s0",
    "sft random-LoRA"): the first word picks the arm, the qualifier is kept in the label. Controls (role
    "control") and random-LoRA baselines are dashed; the base is grey; names no arm has (compare: models) get
    colours cycled from CYCLE, skipping those the plotted arms use."""
    from kit.registry import ARMS

    def arm_of(name: str):
        head = name.split(" ")[0]
        return head, (ARMS.get(head) if head != "base" and head in ARMS else None)

    taken = {BASE_COLOUR} | {a.colour.lower() for n in names if (a := arm_of(n)[1])}
    free = [c for c in CYCLE if c.lower() not in taken] or list(CYCLE)
    out: dict[str, Style] = {}
    unknown: dict[str, str] = {}  # first word -> its cycled colour (one colour per model across qualifiers)
    for name in names:
        head, arm = arm_of(name)
        rest = name[len(head):]
        control = "random-LoRA" in rest
        if head == "base":
            out[name] = Style(BASE_COLOUR, name, control)
        elif arm is not None:
            out[name] = Style(arm.colour, arm.label + rest, arm.dashed or control)
        else:
            colour = unknown.setdefault(head, free[len(unknown) % len(free)])
            out[name] = Style(colour, name, control)
    return out


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
    st = styles(models)
    for i, m in enumerate(models):
        xs, ys, err = [], [], [[], []]
        for j, b in enumerate(order):
            v, lo, hi = scores[m].get(b, (float("nan"),) * 3)
            xs.append(j + (i - (len(models) - 1) / 2) * width)
            ys.append(v)
            err[0].append(max(0.0, v - lo) if lo == lo else 0)
            err[1].append(max(0.0, hi - v) if hi == hi else 0)
        ax.bar(xs, ys, width, yerr=err, capsize=2, label=st[m].label, color=st[m].colour,
               hatch="//" if st[m].dashed else None, edgecolor="white" if st[m].dashed else None)
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
    st = styles(list(points))
    for arm, p in points.items():
        x, y = p["TI_other"], p["TI_non"]
        if x != x or y != y:
            continue
        xe = [[max(0, x - p["TI_other_ci"][0])], [max(0, p["TI_other_ci"][1] - x)]]
        ye = [[max(0, y - p["TI_non_ci"][0])], [max(0, p["TI_non_ci"][1] - y)]]
        bars = ax.errorbar([x], [y], xerr=xe, yerr=ye, fmt="o", capsize=3, color=st[arm].colour, label=st[arm].label,
                           mfc="none" if st[arm].dashed else st[arm].colour)
        if st[arm].dashed:
            for line in bars.lines[2]:
                line.set_linestyle("--")
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
    st = styles(list(logs))
    for ax, (key, label) in zip(axes, keys):
        for arm, rows in logs.items():
            pts = [(r["step"], r[key]) for r in rows if key in r and isinstance(r[key], (int, float))]
            if pts:
                ax.plot(*zip(*pts), marker=".", label=st[arm].label, color=st[arm].colour,
                        linestyle="--" if st[arm].dashed else "-")
        ax.set_title(label)
        ax.set_xlabel("step")
        if ax.lines:
            ax.legend(fontsize=8)
    return _save(fig, path)


def per_layer(series: dict[str, list[float]], ylabel: str, title: str, path: Path,
              bands: dict[str, tuple[list[float], list[float]]] | None = None) -> Path:
    """One line per arm over layers (PCA shift, probe accuracy, CKA), with optional CI bands."""
    fig, ax = plt.subplots(figsize=(6, 3.5))
    st = styles(list(series))
    for name, ys in series.items():
        ax.plot(range(len(ys)), ys, marker=".", label=st[name].label, color=st[name].colour,
                linestyle="--" if st[name].dashed else "-")
        if bands and name in bands:
            lo, hi = bands[name]
            ax.fill_between(range(len(ys)), lo, hi, alpha=0.2, color=st[name].colour)
    ax.set_xlabel("layer (0 = embeddings)")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, path)


def histogram(values: dict[str, list[float]], xlabel: str, title: str, path: Path) -> Path:
    fig, ax = plt.subplots(figsize=(6, 3.5))
    st = styles(list(values))
    for name, vs in values.items():
        if vs:
            ax.hist(vs, bins=30, alpha=0.5, label=st[name].label, color=st[name].colour,
                    histtype="step" if st[name].dashed else "bar", linestyle="--" if st[name].dashed else "-")
    ax.set_xlabel(xlabel)
    ax.set_ylabel("tokens")
    ax.set_yscale("log")
    ax.set_title(title)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize=8)
    return _save(fig, path)
