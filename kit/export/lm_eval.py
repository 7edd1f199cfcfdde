"""`python -m kit.export lm-eval RUN`: a finished run's scores as lm-evaluation-harness result files, one per
evaluated model (base, each arm, each compare model), so the kit's numbers sit beside `lm_eval --output_path`
output in the tools that read it (its table printer `lm_eval.utils.make_table`, the leaderboard parsers, W&B).

The shape is lm-eval 0.4.13's (docs/lm-eval.md): `simple_evaluate` returns the dict built in
lm_eval/evaluator_utils.py:157-170 (`results`, `groups` when a group aggregates, `group_subtasks`, `configs`,
`versions`, `n-shot`, `higher_is_better`, `n-samples`) plus `config`/`date` (lm_eval/evaluator.py:394-420);
`EvaluationTracker.save_results_aggregated` (lm_eval/loggers/evaluation_tracker.py:230-281) adds
`task_hashes` and the tracker's fields (`model_name`, `model_name_sanitized`, ...) and writes
`<output_path>/<model_name_sanitized>/results_<ISO date with '-' for ':'>.json`. Metric keys are
`"<metric>,<filter>"` and `"<metric>_stderr,<filter>"` (evaluator_utils.py:203-225).

Tasks lm-eval has with the kit's prompt and scorer (the cross-check, tests/test_lmeval_crosscheck.py) carry
lm-eval's task and metric names: ifeval, coqa, headqa_en, mc_taco. The others keep the kit's benchmark name and
column names (`"<column>,none"`): their lm-eval namesakes (gpqa_diamond_*, minerva_math500, aime24, ...)
prompt or extract differently, and a shared name would invite comparing unlike numbers. Everything the kit
knows beyond lm-eval's shape (all its columns, primary/paper columns, truncation) is under `EXTRAS_KEY`.

Stderr: lm-eval's own formulas on the kit's per-item scores (eval/item_scores.json, samples averaged per item):
`mean_stderr` (sample std / sqrt(n), lm_eval/api/metrics.py:337-343) where the kit's score is the mean of its
per-item scores; a seeded bootstrap for MC-TACO's F1 (lm-eval bootstraps `f1_score`, metrics.py:605-618);
"N/A" where lm-eval gives none (IFEval's instruction-level accuracies) or the score is not a plain item mean.
"""

from __future__ import annotations

import json
import math
import random
import re
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from kit.artefacts import SCORES, EvalResults, samples_path, write_json
from kit.errors import KitError

LM_EVAL_VERSION = "0.4.13"  # the version whose shape and scorers this module was checked against
EXTRAS_KEY = "reasoning_transfer_kit"
BOOTSTRAP_ITERS = 1000
BOOTSTRAP_SEED = 1234


@dataclass(frozen=True)
class TaskMap:
    """A kit benchmark as an lm-eval task: `metrics` are (kit column, lm-eval metric, filter)."""

    task: str
    version: float
    metrics: tuple[tuple[str, str, str], ...]
    counterpart: str = ""


# Versions are the task YAMLs' `metadata.version` in lm-eval 0.4.13.
LM_EVAL_TASKS: dict[str, TaskMap] = {
    "ifeval": TaskMap("ifeval", 4.0, (("prompt_strict", "prompt_level_strict_acc", "none"),
                                       ("paper", "inst_level_strict_acc", "none"),
                                       ("prompt_loose", "prompt_level_loose_acc", "none"),
                                       ("inst_loose", "inst_level_loose_acc", "none"))),
    # lm-eval's parse is the kit's `paper` parse (first line of the stripped output); `fixed` is the kit's own
    # parse of the text after the reasoning, a filter lm-eval does not have.
    "coqa": TaskMap("coqa", 3.0, (("paper_em", "em", "none"), ("paper", "f1", "none"),
                                  ("fixed_em", "em", "kit-fixed"), ("fixed", "f1", "kit-fixed"))),
    "headqa": TaskMap("headqa_en", 1.0, (("acc", "acc", "none"), ("acc_norm", "acc_norm", "none"))),
    "mc_taco": TaskMap("mc_taco", 1.0, (("paper", "acc", "none"), ("f1", "f1", "none"))),
}
# lm-eval tasks of the same benchmark whose prompt or answer extraction differs from the paper's (so the kit's
# number is exported under the kit's name).
COUNTERPARTS: dict[str, str] = {
    "gpqa_diamond": "gpqa_diamond_cot_zeroshot / gpqa_diamond_zeroshot (other prompt; '(A)' or loglik answers)",
    "math500": "minerva_math500 / hendrycks_math500 (other prompt and answer checker)",
    "aime24": "aime24 (other prompt and decode)", "aime25": "aime25 (other prompt and decode)",
    "acpbench": "acp_mcq_cot_2shot group (the paper's fork; the kit writes its own two shots)",
    "halueval": "none in lm-eval 0.4.13 (the paper's fork only)",
    "olympiadbench": "none in lm-eval 0.4.13 (the paper's fork's `olympiad`)",
    "livecodebench": "none in lm-eval 0.4.13",
}
NO_STDERR = {("ifeval", "inst_level_strict_acc"), ("ifeval", "inst_level_loose_acc")}  # agg_inst_level_acc
N_SHOT = {"acpbench": 2}
NOT_METRICS = {"sandbox_ns"}  # LiveCodeBench's sandbox-isolation flag (kit.eval.code_tests): a fact, not a score
GROUP_NAMES = {"math": "kit_math_reasoning", "other": "kit_other_reasoning", "non": "kit_non_reasoning"}

