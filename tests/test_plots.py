"""Every report and study plot is slide-ready: titled with run/model/seed, labelled axes, legends outside the data
and inside the figure, one colour per arm in every figure, grey/dashed controls, real intervals only, TI readable
when its interval is ±2,000 %, PNG at >= 200 dpi with an SVG beside it. Checked on matplotlib objects, not pixels."""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

import pytest
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_hex, to_rgba
from matplotlib.container import BarContainer, ErrorbarContainer
from PIL import Image

from kit.registry import ARMS
from kit.report import plots
from kit.report.figures import make_figures, train_log

CONTEXT = ("toy-seed0", "toy-qwen3", "seed 0")
STUDY_CONTEXT = ("toy study (confirmatory)", "toy-qwen3")  # as kit.study writes it: the title adds the seeds
BENCHES = {"m1": "math", "m2": "math", "o1": "other", "o2": "other", "n1": "non", "n2": "non", "n3": "non",
           "n4": "non"}
ARMS_RUN = ["sft", "grpo", "onpolicy_sft", "sft_matched_lr"]
COMPARE = "Qwen/Qwen3-8B"
TI = {"sft": (-566.0, [-4401.0, 2806.0], 3.0, [-2000.0, 2000.0], True),  # (other, ci, non, ci, inconclusive)
      "grpo": (35.0, [10.0, 60.0], 12.0, [-5.0, 30.0], False),
      "onpolicy_sft": (60.0, [60.0, 60.0], -20.0, [-40.0, 2.0], False),  # a zero-width interval: drawn as none
      "sft_matched_lr": (math.nan, [math.nan] * 2, math.nan, [math.nan] * 2, True)}


def _scores() -> tuple[dict, dict]:
    scores, analysis = {}, {}
    for k, m in enumerate(["base", *ARMS_RUN, COMPARE]):
        scores[m] = {b: {"group": g, "primary": "p", "paper_column": "p", "scores": {"p": (20 + 5 * k + j) / 100},
                         "truncation_rate": 0.0} for j, (b, g) in enumerate(BENCHES.items())}
    for m in [*ARMS_RUN, COMPARE]:
        benches = {b: {"model_ci": [10.0, 50.0] if b != "n4" else [30.0, 30.0], "base_ci": [5.0, 40.0]}
                   for b in BENCHES}
        other, oci, non, nci, weak = TI.get(m, TI["grpo"])
        analysis[m] = {"benchmarks": benches, "inconclusive": weak,
                       "ti_v2": {"TI_other": other, "TI_other_ci": oci, "TI_non": non, "TI_non_ci": nci}}
    return scores, analysis


def _probe() -> dict:
    layers = 4
    arms = {}
    for i, a in enumerate(["sft", "grpo", "onpolicy_sft"]):
        same = {"base_acc": [1.0] * layers, "arm_acc": [1.0] * layers, "drop": [0.0] * layers, "chance": 0.4}
        arms[a] = {"pca": {b: {"faithful": {"shift": [0.1 * (i + 1) * (L + j) for L in range(layers)]}}
                           for j, b in enumerate(BENCHES)},
                   "probe": same, "cka": {"cka": [1.0 - 0.01 * (i + 1) * L for L in range(layers)]},
                   "control": {"cka": {"cka": [1.0 - 0.001 * L for L in range(layers)]}, "probe": same},
                   "tokens": {"m1": {"rank_shift_values": [0, 1, -2, 3, 0, 5]}}}
    return {"arms": arms}


def _logs(run_dir: Path) -> None:
    def write(path: Path, rows: list[dict]) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))

    write(run_dir / "arms/sft/train_log.jsonl", [{"step": s, "loss": 2.0 / s} for s in range(1, 6)])
    write(run_dir / "arms/sft_matched_lr/train_log.jsonl", [{"step": s, "loss": 2.5 / s} for s in range(1, 6)])
    write(run_dir / "arms/grpo/train_log.jsonl", [{"step": s, "loss": 0.01 * s, "reward": 0.1 * s,
                                                   "completions/mean_length": 40 + s} for s in range(1, 6)])
    for r in (0, 1):  # the on-policy SFT arm logs per sampling round; round 2 accepted nothing (no log)
        write(run_dir / f"arms/onpolicy_sft/round-{r}/train_log.jsonl",
              [{"step": s, "loss": 1.0 / (s + r)} for s in (1, 2, 3)])
    (run_dir / "arms/onpolicy_sft/round-2").mkdir()


