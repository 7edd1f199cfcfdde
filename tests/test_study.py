"""The multi-seed study's verdicts: fixed criteria, checked on made-up per-seed numbers."""

from __future__ import annotations

import json

from kit.study import verdict, write_report


def test_verdict_words():
    assert verdict([10.0, 12.0, 9.0], higher_is_finding=True)[0] == "reproduced"
    assert verdict([-0.2, -0.3, -0.25], higher_is_finding=False)[0] == "reproduced"
    assert verdict([10.0, -30.0, 8.0], True)[0].startswith("weakly reproduced")
    assert verdict([-10.0, -12.0, -9.0], True)[0] == "reversed"
    assert verdict([1.0, -1.0, float("nan")], True)[0] == "not reproduced"
    assert verdict([5.0, float("nan"), float("nan")], True)[0] == "undetermined"
    assert "3/3 seeds" in verdict([1.0, 2.0, 3.0], True)[1]


def test_study_report(tmp_path):
    per_seed = {s: {"sft": {"TI_other": 20.0 + s, "TI_non": -50.0 - s, "math_gain": 10.0, "pca_d": 3.0 + s},
                    "grpo": {"TI_other": 60.0, "TI_non": 30.0 + s, "math_gain": 8.0, "pca_d": 0.5}}
                for s in (0, 1, 2)}
    findings = write_report("toy", [0, 1, 2], per_seed, tmp_path, {0: 1.0, 1: 1.0, 2: 1.0})
    assert findings["TI_non"]["verdict"] == "reproduced" and findings["pca_d"]["verdict"] == "reproduced"
    assert findings["token_kl"]["verdict"] == "undetermined"
    md = (tmp_path / "study.md").read_text()
    assert "| grpo | TI_non | 30 | 31 | 32 |" in md and "**reproduced**" in md
    assert (tmp_path / "ti_by_seed.png").read_bytes()[:4] == b"\x89PNG"
    assert json.loads((tmp_path / "study.json").read_text())["seeds"] == [0, 1, 2]
