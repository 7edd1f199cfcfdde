"""The report, its plots, its settings table and the study read arms from the registry (kit.registry.ARMS): an arm
registered by a plug-in (here a dummy registered in the test) is drawn, tabulated and compared with no other edit."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from matplotlib.colors import to_rgba
from matplotlib.container import ErrorbarContainer

from kit import recipe as R
from kit.registry import ARMS, Arm, register_arm
from kit.report import plots
from kit.report.style import GREYS
from kit.report.build import build
from kit.study import compared_pair, seed_metrics, write_report

DUMMY_COLOUR = "#9467bd"


def _arm(name: str, label: str, role: str) -> Arm:
    return Arm(name, label, DUMMY_COLOUR, role, ("sft",), trainer=lambda ctx, out: {},
               estimate=lambda *a, **k: None, description=f"{label}: registered by the test")


@pytest.fixture
def dummy_arm() -> Iterator[Arm]:
    ARMS.names()  # the bundled arms first, as in a run
    arm = register_arm(_arm("dpo_dummy", "DPO (dummy)", "ablation"))
    try:
        yield arm
    finally:
        ARMS.unregister("dpo_dummy")
    assert "dpo_dummy" not in ARMS


@pytest.fixture
def rl_dummy() -> Iterator[Arm]:
    """An on-policy arm registered under another name than grpo, with the role the study compares."""
    ARMS.names()
    arm = register_arm(_arm("rl_dummy", "RL (dummy)", "rl"))
    try:
        yield arm
    finally:
        ARMS.unregister("rl_dummy")


# two benchmarks per group (TI scales gains by the group's spread), and how many of 8 items each model gets right
# in each group (the base one fewer on the second benchmark of a group)
BENCHES = {"math500": "math", "aime24": "math", "gpqa_diamond": "other", "acpbench": "other", "ifeval": "non",
           "coqa": "non"}
RIGHT = {"base": {"math": 4, "other": 4, "non": 4}, "sft": {"math": 6, "other": 3, "non": 2},
         "grpo": {"math": 6, "other": 5, "non": 4}, "dpo_dummy": {"math": 7, "other": 5, "non": 5}}


def _fake_run(run_dir: Path, arms: list[str]) -> dict:
    """A run folder with what report/build.py reads: the saved recipe, the evaluation of the base and each arm
    (8 items per benchmark, one per group), and each arm's training log."""
    recipe = R.from_dict({"name": "views", "report": {"bootstrap": 60}}).to_dict()
    recipe["arms"] = arms  # the dummy arms are registered only while the test runs
    (run_dir / "eval").mkdir(parents=True)
    (run_dir / "recipe.resolved.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    scores, items = {}, {}
    for m in ["base", *arms]:
        right = RIGHT.get(m, RIGHT["dpo_dummy"])
        scores[m], items[m] = {}, {}
        for k, (b, g) in enumerate(BENCHES.items()):
            n_right = right[g] - (k % 2 if m == "base" else 0)  # gains differ within a group: TI's spread > 0
            rows = {str(i): {"paper": float(i < n_right), "cluster": str(i)} for i in range(8)}
            items[m][b] = rows
            scores[m][b] = {"group": g, "primary": "paper", "paper_column": "paper", "n_items": 8,
                            "scores": {"paper": n_right / 8}, "truncation_rate": 0.0}
        if m != "base":
            log = run_dir / "arms" / m / "train_log.jsonl"
            log.parent.mkdir(parents=True)
            log.write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in (1, 2, 3)))
    (run_dir / "eval" / "scores.json").write_text(json.dumps(scores))
    (run_dir / "eval" / "item_scores.json").write_text(json.dumps(items))
    return recipe


@pytest.fixture
def figures(monkeypatch) -> dict[str, list]:
    """file name -> [(legend label, colour, linestyle)] of every artist the report's plots drew."""
    seen: dict[str, list] = {}
    save = plots._save

    def recording(fig, path):
        drawn = []
        for ax in fig.axes:
            for line in ax.lines:
                if not line.get_label().startswith("_"):
                    drawn.append((line.get_label(), to_rgba(line.get_color()), line.get_linestyle()))
            for container in ax.containers:  # bar groups and error bars carry the legend label
                label = container.get_label()
                for patch in getattr(container, "patches", []):
                    drawn.append((label, tuple(patch.get_facecolor()), patch.get_hatch()))
                marker = container.lines[0] if isinstance(container, ErrorbarContainer) else None
                if marker is not None:
                    drawn.append((label, to_rgba(marker.get_color()), marker.get_linestyle()))
            legend = ax.get_legend()
            drawn += [("legend", t.get_text(), None) for t in (legend.get_texts() if legend else [])]
        seen[Path(path).name] = drawn
        return save(fig, path)

    monkeypatch.setattr(plots, "_save", recording)
    return seen


