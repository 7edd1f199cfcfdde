"""The multi-seed study's verdicts: fixed criteria, checked on made-up per-seed numbers."""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path

import pytest

from kit import recipe as R
from kit.errors import KitError
from kit.recipe.schema import CriteriaCfg, StudyCfg
from kit.study import estimate, machine, num, premise, premise_lines, study_mode, verdict, write_report

SMOKE = Path(__file__).resolve().parents[1] / "recipes" / "smoke.yaml"
HOST = {"cpu": "Test CPU 9000", "logical_cpus": 16, "cpus_usable": 2, "torch_threads": 2, "torch": "2.0",
        "python": "3.11"}


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
    assert "| grpo | TI, non-reasoning (%) | 30.0 | 31.0 | 32.0 | 31.0 [28.5, 33.5] |" in md and "**reproduced**" in md
    assert (tmp_path / "ti_by_seed.png").read_bytes()[:4] == b"\x89PNG"
    assert (tmp_path / "ti_by_seed.svg").read_text().lstrip().startswith("<?xml")  # the shared plot style: PNG + SVG
    assert "![TI by seed](ti_by_seed.png)\n\n(also as ti_by_seed.svg)" in md
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
    assert "**reproduced**" not in md and "| onpolicy_sft | TI, non-reasoning (%) | 5.00 | 5.00 |" in md
    assert json.loads((tmp_path / "study.json").read_text())["compared"] == {"rl": None, "sft": "sft"}


def test_the_study_names_the_compared_arms(tmp_path):
    per_seed = {s: {"sft": {"TI_other": 1.0, "TI_non": -5.0}, "grpo": {"TI_other": 2.0, "TI_non": 5.0}} for s in (0, 1)}
    write_report("pair", [0, 1], per_seed, tmp_path, {0: 1.0, 1: 1.0})
    md = (tmp_path / "study.md").read_text()
    assert "Compared: RL = `grpo` (GRPO (on-policy RL)), SFT = `sft` (SFT (off-policy))" in md
    assert json.loads((tmp_path / "study.json").read_text())["compared"] == {"rl": "grpo", "sft": "sft"}


def _arm(gain: float, lo: float, hi: float, **more: float) -> dict[str, float]:
    return {"TI_other": 10.0, "TI_non": 5.0, "math_gain": gain, "math_gain_lo": lo, "math_gain_hi": hi,
            "math_gain_ci_level": 0.9, **more}


def _premise_seeds() -> dict[int, dict[str, dict[str, float]]]:
    """Seed 0: both arms learn; seed 1: SFT gains only 8 points; seed 2: GRPO's interval includes 0. The
    on-policy arm never learns, but it is not one of the compared arms."""
    never = _arm(1.0, -1.0, 3.0)
    return {0: {"grpo": _arm(12.34, 8.12, 16.54, TI_non=9.0), "sft": _arm(11.0, 6.0, 16.0), "onpolicy_sft": never},
            1: {"grpo": _arm(14.0, 9.0, 19.0, TI_non=8.0), "sft": _arm(8.0, 3.0, 13.0), "onpolicy_sft": never},
            2: {"grpo": _arm(10.5, -0.5, 21.5, TI_non=7.0), "sft": _arm(12.0, 7.0, 17.0), "onpolicy_sft": never}}


def test_the_premise_table_counts_the_seeds_where_both_compared_arms_learned_math(tmp_path):
    write_report("toy", [0, 1, 2], _premise_seeds(), tmp_path, {}, host=HOST)
    md = (tmp_path / "study.md").read_text()
    assert "## Premise: did both arms learn math?" in md
    assert md.index("## Premise") < md.index("## Measures per seed") < md.index("| claim | verdict |")
    assert "| grpo | +12.3 [8.1, 16.5] ✓ | +14.0 [9.0, 19.0] ✓ | +10.5 [-0.5, 21.5] ✗ |" in md
    assert "| sft | +11.0 [6.0, 16.0] ✓ | +8.0 [3.0, 13.0] ✗ | +12.0 [7.0, 17.0] ✓ |" in md
    assert "| onpolicy_sft (not compared) | +1.0 [-1.0, 3.0] ✗ |" in md
    assert "**Premise held in 1/3 seeds.**" in md
    assert "with the run report's 90% bootstrap interval" in md  # the level the run reports used (report.ci)
    # the verdicts are still there, under a plain warning
    warning = md.index("the premise failed in seed(s) 1, 2, so these verdicts compare arms that did not both learn")
    assert warning < md.index("| claim | verdict |") and "**reproduced**" in md
    record = json.loads((tmp_path / "study.json").read_text())
    assert record["premise"]["held"] == [0] and record["premise"]["failed"] == [1, 2]
    assert record["premise"]["arms"]["sft"]["1"]["ok"] is False and record["premise"]["arms"]["grpo"]["0"]["ok"] is True