PER_SEED = {s: {"grpo": {"TI_other": [40.0, 55.0, math.nan, 30.0, 2000.0][s], "TI_non": 10.0 + s,
                         "ti_conclusive": float(s != 3), "math_gain": 12.0},
                "sft": {"TI_other": -10.0 - 3 * s, "TI_non": [-30.0, -1500.0, -12.0, -8.0, -20.0][s],
                        "ti_conclusive": 0.0, "math_gain": 11.0}} for s in range(5)}


@pytest.fixture(scope="module")
def drawn(tmp_path_factory) -> dict:
    """Render every plot once: file name -> figure, the paths made, and the warnings raised meanwhile."""
    run_dir = tmp_path_factory.mktemp("plots") / "toy-seed0"
    _logs(run_dir)
    scores, analysis = _scores()
    recipe = {"name": "toy", "run_name": "toy-seed0", "seed": 0, "model": {"id": "toy-qwen3"}, "arms": ARMS_RUN,
              "report": {"ci": 0.9}}  # the run's bootstrap level, named in the titles
    figs: dict[str, object] = {}
    save = plots._save

    def keep(fig, path):
        figs[Path(path).name] = fig
        return save(fig, path)

    mp = pytest.MonkeyPatch()
    mp.setattr(plots, "_save", keep)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            made = [p for _, p in make_figures(run_dir, recipe, scores, analysis, _probe())]
            made += plots.study_ti(PER_SEED, "grpo", "sft", run_dir / "study", " · ".join(STUDY_CONTEXT), 0.8)
            for fig in figs.values():  # a closed figure has a bare canvas: lay it out again as saved
                FigureCanvasAgg(fig).draw()
    finally:
        mp.undo()
    return {"figs": figs, "made": made, "warnings": [str(w.message) for w in caught]}


def _axes(fig) -> list:
    return [ax for ax in fig.axes if ax.get_visible()]


def _legends(fig) -> list:
    return [leg for leg in [*fig.legends, *(ax.get_legend() for ax in fig.axes)] if leg is not None]


def test_every_plot_is_made_as_png_at_200_dpi_with_an_svg(drawn):
    names = {p.name for p in drawn["made"]}
    assert names == {"benchmarks.png", "ti_scatter.png", "training.png", "pca_shift.png", "probe.png", "cka.png",
                     "token_rank_shift.png", "ti_by_seed.png"}
    for p in drawn["made"]:
        assert min(Image.open(p).info["dpi"]) >= 199.5, p.name
        assert p.with_suffix(".svg").read_text().lstrip().startswith("<?xml"), p.name


def test_titles_name_run_model_and_seed_and_every_axis_is_labelled(drawn):
    for name, fig in drawn["figs"].items():
        title = fig._suptitle.get_text() if fig._suptitle else ""
        # the study's plot names its seeds itself (its context has none); a run's names its seed
        parts = (*STUDY_CONTEXT, "seeds 0, 1, 2, 3, 4") if name == "ti_by_seed.png" else CONTEXT
        assert all(part in title for part in parts), (name, title)
        for ax in _axes(fig):
            assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), name
    units = {name: [ax.get_ylabel() for ax in _axes(fig)] for name, fig in drawn["figs"].items()}
    assert "score (%)" in units["benchmarks.png"] and "probe accuracy (%)" in units["probe.png"]
    assert set(units["training.png"]) == {"training loss (nats/token)", "mean reward (0 to 1)",
                                          "completion length (tokens)"}


def test_legends_lie_outside_the_data_and_inside_the_figure_without_warnings(drawn):
    assert not [w for w in drawn["warnings"] if "legend" in w.lower() or "layout" in w.lower()], drawn["warnings"]
    for name, fig in drawn["figs"].items():
        legends = _legends(fig)
        assert legends, name
        renderer = fig.canvas.get_renderer()
        for leg in legends:
            box = leg.get_window_extent(renderer)
            assert not any(box.overlaps(ax.bbox) for ax in _axes(fig)), name
            fb = fig.bbox
            assert fb.x0 - 1 <= box.x0 and box.x1 <= fb.x1 + 1 and fb.y0 - 1 <= box.y0 and box.y1 <= fb.y1 + 1, name
    # 3 arms x 8 benchmarks: a grouped legend (models, then benchmarks), not 24 products
    (leg,) = _legends(drawn["figs"]["pca_shift.png"])
    texts = [t.get_text() for t in leg.get_texts()]
    assert len(texts) == 2 + 3 + len(BENCHES) and texts[0] == "model:" and "benchmark:" in texts


