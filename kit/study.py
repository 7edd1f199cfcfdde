"""`python -m kit.study RECIPE [key=value ...] [--seeds 0,1,2 | --dev] [--jobs N] [--fresh]`

Runs one recipe for several seeds (each a normal, resumable run in outputs/<name>-seed<k>/) and writes a study report,
outputs/<name>-study/study.md: (0) premise: did both compared arms learn math; (1) transfer: is the RL arm's TI above
the off-policy SFT arm's; (2) drift: does the RL arm move less from the base (PCA shift, 1 - CKA, token KL). Each
claim is checked seed by seed (paired: both arms share the seed's base and data) and summarised with a t-interval over
seeds. Seeds, premise and criteria are pre-registered in the recipe's `study:` section: by default the study runs
`study.seeds` (confirmatory); --dev `study.dev_seeds` (tuning, into outputs/<name>-dev-study); other seeds are
marked exploratory.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import platform
import statistics
import sys
from pathlib import Path
from typing import Any

from kit.errors import KitError
from kit.recipe.schema import SEED_MAX, StudyCfg
from kit.report.intervals import estimate, finite as _finite, mean_ci as _mean_ci, num, power, precision

# what each measure is called in the report (study.json keeps the keys)
LABELS = {"TI_other": "TI, other reasoning (%)", "TI_non": "TI, non-reasoning (%)",
          "math_gain": "math gain (points)", "other_gain": "other-reasoning gain (points)",
          "non_gain": "non-reasoning gain (points)", "pca_d": "PCA shift d", "one_minus_cka": "1 − CKA",
          "token_kl": "token KL"}
# (claim, measure, the paper's finding is RL above SFT)
CLAIMS = [("transfer to non-reasoning", "TI_non", True), ("transfer to other reasoning", "TI_other", True),
          ("non-reasoning gain", "non_gain", True), ("latent drift", "pca_d", False),
          ("latent drift", "one_minus_cka", False), ("token drift", "token_kl", False)]
MODES = {"confirmatory": "confirmatory: the pre-registered seeds",
         "exploratory": "exploratory (not the pre-registered seeds)",
         "development": "development seeds (tuning, not confirmatory)"}
PerSeed = dict[int, dict[str, dict[str, float]]]  # seed → arm → measure → value


def _pair(lo_hi: list[float | None] | None) -> tuple[float, float]:
    lo, hi = lo_hi or (None, None)
    return (math.nan if lo is None else float(lo)), (math.nan if hi is None else float(hi))


def seed_metrics(run_dir: Path) -> dict[str, dict[str, float]]:
    """Per arm of a finished run: TI (v2) and math gain with the run report's intervals, gains, drift."""
    from kit.artefacts import Analysis, ProbeResults

    analysed = Analysis.read(run_dir)
    if analysed is None:
        raise KitError(f"{run_dir} has no analysis.json: its report stage has not run; rerun the study to finish it")
    probed = ProbeResults.read(run_dir)
    probe = probed.as_dict() if probed else {"arms": {}}
    out: dict[str, dict[str, float]] = {}
    for arm, a in analysed.arms.items():
        groups, v2 = a["groups"], a["ti_v2"]
        m = {"TI_other": v2["TI_other"], "TI_non": v2["TI_non"]}
        m.update({f"{g}_gain": groups.get(g, {}).get("gain", math.nan) for g in ("math", "non", "other")})
        m["math_gain_lo"], m["math_gain_hi"] = _pair(groups.get("math", {}).get("gain_ci"))
        m["math_gain_ci_level"] = float(a.get("settings", {}).get("ci", math.nan))
        for k in ("TI_other", "TI_non"):
            m[f"{k}_lo"], m[f"{k}_hi"] = _pair(v2.get(f"{k}_ci"))
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
            m.update(dict.fromkeys([f"TI_{g}{end}" for g in ("other", "non") for end in ("", "_lo", "_hi")], math.nan))
        out[arm] = m
    return out


def stage_seconds(run_dir: Path) -> float:
    """A run's compute time: its stages' own times (manifests), so a study rebuilt later still states it."""
    return sum(json.loads(m.read_text()).get("seconds", 0.0) for m in (run_dir / "manifests").glob("*.json")
               if not m.name.endswith(".started.json"))