def test_the_premise_follows_the_recipes_rule(tmp_path):
    lax = StudyCfg(premise_min_gain=5.0, premise_ci_excludes_0=False)
    write_report("toy", [0, 1, 2], _premise_seeds(), tmp_path, {}, study=lax, host=HOST)
    md = (tmp_path / "study.md").read_text()
    assert "**Premise held in 3/3 seeds.**" in md and "did not both learn" not in md
    assert "at least 5 points." in md  # the rule printed as registered, no interval clause


def test_the_preregistration_is_written_verbatim_and_the_machine_is_named(tmp_path):
    study = StudyCfg(seeds=[3, 4, 5, 6, 7], dev_seeds=[100, 101], premise_min_gain=12.5,
                     criteria=CriteriaCfg(ci=0.9, weak_share=0.6))
    per_seed = {s: v for s, v in zip([3, 4, 5, 6, 7], [_premise_seeds()[0]] * 5)}
    write_report("toy", [3, 4, 5, 6, 7], per_seed, tmp_path, {}, study=study, host=HOST)
    md = (tmp_path / "study.md").read_text()
    record = json.loads((tmp_path / "study.json").read_text())
    assert record["preregistered"] == dataclasses.asdict(study)
    assert "seeds: [3, 4, 5, 6, 7]" in md and "dev_seeds: [100, 101]" in md and "premise_min_gain: 12.5" in md
    assert "the 90% t-interval over seeds excludes 0" in md and "more than 60% of the seeds" in md
    assert "Machine (this study command's): Test CPU 9000, 2 of 16 logical CPUs usable, 2 torch threads; " \
           "torch 2.0" in md
    assert record["machine"] == HOST
    here = machine()
    assert here["cpu"] and here["cpu"] != "unknown" and here["torch"] and here["logical_cpus"] >= 1


def test_seeds_other_than_the_preregistered_ones_are_marked(tmp_path):
    study = StudyCfg(seeds=[0, 1, 2, 3, 4], dev_seeds=[10, 11])
    assert study_mode(None, False, study) == ([0, 1, 2, 3, 4], "confirmatory")
    assert study_mode([4, 3, 2, 1, 0], False, study) == ([4, 3, 2, 1, 0], "confirmatory")
    assert study_mode([0, 1], False, study) == ([0, 1], "exploratory")
    assert study_mode(None, True, study) == ([10, 11], "development")
    with pytest.raises(KitError, match="--dev or --seeds, not both"):
        study_mode([0], True, study)
    with pytest.raises(KitError, match="study.dev_seeds is empty"):
        study_mode(None, True, StudyCfg())
    seeds = _premise_seeds()
    write_report("toy", [0, 1], {0: seeds[0], 1: seeds[1]}, tmp_path / "x", {}, study=study, mode="exploratory",
                 host=HOST)
    write_report("toy", [10, 11], {10: seeds[0], 11: seeds[1]}, tmp_path / "d", {}, study=study, mode="development",
                 host=HOST)
    assert (tmp_path / "x" / "study.md").read_text().splitlines()[0] == \
        "# Study: toy, seeds 0, 1 — exploratory (not the pre-registered seeds)"
    assert (tmp_path / "d" / "study.md").read_text().splitlines()[0] == \
        "# Study: toy, seeds 10, 11 — development seeds (tuning, not confirmatory)"


def test_the_study_command_runs_the_preregistered_or_dev_seeds_into_separate_folders(tmp_path, monkeypatch):
    import kit.run
    import kit.study

    ran: list[list[str]] = []
    monkeypatch.setattr(kit.run, "main", lambda argv: ran.append(argv) or 0)
    monkeypatch.setattr(kit.study, "seed_metrics", lambda run_dir: _premise_seeds()[0])
    common = [str(SMOKE), f"output_dir={tmp_path}", "study.seeds=[3, 4]", "study.dev_seeds=[7]"]
    assert kit.study.main(common) == 0
    assert [a for argv in ran for a in argv if a.startswith("seed=")] == ["seed=3", "seed=4"]
    assert (tmp_path / "smoke-study" / "study.md").read_text().startswith(
        "# Study: smoke, seeds 3, 4 — confirmatory: the pre-registered seeds")
    ran.clear()
    assert kit.study.main(common + ["--dev"]) == 0
    assert [a for argv in ran for a in argv if a.startswith("seed=")] == ["seed=7"]
    dev = (tmp_path / "smoke-dev-study" / "study.md").read_text()
    assert "development seeds (tuning, not confirmatory)" in dev
    assert "seeds 3, 4" in (tmp_path / "smoke-study" / "study.md").read_text()  # the confirmatory report stands