def _drawn_colours(fig) -> list[tuple[str, str, object]]:
    """(label, hex colour, linestyle) of every labelled line, bar group, error-bar marker and legend handle."""
    out = []
    for ax in fig.axes:
        for line in ax.lines:
            if not line.get_label().startswith("_"):
                out.append((line.get_label(), to_hex(line.get_color()), line.get_linestyle()))
        for c in ax.containers:
            if isinstance(c, BarContainer):
                out += [(c.get_label(), to_hex(p.get_facecolor()), p.get_hatch()) for p in c.patches]
            elif isinstance(c, ErrorbarContainer) and c.lines[0] is not None and not c.get_label().startswith("_"):
                out.append((c.get_label(), to_hex(c.lines[0].get_color()), None))
    for leg in _legends(fig):
        for h, t in zip(leg.legend_handles, leg.get_texts()):
            colour = h.get_color() if hasattr(h, "get_color") else h.get_facecolor()
            out.append((t.get_text(), to_hex(colour), getattr(h, "get_linestyle", lambda: None)()))
    return out


def test_an_arm_has_one_colour_in_every_figure_and_controls_are_grey_or_dashed(drawn):
    by_label: dict[str, set[str]] = {}
    for fig in drawn["figs"].values():
        for label, colour, _ in _drawn_colours(fig):
            by_label.setdefault(label, set()).add(colour)
    for arm in ("sft", "grpo", "onpolicy_sft", "sft_matched_lr"):
        assert by_label[ARMS.get(arm).label] == {to_hex(ARMS.get(arm).colour)}, arm
    assert by_label["base"] == {to_hex(plots.BASE_COLOUR)}

    def grey(hex_colour: str) -> bool:
        r, g, b, _ = to_rgba(hex_colour)
        return abs(r - g) < 0.02 and abs(g - b) < 0.02

    assert all(grey(c) for c in by_label[COMPARE])
    cka = _drawn_colours(drawn["figs"]["cka.png"])
    controls = [(c, ls) for label, c, ls in cka if label.endswith("random-LoRA")]
    assert len(controls) >= 3 and all(grey(c) and ls not in ("-", "solid") for c, ls in controls)
    curves = _drawn_colours(drawn["figs"]["training.png"])
    assert ("SFT at the RL learning rate", to_hex(ARMS.get("sft_matched_lr").colour), "--") in curves
    (compared,) = [c for c in drawn["figs"]["benchmarks.png"].axes[0].containers if c.get_label() == COMPARE]
    assert {p.get_hatch() for p in compared.patches} == {"//"}  # a control's bars are hatched


def test_intervals_are_real_or_absent(drawn):
    for name, fig in drawn["figs"].items():
        for ax in fig.axes:
            for c in ax.containers:
                if not isinstance(c, ErrorbarContainer):
                    continue
                for col in c.lines[2]:
                    for seg in col.get_segments():
                        (x0, y0), (x1, y1) = seg[0], seg[-1]
                        assert math.isfinite(x0 + x1 + y0 + y1) and math.hypot(x1 - x0, y1 - y0) > 0, name
    # the benchmark with a [30, 30] interval gets no bar: 8 benchmarks x 5 models with intervals, less 5 on n4
    ax = drawn["figs"]["benchmarks.png"].axes[0]
    n = sum(len(c.lines[2][0].get_segments()) for c in ax.containers if isinstance(c, ErrorbarContainer))
    assert n == 6 * 8 - 5


def test_ti_axis_follows_the_estimates_clips_wide_intervals_and_marks_inconclusive(drawn):
    fig = drawn["figs"]["ti_scatter.png"]
    ax = fig.axes[0]
    pts = {c.get_label(): c for c in ax.containers if isinstance(c, ErrorbarContainer)}
    assert set(pts) == {ARMS.get(a).label for a in ("sft", "grpo", "onpolicy_sft")} | {COMPARE}  # NaN: noted
    xs = [ax.transAxes.inverted().transform(ax.transData.transform(c.lines[0].get_xydata()[0]))[0]
          for c in pts.values()]
    assert max(xs) - min(xs) > 0.3  # the estimates are spread over the axis, not squashed by ±2,000 %
    lo, hi = ax.get_xlim()
    assert lo > -4401 and hi < 2806
    assert pts["SFT (off-policy)"].lines[0].get_markerfacecolor() == "none"
    assert to_hex(pts["GRPO (on-policy RL)"].lines[0].get_markerfacecolor()) == ARMS.get("grpo").colour
    labels = [t.get_text() for leg in _legends(fig) for t in leg.get_texts()]
    assert "inconclusive (hollow)" in labels and "interval clipped at the axis edge" in labels
    assert any("SFT at the RL learning rate" in t.get_text() for t in ax.texts)


