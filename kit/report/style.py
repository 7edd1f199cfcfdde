"""One slide-ready style for every plot of the kit (report and study): fonts, sizes, colours, legends, titles, saving.

An arm has one colour everywhere (its registration in kit.registry.ARMS); what is not a trained arm is grey: the
base (solid), random-LoRA controls and compared models (grey shades, dashed); a registered control arm keeps
its registered colour, dashed. Legends sit right of the axes, so they never hide data or run off the figure.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, TypeVar

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

DPI = 200
RC = {"font.size": 12, "axes.titlesize": 13, "axes.labelsize": 12, "xtick.labelsize": 10, "ytick.labelsize": 10,
      "legend.fontsize": 10, "figure.titlesize": 14, "lines.linewidth": 2.0, "lines.markersize": 6,
      "axes.spines.top": False, "axes.spines.right": False, "svg.fonttype": "none"}
WIDE, NARROW, SQUARE = (10.0, 4.5), (8.0, 4.5), (7.5, 5.5)
BASE_COLOUR = "#7f7f7f"
# shades for what is not a registered arm (random-LoRA controls, compare: models), with a dash pattern each
GREYS = ("#4d4d4d", "#a6a6a6", "#333333", "#bdbdbd", "#666666", "#999999")
DASHES = ("--", ":", "-.", (0, (5, 1, 1, 1)), (0, (1, 2)), (0, (8, 2)))
INTERVAL_COLOUR = "#222222"

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True)
class Style:
    colour: str
    label: str
    dashed: bool
    linestyle: Any = "-"

    @property
    def line(self) -> Any:
        """Matplotlib linestyle: the style's dash pattern when dashed."""
        return (self.linestyle if self.linestyle != "-" else "--") if self.dashed else "-"


def styles(names: list[str]) -> dict[str, Style]:
    """Colour, label and line style of each plotted name, from the arm registry (kit.registry.ARMS).

    A name is an arm or "base", optionally followed by a space and a qualifier ("sft (math500)", "grpo s0",
    "sft random-LoRA"): the first word picks the arm, the qualifier is kept in the label. The base is grey;
    a registered arm has its colour (dashed when its role is "control"); a random-LoRA control and a model no
    arm has (a compare: model) get a grey shade and a dash pattern of their own."""
    from kit.registry import ARMS

    out: dict[str, Style] = {}
    greys: dict[str, int] = {}  # first word (or control name) -> its grey/dash slot
    for name in names:
        head = name.split(" ")[0]
        rest = name[len(head):]
        arm = ARMS.get(head) if head != "base" and head in ARMS else None
        if "random-LoRA" in rest or (arm is None and head != "base"):
            key = name if "random-LoRA" in rest else head
            slot = greys.setdefault(key, len(greys))
            label = (arm.label + rest) if arm is not None else name
            out[name] = Style(GREYS[slot % len(GREYS)], label, True, DASHES[slot % len(DASHES)])
        elif head == "base":
            out[name] = Style(BASE_COLOUR, name, False)
        else:
            out[name] = Style(arm.colour, arm.label + rest, arm.dashed, "--" if arm.dashed else "-")
    return out


def context_of(recipe: dict[str, Any], run_dir: Path | str | None = None) -> str:
    """"run · model · seed N", the line every figure's title carries (from the run's resolved recipe)."""
    run = recipe.get("run_name") or (Path(run_dir).name if run_dir else None) or recipe.get("name", "run")
    model = (recipe.get("model") or {}).get("id", "?")
    return f"{run} · {model} · seed {recipe.get('seed', '?')}"


def slide(fn: F) -> F:
    """Run a plotting function under the shared rc settings (fonts and lines at slide size)."""
    @functools.wraps(fn)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with plt.rc_context(RC):
            return fn(*args, **kwargs)
    return wrapped  # type: ignore[return-value]


def new_figure(size: tuple[float, float], ncols: int = 1, **kw: Any):
    """A figure whose layout makes room for titles and outside legends (constrained layout)."""
    return plt.subplots(1, ncols, figsize=size, layout="constrained", squeeze=False, **kw)


def title(fig, what: str, context: str) -> None:
    """Figure title: what it shows, then the run · model · seed line."""
    fig.suptitle(f"{what}\n{context}" if context else what)


def legend_outside(ax, handles: list | None = None, labels: list[str] | None = None, **kw: Any):
    """Legend right of the axes (clear of the data; constrained layout keeps it in the figure), two columns when
    long; None when there is nothing to show (no "no artists" warning)."""
    if handles is None:
        handles, labels = ax.get_legend_handles_labels()
    if not handles:
        return None
    return ax.legend(handles, labels, loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0,
                     frameon=False, ncol=1 if len(handles) <= 14 else 2, **kw)


def save(fig, path: Path) -> Path:
    """PNG at DPI (the path the report links) and an SVG of the same stem; the figure is closed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # no date in the files: a rerun that draws the same figure writes the same bytes (committed examples diff cleanly)
    fig.savefig(path, dpi=DPI, bbox_inches="tight", metadata={"Software": None})
    fig.savefig(path.with_suffix(".svg"), bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    return path


def interval(v: float, lo: float, hi: float) -> tuple[float, float] | None:
    """(below, above) error-bar lengths of a real interval; None when it is missing or has no width."""
    if not all(isinstance(x, (int, float)) and math.isfinite(x) for x in (v, lo, hi)) or hi - lo <= 1e-12:
        return None
    return max(0.0, v - lo), max(0.0, hi - v)


def ti_limits(estimates: list[float]) -> tuple[float, float, bool]:
    """Axis limits (lo, hi) set by the TI estimates (not their intervals, which can span ±2,000 %), and whether
    the axis should be symlog (estimates over more than a decade)."""
    vals = [v for v in estimates if math.isfinite(v)] or [0.0]
    top = max(abs(v) for v in vals)
    small = min((abs(v) for v in vals if abs(v) > 1e-9), default=top)
    lim = max(10.0, 1.35 * top)
    return -lim if min(vals) < 0 or top == 0 else -0.15 * lim, lim if max(vals) > 0 or top == 0 else 0.15 * lim, \
        top > 10 * max(small, 1.0)


def clip(v: float, lo: float, hi: float, lim: tuple[float, float]) -> tuple[tuple[float, float] | None, bool, bool]:
    """Error-bar lengths of [lo, hi] clipped to the axis limits, and whether the low/high end was clipped."""
    bar = interval(v, lo, hi)
    if bar is None:
        return None, False, False
    c_lo, c_hi = max(lo, lim[0]), min(hi, lim[1])
    return (max(0.0, v - c_lo), max(0.0, c_hi - v)), lo < lim[0], hi > lim[1]
