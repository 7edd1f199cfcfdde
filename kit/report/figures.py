"""The report's per-run figures, made from a run folder's artefacts in one place (build.py only links them)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kit.groups import GROUPS
from kit.report import plots
from kit.runlog import read_log


def make_figures(run_dir: Path, recipe: dict[str, Any], scores: dict[str, Any], analysis: dict[str, Any],
                 probe: dict[str, Any] | None, context: str | None = None) -> list[tuple[str, Path]]:
    """Draw every per-run plot into run_dir/plots; (section title, PNG path) of each, in report order."""
    pdir = Path(run_dir) / "plots"
    made: list[tuple[str, Path]] = []
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
    made.append(("Per-benchmark scores", plots.benchmark_bars(bar_data, order, groups, pdir / "benchmarks.png")))
    if analysis:
        made.append(("Transferability Index", plots.ti_scatter({a: r["ti_v2"] for a, r in analysis.items()},
                                                               pdir / "ti_scatter.png")))
    logs = {arm: read_log(Path(run_dir) / "arms" / arm / "train_log.jsonl") for arm in recipe["arms"]}
    if any(logs.values()):
        made.append(("Training curves", plots.training_curves(logs, pdir / "training.png")))
    if probe:
        arms = probe["arms"]
        pca = {f"{a} ({b})": v["faithful"]["shift"] for a, r in arms.items() for b, v in r.get("pca", {}).items()}
        if pca:
            made.append(("PCA shift of PC1 per layer (faithful)",
                         plots.per_layer(pca, "mean PC1 shift", "PCA shift per layer", pdir / "pca_shift.png")))
        acc = {f"{a}": r["probe"]["arm_acc"] for a, r in arms.items() if r.get("probe")}
        if arms and next(iter(arms.values())).get("probe"):
            acc = {"base": next(iter(arms.values()))["probe"]["base_acc"], **acc}
            made.append(("Linear probe accuracy per layer",
                         plots.per_layer(acc, "accuracy", "Base-trained probe on each model", pdir / "probe.png")))
        cka = {a: r["cka"]["cka"] for a, r in arms.items() if r.get("cka")}
        cka.update({f"{a} random-LoRA": r["control"]["cka"]["cka"] for a, r in arms.items()
                    if r.get("control", {}).get("cka")})
        if cka:
            made.append(("Linear CKA to the base per layer",
                         plots.per_layer(cka, "CKA", "CKA(base, model)", pdir / "cka.png")))
        ranks = {a: [x for t in r.get("tokens", {}).values() for x in t.get("rank_shift_values", [])]
                 for a, r in arms.items()}
        if any(ranks.values()):
            made.append(("Token rank shift", plots.histogram(ranks, "base rank - arm rank of the generated token",
                                                             "Token rank shift", pdir / "token_rank_shift.png")))
    return made