_SANITIZE = re.compile(r"[\"<>:/|\\?*\[\]]+")


def sanitize_model_name(name: str) -> str:
    """lm-eval's folder name for a model (lm_eval/utils.py:300-304)."""
    return _SANITIZE.sub("__", name)


def mean_stderr(values: list[float]) -> float | str:
    """lm-eval's closed form for a `mean` aggregation; "N/A" for fewer than two values, as lm-eval writes."""
    n = len(values)
    if n < 2:
        return "N/A"
    mu = sum(values) / n
    return math.sqrt(sum((x - mu) ** 2 for x in values) / (n - 1)) / math.sqrt(n)


def bootstrap_f1_stderr(golds: list[int], preds: list[int], iters: int = BOOTSTRAP_ITERS,
                        seed: int = BOOTSTRAP_SEED) -> float | str:
    """Std of F1 (positive class) over `iters` resamples of the items, seeded so an export is reproducible
    (lm-eval bootstraps the same statistic with its own draws and 100,000 iterations)."""
    from kit.eval.scoring.choice import binary_f1

    n = len(golds)
    if n < 2:
        return "N/A"
    rng = random.Random(seed)
    stats = []
    for _ in range(iters):
        idx = [rng.randrange(n) for _ in range(n)]
        stats.append(binary_f1([golds[i] for i in idx], [preds[i] for i in idx]))
    mu = sum(stats) / iters
    return math.sqrt(sum((s - mu) ** 2 for s in stats) / (iters - 1))


def _stderr(bench: str, column: str, metric: str, score: float, items: dict[str, dict[str, Any]]) -> float | str:
    task = LM_EVAL_TASKS.get(bench)
    if task and (task.task, metric) in NO_STDERR:
        return "N/A"
    rows = list(items.values())
    if bench == "mc_taco" and column == "f1":
        if not rows or "_pred_yes" not in rows[0]:
            return "N/A"
        return bootstrap_f1_stderr([int(r["_gold_yes"] >= 0.5) for r in rows],
                                   [int(r["_pred_yes"] >= 0.5) for r in rows])
    if len({r.get("stratum") for r in rows}) > 1:
        return "N/A"  # a mean of sub-task means (HaluEval, ACPBench), not lm-eval's plain mean
    values = [float(r[column]) for r in rows if column in r]
    if len(values) != len(rows) or not values or abs(sum(values) / len(values) - score) > 1e-9:
        return "N/A"  # not a plain mean of per-item scores
    return mean_stderr(values)


def _visible(scores: dict[str, float]) -> dict[str, float]:
    return {k: float(v) for k, v in scores.items() if not k.startswith("_")}


def _metric_triples(bench: str, scores: dict[str, float]) -> list[tuple[str, str, str]]:
    """(kit column, metric, filter) for the columns present."""
    task = LM_EVAL_TASKS.get(bench)
    if task:
        return [t for t in task.metrics if t[0] in scores]
    return [(col, col, "none") for col in _visible(scores) if col not in NOT_METRICS]


def task_name(bench: str) -> str:
    return LM_EVAL_TASKS[bench].task if bench in LM_EVAL_TASKS else bench


def _bench_facts(bench: str) -> dict[str, Any]:
    """The registry's facts on a benchmark (full size, source, kind, decode); {} for one not registered here."""
    from kit.eval import benchmarks

    try:
        b = benchmarks.get(bench)
    except KitError:
        return {}
    src = getattr(b, "source", None)
    return {"full_size": b.full_size, "kind": b.kind, "decode": asdict(b.decode),
            "source": {"dataset_path": src.path, "dataset_name": src.name, "test_split": src.split,
                       "revision": src.revision} if src is not None else {}}


