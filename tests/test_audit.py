"""The audit path: published full models evaluated beside the base with no training, same report."""

from __future__ import annotations

import json

import pytest

from kit.models import build_tiny
from kit.recipe import ModelCfg, TinyCfg
from tests.conftest import ROOT, run_kit


@pytest.mark.slow
def test_audit_of_a_full_model(tmp_path, kit_cache):
    other = build_tiny(ModelCfg(tiny=TinyCfg(seed=7)), tmp_path / "models")  # stands in for a published model
    res = run_kit(str(ROOT / "recipes" / "smoke.yaml"), f"output_dir={tmp_path}", "arms=[]",
                  f"compare={{published: {{id: '{other}'}}}}", "eval.benchmarks=[math500, headqa, ifeval]",
                  "report.paper_rows={base: Qwen3-14B-Base, published: 'UniReason-Qwen3-14B (RL)'}")
    assert res.returncode == 0, res.stdout[-2000:] + res.stderr[-2000:]
    run_dir = tmp_path / "smoke"
    assert not (run_dir / "data").exists() and not (run_dir / "manifests" / "data.json").exists()
    scores = json.loads((run_dir / "eval" / "scores.json").read_text())
    assert set(scores) == {"base", "published"}
    probe = json.loads((run_dir / "probe" / "results.json").read_text())
    assert "published" in probe["arms"] and probe["arms"]["published"]["cka"]["cka"]
    # a different random model really is different: the shift is not zero
    assert any(v > 0 for v in probe["arms"]["published"]["cka"]["one_minus_cka"])
    report = (run_dir / "report.md").read_text()
    assert "## Published numbers beside this run" in report and "| published |" in report
    assert "60.4" in report  # Qwen3-14B-Base's MATH500 in the paper


@pytest.mark.parametrize("overrides, fragment", [
    (["arms=[]"], "nothing to compare with the base"),
    (["report.paper_rows={base: Qwen3-14B-Bse}"], "did you mean 'Qwen3-14B-Base'?"),
])
def test_audit_recipe_validation(tmp_path, capsys, overrides, fragment):
    """In-process (a subprocess costs seconds of imports for a one-line error): exit 2, one `error:` line."""
    from kit.run import main

    rc = main([str(ROOT / "recipes" / "smoke.yaml"), f"output_dir={tmp_path}", *overrides])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
