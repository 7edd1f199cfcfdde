"""Build report.md, report.html and plots/ from a run folder alone (nothing is regenerated or retrained).

Reads: recipe.resolved.yaml, manifests/*.json, eval/scores.json, eval/item_scores.json, probe/results.json,
arms/*/train_log.jsonl. Writes: analysis.json (bootstrap TI and tests), report.md, report.html, plots/*.png.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from kit.errors import KitError
from kit.groups import GROUPS
from kit.report import deviations
from kit.report.figures import make_figures
from kit.report.html import markdown_to_html
from kit.report.intervals import num
from kit.report.readable import machine, pct, reason, shifted, stat, verdict, with_ci
from kit.artefacts import Analysis, EvalResults, ProbeResults

GROUP_NAME = {"math": "Math", "other": "Other reasoning", "non": "Non-reasoning"}


def analyse(run_dir: Path, recipe: dict[str, Any], scores: dict[str, Any], per_item: dict[str, Any]) -> dict[str, Any]:
    """Paired bootstrap of every arm against the base: per-benchmark tests, group averages, TI v2 and v1."""
    from kit.measure.bootstrap import align_items, bootstrap_ti

    rep = recipe.get("report", {})
    out: dict[str, Any] = {}
    base_items = per_item["base"]
    for arm in [m for m in per_item if m != "base"]:
        items, groups = {}, {}
        for bench, info in scores["base"].items():
            col = info["primary"]
            b_rows, a_rows = base_items.get(bench, {}), per_item[arm].get(bench, {})
            common = sorted(set(b_rows) & set(a_rows))
            common = [i for i in common if col in b_rows[i] and col in a_rows[i]]
            if not common:
                continue
            items[bench] = align_items(
                {i: b_rows[i][col] for i in common}, {i: a_rows[i][col] for i in common},
                clusters={i: b_rows[i]["cluster"] for i in common},
                strata={i: b_rows[i].get("stratum") or "" for i in common},
                weights={i: float(b_rows[i].get("weight", 1.0)) for i in common})
            groups[bench] = info["group"]
        if items:
            out[arm] = bootstrap_ti(items, groups, n_boot=int(rep.get("bootstrap", 1000)),
                                    ci=float(rep.get("ci", 0.95)), seed=int(recipe.get("seed", 0)))
    return out


def _score_table(scores: dict[str, Any], analysis: dict[str, Any], models: list[str]) -> list[str]:
    """Table 1 of the paper, per benchmark: primary score with CI, and the paper's column where it differs."""
    lines = ["| group | benchmark | column | " + " | ".join(models) + " | n items |",
             "|---|---|---|" + "---|" * len(models) + "---|"]
    benches = sorted(scores["base"], key=lambda b: (GROUPS.index(scores["base"][b]["group"]), b))
    for b in benches:
        info = scores["base"][b]
        cols = [info["primary"]] + ([info["paper_column"]] if info["paper_column"] != info["primary"] else [])
        for col in cols:
            cells = []
            for m in models:
                s = scores.get(m, {}).get(b, {}).get("scores", {}).get(col)
                band = None
                if col == info["primary"] and m != "base" and m in analysis and b in analysis[m]["benchmarks"]:
                    band = analysis[m]["benchmarks"][b].get("model_ci")
                elif col == info["primary"] and m == "base" and analysis:
                    first = next(iter(analysis.values()))
                    if b in first["benchmarks"]:
                        band = first["benchmarks"][b].get("base_ci")
                cells.append(with_ci(100 * s if s is not None else None, band, least=1))
            label = f"{col} (primary)" if col == info["primary"] else f"{col} (paper's code)"
            lines.append(f"| {info['group']} | {b} | {label} | " + " | ".join(cells) + f" | {info['n_items']} |")
    return lines