def _first_decode(run_dir: Path, model: str, bench: str) -> dict[str, Any] | None:
    """The decode settings the eval stage used (the first row of the log carries them); None if absent."""
    path = samples_path(run_dir, model, bench)
    if not path.is_file():
        return None
    with open(path) as f:
        line = f.readline()
    try:
        row = json.loads(line)
    except ValueError:
        return None
    return row.get("decode") if isinstance(row, dict) else None


def _recipe(run_dir: Path) -> dict[str, Any]:
    """The run's saved recipe as plain YAML (names and ids only; not re-validated); {} when absent."""
    import yaml

    from kit.rundir import RESOLVED

    path = run_dir / RESOLVED
    if not path.is_file():
        return {}
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise KitError(f"'{path}' is not readable YAML ({str(exc).splitlines()[0]})") from None
    return data if isinstance(data, dict) else {}


def _model_identity(run_dir: Path, recipe: dict[str, Any], model: str) -> tuple[str, str, str]:
    """(role, model_name, model_args) in lm-eval's terms: a PEFT arm is its base plus `peft=<adapter>`."""
    if not recipe:  # no saved recipe: the kit's labels, nothing claimed about weights
        return ("base" if model == "base" else "model"), model, ""
    base = recipe.get("model") or {}
    base_id, rev = str(base.get("id") or "base"), str(base.get("revision") or "main")
    arms, compare = recipe.get("arms") or {}, recipe.get("compare") or {}
    if model == "base":
        return "base", base_id, f"pretrained={base_id},revision={rev}"
    if model in compare:
        ref = compare[model] or {}
        ref_id = str(ref.get("id") or model)
        return "compare", ref_id, f"pretrained={ref_id},revision={ref.get('revision') or 'main'}"
    adapter = run_dir / "arms" / model / "adapter"
    role = "arm" if (model in arms or adapter.is_dir()) else "model"
    return role, f"{base_id}+{model}", f"pretrained={base_id},revision={rev},peft={adapter}"


def _config(bench: str, facts: dict[str, Any], decode: dict[str, Any] | None,
            triples: list[tuple[str, str, str]]) -> dict[str, Any]:
    loglik = facts.get("kind") == "loglik"
    cfg: dict[str, Any] = {"task": task_name(bench), **facts.get("source", {}),
                           "output_type": "multiple_choice" if loglik else "generate_until",
                           "num_fewshot": N_SHOT.get(bench, 0)}
    if not loglik:
        cfg["generation_kwargs"] = decode or facts.get("decode") or {}
    seen = {}
    for _, metric, _ in triples:
        seen.setdefault(metric, {"metric": metric, "aggregation": _aggregation(bench, metric),
                                 "higher_is_better": True})
    cfg["metric_list"] = list(seen.values())
    cfg["metadata"] = {"version": _version(bench), "kit_benchmark": bench}
    return cfg


def _aggregation(bench: str, metric: str) -> str:
    if (task_name(bench), metric) in NO_STDERR:
        return "agg_inst_level_acc"
    return "f1" if (bench, metric) == ("mc_taco", "f1") else "mean"


def _version(bench: str) -> float | str:
    from kit import __version__

    return LM_EVAL_TASKS[bench].version if bench in LM_EVAL_TASKS else f"kit-{__version__}"