def test_a_registered_arm_is_in_the_report_and_its_plots_with_its_label_and_colour(tmp_path, dummy_arm, figures):
    run_dir = tmp_path / "run"
    _fake_run(run_dir, ["sft", "grpo", "dpo_dummy"])
    out = build(run_dir)
    md = (run_dir / "report.md").read_text()
    assert "dpo_dummy" in out["arms"]
    # the arms table describes it from its registration, the TI table and the verdicts have its row
    assert "| dpo_dummy | DPO (dummy) | ablation | DPO (dummy): registered by the test | sft |" in md
    assert "| sft | SFT (off-policy) | sft |" in md and "| grpo | GRPO (on-policy RL) | rl |" in md
    assert any(line.startswith("| dpo_dummy | ") for line in md.split("## Transferability Index")[1].splitlines())
    assert "- **dpo_dummy**:" in md
    # the settings table lists the recipe's arms by label and role
    (arms_row,) = [line for line in md.splitlines() if line.startswith("| arms |")]
    assert "DPO (dummy) (dpo_dummy, ablation)" in arms_row and arms_row.split(" | ")[3] == "yes"
    assert "<td>DPO (dummy)</td>" in (run_dir / "report.html").read_text()

    dummy = to_rgba(DUMMY_COLOUR)
    bars = figures["benchmarks.png"]
    assert ("legend", "DPO (dummy)", None) in bars and ("legend", "GRPO (on-policy RL)", None) in bars
    assert {c for label, c, _ in bars if label == "DPO (dummy)"} == {dummy}
    assert {c for label, c, _ in bars if label == "base"} == {to_rgba(plots.BASE_COLOUR)}
    assert {c for label, c, _ in bars if label == "SFT (off-policy)"} == {to_rgba(ARMS.get("sft").colour)}
    curves = figures["training.png"]
    assert ("DPO (dummy)", dummy, "-") in curves and ("legend", "DPO (dummy)", None) in curves
    ti = figures["ti_scatter.png"]
    assert ("DPO (dummy)", dummy, "None") in ti  # one marker, no connecting line


def test_styles_grey_base_dashed_controls_and_cycled_colours_for_unregistered_models(dummy_arm, tmp_path, figures):
    names = ["base", "sft", "sft_matched_lr", "dpo_dummy (math500)", "Qwen/Qwen3-8B", "other/model",
             "grpo random-LoRA", "dpo_dummy s2"]
    st = plots.styles(names)
    assert st["base"] == plots.Style(plots.BASE_COLOUR, "base", False)
    assert st["sft_matched_lr"].dashed and st["sft_matched_lr"].colour == ARMS.get("sft_matched_lr").colour
    assert not st["sft"].dashed and st["sft"].label == "SFT (off-policy)"
    assert st["dpo_dummy (math500)"] == plots.Style(DUMMY_COLOUR, "DPO (dummy) (math500)", False)
    assert st["dpo_dummy s2"].label == "DPO (dummy) s2"
    # a control is grey and dashed, never in its arm's colour (issue #15: cka.png drew controls as arms)
    assert st["grpo random-LoRA"].dashed and st["grpo random-LoRA"].colour in GREYS
    # models no arm has (compare: references) keep their names and get distinct colours no plotted arm uses
    a, b = st["Qwen/Qwen3-8B"], st["other/model"]
    assert a.label == "Qwen/Qwen3-8B" and a.colour != b.colour
    used = {ARMS.get(n).colour for n in ("sft", "sft_matched_lr", "grpo")} | {DUMMY_COLOUR, plots.BASE_COLOUR}
    assert a.colour not in used and b.colour not in used

    plots.per_layer({"sft": [1.0, 2.0], "sft_matched_lr": [1.0, 1.5], "Qwen/Qwen3-8B": [0.5, 0.5]}, "y", "t",
                    tmp_path / "layers.png")
    lines = {label: (c, ls) for label, c, ls in figures["layers.png"] if label != "legend"}
    assert lines["SFT at the RL learning rate"] == (to_rgba(ARMS.get("sft_matched_lr").colour), "--")
    assert lines["SFT (off-policy)"] == (to_rgba(ARMS.get("sft").colour), "-")
    assert lines["Qwen/Qwen3-8B"][0] == to_rgba(a.colour)


