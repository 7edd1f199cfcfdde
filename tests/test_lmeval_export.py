"""`kit.export.lm_eval.export`: a finished run's eval files as lm-eval result files (docs/lm-eval.md).

The run folder is built by hand in the artefacts' schema (EvalResults, per-item scores aggregated by each
benchmark's own `aggregate`, as the eval stage does); the slow test exports a real smoke run's eval stage. Where
lm-eval is installed, its own readers (`make_table`, `get_results_filenames`, the `EvalResults` schema) read the
files back.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from kit.artefacts import EvalResults
from kit.errors import KitError
from kit.eval import benchmarks
from kit.export import lm_eval as exporter

ROOT = Path(__file__).resolve().parents[1]
MODELS = ("base", "sft", "ref")

# per-item columns as the benchmarks' scorers write them (samples already averaged)
ITEMS: dict[str, list[dict[str, float]]] = {
    "ifeval": [{"paper": 2 / 3, "prompt_strict": 0.0, "prompt_loose": 1.0, "inst_loose": 1.0, "_n_inst": 3.0,
                "_inst_strict": 2.0, "_inst_loose": 3.0},
               {"paper": 1.0, "prompt_strict": 1.0, "prompt_loose": 1.0, "inst_loose": 1.0, "_n_inst": 1.0,
                "_inst_strict": 1.0, "_inst_loose": 1.0},
               {"paper": 0.0, "prompt_strict": 0.0, "prompt_loose": 0.0, "inst_loose": 0.5, "_n_inst": 2.0,
                "_inst_strict": 0.0, "_inst_loose": 1.0}],
    "coqa": [{"paper": 0.5, "paper_em": 0.0, "fixed": 1.0, "fixed_em": 1.0},
             {"paper": 0.8, "paper_em": 1.0, "fixed": 0.2, "fixed_em": 0.0}],
    "headqa": [{"paper": 1.0, "acc": 1.0, "acc_norm": 0.0}, {"paper": 0.0, "acc": 0.0, "acc_norm": 1.0},
               {"paper": 1.0, "acc": 1.0, "acc_norm": 1.0}],
    "mc_taco": [{"paper": 1.0, "_pred_yes": 1.0, "_gold_yes": 1.0}, {"paper": 0.0, "_pred_yes": 1.0, "_gold_yes": 0.0},
                {"paper": 1.0, "_pred_yes": 0.0, "_gold_yes": 0.0}, {"paper": 0.0, "_pred_yes": 0.0, "_gold_yes": 1.0}],
    "gpqa_diamond": [{"fixed": 2 / 3, "fixed_paper_rule": 1 / 3, "paper": 1.0, "paper_strict": 2 / 3},
                     {"fixed": 0.0, "fixed_paper_rule": 1 / 3, "paper": 1.0, "paper_strict": 0.0}],
    "halueval": [{"paper": 1.0, "fixed": 1.0, "_task": 0.0}, {"paper": 0.0, "fixed": 1.0, "_task": 0.0},
                 {"paper": 1.0, "fixed": 0.0, "_task": 1.0}],
    "math500": [{"paper": 1.0, "fixed": 1.0}, {"paper": 0.0, "fixed": 1 / 3}],
    "livecodebench": [{"paper": 1.0, "sandbox_ns": 1.0}, {"paper": 0.0, "sandbox_ns": 1.0}],
}
STRATA = {"halueval": ("qa", "qa", "dialogue")}


def _shifted(cols: dict[str, float], k: int) -> dict[str, float]:
    """A different model's scores: swap 0/1 score values for model k (hidden columns kept), so models differ."""
    if k == 0:
        return dict(cols)
    return {c: (1.0 - v if not c.startswith("_") and v in (0.0, 1.0) and c != "sandbox_ns" else v)
            for c, v in cols.items()}


def make_run(run_dir: Path, with_recipe: bool = True) -> EvalResults:
    scores: dict[str, Any] = {}
    per_item: dict[str, Any] = {}
    for k, model in enumerate(MODELS):
        for name, rows in ITEMS.items():
            bench = benchmarks.get(name)
            cols = [_shifted(r, k) for r in rows]
            strata = STRATA.get(name, (None,) * len(rows))
            items = {f"{name}-{i}": {"cluster": f"{name}-{i}", "stratum": strata[i], "weight": 1.0, **c}
                     for i, c in enumerate(cols)}
            per_item.setdefault(model, {})[name] = items
            scores.setdefault(model, {})[name] = {
                "group": bench.group, "kind": bench.kind, "primary": bench.primary, "paper_column": bench.paper_column,
                "n_items": len(rows), "n_samples": len(rows), "truncation_rate": 0.0, "unfinished_rate": 0.0,
                "scores": bench.aggregate(cols)}
    res = EvalResults(scores, per_item)
    res.write(run_dir)
    if with_recipe:
        (run_dir / "recipe.resolved.yaml").write_text(
            "name: t\narms: [sft]\nmodel:\n  id: Qwen/Qwen3-0.6B-Base\n  revision: abc123\n"
            "compare:\n  ref:\n    id: org/full-ft\n    revision: main\neval:\n  seed: 7\n")
    return res