def model_results(run_dir: Path, res: EvalResults, model: str, recipe: dict[str, Any], date: float) -> dict[str, Any]:
    """One model's results dict in lm-eval's shape (see the module docstring)."""
    from kit import __version__
    from kit.measure.ti import group_averages

    role, model_name, model_args = _model_identity(run_dir, recipe, model)
    out: dict[str, Any] = {k: {} for k in ("results", "group_subtasks", "configs", "versions", "n-shot",
                                           "higher_is_better", "n-samples")}
    extras: dict[str, Any] = {}
    primaries: dict[str, float] = {}
    groups_of: dict[str, str] = {}
    for bench, entry in res.scores[model].items():
        scores, items = entry.get("scores") or {}, res.per_item.get(model, {}).get(bench, {})
        facts, name = _bench_facts(bench), task_name(bench)
        triples = _metric_triples(bench, scores)
        row: dict[str, Any] = {"name": name, "alias": name, "sample_len": int(entry.get("n_items", len(items)))}
        for col, metric, filt in triples:
            row[f"{metric},{filt}"] = float(scores[col])
            row[f"{metric}_stderr,{filt}"] = _stderr(bench, col, metric, float(scores[col]), items)
        out["results"][name] = row
        out["group_subtasks"][name] = []
        out["configs"][name] = _config(bench, facts, _first_decode(run_dir, model, bench), triples)
        out["versions"][name] = _version(bench)
        out["n-shot"][name] = N_SHOT.get(bench, 0)
        out["higher_is_better"][name] = {metric: True for _, metric, _ in triples}
        out["n-samples"][name] = {"original": int(facts.get("full_size", entry.get("n_items", 0))),
                                  "effective": int(entry.get("n_items", len(items)))}
        extras[name] = {"kit_benchmark": bench, "lm_eval_task": LM_EVAL_TASKS[bench].task if bench in LM_EVAL_TASKS
                        else None, "lm_eval_counterpart": COUNTERPARTS.get(bench, ""),
                        **{k: entry.get(k) for k in ("group", "kind", "primary", "paper_column", "n_items",
                                                     "n_samples", "truncation_rate", "unfinished_rate")},
                        "scores": _visible(scores)}
        primary = entry.get("primary")
        if primary in scores and entry.get("group") in GROUP_NAMES:
            primaries[name], groups_of[name] = float(scores[primary]), str(entry["group"])
    out["groups"] = {}
    if primaries:
        for group, avg in group_averages(primaries, groups_of).items():
            if math.isnan(avg):
                continue
            gname = GROUP_NAMES[group]
            members = [t for t, g in groups_of.items() if g == group]
            row = {"name": gname, "alias": gname, "primary_mean,none": avg, "primary_mean_stderr,none": "N/A"}
            out["results"][gname] = out["groups"][gname] = row
            out["group_subtasks"][gname] = members
            out["versions"][gname] = f"kit-{__version__}"
            out["higher_is_better"][gname] = {"primary_mean": True}
    if not out["groups"]:
        del out["groups"]
    out["config"] = {"model": "reasoning_transfer_kit", "model_args": model_args, "batch_size": None,
                     "limit": None, "bootstrap_iters": BOOTSTRAP_ITERS, "gen_kwargs": None,
                     "random_seed": (recipe.get("eval") or {}).get("seed")}
    out.update({"git_hash": None, "date": date, "task_hashes": {}, "model_source": "reasoning_transfer_kit",
                "model_name": model_name, "model_name_sanitized": sanitize_model_name(model_name)})
    out[EXTRAS_KEY] = {
        "kit_version": __version__, "lm_eval_version_checked": LM_EVAL_VERSION, "run_dir": str(run_dir),
        "model": model, "role": role,
        "groups": "kit_<group>_reasoning: plain mean of each benchmark's primary column (kit.measure.ti)",
        "stderr": "lm-eval's mean_stderr on the kit's per-item scores (samples averaged per item); MC-TACO f1: "
                  f"bootstrap over items, {BOOTSTRAP_ITERS} draws, seed {BOOTSTRAP_SEED}; N/A where lm-eval has "
                  "none or the score is not a plain item mean",
        "tasks": extras}
    return out


def export(run_dir: Path, out: Path) -> list[Path]:
    """Write `<out>/<model_name_sanitized>/results_<date>.json` per evaluated model; returns the paths. The date
    is the eval stage's (scores.json's time), so exporting again rewrites the same files."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise KitError(f"'{run_dir}' is not a folder; give a run folder (outputs/<run>) whose eval stage finished")
    res = EvalResults.read(run_dir)
    if res is None or not res.models:
        raise KitError(f"'{run_dir}' has no finished eval stage ({SCORES} missing); run `python -m kit.run "
                       f"{run_dir / 'recipe.resolved.yaml'} --stages eval` first")
    recipe = _recipe(run_dir)
    mtime = (run_dir / SCORES).stat().st_mtime
    date_id = datetime.fromtimestamp(mtime, timezone.utc).replace(tzinfo=None).isoformat().replace(":", "-")
    paths, names = [], set()
    for model in res.models:
        data = model_results(run_dir, res, model, recipe, mtime)
        folder = data["model_name_sanitized"]
        if folder in names:  # two models under one name (e.g. a compare id equal to the base id)
            folder = sanitize_model_name(f"{data['model_name']}+{model}")
        names.add(folder)
        path = Path(out) / folder / f"results_{date_id}.json"
        write_json(path, data, indent=2)
        paths.append(path)
    return paths