def test_dev_seeds_that_overlap_the_confirmatory_seeds_are_refused_at_load():
    with pytest.raises(KitError, match=r"'study.dev_seeds' shares seed\(s\) \[2\] with 'study.seeds'") as exc:
        R.load(SMOKE, ["study.seeds=[0, 1, 2]", "study.dev_seeds=[2, 9]"])
    assert "\n" not in str(exc.value)
    assert R.load(SMOKE, ["study.seeds=[0, 1, 2]", "study.dev_seeds=[8, 9]"]).study.dev_seeds == [8, 9]


def test_the_study_section_changes_no_stage_hash(tmp_path):
    from kit.run import build_stages
    from kit.stages import stage_hash

    a = R.load(SMOKE, [f"output_dir={tmp_path}"])
    b = R.load(SMOKE, [f"output_dir={tmp_path}", "study.seeds=[5, 6, 7, 8, 9]", "study.dev_seeds=[0]",
                       "study.premise_min_gain=20", "study.premise_ci_excludes_0=false", "study.criteria.ci=0.9"])
    assert a.study != b.study
    sa, sb = build_stages(a), build_stages(b)
    assert list(sa) == list(sb) and all(stage_hash(a, sa[n], sa) == stage_hash(b, sb[n], sb) for n in sa)
    c = R.load(SMOKE, [f"output_dir={tmp_path}", "report.ci=0.9"])  # the check can fail: a hashed key moves it
    assert stage_hash(a, sa["report"], sa) != stage_hash(c, build_stages(c)["report"], build_stages(c))


def test_estimates_print_at_the_precision_of_their_intervals():
    assert estimate(12.3456, 8.1234, 16.5432, signed=True) == "+12.3 [8.1, 16.5]"
    assert estimate(-19.04, -32.8, -5.23) == "-19 [-33, -5]"  # TI in %: a wide interval, no decimals
    assert estimate(0.001149, 0.0, 0.0) == "0.00115 (interval of zero width)"
    assert estimate(-4.74e-15, -0.3451, 0.3451) == "0.00 [-0.35, 0.35]"
    assert estimate(0.000166, 0.000133, 0.000199) == "1.66 [1.33, 1.99]×10⁻⁴"
    assert num(-4.74e-15, 2) == "0.00" and num(-0.0001, 1, signed=True) == "0.0" and num(3.0, 1, signed=True) == "+3.0"


def test_the_report_has_labels_not_keys_and_no_float_noise(tmp_path):
    vals = [-0.1388888888888889, 0.2777777777777778, -0.1388888888888888]
    assert 0 < abs(sum(vals) / 3) < 1e-15  # a mean that is zero but for float noise
    per_seed = {s: {"grpo": _arm(12.0, 8.0, 16.0, other_gain=vals[s], non_gain=1.0 + s, pca_d=0.1,
                                 one_minus_cka=1e-4, token_kl=0.003, ti_conclusive=1.0),
                    "sft": _arm(11.0, 7.0, 15.0, other_gain=-1.0, non_gain=-s, pca_d=0.2 + s / 10, one_minus_cka=2e-4,
                               token_kl=0.001, ti_conclusive=0.0),
                    "onpolicy_sft": _arm(0.0, 0.0, 0.0, pca_d=0.0, one_minus_cka=0.0, token_kl=0.0)}
                for s in range(3)}
    write_report("toy", [0, 1, 2], per_seed, tmp_path, {}, host=HOST)
    md = (tmp_path / "study.md").read_text()
    prose = md.split("```yaml")[0] + md.split("```")[-1]  # the recipe's section is quoted verbatim, keys and all
    for key in ("TI_other", "TI_non", "math_gain", "other_gain", "non_gain", "pca_d", "one_minus_cka", "token_kl",
                "ti_conclusive", "_ci_includes_0", "math_gain_lo"):
        assert key not in prose, key
    assert "e-1" not in md and "| grpo | other-reasoning gain (points) | -0.14 | 0.28 | -0.14 | 0.00 [" in md
    assert "| grpo | 1 − CKA" in md and "| grpo | token KL |" in md and "| sft | PCA shift d |" in md
    assert "| latent drift: RL < SFT in 1 − CKA | **reproduced** |" in md
    assert "| transfer to non-reasoning: RL > SFT in TI, non-reasoning (%) |" in md
    # a measure that is exactly 0 in every seed gets a sentence, not a row of zeros
    assert "| onpolicy_sft | PCA shift d" not in md
    # both kinds at once: a sentence for the gains and one for the drift (the drift's alone used to print)
    assert "`onpolicy_sft`: math gain (points) is exactly 0 in every seed (not tabled): it scores as the base " \
           "does." in md
    assert "`onpolicy_sft`: PCA shift d, 1 − CKA, token KL are exactly 0 in every seed (not tabled): its drift is " \
           "nil, its model the base's" in md


