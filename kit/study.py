"""`python -m kit.study RECIPE [key=value ...] [--seeds 0,1,2] [--fresh]`

Runs one recipe for several seeds (each a normal, resumable run in outputs/<name>-seed<k>/) and writes a
study report, outputs/<name>-study/study.md, that says whether the paper's qualitative finding is
reproduced, and how strongly:
  (1) transfer: the RL arm's TI on non-reasoning is above the off-policy SFT arm's;
  (2) drift: the RL arm moves less from the base than the SFT arm (PCA shift, 1 - CKA, token KL).
Each claim is checked seed by seed (paired: both arms share the seed's base and data) and summarised with
a t-interval over seeds. The criteria are fixed here, before any result is seen.
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path
from typing import Any

from kit.errors import KitError

# two-sided 95% t quantiles for n-1 degrees of freedom
T95 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}


def _mean_ci(values: list[float]) -> tuple[float, float, float]:
    vals = [v for v in values if v is not None and math.isfinite(v)]
    if not vals:
        return float("nan"), float("nan"), float("nan")
    m = statistics.fmean(vals)
    if len(vals) < 2:
        return m, float("nan"), float("nan")
    half = T95.get(len(vals) - 1, 1.96) * statistics.stdev(vals) / math.sqrt(len(vals))
    return m, m - half, m + half


def seed_metrics(run_dir: Path) -> dict[str, dict[str, float]]:
    """Per arm: TI (v2) and drift measures of one finished run folder."""
    from kit.artefacts import Analysis, ProbeResults

    analysed = Analysis.read(run_dir)
    if analysed is None:
        raise KitError(f"{run_dir} has no analysis.json: its report stage has not run; rerun the study to finish it")
    analysis = analysed.arms
    probed = ProbeResults.read(run_dir)
    probe = probed.as_dict() if probed else {"arms": {}}
    out: dict[str, dict[str, float]] = {}
    for arm, a in analysis.items():
        m = {"TI_other": a["ti_v2"]["TI_other"], "TI_non": a["ti_v2"]["TI_non"],
             "math_gain": a["groups"].get("math", {}).get("gain", float("nan")),
             "non_gain": a["groups"].get("non", {}).get("gain", float("nan")),
             "other_gain": a["groups"].get("other", {}).get("gain", float("nan"))}
        p = probe["arms"].get(arm, {})
        if p.get("pca"):
            m["pca_d"] = statistics.fmean(v["faithful"]["d"] for v in p["pca"].values())
        if p.get("cka"):
            m["one_minus_cka"] = statistics.fmean(p["cka"]["one_minus_cka"])
        if p.get("tokens"):
            m["token_kl"] = statistics.fmean(t["kl"] for t in p["tokens"].values())
        m["ti_conclusive"] = 0.0 if a.get("inconclusive", True) else 1.0  # the run report's own test
        if not m["math_gain"] > 0:
            # TI is transfer per unit of math gain (the paper's arms all gained on math); with no gain, or a
            # loss, the ratio has no meaning (its sign flips), so this seed says nothing about transfer
            m["TI_other"] = m["TI_non"] = float("nan")
        out[arm] = m
    return out


def stage_seconds(run_dir: Path) -> float:
    """A run's compute time: the sum of its stages' own times from their manifests, so a study report
    rebuilt later (every stage skipped) still states how long the seed took to run."""
    return sum(json.loads(m.read_text()).get("seconds", 0.0) for m in (run_dir / "manifests").glob("*.json")
               if not m.name.endswith(".started.json"))


def verdict(diffs: list[float], higher_is_finding: bool) -> tuple[str, str]:
    """(short verdict, detail) for per-seed differences RL - SFT."""
    vals = [d for d in diffs if d is not None and math.isfinite(d)]
    if len(vals) < 2:
        return "undetermined", f"only {len(vals)} seed(s) with a defined value"
    sign = 1 if higher_is_finding else -1
    agree = sum(1 for d in vals if sign * d > 0)
    m, lo, hi = _mean_ci(vals)
    excludes = (lo > 0) if higher_is_finding else (hi < 0)
    if agree == len(vals) and excludes:
        word = "reproduced"
    elif agree > len(vals) / 2:
        word = "weakly reproduced (same direction in most seeds, interval includes 0)" if not excludes else "reproduced"
    elif agree == 0 and ((hi < 0) if higher_is_finding else (lo > 0)):
        word = "reversed"
    else:
        word = "not reproduced"
    return word, f"RL − SFT per seed: {', '.join(f'{d:+.3g}' for d in vals)}; mean {m:+.3g} [95% t-CI {lo:+.3g}, {hi:+.3g}]; same direction as the paper in {agree}/{len(vals)} seeds"


def compared_pair(arms: list[str]) -> tuple[str | None, str | None]:
    """(RL arm, SFT arm) the study compares: the first of `arms` (the recipe's order) whose registered role is
    "rl", and the first whose role is "sft" (kit.registry.ARMS); None where the run has no such arm."""
    from kit.registry import arm_of_role

    return arm_of_role("rl", arms), arm_of_role("sft", arms)


def write_report(name: str, seeds: list[int], per_seed: dict[int, dict[str, dict[str, float]]], out: Path,
                 wall: dict[int, float], order: list[str] | None = None) -> dict[str, Any]:
    """`order`: the recipe's arms (which arm of a role is compared when several share it); by default the arms
    of the seeds' analyses, sorted."""
    from kit.registry import ARMS
    from kit.report import plots

    out.mkdir(parents=True, exist_ok=True)
    arms = sorted({a for s in per_seed.values() for a in s})
    present = [a for a in (order or []) if a in arms] + [a for a in arms if a not in (order or [])]
    rl, sft = compared_pair(present)
    keys = ["TI_other", "TI_non", "math_gain", "other_gain", "non_gain", "pca_d", "one_minus_cka", "token_kl"]
    lines = [f"# Study: {name}, seeds {', '.join(map(str, seeds))}", "",
             "Each seed is a full run (its own report: outputs/<name>-seed<k>/report.md). Values per seed, then the "
             "mean with a 95% t-interval over seeds.", "",
             "| arm | measure | " + " | ".join(f"seed {s}" for s in seeds) + " | mean [95% CI] |",
             "|---|---|" + "---|" * len(seeds) + "---|"]
    for arm in arms:
        for k in keys:
            vals = [per_seed[s].get(arm, {}).get(k, float("nan")) for s in seeds]
            if all(not math.isfinite(v) for v in vals):
                continue
            m, lo, hi = _mean_ci(vals)
            lines.append(f"| {arm} | {k} | " + " | ".join(f"{v:.3g}" for v in vals) + f" | {m:.3g} [{lo:.3g}, {hi:.3g}] |")
    findings: dict[str, Any] = {}
    if rl is not None and sft is not None:
        checks = [("transfer to non-reasoning: TI_non(RL) > TI_non(SFT)", "TI_non", True),
                  ("transfer to other reasoning: TI_other(RL) > TI_other(SFT)", "TI_other", True),
                  ("non-reasoning gain (points): RL > SFT", "non_gain", True),
                  ("latent drift: PCA shift d(RL) < d(SFT)", "pca_d", False),
                  ("latent drift: 1 - CKA(RL) < 1 - CKA(SFT)", "one_minus_cka", False),
                  ("token drift: KL(RL) < KL(SFT)", "token_kl", False)]
        lines += ["", "## Is the paper's finding reproduced?", "",
                  "Criteria fixed before running: a claim is *reproduced* when RL − SFT has the paper's sign in every "
                  "seed and the 95% t-interval over seeds excludes 0; *weakly reproduced* when the sign agrees in most "
                  "seeds; *reversed* when it has the opposite sign in every seed with an interval excluding 0.", "",
                  f"Compared: RL = `{rl}` ({ARMS.get(rl).label}), SFT = `{sft}` ({ARMS.get(sft).label}): the "
                  "run's arms whose registered roles are 'rl' and 'sft'.", "",
                  "| claim | verdict | evidence |", "|---|---|---|"]
        for title, key, higher in checks:
            diffs = [per_seed[s].get(rl, {}).get(key, float("nan")) - per_seed[s].get(sft, {}).get(key, float("nan"))
                     for s in seeds]
            word, detail = verdict(diffs, higher)
            if key.startswith("TI_"):
                # the verdict stands as the fixed criteria give it; beside it, how many seeds' TIs the run
                # reports themselves call conclusive (a math gain whose interval excludes 0, see report.md)
                ok = {arm: sum(per_seed[s].get(arm, {}).get("ti_conclusive", 0.0) for s in seeds) for arm in (rl, sft)}
                detail += (f"; TI conclusive by the run reports' test in {ok[rl]:.0f}/{len(seeds)} seeds for RL, "
                           f"{ok[sft]:.0f}/{len(seeds)} for SFT")
            findings[key] = {"claim": title, "verdict": word, "diffs": diffs}
            lines.append(f"| {title} | **{word}** | {detail} |")
        lines += ["", "TI divides by the math gain; where an arm did not gain on math (gain <= 0 points) its TI is "
                  "left undefined for that seed and the seed is left out of the two TI claims (the gains in points are "
                  "shown above: the non-reasoning gain claim does not depend on it)."]
    else:
        missing = " and ".join(f"no arm with role '{role}'" for role, arm in (("rl", rl), ("sft", sft)) if arm is None)
        lines += ["", "## Is the paper's finding reproduced?", "",
                  f"Not checked: the runs have {missing} (arms: {', '.join(arms) or 'none'}); the study compares "
                  "the arm registered with role 'rl' against the one with role 'sft'."]
    lines += ["", "Time per seed (sum of its stages' times): " + ", ".join(f"seed {s} {wall.get(s, float('nan')):.0f} s"
                                                                   for s in seeds)]
    pts = {f"{arm} s{s}": per_seed[s][arm] for s in seeds for arm in per_seed[s]}
    ti_points = {k: {"TI_other": v["TI_other"], "TI_non": v["TI_non"], "TI_other_ci": [v["TI_other"]] * 2,
                     "TI_non_ci": [v["TI_non"]] * 2} for k, v in pts.items()}
    plots.ti_scatter(ti_points, out / "ti_by_seed.png")
    lines += ["", "![TI by seed](ti_by_seed.png)", ""]
    (out / "study.md").write_text("\n".join(lines) + "\n")
    (out / "study.json").write_text(json.dumps({"seeds": seeds, "per_seed": per_seed, "findings": findings,
                                                "compared": {"rl": rl, "sft": sft}},
                                               indent=1, default=float))
    return findings


def main(argv: list[str] | None = None) -> int:
    from kit.compose import load_recipe
    from kit.run import main as run_main

    ap = argparse.ArgumentParser(prog="python -m kit.study", description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--seeds", default="0,1,2")
    ap.add_argument("--fresh", action="store_true")
    args = ap.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
        base = load_recipe(args.recipe, args.overrides)
    except (KitError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    wall: dict[int, float] = {}
    per_seed: dict[int, dict[str, dict[str, float]]] = {}
    for s in seeds:
        name = f"{base.name}-seed{s}"
        t0 = time.time()
        print(f"=== seed {s}: {Path(base.output_dir) / name} ===", flush=True)
        rc = run_main([args.recipe, *args.overrides, f"seed={s}", f"run_name={name}"] + (["--fresh"] if args.fresh else []))
        if rc != 0:
            return rc
        wall[s] = stage_seconds(Path(base.output_dir) / name) or time.time() - t0
        per_seed[s] = seed_metrics(Path(base.output_dir) / name)
    out = Path(base.output_dir) / f"{base.name}-study"
    findings = write_report(base.name, seeds, per_seed, out, wall, order=list(base.arms))
    for f in findings.values():
        print(f"{f['claim']}: {f['verdict']}")
    print(f"study report: {out / 'study.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
