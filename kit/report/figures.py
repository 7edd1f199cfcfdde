"""The report's per-run figures, made from a run folder's artefacts in one place (build.py only links them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from kit.groups import GROUPS
from kit.report import plots
from kit.report.style import context_of
from kit.runlog import read_log


# every figure file this module writes (stems; each as .png and .svg): a report rebuilt without one of them (the probe
# switched off, no training logs) removes the old file rather than leave it looking current
FIGURES = ("benchmarks", "ti_scatter", "training", "pca_shift", "probe", "cka", "token_rank_shift")


def make_figures(run_dir: Path, recipe: dict[str, Any], scores: dict[str, Any], analysis: dict[str, Any],
                 probe: dict[str, Any] | None, context: str | None = None) -> list[tuple[str, Path]]:
    """Draw every per-run plot into run_dir/plots; (section title, PNG path) of each, in report order."""
    pdir = Path(run_dir) / "plots"
    ctx = context if context is not None else context_of(recipe, run_dir)
    level = float(recipe.get("report", {}).get("ci", 0.95))  # the level of the run's bootstrap intervals
    jobs = _jobs(Path(run_dir), recipe, scores, analysis, probe, pdir, ctx, level)
    _remove_stale(pdir, {stem for _, stem, _ in jobs})
    return [(what, draw(pdir / f"{stem}.png")) for what, stem, draw in jobs]


def _remove_stale(pdir: Path, drawn: set[str]) -> None:
    """Remove the figure files this module writes that this build will not redraw; nothing else in plots/."""
    for stem in FIGURES:
        if stem not in drawn:
            for suffix in (".png", ".svg"):
                (pdir / f"{stem}{suffix}").unlink(missing_ok=True)


Job = tuple[str, str, Callable[[Path], Path]]  # (section title, file stem, draw it to this path)


def _jobs(run_dir: Path, recipe: dict[str, Any], scores: dict[str, Any], analysis: dict[str, Any],
          probe: dict[str, Any] | None, pdir: Path, ctx: str, level: float) -> list[Job]:
    """The figures this run's artefacts support, in report order, not yet drawn."""
    groups = {b: v["group"] for b, v in scores["base"].items()}
    order = sorted(groups, key=lambda b: (GROUPS.index(groups[b]), b))
    bar_data: dict[str, dict[str, tuple[float, float, float]]] = {}
    for m in scores:
        bar_data[m] = {}
        for b in order:
            info = scores[m][b]
            v = 100 * info["scores"].get(info["primary"], float("nan"))
            src = analysis.get(m if m != "base" else next(iter(analysis), ""), {}).get("benchmarks", {}).get(b, {})
            lo, hi = src.get("model_ci" if m != "base" else "base_ci", [float("nan")] * 2)
            bar_data[m][b] = (v, lo, hi)
    jobs: list[Job] = [("Per-benchmark scores", "benchmarks", lambda path: plots.benchmark_bars(
        bar_data, order, groups, path, context=ctx, ci=level))]
    if analysis:
        ti = {a: {**r["ti_v2"], "inconclusive": bool(r.get("inconclusive", r["ti_v2"].get("inconclusive")))}
              for a, r in analysis.items()}
        jobs.append(("Transferability Index", "ti_scatter", lambda path: plots.ti_scatter(ti, path, context=ctx,
                                                                                           ci=level)))
    logs = {arm: train_log(run_dir, arm) for arm in recipe["arms"]}
    if any(logs.values()):
        jobs.append(("Training curves", "training", lambda path: plots.training_curves(
            {a: v for a, v in logs.items() if v}, path, context=ctx)))
    if probe:
        jobs += _latent_figures(probe["arms"], ctx)
    return jobs


def train_log(run_dir: Path, arm: str) -> list[dict[str, Any]]:
    """An arm's training-log rows. The on-policy SFT arm trains once per sampling round, each round with its own
    log (arms/<arm>/round-<i>/train_log.jsonl, steps from 1): its rounds are joined, steps counted on."""
    adir = run_dir / "arms" / arm
    rows = read_log(adir / "train_log.jsonl")
    if rows:
        return rows
    rounds = sorted(adir.glob("round-*/train_log.jsonl"), key=lambda p: int(p.parent.name.split("-")[-1]))
    offset = 0
    for log in rounds:
        part = read_log(log)
        rows += [{**r, "step": r["step"] + offset, "round": int(log.parent.name.split("-")[-1])} for r in part]
        offset = rows[-1]["step"] if rows else offset
    return rows


def _latent_figures(arms: dict[str, Any], ctx: str) -> list[Job]:
    """PCA shift, probe accuracy, CKA (random-LoRA controls beside their arms) and the token rank shift."""
    jobs: list[Job] = []
    pca = {a: {b: v["faithful"]["shift"] for b, v in r.get("pca", {}).items()} for a, r in arms.items()}
    if any(pca.values()):
        jobs.append(("PCA shift of PC1 per layer (faithful)", "pca_shift", lambda path: plots.pca_shift(
            {a: v for a, v in pca.items() if v}, "mean PC1 shift (base PC units)", path, context=ctx)))
    first = next(iter(arms.values()), {}).get("probe")
    if first:
        acc = {"base": first["base_acc"], **{a: r["probe"]["arm_acc"] for a, r in arms.items() if r.get("probe")}}
        acc.update({f"{a} random-LoRA": r["control"]["probe"]["arm_acc"] for a, r in arms.items()
                    if r.get("control", {}).get("probe")})
        chance = first.get("chance")
        jobs.append(("Linear probe accuracy per layer", "probe", lambda path: plots.per_layer(
            {k: [100 * v for v in vs] for k, vs in acc.items()}, "probe accuracy (%)",
            "Base-trained linear probe applied to each model", path, context=ctx,
            reference=(100 * float(chance), "chance") if chance is not None else None)))
    cka = {a: r["cka"]["cka"] for a, r in arms.items() if r.get("cka")}
    cka.update({f"{a} random-LoRA": r["control"]["cka"]["cka"] for a, r in arms.items()
                if r.get("control", {}).get("cka")})
    if cka:
        jobs.append(("Linear CKA to the base per layer", "cka", lambda path: plots.per_layer(
            cka, "linear CKA to the base (1 = same)", "Linear CKA(base, model) per layer", path, context=ctx)))
    ranks = {a: [x for t in r.get("tokens", {}).values() for x in t.get("rank_shift_values", [])]
             for a, r in arms.items()}
    if any(ranks.values()):
        jobs.append(("Token rank shift", "token_rank_shift", lambda path: plots.histogram(
            ranks, "rank shift of the generated token (base rank - arm rank, positions)",
            "Token rank shift on each arm's own generations", path, context=ctx)))
    return jobs