@pytest.fixture()
def exported(tmp_path: Path) -> tuple[EvalResults, list[Path], dict[str, dict[str, Any]]]:
    run = tmp_path / "run"
    res = make_run(run)
    paths = exporter.export(run, tmp_path / "lm-eval")
    data = {json.loads(p.read_text())[exporter.EXTRAS_KEY]["model"]: json.loads(p.read_text()) for p in paths}
    return res, paths, data


def test_one_file_per_model_in_lm_evals_layout(exported, tmp_path: Path) -> None:
    _, paths, data = exported
    assert len(paths) == len(set(paths)) == len(MODELS) and set(data) == set(MODELS)
    rel = sorted(str(p.relative_to(tmp_path / "lm-eval")) for p in paths)
    assert sorted(r.split("/")[0] for r in rel) == sorted(["Qwen__Qwen3-0.6B-Base", "Qwen__Qwen3-0.6B-Base+sft",
                                                      "org__full-ft"])
    assert all(Path(r).name.startswith("results_") and r.endswith(".json") for r in rel)
    assert data["sft"]["config"]["model_args"].endswith("peft=" + str(tmp_path / "run" / "arms" / "sft" / "adapter"))
    assert data["ref"]["model_name"] == "org/full-ft" and data["base"][exporter.EXTRAS_KEY]["role"] == "base"
    assert data["base"]["config"]["random_seed"] == 7
    # exporting again rewrites the same files (the date is the eval stage's)
    assert sorted(exporter.export(tmp_path / "run", tmp_path / "lm-eval")) == sorted(paths)


def test_every_metric_is_the_kit_score(exported) -> None:
    res, _, data = exported
    for model in MODELS:
        results = data[model]["results"]
        for bench, entry in res.scores[model].items():
            task = exporter.task_name(bench)
            row = results[task]
            triples = exporter._metric_triples(bench, entry["scores"])
            assert triples, bench
            for col, metric, filt in triples:
                assert row[f"{metric},{filt}"] == entry["scores"][col], (model, bench, col)
            visible = [k for k in entry["scores"] if not k.startswith("_")]
            assert data[model][exporter.EXTRAS_KEY]["tasks"][task]["scores"] == {k: entry["scores"][k] for k in visible}
            assert data[model]["n-samples"][task] == {"original": benchmarks.get(bench).full_size,
                                                      "effective": entry["n_items"]}


def test_lm_eval_names_where_lm_eval_has_the_task(exported) -> None:
    res, _, data = exported
    r, kit = data["base"]["results"], {b: e["scores"] for b, e in res.scores["base"].items()}
    assert r["ifeval"]["inst_level_strict_acc,none"] == kit["ifeval"]["paper"] == 3 / 6  # over instructions
    assert r["ifeval"]["prompt_level_strict_acc,none"] == kit["ifeval"]["prompt_strict"] == 1 / 3
    assert r["coqa"]["f1,none"] == kit["coqa"]["paper"] and r["coqa"]["f1,kit-fixed"] == kit["coqa"]["fixed"]
    assert r["mc_taco"]["acc,none"] == kit["mc_taco"]["paper"] and r["mc_taco"]["f1,none"] == kit["mc_taco"]["f1"]
    assert set(r["ifeval"]) >= {"prompt_level_strict_acc,none", "inst_level_strict_acc,none",
                                "prompt_level_loose_acc,none", "inst_level_loose_acc,none"}
    assert {"em,none", "f1,none", "em,kit-fixed", "f1,kit-fixed"} <= set(r["coqa"])
    assert {"acc,none", "acc_norm,none"} <= set(r["headqa_en"]) and "headqa" not in r
    assert {"acc,none", "f1,none"} <= set(r["mc_taco"])
    assert "fixed,none" in r["gpqa_diamond"] and "sandbox_ns,none" not in r["livecodebench"]
    assert data["base"]["versions"]["ifeval"] == 4.0 and data["base"]["versions"]["coqa"] == 3.0


def test_stderr_is_lm_evals_formula_on_item_scores(exported) -> None:
    res, _, data = exported
    for model in MODELS:
        r, items = data[model]["results"], res.per_item[model]
        coqa_f1 = [v["paper"] for v in items["coqa"].values()]
        mu = sum(coqa_f1) / len(coqa_f1)
        want = math.sqrt(sum((x - mu) ** 2 for x in coqa_f1) / (len(coqa_f1) - 1) / len(coqa_f1))
        assert r["coqa"]["f1_stderr,none"] == pytest.approx(want)
        assert r["ifeval"]["inst_level_strict_acc_stderr,none"] == "N/A"  # lm-eval has none for it
        assert isinstance(r["ifeval"]["prompt_level_strict_acc_stderr,none"], float)
        assert r["halueval"]["fixed_stderr,none"] == "N/A"  # a mean of task means
        assert 0.0 < r["mc_taco"]["f1_stderr,none"] < 1.0  # bootstrap over items