def verdict(diffs: list[float], higher_is_finding: bool, ci: float = 0.95, weak_share: float = 0.5) -> tuple[str, str]:
    """(short verdict, detail) for per-seed differences RL - SFT, by the rule of kit.recipe.schema.CriteriaCfg."""
    vals = [d for d in diffs if d is not None and math.isfinite(d)]
    if len(vals) < 2:
        return "undetermined", f"only {len(vals)} seed(s) with a defined value"
    sign = 1 if higher_is_finding else -1
    agree = sum(1 for d in vals if sign * d > 0)
    m, lo, hi = _mean_ci(vals, ci)
    excludes = (lo > 0) if higher_is_finding else (hi < 0)
    if agree == len(vals) and excludes:
        word = "reproduced"
    elif agree > weak_share * len(vals):
        word = "weakly reproduced (same direction in most seeds" + ("" if excludes else ", interval includes 0") + ")"
    elif agree == 0 and ((hi < 0) if higher_is_finding else (lo > 0)):
        word = "reversed"
    else:
        word = "not reproduced"
    d, exp = precision((hi - lo) / 2, vals + [m])  # one precision and power of ten for the seeds and the mean
    unit = f" {power(exp)}" if exp else ""
    return word, (f"RL − SFT per seed: {', '.join(num(v, d, exp, True) for v in vals)}{unit}; mean "
                  f"{estimate(m, lo, hi, True, 'same in every seed', at=(d, exp))} ({100 * ci:g}% t-interval over "
                  "seeds); same "
                  f"direction as the paper in {agree}/{len(vals)} seeds")


def compared_pair(arms: list[str]) -> tuple[str | None, str | None]:
    """(RL arm, SFT arm): the first of `arms` (recipe order) with registered role "rl", and with "sft"; or None."""
    from kit.registry import arm_of_role

    return arm_of_role("rl", arms), arm_of_role("sft", arms)


def premise(per_seed: PerSeed, seeds: list[int], arms: list[str], compared: list[str], study: StudyCfg) -> dict:
    """Did the arms learn math? Per seed and arm: the math gain, the run report's interval, and whether it meets
    the pre-registered rule; a seed holds the premise when every compared arm meets it."""
    cells: dict[str, dict[int, dict[str, Any]]] = {}
    for arm in arms:
        cells[arm] = {}
        for s in seeds:
            m = per_seed[s].get(arm, {})
            g, lo, hi = (m.get(k, math.nan) for k in ("math_gain", "math_gain_lo", "math_gain_hi"))
            excl = _finite(lo, hi) and lo > 0  # "learned math": the interval lies above 0 (below 0 it unlearned)
            ok = _finite(g) and g >= study.premise_min_gain and (excl or not study.premise_ci_excludes_0)
            cells[arm][s] = {"gain": g, "ci": [lo, hi], "ci_excludes_0": excl, "ok": ok}
    held = [s for s in seeds if compared and all(cells[a][s]["ok"] for a in compared)]
    level = next((v for r in per_seed.values() for m in r.values() if _finite(v := m.get("math_gain_ci_level"))), 0)
    return {"arms": cells, "compared": compared, "held": held, "failed": [s for s in seeds if s not in held],
            "ci": level}  # the run reports' report.ci


def premise_lines(p: dict[str, Any], seeds: list[int], study: StudyCfg) -> list[str]:
    rule = f"a math gain of at least {study.premise_min_gain:g} points" + (
        ", with the run report's interval of that gain above 0" if study.premise_ci_excludes_0 else "")
    level = f"{100 * p['ci']:g}% " if p["ci"] else ""
    lines = ["## Premise: did both arms learn math?", "",
             f"Pre-registered rule: in every seed, each compared arm ({', '.join(p['compared']) or 'none'}) has "
             f"{rule}. Math gain in points over the base, with the run report's {level}bootstrap interval "
             "(outputs/<name>-seed<k>/report.md); ✓ meets the rule, ✗ does not.", "",
             "| arm | " + " | ".join(f"seed {s}" for s in seeds) + " |", "|---|" + "---|" * len(seeds)]
    for arm, row in p["arms"].items():
        name = arm if arm in p["compared"] else f"{arm} (not compared)"
        cells = [estimate(c["gain"], *c["ci"], True, least=1) + (" ✓" if c["ok"] else " ✗") for c in row.values()]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    lines += ["", f"**Premise held in {len(p['held'])}/{len(seeds)} seeds.**"]
    failed = ", ".join(map(str, p["failed"]))
    if len(p["compared"]) < 2:  # no RL/SFT pair: no verdict is computed (the findings section says why)
        lines += ["", "No verdicts are computed: the runs have no RL/SFT pair to compare (see below)" +
                  (f"; the premise failed in seed(s) {failed}." if p["compared"] and p["failed"] else ".")]
    elif p["failed"]:
        lines += ["", f"The premise failed in seed(s) {failed}: there the verdicts compare arms that did not both "
                  "learn math. They are computed by the pre-registered criteria all the same."]
    return lines