def test_a_gain_that_is_zero_in_every_seed_is_said_in_words():
    from kit.study import measure_lines

    per_seed = {s: {"sft": {"math_gain": 0.0, "other_gain": 0.0, "non_gain": 1.0 + s}} for s in range(2)}
    text = "\n".join(measure_lines(per_seed, [0, 1], ["sft"], 0.95))
    assert "`sft`: math gain (points), other-reasoning gain (points) are exactly 0 in every seed (not tabled): it " \
           "scores as the base does." in text
    assert "| sft | math gain" not in text and "| sft | non-reasoning gain (points) | 1.0 | 2.0 |" in text


def test_the_machine_the_runs_recorded_is_named_beside_this_one(tmp_path):
    from kit.study import machine_line, run_machine

    (tmp_path / "manifests").mkdir()
    (tmp_path / "manifests" / "eval.json").write_text(json.dumps(
        {"hardware": "CPU (no CUDA GPU)", "cpu": "AMD EPYC 7B13", "versions": {"torch": "2.11.0"}}))
    (tmp_path / "manifests" / "report.started.json").write_text(json.dumps({"cpu": "not finished"}))
    facts = run_machine(tmp_path)
    assert facts == {"hardware": "CPU (no CUDA GPU)", "CPU": "AMD EPYC 7B13", "torch": "2.11.0"}
    line = machine_line(HOST | {"runs": {0: facts, 1: facts}})
    assert line.endswith("The runs' stage manifests record: CPU (no CUDA GPU), CPU AMD EPYC 7B13, torch 2.11.0.")


def test_the_verdict_follows_the_written_rule():
    """Reproduced needs the paper's sign in every seed (as the report states the rule), even where the interval
    over seeds excludes 0; the weak threshold is the recipe's."""
    assert verdict([5.0, 6.0, -0.1, 7.0, 8.0], True)[0] == "weakly reproduced (same direction in most seeds)"
    assert verdict([1.0, 2.0, -1.0, -2.0, 3.0], True, weak_share=0.6)[0] == "not reproduced"
    assert verdict([1.0, 2.0, -1.0, -2.0, 3.0], True, weak_share=0.5)[0].startswith("weakly reproduced")
    assert "(90% t-interval over seeds)" in verdict([1.0, 2.0, 3.0], True, ci=0.9)[1]


def test_a_row_and_its_mean_share_one_power_of_ten_across_a_decade():
    """1 − CKA per seed 0.90e-4, 0.95e-4, 0.99e-4: the interval of the mean crosses 1e-4, so the mean's own
    precision (×10⁻⁴) differs from the row's (×10⁻⁵); the mean cell is printed in the row's unit."""
    from kit.study import measure_lines

    per_seed = {s: {"grpo": {"one_minus_cka": v}} for s, v in enumerate([0.90e-4, 0.95e-4, 0.99e-4])}
    (row,) = [x for x in measure_lines(per_seed, [0, 1, 2], ["grpo"], 0.95) if x.startswith("| grpo")]
    assert row == "| grpo | 1 − CKA (×10⁻⁵) | 9.0 | 9.5 | 9.9 | 9.5 [8.3, 10.6] |"
    assert estimate(0.95e-4, 0.83e-4, 1.06e-4, at=(1, -5)) == "9.5 [8.3, 10.6]×10⁻⁵"
    detail = verdict([0.90e-4, 0.95e-4, 0.99e-4], True)[1]
    assert "+9.0, +9.5, +9.9 ×10⁻⁵; mean +9.5 [8.3, 10.6]×10⁻⁵" in detail