def test_groups_are_the_kit_group_averages(exported) -> None:
    from kit.measure.ti import group_averages

    res, _, data = exported
    for model in MODELS:
        primaries = {b: e["scores"][e["primary"]] for b, e in res.scores[model].items()}
        groups = {b: e["group"] for b, e in res.scores[model].items()}
        for g, avg in group_averages(primaries, groups).items():
            name = exporter.GROUP_NAMES[g]
            assert data[model]["groups"][name]["primary_mean,none"] == pytest.approx(avg)
            assert data[model]["results"][name] == data[model]["groups"][name]
            members = data[model]["group_subtasks"][name]
            assert sorted(members) == sorted(exporter.task_name(b) for b, gg in groups.items() if gg == g)


def test_lm_evals_own_readers_accept_the_files(exported) -> None:
    pytest.importorskip("lm_eval", reason="lm-eval is not installed; its readers cannot be run")
    from lm_eval.result_schema import EvalResults as LmEvalResults
    from lm_eval.utils import get_latest_filename, get_results_filenames, make_table

    _, paths, data = exported
    assert get_results_filenames([str(p) for p in paths]) == [str(p) for p in paths]
    assert get_latest_filename([str(p) for p in paths]) in [str(p) for p in paths]
    known = set(LmEvalResults.__annotations__)
    for model, d in data.items():
        assert set(d) - {exporter.EXTRAS_KEY} <= known, set(d) - known
        assert {"results", "configs", "versions", "n-shot", "higher_is_better", "n-samples", "config",
                "date"} <= set(d)
        table = make_table(d)
        assert "inst_level_strict_acc" in table and "headqa_en" in table
        assert "kit_non_reasoning" in make_table(d, "groups")
        for task, row in d["results"].items():
            assert {"alias", "name"} <= set(row)
            metrics = [k for k in row if "," in k and "_stderr," not in k]
            assert all(k.replace(",", "_stderr,", 1) in row for k in metrics), task
            assert set(d["higher_is_better"][task]) == {k.split(",")[0] for k in metrics}


def test_without_a_recipe_the_kit_names_are_used(tmp_path: Path) -> None:
    make_run(tmp_path / "run", with_recipe=False)
    paths = exporter.export(tmp_path / "run", tmp_path / "out")
    assert sorted(p.parent.name for p in paths) == ["base", "ref", "sft"]
    assert all(json.loads(p.read_text())["config"]["model_args"] == "" for p in paths)


def test_a_run_without_eval_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "run").mkdir()
    with pytest.raises(KitError) as err:
        exporter.export(tmp_path / "run", tmp_path / "out")
    assert "no finished eval stage" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(KitError) as err:
        exporter.export(tmp_path / "missing", tmp_path / "out")
    assert "\n" not in str(err.value)
    assert not (tmp_path / "out").exists()


def test_a_cut_off_scores_file_is_one_line(tmp_path: Path) -> None:
    make_run(tmp_path / "run")
    (tmp_path / "run" / "eval" / "scores.json").write_text('{"base": {"ifeval": ')
    with pytest.raises(KitError) as err:
        exporter.export(tmp_path / "run", tmp_path / "out")
    assert "redo eval" in str(err.value) and "\n" not in str(err.value)


@pytest.mark.slow
def test_export_of_a_smoke_run(tmp_path: Path) -> None:
    """The smoke recipe's eval stage (tiny random model, fixtures, CPU), then the export of its run folder."""
    cmd = [sys.executable, "-m", "kit.run", "recipes/smoke.yaml", f"output_dir={tmp_path}", "arms=[sft]",
           "--stages", "data,train_sft,eval"]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-2000:]
    run = next(p.parent.parent for p in tmp_path.glob("*/eval/scores.json"))
    res = EvalResults.read(run)
    paths = exporter.export(run, tmp_path / "lm-eval")
    assert len(paths) == len(res.models) == 2
    for p in paths:
        d = json.loads(p.read_text())
        model = d[exporter.EXTRAS_KEY]["model"]
        for bench, entry in res.scores[model].items():
            for col, metric, filt in exporter._metric_triples(bench, entry["scores"]):
                assert d["results"][exporter.task_name(bench)][f"{metric},{filt}"] == entry["scores"][col]
        assert d["configs"]["ifeval"]["generation_kwargs"]["temperature"] == 0.0  # from the log's decode


def test_the_cli_writes_one_file_per_model(tmp_path: Path, capsys) -> None:
    """`python -m kit.export lm-eval RUN` (default folder <run>/export/lm-eval); a run without eval is exit 2."""
    from kit.export.__main__ import main

    run = tmp_path / "run"
    results = make_run(run)
    assert main(["lm-eval", str(run)]) == 0
    written = sorted((run / "export" / "lm-eval").glob("*/results_*.json"))
    assert len(written) == len(results.scores) and f"wrote {len(written)} lm-eval" in capsys.readouterr().out
    assert main(["lm-eval", str(tmp_path / "empty")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