def _group_table(scores: dict[str, Any], analysis: dict[str, Any], models: list[str]) -> list[str]:
    lines = ["| group | " + " | ".join(models) + " |", "|---|" + "---|" * len(models)]
    for g in GROUPS:
        cells = []
        for m in models:
            vals = [100 * v["scores"][v["primary"]] for v in scores.get(m, {}).values()
                    if v["group"] == g and v["primary"] in v["scores"]]
            band = None
            if m != "base" and m in analysis and g in analysis[m]["groups"]:
                band = analysis[m]["groups"][g]["model_avg_ci"]
            cells.append(with_ci(sum(vals) / len(vals) if vals else None, band, least=1))
        lines.append(f"| {GROUP_NAME[g]} | " + " | ".join(cells) + " |")
    return lines


def _ti_table(analysis: dict[str, Any]) -> list[str]:
    lines = ["| arm | TI other (v2) | TI non (v2) | TI other (v1) | TI non (v1) | math gain (pts) | conclusive? |",
             "|---|---|---|---|---|---|---|"]
    for arm, a in analysis.items():
        v2, v1 = a["ti_v2"], a["ti_v1"]
        gain = a["groups"].get("math", {})
        conclusive = "no: " + "; ".join(reason(r) for r in a["inconclusive_reasons"]) if a["inconclusive"] else "yes"
        ti = [with_ci(v[f"TI_{g}"], v[f"TI_{g}_ci"]) for v in (v2, v1) for g in ("other", "non")]
        lines.append(f"| {arm} | {' | '.join(ti)} | {with_ci(gain.get('gain'), gain.get('gain_ci'), True, 1)} "
                     f"| {conclusive} |")
    return lines


def _paper_section(recipe: dict[str, Any], scores: dict[str, Any], analysis: dict[str, Any]) -> list[str]:
    """The paper's published scores beside this run's, for models the recipe maps to a paper row."""
    from kit.measure.ti import ti_v2
    from kit.report.paper_numbers import ORDER, PAPER_ROWS, PAPER_TI

    rows = {m: r for m, r in recipe.get("report", {}).get("paper_rows", {}).items() if m in scores}
    if not rows:
        return []
    models = list(rows)
    lines = ["## Published numbers beside this run", "",
             "The paper's Tables 1 and 9–11 (%), and this run's primary scores on the same benchmarks:", "",
             "| benchmark | " + " | ".join(f"{m}: paper | {m}: ours" for m in models) + " |",
             "|---|" + "---|---|" * len(models)]
    for b in ORDER:
        if b not in scores["base"]:
            continue
        cells = []
        for m in models:
            ours = scores[m][b]["scores"].get(scores[m][b]["primary"])
            cells += [pct(PAPER_ROWS[rows[m]].get(b)), pct(100 * ours if ours is not None else None)]
        lines.append(f"| {b} | " + " | ".join(cells) + " |")
    base_row = rows.get("base")
    lines += ["", "| model | published TI other / non | recomputed from the paper's scores (v2) | this run (v2) |",
              "|---|---|---|---|"]
    groups = {b: scores["base"][b]["group"] for b in scores["base"]}
    for m in models:
        if m == "base":
            continue
        pub = PAPER_TI.get(rows[m])
        recomputed = "–"
        if base_row:
            common = {b: g for b, g in groups.items() if b in PAPER_ROWS[base_row] and b in PAPER_ROWS[rows[m]]}
            t = ti_v2({b: PAPER_ROWS[base_row][b] for b in common}, {b: PAPER_ROWS[rows[m]][b] for b in common}, common)
            recomputed = f"{pct(t['TI_other'])} / {pct(t['TI_non'])}"
        ours = analysis.get(m, {}).get("ti_v2", {})
        lines.append(f"| {m} ({rows[m]}) | {f'{pub[0]} / {pub[1]}' if pub else '–'} | {recomputed} "
                     f"| {pct(ours.get('TI_other'))} / {pct(ours.get('TI_non'))} |")
    lines += ["", "The published TI values cannot be reproduced from the paper's own per-benchmark scores with its "
              "stated formula (see the kit's reference notes); both are shown.", ""]
    return lines


