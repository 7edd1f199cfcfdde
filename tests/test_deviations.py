"""The report's settings table: paper value | this run's value (from the saved recipe) | same? | why."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import yaml

from kit import recipe as R
from kit.report import deviations
from kit.report.build import build


def _row(recipe: dict, name: str) -> tuple[str, str, str, str, str]:
    (row,) = [r for r in deviations.rows(recipe) if r[0] == name]
    return row


def test_rows_read_the_recipe_and_judge_against_the_paper():
    d = R.from_dict({"lora": {"r": 32, "alpha": 64}, "sft": {"learning_rate": 5e-5},
                     "grpo": {"learning_rate": 1e-5}}).to_dict()
    lora = _row(d, "fine-tuning")
    assert "r=32, alpha=64" in lora[2] and "alpha/r = 2" in lora[2] and lora[3] == "no"
    assert _row(d, "SFT learning rate")[2:4] == ("5e-05", "yes")
    assert _row(d, "RL learning rate")[2:4] == ("1e-05", "no")
    ratio = _row(d, "SFT / RL learning-rate ratio")
    assert ratio[2] == "5x" and ratio[3] == "no" and "50x" in ratio[1]
    paper = R.from_dict({"sft": {"learning_rate": 5e-5}, "grpo": {"learning_rate": 1e-6}}).to_dict()
    assert _row(paper, "SFT / RL learning-rate ratio")[2:4] == ("50x", "yes")
    assert _row(d, "SFT / RL learning-rate ratio")[4] != deviations.SAME
    assert _row(paper, "SFT / RL learning-rate ratio")[4] == deviations.SAME
    # every row cites a source and none carries a '|' that would split the HTML table
    for row in deviations.rows(d):
        assert "[" in row[1] and all("|" not in c for c in row)


def test_options_missing_from_an_older_recipe_show_not_offered():
    d = R.from_dict({}).to_dict()
    for dotted in ("grpo.overlong_buffer", "grpo.dynamic_sampling", "probe.pca_texts", "data.rl_problems"):
        section, key = dotted.split(".")
        d[section].pop(key, None)
    assert _row(d, "DAPO overlong penalty")[2] == deviations.NOT_OFFERED
    assert _row(d, "DAPO dynamic sampling")[2] == deviations.NOT_OFFERED
    assert deviations.NOT_OFFERED in _row(d, "PCA texts")[2]
    assert deviations.NOT_OFFERED in _row(d, "training problems")[2]
    d["grpo"]["overlong_buffer"], d["grpo"]["overlong_penalty"] = 4096, 1.0
    d["probe"]["pca_texts"] = "paper"
    assert _row(d, "DAPO overlong penalty")[2:4] == ("buffer 4096 tokens, factor 1", "yes")
    assert _row(d, "PCA texts")[2].startswith("paper:") and _row(d, "PCA texts")[3] == "yes"


def _fake_run(run_dir: Path, recipe: dict) -> None:
    """The files report/build.py needs: a saved recipe and a one-benchmark evaluation of the base."""
    (run_dir / "eval").mkdir(parents=True)
    (run_dir / "recipe.resolved.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    scores = {"base": {"math500": {"group": "math", "primary": "paper", "paper_column": "paper",
                                   "scores": {"paper": 0.5}, "n_items": 2, "truncation_rate": 0.0}}}
    items = {"base": {"math500": {"0": {"paper": 1.0, "cluster": "0"}, "1": {"paper": 0.0, "cluster": "1"}}}}
    (run_dir / "eval" / "scores.json").write_text(json.dumps(scores))
    (run_dir / "eval" / "item_scores.json").write_text(json.dumps(items))


def test_report_md_and_html_show_the_runs_values_and_follow_a_change(tmp_path):
    recipe = R.from_dict({"sft": {"learning_rate": 2e-4}, "grpo": {"learning_rate": 2e-5, "weight_decay": 0.1},
                          "lora": {"r": 16, "alpha": 16}}).to_dict()
    run_dir = tmp_path / "run"
    _fake_run(run_dir, recipe)
    build(run_dir)
    md, page = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()
    assert "| setting | paper [source] | this run | same? | why |" in md
    assert "| SFT learning rate | 5e-5 (full FT) [§5.2; P2 A.3.1] | 0.0002 | no |" in md
    assert "| SFT / RL learning-rate ratio | 50x (5e-5 / 1e-6) [§5.2, §5.3, §8] | 10x | no |" in md
    assert "alpha/r = 1" in md
    assert "| RL weight decay | 0.1 (script, not in the text) [§5.3, §9.2] | 0.1 | yes | matches the paper |" in md
    assert "<td>SFT / RL learning-rate ratio</td>" in page and "<td>10x</td>" in page
    # change the saved recipe, rebuild from the folder alone: the table follows
    changed = copy.deepcopy(recipe)
    changed["sft"]["learning_rate"] = 5e-5
    changed["grpo"]["learning_rate"] = 1e-6
    (run_dir / "recipe.resolved.yaml").write_text(yaml.safe_dump(changed, sort_keys=False))
    build(run_dir)
    md, page = (run_dir / "report.md").read_text(), (run_dir / "report.html").read_text()
    assert "| SFT / RL learning-rate ratio | 50x (5e-5 / 1e-6) [§5.2, §5.3, §8] | 50x | yes |" in md
    assert "<td>50x</td>" in page and "<td>10x</td>" not in page



def test_a_corrupt_result_or_manifest_is_a_one_line_error(tmp_path):
    """Rebuilding a report over a cut-off scores.json or manifest names the file and the fix (kit.report prints
    a KitError as one line, exit 2) instead of a JSON traceback."""
    import pytest

    from kit.errors import KitError

    run_dir = tmp_path / "run"
    _fake_run(run_dir, R.from_dict({"name": "run"}).to_dict())
    good = (run_dir / "eval" / "scores.json").read_text()
    (run_dir / "eval" / "scores.json").write_text(good[:20])
    with pytest.raises(KitError, match=r"scores\.json' is unreadable .*--fresh --stages eval"):
        build(run_dir)
    (run_dir / "eval" / "scores.json").write_text(good)
    (run_dir / "manifests").mkdir()
    (run_dir / "manifests" / "eval.json").write_text('{"stage": "ev')
    with pytest.raises(KitError, match=r"eval\.json' is unreadable .*--fresh --stages eval"):
        build(run_dir)
    (run_dir / "manifests" / "eval.json").unlink()
    build(run_dir)  # the same folder with intact files builds


def test_the_arms_row_names_the_recipes_arms_from_the_registry_and_checks_the_paper_pair():
    d = R.from_dict({}).to_dict()
    row = _row(d, "arms")
    assert "SFT (off-policy) (sft, sft)" in row[2] and "GRPO (on-policy RL) (grpo, rl)" in row[2] and row[3] == "yes"
    d["arms"] = ["sft", "onpolicy_sft"]  # no arm with role 'rl': the paper's comparison cannot be made
    row = _row(d, "arms")
    assert "SFT on own answers (onpolicy_sft, ablation)" in row[2] and row[3] == "no" and "role 'rl'" in row[4]