def preregistered_lines(study: StudyCfg) -> list[str]:
    import yaml

    c = study.criteria
    return ["## Pre-registered (the recipe's `study:` section, fixed before the confirmatory run)", "",
            "```yaml", yaml.safe_dump({"study": dataclasses.asdict(study)}, sort_keys=False,
                                      default_flow_style=None).rstrip(), "```", "",
            f"Verdict rule, per claim on the per-seed differences RL − SFT: *reproduced* when the difference has the "
            f"paper's sign in every seed and the {100 * c.ci:g}% t-interval over seeds excludes 0; *weakly "
            f"reproduced* when it has the paper's sign in more than {100 * c.weak_share:g}% of the seeds; "
            "*reversed* when it has the opposite sign in every seed with an interval excluding 0; otherwise *not "
            "reproduced* (*undetermined* with fewer than 2 seeds that have a value)."]


def machine() -> dict[str, Any]:
    """The machine that ran the study: CPU kernels differ between CPU types, so a report names it."""
    from kit.report.readable import cpu_model, torch_threads, torch_version

    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": cpu_model(), "logical_cpus": os.cpu_count(), "cpus_usable": usable,
            "torch_threads": torch_threads(),  # torch is loaded by the runs: the thread count they used
            "torch": torch_version(), "python": platform.python_version()}


def run_machine(run_dir: Path) -> dict[str, Any]:
    """What a run's stage manifests record of the machine that ran it (so a study rebuilt elsewhere says so)."""
    from kit.report.readable import recorded

    found = {f.name: json.loads(f.read_text()) for f in sorted((run_dir / "manifests").glob("*.json"))
             if not f.name.endswith(".started.json")}
    facts = recorded(found)
    named = {"hardware": "hardware", "cpu": "CPU", "torch": "torch", "torch_threads": "torch threads"}
    return {named[k]: v for k, v in facts.items() if v}


def machine_line(m: dict[str, Any]) -> str:
    threads = f", {m['torch_threads']} torch threads" if m.get("torch_threads") else ""
    seen = sorted({", ".join(str(v) if k == "hardware" else f"{k} {v}" for k, v in r.items())
                   for r in (m.get("runs") or {}).values() if r})
    return (f"Machine (this study command's): {m['cpu']}, {m['cpus_usable']} of {m['logical_cpus']} logical CPUs "
            f"usable{threads}; torch {m.get('torch') or 'not installed'}, Python {m['python']}."
            + (f" The runs' stage manifests record: {'; '.join(seen)}." if seen else ""))


def measure_lines(per_seed: PerSeed, seeds: list[int], arms: list[str], ci: float) -> list[str]:
    """Per arm and measure: each seed's value and the mean with its t-interval, at the interval's precision;
    a measure that is exactly 0 in every seed gets a sentence instead of a row of zeros."""
    lines = ["| arm | measure | " + " | ".join(f"seed {s}" for s in seeds) + f" | mean [{100 * ci:g}% interval] |",
             "|---|---|" + "---|" * len(seeds) + "---|"]
    zero: dict[str, list[str]] = {}
    for arm in arms:
        for k, label in LABELS.items():
            vals = [per_seed[s].get(arm, {}).get(k, math.nan) for s in seeds]
            if not any(_finite(v) for v in vals):
                continue
            if all(_finite(v) and v == 0 for v in vals):
                zero.setdefault(arm, []).append(label)
                continue
            m, lo, hi = _mean_ci(vals, ci)
            d, exp = precision((hi - lo) / 2 if _finite(lo, hi) else math.nan, vals + [m])
            unit = f" ({power(exp)})" if exp else ""  # the row's power of ten: its cells and the mean share it
            lines.append(f"| {arm} | {label}{unit} | " + " | ".join(num(v, d, exp) for v in vals) +
                         f" | {estimate(m, lo, hi, flat='same in every seed', unit=False, at=(d, exp))} |")
    for arm, labels in zero.items():
        drift = [lb for lb in labels if "points" not in lb and "%" not in lb]  # 0 only for the base's own model
        gains = [lb for lb in labels if lb not in drift]
        for group, why in ((gains, "it scores as the base does"), (drift, "its drift is nil, its model the base's (as "
                           "when an on-policy arm accepts no samples and trains on nothing)")):
            if group:
                lines += ["", f"`{arm}`: {', '.join(group)} {'is' if len(group) == 1 else 'are'} exactly 0 in every "
                          f"seed (not tabled): {why}."]
    return lines