def _pca_lines(arms: dict[str, Any]) -> list[str]:
    lines = ["PCA shift d (the paper's faithful mode: left padding, pad positions in the mean, uncentered "
             "projection on the base's PCs, all layers) and the corrected mode (masked mean), per benchmark:", "",
             "| arm | benchmark | d faithful | d corrected |", "|---|---|---|---|"]
    for arm, a in arms.items():
        for b, p in a.get("pca", {}).items():
            lines.append(f"| {arm} | {b} | {with_ci(p['faithful']['d'], p['faithful'].get('d_ci'))} "
                         f"| {with_ci(p['corrected']['d'], p['corrected'].get('d_ci'))} |")
    return lines


def _drift_lines(arms: dict[str, Any]) -> list[str]:
    lines = ["Linear probe (trained on the base's features to tell the three task groups apart, applied "
             "unchanged to each arm) and linear CKA, averaged over layers:", "",
             "| model | probe accuracy drop | 1 - CKA |", "|---|---|---|"]
    base_accs = []
    for arm, a in arms.items():
        for name, block in [(arm, a)] + ([(f"{arm} random-LoRA control", a["control"])] if a.get("control") else []):
            pr, ck = block.get("probe"), block.get("cka")
            drop = sum(pr["drop"]) / len(pr["drop"]) if pr else None
            one_minus = 1 - sum(ck["cka"]) / len(ck["cka"]) if ck else None
            base_accs += list(pr.get("base_acc") or []) if pr else []
            lines.append(f"| {name} | {stat(drop)} | {stat(one_minus)} |")
    if base_accs and min(base_accs) >= 0.999:
        lines += ["", "The base's probe already tells the three groups apart perfectly at every layer: a drop of 0 "
                  "says they stay separable in the arm, not that nothing moved (1 - CKA measures the movement)."]
    return lines


def _token_lines(arms: dict[str, Any]) -> list[str]:
    lines = ["Token shift on each arm's own generations (teacher-forced through base and arm):", "",
             "| arm | benchmark | paper's log-ratio | exact KL | mean rank shift | arm top-1 share | tokens "
             "| tokens the arm now ranks first (count) |", "|---|---|---|---|---|---|---|---|"]
    for arm, a in arms.items():
        for b, t in a.get("tokens", {}).items():
            lines.append(f"| {arm} | {b} | {stat(t['paper_kl'])} | {stat(t['kl'])} | {stat(t['rank_shift_mean'])} "
                         f"| {num(t.get('arm_top1_rate'), 2)} | {t['n_tokens']} | {shifted(t)} |")
    lines += ["", "Arm top-1 share: how often the scored token is the arm's own first choice; on greedy "
              "generations it should be ~1 (a check that the scored tokens are the generated ones). The last "
              "column lists the generated tokens that are the arm's first choice where the base ranked another "
              "token first, most frequent first (␣ is a space); 'none' means base and arm agree on every one."]
    return lines


def _latent_section(probe: dict[str, Any] | None) -> tuple[list[str], dict[str, Any]]:
    if not probe:
        return ["Latent and token shift were not measured (probe disabled or not run)."], {}
    arms = probe["arms"]
    return _pca_lines(arms) + [""] + _drift_lines(arms) + [""] + _token_lines(arms), probe


def _same_as_base(per_item: dict[str, Any], scores: dict[str, Any], arm: str, group: str) -> bool:
    """Every item of the group's benchmarks scores exactly as the base's (primary column), item by item."""
    benches = [b for b, v in scores["base"].items() if v["group"] == group]
    col = {b: scores["base"][b]["primary"] for b in benches}
    rows = [(per_item["base"].get(b, {}), per_item.get(arm, {}).get(b, {})) for b in benches]
    return bool(benches) and all(set(base) == set(mine) and all(base[i].get(col[b]) == mine[i].get(col[b])
                                                                 for i in base) for b, (base, mine) in zip(benches, rows))