def test_per_layer_plots_have_integer_ticks_and_say_when_every_model_is_equal(drawn):
    for name in ("pca_shift.png", "probe.png", "cka.png"):
        ax = drawn["figs"][name].axes[0]
        lo, hi = ax.get_xlim()
        ticks = [t for t in ax.get_xticks() if lo <= t <= hi]
        assert ticks and all(float(t).is_integer() for t in ticks), (name, ticks)
        assert ax.get_xlabel().startswith("layer index")
    probe = drawn["figs"]["probe.png"].axes[0]
    assert any("at 100 on every layer" in t.get_text() for t in probe.texts)
    assert not any("every layer" in t.get_text() for t in drawn["figs"]["cka.png"].axes[0].texts)


def test_training_curves_include_the_on_policy_sft_rounds(drawn, tmp_path):
    labels = [t.get_text() for leg in _legends(drawn["figs"]["training.png"]) for t in leg.get_texts()]
    assert [ARMS.get(a).label for a in ARMS_RUN] == labels
    _logs(tmp_path)
    rows = train_log(tmp_path, "onpolicy_sft")
    assert [r["step"] for r in rows] == [1, 2, 3, 4, 5, 6] and [r["round"] for r in rows] == [0, 0, 0, 1, 1, 1]
    assert train_log(tmp_path, "grpo")[0]["reward"] == pytest.approx(0.1)


def test_study_ti_draws_seeds_without_error_bars_and_the_mean_with_a_t_interval(drawn):
    fig = drawn["figs"]["ti_by_seed.png"]
    other, non = fig.axes[:2]
    for ax in (other, non):
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == 2  # one mean per arm, none per seed
        seeds = [ln for ln in ax.lines if ln.get_label() == "_seed"]
        assert len(seeds) == 10 - (ax is other)  # grpo's seed 2 is undefined on TI other
        hollow = [ln for ln in seeds if ln.get_markerfacecolor() == "none"]
        assert len(hollow) == 6  # every sft seed, grpo's seed 3
        assert {to_hex(ln.get_color()) for ln in seeds} == {ARMS.get("grpo").colour, ARMS.get("sft").colour}
        # one seed at 2000 % (grpo, other) or -1500 % (sft, non): a symlog axis keeps the other seeds apart
        assert ax.get_yscale() == "symlog"
        ys = {to_hex(ln.get_color()): [] for ln in seeds}
        for ln in seeds:
            y = ln.get_ydata()[0]
            if abs(y) < 100:
                ys[to_hex(ln.get_color())].append(ax.transAxes.inverted().transform(ax.transData.transform((0, y)))[1])
        assert min(ys[ARMS.get("grpo").colour]) - max(ys[ARMS.get("sft").colour]) > 0.15
    ticks = [t.get_text() for t in other.get_xticklabels()]
    assert ticks[0].startswith("GRPO") and "undefined: seed 2" in ticks[0] and "undefined" not in ticks[1]


def test_interval_levels_are_the_settings_not_a_fixed_95(drawn):
    """The run's report.ci (0.9 here) in the run plots' titles, the study's criteria.ci (0.8) in its legend."""
    titles = {n: f._suptitle.get_text() for n, f in drawn["figs"].items()}
    assert "90% paired-bootstrap CI" in titles["benchmarks.png"] and "90% bootstrap CI" in titles["ti_scatter.png"]
    assert not [n for n, t in titles.items() if "95" in t]
    labels = [t.get_text() for leg in _legends(drawn["figs"]["ti_by_seed.png"]) for t in leg.get_texts()]
    assert "mean, 80% t-interval over seeds" in labels


def test_figures_a_rebuild_does_not_redraw_are_removed_and_nothing_else(tmp_path):
    """cka.png from a report built with the probe on must not stay (looking current) after a rebuild without it."""
    run_dir = tmp_path / "toy-seed0"
    _logs(run_dir)
    scores, analysis = _scores()
    recipe = {"name": "toy", "run_name": "toy-seed0", "seed": 0, "model": {"id": "toy-qwen3"}, "arms": ARMS_RUN}
    pdir = run_dir / "plots"
    pdir.mkdir()
    for name in ("cka.png", "cka.svg", "probe.png", "token_rank_shift.svg", "my-notes.png", "cka.pdf"):
        (pdir / name).write_text("old")
    made = {p.name for _, p in make_figures(run_dir, recipe, scores, analysis, None, context="x")}
    assert made == {"benchmarks.png", "ti_scatter.png", "training.png"}
    left = {p.name for p in pdir.iterdir()}
    assert left == {f"{p[:-4]}{ext}" for p in made for ext in (".png", ".svg")} | {"my-notes.png", "cka.pdf"}