def claim_lines(per_seed: PerSeed, seeds: list[int], rl: str, sft: str,
                study: StudyCfg, findings: dict[str, Any]) -> list[str]:
    from kit.registry import ARMS

    lines = [f"Compared: RL = `{rl}` ({ARMS.get(rl).label}), SFT = `{sft}` ({ARMS.get(sft).label}): the "
             "run's arms whose registered roles are 'rl' and 'sft'.", "", "| claim | verdict | evidence |",
             "|---|---|---|"]
    c = study.criteria
    for claim, key, higher in CLAIMS:
        title = f"{claim}: RL {'>' if higher else '<'} SFT in {LABELS[key]}"
        diffs = [per_seed[s].get(rl, {}).get(key, math.nan) - per_seed[s].get(sft, {}).get(key, math.nan)
                 for s in seeds]
        word, detail = verdict(diffs, higher, c.ci, c.weak_share)
        if key.startswith("TI_"):
            # beside the verdict: how many seeds' TIs the run reports themselves call conclusive
            ok = {arm: sum(per_seed[s].get(arm, {}).get("ti_conclusive", 0.0) for s in seeds) for arm in (rl, sft)}
            detail += (f"; TI conclusive by the run reports' test in {ok[rl]:.0f}/{len(seeds)} seeds for RL, "
                       f"{ok[sft]:.0f}/{len(seeds)} for SFT")
        findings[key] = {"claim": title, "verdict": word, "diffs": diffs}
        lines.append(f"| {title} | **{word}** | {detail} |")
    return lines + ["", "TI divides by the math gain: where an arm did not gain on math (≤ 0 points) its TI is left "
                    "undefined and the seed out of the two TI claims (the non-reasoning gain claim does not need it)."]


def write_report(name: str, seeds: list[int], per_seed: PerSeed, out: Path,
                 wall: dict[int, float], order: list[str] | None = None, study: StudyCfg | None = None,
                 mode: str = "confirmatory", host: dict[str, Any] | None = None, model: str = "") -> dict[str, Any]:
    """`order`: the recipe's arms (which arm of a role is compared when several share it); by default the arms
    of the seeds' analyses, sorted. `study`: the recipe's pre-registration; `mode`: a key of MODES; `model`: the
    base model's id, named in the plot's title."""
    study = study or StudyCfg()
    host = host or machine()
    out.mkdir(parents=True, exist_ok=True)
    arms = sorted({a for s in per_seed.values() for a in s})
    present = [a for a in (order or []) if a in arms] + [a for a in arms if a not in (order or [])]
    rl, sft = compared_pair(present)
    prem = premise(per_seed, seeds, present, [a for a in (rl, sft) if a is not None], study)
    lines = [f"# Study: {name}, seeds {', '.join(map(str, seeds))} — {MODES[mode]}", "", machine_line(host), "",
             *premise_lines(prem, seeds, study), "",
             "## Measures per seed", "",
             "Each seed is a full run (its own report: outputs/<name>-seed<k>/report.md). Values per seed, then the "
             f"mean with a {100 * study.criteria.ci:g}% t-interval over seeds, each at the precision of its interval.",
             "", *measure_lines(per_seed, seeds, present, study.criteria.ci), "",
             "## Is the paper's finding reproduced?", ""]
    findings: dict[str, Any] = {}
    if rl is not None and sft is not None:
        if prem["failed"]:
            lines += [f"**Read with care:** the premise failed in seed(s) {', '.join(map(str, prem['failed']))}, "
                      "so these verdicts compare arms that did not both learn math there.", ""]
        lines += claim_lines(per_seed, seeds, rl, sft, study, findings)
    else:
        missing = " and ".join(f"no arm with role '{role}'" for role, arm in (("rl", rl), ("sft", sft)) if arm is None)
        lines += [f"Not checked: the runs have {missing} (arms: {', '.join(arms) or 'none'}); the study compares "
                  "the arm registered with role 'rl' against the one with role 'sft'."]
    lines += ["", *preregistered_lines(study), "",
              "Time per seed (sum of its stages' times): " + ", ".join(f"seed {s} {num(wall.get(s, math.nan), 0)} s"
                                                                     for s in seeds)]
    context = " · ".join([f"{name} study ({mode})", *([model] if model else [])])  # study_ti's title names the seeds
    lines += ["", *plot_lines(per_seed, rl, sft, out, context, study.criteria.ci)]
    (out / "study.md").write_text("\n".join(lines) + "\n")
    record = {"seeds": seeds, "mode": mode, "title": MODES[mode], "preregistered": dataclasses.asdict(study),
              "machine": host, "premise": prem, "per_seed": per_seed, "findings": findings,
              "compared": {"rl": rl, "sft": sft}}
    (out / "study.json").write_text(json.dumps(record, indent=1, default=float))
    return findings