def _zero_notes(scores: dict[str, Any], per_item: dict[str, Any], analysis: dict[str, Any],
                manifests: dict[str, Any]) -> list[str]:
    """A sentence for each figure that is zero by construction, so nobody reads it as a finding: an arm that
    never trained (an on-policy arm that accepted no sample) and groups an arm answers exactly as the base."""
    notes = []
    for arm in analysis:
        summary = manifests.get(f"train_{arm}", {}).get("summary") or {}
        if summary.get("accepted") == 0:
            notes.append(f"**{arm}** accepted none of its {summary.get('samples', '?')} sampled answers, so it never "
                         "trained: it is the base model, and its gains, TI and shift are 0 (or undefined) by "
                         "construction, not a finding.")
        same = [g for g in GROUPS if _same_as_base(per_item, scores, arm, g)]
        if same:
            names = "every" if len(same) == len(GROUPS) else "every " + " and ".join(GROUP_NAME[g].lower() for g in same)
            other = [GROUP_NAME[g].lower() for g in same if g != "math"]
            ti = (" TI divides by the math gain, so it is undefined, not a finding." if "math" in same else
                  f" So is its TI for {' and '.join(other)}.")
            notes.append(f"**{arm}** answers {names} item exactly as the base does: those gains are 0 with a "
                         "zero-width interval by construction (no bootstrap resample can differ)." + ti)
    return ["", "Zero by construction:", "", *(f"- {n}" for n in notes)] if notes else []


def _arms_section(recipe: dict[str, Any], models: list[str]) -> list[str]:
    """What each compared model is, from the arm registry: label, role, what it does, the recipe sections its
    results depend on (so an arm registered by a plug-in is described with no edit here). Models the registry
    does not know are the recipe's `compare:` references (audited full models)."""
    from kit.registry import ARMS

    compare = recipe.get("compare") or {}
    rows = []
    for m in models:
        if m == "base":
            rows.append(("base", "base model", "reference", f"`{recipe.get('model', {}).get('id', '?')}`, no adapter",
                         "model"))
        elif m in ARMS:
            a = ARMS.get(m)
            rows.append((m, a.label, a.role, a.description or "–", ", ".join(a.sections) or "–"))
        else:
            ref = compare.get(m) if isinstance(compare, dict) else None
            ref_id = ref.get("id", m) if isinstance(ref, dict) else m
            rows.append((m, m, "compared", f"audited full model `{ref_id}`", "compare"))
    lines = ["| model | label | role | what it is | recipe sections |", "|---|---|---|---|---|"]
    for cells in rows:  # a '|' inside a cell would split it in report.html
        lines.append("| " + " | ".join(str(c).replace("|", "/") for c in cells) + " |")
    return lines


