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


def test_ti_is_left_out_where_an_arm_lost_math(tmp_path):
    """TI is transfer per unit of math gain: a seed whose arm did not gain on math says nothing about it."""
    import math

    from kit.study import seed_metrics

    def arm(math_gain):
        return {"ti_v2": {"TI_other": 40.0, "TI_non": -20.0},
                "groups": {"math": {"gain": math_gain}, "other": {"gain": 1.0}, "non": {"gain": -2.0}}}

    (tmp_path / "analysis.json").write_text(json.dumps({"sft": arm(-31.0), "grpo": arm(5.0), "onpolicy_sft": arm(0.0)}))
    m = seed_metrics(tmp_path)
    assert math.isnan(m["sft"]["TI_non"]) and math.isnan(m["sft"]["TI_other"]) and m["sft"]["non_gain"] == -2.0
    assert math.isnan(m["onpolicy_sft"]["TI_non"])
    assert m["grpo"]["TI_non"] == -20.0 and m["grpo"]["TI_other"] == 40.0


def test_seed_time_is_the_sum_of_its_stages_and_conclusive_seeds_are_counted(tmp_path):
    from kit.study import seed_metrics, stage_seconds

    (tmp_path / "manifests").mkdir()
    for name, secs in (("data", 1.5), ("eval", 40.0), ("probe", 3.5)):
        (tmp_path / "manifests" / f"{name}.json").write_text(json.dumps({"seconds": secs}))
    (tmp_path / "manifests" / "report.started.json").write_text(json.dumps({"at": 0}))  # not finished: not counted
    assert stage_seconds(tmp_path) == 45.0

    def arm(inconclusive):
        return {"ti_v2": {"TI_other": 10.0, "TI_non": 5.0}, "inconclusive": inconclusive,
                "groups": {"math": {"gain": 3.0}, "other": {"gain": 1.0}, "non": {"gain": 0.5}}}

    (tmp_path / "analysis.json").write_text(json.dumps({"grpo": arm(False), "sft": arm(True)}))
    per_seed = {s: seed_metrics(tmp_path) for s in (0, 1)}
    assert per_seed[0]["grpo"]["ti_conclusive"] == 1.0 and per_seed[0]["sft"]["ti_conclusive"] == 0.0
    write_report("toy", [0, 1], per_seed, tmp_path / "study", {0: 45.0, 1: 45.0})
    md = (tmp_path / "study" / "study.md").read_text()
    assert "TI conclusive by the run reports' test in 2/2 seeds for RL, 0/2 for SFT" in md
    assert "seed 0 45 s" in md


def test_a_study_without_an_rl_arm_says_the_finding_is_not_checked(tmp_path):
    """The compared pair is the runs' arms registered with roles 'rl' and 'sft' (kit.registry.ARMS): with only SFT
    arms there is nothing to compare, and the study says why instead of printing verdicts."""
    per_seed = {s: {"sft": {"TI_other": 20.0, "TI_non": -50.0}, "onpolicy_sft": {"TI_other": 30.0, "TI_non": 5.0}}
                for s in (0, 1)}
    assert write_report("sft-only", [0, 1], per_seed, tmp_path, {0: 1.0, 1: 1.0}) == {}
    md = (tmp_path / "study.md").read_text()
    assert "Not checked: the runs have no arm with role 'rl' (arms: onpolicy_sft, sft)" in md
    assert "**reproduced**" not in md and "| onpolicy_sft | TI_non | 5 | 5 |" in md
    assert json.loads((tmp_path / "study.json").read_text())["compared"] == {"rl": None, "sft": "sft"}


def test_the_study_names_the_compared_arms(tmp_path):
    per_seed = {s: {"sft": {"TI_other": 1.0, "TI_non": -5.0}, "grpo": {"TI_other": 2.0, "TI_non": 5.0}} for s in (0, 1)}
    write_report("pair", [0, 1], per_seed, tmp_path, {0: 1.0, 1: 1.0})
    md = (tmp_path / "study.md").read_text()
    assert "Compared: RL = `grpo` (GRPO (on-policy RL)), SFT = `sft` (SFT (off-policy))" in md
    assert json.loads((tmp_path / "study.json").read_text())["compared"] == {"rl": "grpo", "sft": "sft"}