def test_the_study_compares_the_arm_registered_with_the_rl_role_whatever_its_name(tmp_path, rl_dummy):
    def arm(ti_non):
        return {"ti_v2": {"TI_other": 10.0, "TI_non": ti_non}, "inconclusive": False,
                "groups": {"math": {"gain": 5.0}, "other": {"gain": 1.0}, "non": {"gain": ti_non / 10}}}

    per_seed = {}
    for s in (0, 1, 2):
        run = tmp_path / f"seed{s}"
        run.mkdir()
        # the RL side is rl_dummy (no grpo in this run); an ablation arm sits beside them and is not compared
        (run / "analysis.json").write_text(json.dumps({"sft": arm(-40.0 - s), "rl_dummy": arm(20.0 + s),
                                                       "onpolicy_sft": arm(-90.0)}))
        per_seed[s] = seed_metrics(run)
    assert compared_pair(["onpolicy_sft", "rl_dummy", "sft"]) == ("rl_dummy", "sft")
    findings = write_report("swap", [0, 1, 2], per_seed, tmp_path / "study", {0: 1.0, 1: 1.0, 2: 1.0},
                            order=["sft", "rl_dummy", "onpolicy_sft"])
    assert findings["TI_non"]["verdict"] == "reproduced"
    assert findings["TI_non"]["diffs"] == [60.0, 62.0, 64.0]  # rl_dummy - sft, seed by seed
    md = (tmp_path / "study" / "study.md").read_text()
    assert "Compared: RL = `rl_dummy` (RL (dummy)), SFT = `sft` (SFT (off-policy))" in md
    assert "| rl_dummy | TI, non-reasoning (%) | 20.0 | 21.0 | 22.0 | 21.0 [18.5, 23.5] |" in md
    assert json.loads((tmp_path / "study" / "study.json").read_text())["compared"] == {"rl": "rl_dummy", "sft": "sft"}


def test_the_study_with_an_ablation_arm_registered_compares_grpo_and_sft_only(tmp_path, dummy_arm):
    per_seed = {s: {"sft": {"TI_other": 1.0, "TI_non": -10.0 - s}, "grpo": {"TI_other": 2.0, "TI_non": 5.0 + s},
                    "dpo_dummy": {"TI_other": 3.0, "TI_non": 50.0}} for s in (0, 1)}
    findings = write_report("abl", [0, 1], per_seed, tmp_path, {0: 1.0, 1: 1.0})
    assert findings["TI_non"]["diffs"] == [15.0, 17.0]
    md = (tmp_path / "study.md").read_text()
    assert "| dpo_dummy | TI, non-reasoning (%) | 50.0 | 50.0 | 50.0 (same in every seed) |" in md and "RL = `grpo`" in md


def test_runlog_keeps_the_last_row_per_step_and_names_a_cut_off_log(tmp_path):
    from kit.errors import KitError
    from kit.runlog import read_log

    log = tmp_path / "train_log.jsonl"
    assert read_log(log) == []  # an arm that has not trained yet
    rows = [{"step": 2, "loss": 0.5}, {"step": 1, "loss": 0.9}, {"step": 2, "loss": 0.4},  # resumed: step 2 re-logged
            {"step": 2, "reward": 0.1}]  # another kind of row at the same step is kept
    log.write_text("".join(json.dumps(r) + "\n" for r in rows) + "\n")
    assert read_log(log) == [{"step": 1, "loss": 0.9}, {"step": 2, "loss": 0.4}, {"step": 2, "reward": 0.1}]
    log.write_text(log.read_text() + '{"step": 3, "lo')  # killed mid-write: skipped, the resumed run re-logs step 3
    assert read_log(log) == [{"step": 1, "loss": 0.9}, {"step": 2, "loss": 0.4}, {"step": 2, "reward": 0.1}]
    log.write_text(log.read_text() + '\n{"loss": 0.3}\n')  # JSON, but not a row of a training log
    with pytest.raises(KitError, match=r"train_log\.jsonl' line 7 is not a training-log row"):
        read_log(log)


def test_building_a_report_imports_no_training_code(tmp_path):
    """The report is a view of the run folder: it reads logs through kit.runlog, not kit.train.common (which
    imports the training stack)."""
    import subprocess
    import sys

    from tests.conftest import ROOT

    run_dir = tmp_path / "run"
    _fake_run(run_dir, ["sft", "grpo"])
    code = ("import sys; from kit.report.build import build; build(sys.argv[1]); "
            "print(sorted(m for m in sys.modules if m in ('kit.train.common', 'trl', 'kit.train.sft', 'kit.train.grpo')))")
    res = subprocess.run([sys.executable, "-c", code, str(run_dir)], capture_output=True, text=True, cwd=ROOT,
                         timeout=300)
    assert res.returncode == 0, res.stderr[-2000:]
    assert res.stdout.strip().splitlines()[-1] == "[]"
    assert (run_dir / "plots" / "training.png").exists()  # the logs were read


def test_models_the_registry_does_not_know_are_listed_as_audited_compare_references(dummy_arm):
    from kit.report.build import _arms_section

    recipe = {"model": {"id": "Qwen/Qwen3-0.6B-Base"}, "compare": {"published": {"id": "org/full-model"}}}
    lines = _arms_section(recipe, ["base", "dpo_dummy", "published"])
    assert lines[2] == "| base | base model | reference | `Qwen/Qwen3-0.6B-Base`, no adapter | model |"
    assert lines[3].startswith("| dpo_dummy | DPO (dummy) | ablation |")
    assert lines[4] == "| published | published | compared | audited full model `org/full-model` | compare |"