def build(run_dir: str | Path) -> dict[str, Any]:
    run_dir = Path(run_dir)
    recipe_path = run_dir / "recipe.resolved.yaml"
    evaluated = EvalResults.read(run_dir)
    if not recipe_path.exists() or evaluated is None:
        raise KitError(f"{run_dir} has no finished evaluation (need recipe.resolved.yaml and eval/scores.json)")
    scores, per_item = evaluated.scores, evaluated.per_item
    recipe = yaml.safe_load(recipe_path.read_text())
    models = list(scores)
    analysis = analyse(run_dir, recipe, scores, per_item)
    Analysis(analysis).write(run_dir)
    probed = ProbeResults.read(run_dir)
    probe = probed.as_dict() if probed else None
    from kit.stages import Ledger

    ledger = Ledger(run_dir)  # a corrupt manifest is a one-line error there, not a traceback here
    found = {p.stem: ledger.manifest(p.stem) for p in (run_dir / "manifests").glob("*.json")
             if not p.name.endswith(".started.json")}
    manifests = dict(sorted(found.items(), key=lambda kv: kv[1].get("started_at", 0)))  # pipeline order
    made = make_figures(run_dir, recipe, scores, analysis, probe)
    latent_lines, probe = _latent_section(probe)

    level = 100 * float(recipe.get("report", {}).get("ci", 0.95))  # the run's report.ci
    lines = [f"# Reasoning-transfer report: {recipe['name']}", "",
             "The paper (Huan et al., arXiv 2507.00432) finds that math SFT on teacher traces often fails to transfer "
             "and erodes non-reasoning skills, while on-policy RL (GRPO) on the same problems transfers and stays "
             "close to the base model. This report measures the same quantities for this run.", ""]
    lines += [f"- machine: {machine(manifests)}", f"- seed {recipe['seed']}; scale {recipe['scale']}; thinking mode "
              f"{recipe['chat']['enable_thinking']}",
              "- stage wall times: " + ", ".join(f"{k} {v['seconds']:.1f} s" for k, v in manifests.items()),
              "- versions: " + ", ".join(f"{k} {v}" for k, v in next(iter(manifests.values()), {}).get("versions", {}).items()),
              ""]
    if recipe["model"]["id"] == "tiny-random-qwen3":
        lines += ["> This run uses a random-weight tiny model: its scores are noise and say nothing about the paper's "
                  "finding. It checks that every stage works.", ""]
    lines += ["## Arms", "", *_arms_section(recipe, models), "",
              "## Scores", "", *_score_table(scores, analysis, models), "",
              f"Scores in %, {level:g}% paired-bootstrap intervals over items (whole clusters) in brackets. "
              "`(paper's code)` rows score the same outputs the way the paper's harness did (maths: the last box "
              "anywhere in the output, reasoning included, finished or not). Primary columns credit an output cut "
              "off by the length cap only for an explicit answer (a complete `\\boxed{}` or an answer marker), "
              "never for a stray number or letter; eval/scores.json gives each benchmark's `unfinished_rate`.", "",
              "### Group averages", "", *_group_table(scores, analysis, models), "",
              "## Transferability Index", "", *_ti_table(analysis), "",
              "TI v2 is the paper's definition (gain over base, z-scaled by the group's spread, signed square root, "
              "headroom weights, divided by the math index); v1 is the relative-gain version of the first arXiv "
              "version. TI divides by the math gain: when the math gain's interval includes zero the ratio can take "
              "any size or sign, and the table says the result is inconclusive.", ""]
    for arm, a in analysis.items():
        lines.append(f"- **{arm}**: {verdict(a)}")
    lines += _zero_notes(scores, per_item, analysis, manifests)
    trunc = [(m, b, v["truncation_rate"]) for m in models for b, v in scores[m].items() if v["truncation_rate"] > 0]
    if trunc:
        lines += ["", "Truncated thinking (no `</think>`), share of samples: " +
                  ", ".join(f"{m}/{b} {100 * r:.0f}%" for m, b, r in trunc)]
    from kit.eval.code_tests import sandbox_report_lines  # the code sandbox's isolation (sandbox_ns column)
    lines += sandbox_report_lines(scores)
    lines += ["", *_paper_section(recipe, scores, analysis)]
    lines += ["", "## Latent and token shift", "", *latent_lines, "",
              "## Settings and deviations from the paper", "",
              "Each setting as the paper (text, or its released scripts where they differ) states it, this run's "
              "value from recipe.resolved.yaml, and why the kit differs; 'not offered' marks an option this run's "
              "kit did not have.", "", *deviations.table(recipe), "", "## Plots", ""]
    for title, path in made:
        lines += [f"### {title}", "", f"![{title}](plots/{path.name})", ""]
    md = "\n".join(lines) + "\n"
    (run_dir / "report.md").write_text(md)
    (run_dir / "report.html").write_text(markdown_to_html(md, run_dir, title=f"Report: {recipe['name']}"))
    return {"report": str(run_dir / "report.md"), "plots": len(made),
            "arms": {a: {"TI_other": r["ti_v2"]["TI_other"], "TI_non": r["ti_v2"]["TI_non"]} for a, r in analysis.items()}}