def test_repeated_or_out_of_range_seeds_are_refused():
    """A seed counted twice would narrow the t-interval over seeds as if it were another draw."""
    study = StudyCfg(seeds=[0, 1, 2])
    for seeds, why in (([0, 0, 1], "listed twice"), ([0, -1], "out of range"), ([0, 2 ** 40], "out of range")):
        with pytest.raises(KitError, match=why) as exc:
            study_mode(seeds, False, study)
        assert "\n" not in str(exc.value)
    assert study_mode([2, 1, 0], False, study) == ([2, 1, 0], "confirmatory")


def test_a_math_loss_does_not_count_as_an_interval_excluding_0(tmp_path):
    """'Learned math' is a gain whose interval lies above 0; an interval below 0 is a loss."""
    seeds = {s: {"grpo": _arm(12.0, 8.0, 16.0), "sft": _arm(-12.0, -16.0, -8.0)} for s in (0, 1)}
    write_report("toy", [0, 1], seeds, tmp_path, {}, study=StudyCfg(premise_min_gain=0.0), host=HOST)
    record = json.loads((tmp_path / "study.json").read_text())["premise"]["arms"]
    assert record["grpo"]["0"]["ci_excludes_0"] is True and record["sft"]["0"]["ci_excludes_0"] is False
    assert "interval of that gain above 0" in (tmp_path / "study.md").read_text()


def test_a_bound_that_rounds_to_0_keeps_its_sign():
    """Beside a ✓ "interval excludes 0", [0.0, 24.5] would contradict the mark: the bound shows its digit."""
    assert estimate(12.3, 0.04, 24.5, least=1) == "12.3 [0.04, 24.5]"
    assert estimate(12.3, -0.04, 24.5, True, least=1) == "+12.3 [-0.04, 24.5]"
    assert estimate(12.3, 1e-14, 24.5, least=1) == "12.3 [0.0, 24.5]"  # float noise stays 0
    assert estimate(12.3, 0.0, 24.5, least=1) == "12.3 [0.0, 24.5]"
    seeds = {0: {"grpo": _arm(12.3, 0.04, 24.5), "sft": _arm(11.0, 6.0, 16.0)}}
    text = "\n".join(premise_lines(premise(seeds, [0], ["grpo", "sft"], ["grpo", "sft"], StudyCfg()), [0], StudyCfg()))
    assert "| grpo | +12.3 [0.04, 24.5] ✓ |" in text


def test_without_an_rl_sft_pair_the_premise_promises_no_verdicts(tmp_path):
    per_seed = {s: {"sft": _arm(12.0, 8.0, 16.0), "onpolicy_sft": _arm(1.0, -1.0, 3.0)} for s in (0, 1)}
    write_report("sft-only", [0, 1], per_seed, tmp_path, {}, host=HOST)
    md = (tmp_path / "study.md").read_text()
    assert "there the verdicts compare" not in md and "**reproduced**" not in md
    assert "No verdicts are computed: the runs have no RL/SFT pair to compare (see below)." in md
    per_seed[1]["sft"] = _arm(2.0, -1.0, 5.0)  # the premise fails for the one compared arm: said, no verdict promised
    write_report("sft-only", [0, 1], per_seed, tmp_path, {}, host=HOST)
    md = (tmp_path / "study.md").read_text()
    assert "No verdicts are computed: the runs have no RL/SFT pair to compare (see below); the premise failed in " \
           "seed(s) 1." in md and "there the verdicts compare" not in md


def test_the_study_plot_and_the_machine_use_the_shared_pieces(tmp_path, monkeypatch):
    """The plot's interval is the study's criteria.ci (not a fixed 95 %); the thread count is read by the same
    function as the run report's machine line."""
    import sys
    from types import SimpleNamespace

    import kit.report.plots
    from kit.report.readable import torch_threads

    seen = {}
    monkeypatch.setattr(kit.report.plots, "study_ti", lambda *a: seen.setdefault("args", a) and [])
    study = StudyCfg(criteria=CriteriaCfg(ci=0.8))
    write_report("toy", [0, 1], {s: _premise_seeds()[0] for s in (0, 1)}, tmp_path, {}, study=study, host=HOST)
    assert seen["args"][-1] == 0.8
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(get_num_threads=lambda: 5))
    assert machine()["torch_threads"] == torch_threads() == 5