def plot_lines(per_seed: PerSeed, rl: str | None, sft: str | None, out: Path, context: str,
               ci: float = 0.95) -> list[str]:
    from kit.report import plots

    made = plots.study_ti(per_seed, rl, sft, out, context, ci)  # real intervals only: the mean's t-interval
    return [line for p in made for line in (f"![TI by seed]({p.name})", "", f"(also as {p.with_suffix('.svg').name})")] + [""]


# one folder per mode: a tuning or exploratory study never overwrites the pre-registered report
STUDY_FOLDER = {"confirmatory": "{name}-study", "development": "{name}-dev-study",
                "exploratory": "{name}-exploratory-study"}


def study_mode(explicit: list[int] | None, dev: bool, study: StudyCfg) -> tuple[list[int], str]:
    """(seeds, mode): the pre-registered seeds by default; --dev the tuning seeds; other seeds are exploratory."""
    if dev:
        if explicit is not None:
            raise KitError("give --dev or --seeds, not both: --dev runs the recipe's study.dev_seeds")
        if not study.dev_seeds:
            raise KitError("--dev: the recipe's study.dev_seeds is empty; list the seeds used for tuning there")
        return list(study.dev_seeds), "development"
    if explicit is None:
        return list(study.seeds), "confirmatory"
    if not explicit:
        raise KitError("--seeds is empty; give seeds like --seeds 0,1,2")
    bad = [s for s in explicit if not 0 <= s <= SEED_MAX]
    if bad or len(set(explicit)) != len(explicit):  # a seed counted twice would narrow the t-interval over seeds
        raise KitError(f"--seeds {','.join(map(str, explicit))}: " + (f"{bad} out of range (0 to {SEED_MAX})" if bad
                       else "a seed is listed twice") + "; give each seed once")
    return explicit, "confirmatory" if sorted(explicit) == sorted(study.seeds) else "exploratory"


def main(argv: list[str] | None = None) -> int:
    from kit.compose import load_recipe
    from kit.run import guarded
    from kit.seedjobs import run_seeds

    ap = argparse.ArgumentParser(prog="python -m kit.study", description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--seeds", default=None, help="default: the recipe's study.seeds (pre-registered)")
    ap.add_argument("--dev", action="store_true", help="run the recipe's study.dev_seeds (tuning)")
    ap.add_argument("--fresh", action="store_true")
    ap.add_argument("--jobs", type=int, default=1,
                    help="seeds run at once, each as its own process (kit/seedjobs.py); with the recipe's cpu_threads "
                         "the numbers are the same as one at a time")
    args = ap.parse_intermixed_args(sys.argv[1:] if argv is None else argv)  # overrides after options too
    try:
        explicit = None if args.seeds is None else [int(s) for s in args.seeds.split(",") if s.strip()]
        base = load_recipe(args.recipe, args.overrides)
        seeds, mode = study_mode(explicit, args.dev, base.study)
    except (KitError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    names = {s: f"{base.name}-seed{s}" for s in seeds}
    rc = guarded(lambda: run_seeds(args.recipe, args.overrides, seeds, names, Path(base.output_dir), jobs=args.jobs,
                                   fresh=args.fresh, cpu_threads=base.cpu_threads))
    if rc != 0:
        return rc
    wall: dict[int, float] = {}
    per_seed: PerSeed = {}
    host: dict[str, Any] = {"runs": {}}
    for s in seeds:
        run_dir = Path(base.output_dir) / names[s]
        wall[s] = stage_seconds(run_dir)
        per_seed[s] = seed_metrics(run_dir)
        host["runs"][s] = run_machine(run_dir)
    out = Path(base.output_dir) / STUDY_FOLDER[mode].format(name=base.name)
    findings = write_report(base.name, seeds, per_seed, out, wall, order=list(base.arms), study=base.study, mode=mode,
                            host=machine() | host, model=base.model.id)
    for f in findings.values():
        print(f"{f['claim']}: {f['verdict']}")
    print(f"study report: {out / 'study.md'} ({MODES[mode]})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
