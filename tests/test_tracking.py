"""Trackers (issue 14, item 3): a missing tracker package is one line before any work; the trainer configs carry the
tracker run's name, project and tags; the report stage logs eval scores, TI and shift into the same run.

How each tracker is exercised here, offline:
- TensorBoard: for real (torch.utils.tensorboard + tensorboard's EventAccumulator reading the events back) when the
  `tensorboard` package is installed, end to end through a real SFT training on the tiny random Qwen3; always also
  with a fake SummaryWriter whose signatures are torch.utils.tensorboard.writer.SummaryWriter's (torch 2.x).
- W&B: wandb is not in the CPU requirements, so a fake `wandb` module stands in, its call signatures copied from
  wandb's source (wandb/__init__.pyi `init(entity, project, dir, id, name, notes, tags, config, ..., resume, ...)`,
  wandb/sdk/wandb_run.py `Run.log(data, step=None, commit=None)`, `Run.finish(exit_code=None, quiet=None)`,
  `Run.summary`); when wandb is installed the same test runs against it with WANDB_MODE=offline.
- Trackio: a fake `trackio` module with gradio-app/trackio trackio/__init__.py's `init(project, name, group, ...,
  config, resume, ...)`, `log(metrics, step=None)`, `finish()`, `Image`.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import os
import sys
import types
from pathlib import Path

import pytest

from kit import recipe as R
from kit import tracking
from kit.artefacts import Analysis, EvalResults, ProbeResults
from kit.errors import KitError
from tests.conftest import ROOT

ENV = ("TENSORBOARD_LOGGING_DIR", "WANDB_PROJECT", "WANDB_TAGS", "WANDB_DIR", "WANDB_RUN_ID", "WANDB_RESUME")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    """The configs set tracker variables in os.environ; monkeypatch puts the old values back after each test."""
    for k in ENV:
        monkeypatch.setenv(k, "unset-by-test")
        monkeypatch.delenv(k)


def _recipe(report_to: str = "none", **train):
    r = R.load(ROOT / "recipes" / "smoke.yaml")
    return dataclasses.replace(r, train=dataclasses.replace(r.train, report_to=report_to, **train))


# --- the one-line refusal ----------------------------------------------------------------------------------

@pytest.mark.parametrize("name, package", [("tensorboard", "tensorboard"), ("wandb", "wandb"), ("trackio", "trackio")])
def test_missing_tracker_package_is_one_line(monkeypatch, name, package):
    real = importlib.util.find_spec
    hidden = {"tensorboard", "tensorboardX", "wandb", "trackio"}
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda m, *a: None if m in hidden else real(m, *a))
    with pytest.raises(KitError) as err:
        tracking.check_tracker(_recipe(name))
    msg = str(err.value)
    assert "\n" not in msg and f"train.report_to={name}" in msg and f"pip install {package}" in msg
    tracking.check_tracker(_recipe("none"))  # nothing to install


def test_tensorboardx_alone_is_enough(monkeypatch):
    """transformers falls back to tensorboardX (integration_utils.py:149-150, :596-599); so does the check."""
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda m, *a: object() if m == "tensorboardX" else None)
    tracking.check_tracker(_recipe("tensorboard"))


@pytest.mark.parametrize("tag", ["a,b", "", "x" * 65])
def test_unusable_tags_are_refused(tag):
    with pytest.raises(KitError, match="train.tags"):
        tracking.check_tracker(_recipe("none", tags=[tag]))


def test_recipe_accepts_the_four_trackers_and_refuses_others():
    for name in ("none", "tensorboard", "wandb", "trackio"):
        assert R.load(ROOT / "recipes" / "smoke.yaml", [f"train.report_to={name}"]).train.report_to == name
    with pytest.raises(KitError, match="report_to"):
        R.load(ROOT / "recipes" / "smoke.yaml", ["train.report_to=mlflow"])


# --- what the trainer configs carry ------------------------------------------------------------------------

def test_sft_config_carries_wandb_name_project_tags_and_a_kept_run_id(tmp_path):
    from kit.hardware import detect
    from kit.train.sft import sft_config

    out = tmp_path / "run" / "arms" / "sft"
    out.mkdir(parents=True)
    recipe = _recipe("wandb", project="my-proj", tags=["ablation-1"])
    cfg = sft_config(recipe, detect(), out, 8)
    assert cfg.report_to == ["wandb"] and cfg.run_name == "smoke-sft"
    assert os.environ["WANDB_PROJECT"] == "my-proj"  # WandbCallback reads the project only from here (:763)
    assert os.environ["WANDB_TAGS"].split(",") == ["reasoning-transfer", "arxiv:2507.00432", "sft", "ablation-1"]
    assert os.environ["WANDB_DIR"] == str(out / "tracker") and os.environ["WANDB_RESUME"] == "allow"
    run_id = os.environ["WANDB_RUN_ID"]
    assert (out / "tracker" / "wandb_run_id").read_text().strip() == run_id
    sft_config(recipe, detect(), out, 8)  # a resumed training continues the same W&B run
    assert os.environ["WANDB_RUN_ID"] == run_id


def test_grpo_config_carries_trackio_project_and_run_name(tmp_path):
    from kit.hardware import Hardware
    from kit.train.grpo import grpo_config

    recipe = _recipe("trackio", project="p2", run_name="study-a")
    cfg = grpo_config(recipe, Hardware(False, "cpu", (0, 0), 0.0, False), tmp_path / "arms" / "grpo", 8, [1.0, 0.0])
    assert cfg.report_to == ["trackio"] and cfg.project == "p2" and cfg.run_name == "study-a-grpo"
    assert "WANDB_PROJECT" not in os.environ and not (tmp_path / "arms").exists()  # the planner's case: no files


def test_tensorboard_config_points_the_callback_at_the_arms_tracker_folder(tmp_path):
    from kit.hardware import detect
    from kit.train.sft import sft_config

    out = tmp_path / "arms" / "onpolicy_sft" / "round-1"  # on-policy SFT trains round by round under its arm
    out.mkdir(parents=True)
    cfg = sft_config(_recipe("tensorboard"), detect(), out, 8)
    assert cfg.report_to == ["tensorboard"] and cfg.run_name == "smoke-onpolicy_sft"
    assert os.environ["TENSORBOARD_LOGGING_DIR"] == str(tmp_path / "arms" / "onpolicy_sft" / "tracker")


def test_none_sets_no_environment(tmp_path):
    from kit.hardware import detect
    from kit.train.sft import sft_config

    assert sft_config(_recipe("none"), detect(), tmp_path / "arms" / "sft", 8).report_to == []
    assert not any(k in os.environ for k in ENV)


# --- the report stage's results ----------------------------------------------------------------------------

def _finished_run(run_dir: Path) -> Path:
    """A run folder as the report stage leaves it: scores, item scores, analysis, probe results, a plot, a log."""
    scores = {m: {"math500": {"group": "math", "primary": "acc", "paper_column": "acc", "n_items": 2,
                              "scores": {"acc": v}},
                  "ifeval": {"group": "non", "primary": "strict", "paper_column": "strict", "n_items": 2,
                             "scores": {"strict": w}}}
              for m, v, w in (("base", 0.25, 0.5), ("sft", 0.5, 0.25), ("grpo", 0.75, 0.5))}
    EvalResults(scores, {m: {} for m in scores}).write(run_dir)
    ti = {"ti_v2": {"TI_other": 12.5, "TI_non": -40.0}, "ti_v1": {"TI_other": 10.0, "TI_non": float("nan")},
          "groups": {"math": {"gain": 25.0}}}
    Analysis({"sft": ti, "grpo": {**ti, "ti_v2": {"TI_other": 30.0, "TI_non": 5.0}}}).write(run_dir)
    arm_probe = {"pca": {"math500": {"faithful": {"d": 0.5}, "corrected": {"d": 0.25}}},
                 "cka": {"cka": [0.9, 0.7]}, "probe": {"drop": [0.1, 0.3]},
                 "tokens": {"math500": {"kl": 0.125, "paper_kl": 0.5, "rank_shift_mean": 1.5}}}
    ProbeResults({"sft": arm_probe, "grpo": arm_probe}).write(run_dir)
    for arm in ("sft", "grpo"):
        (run_dir / "arms" / arm).mkdir(parents=True, exist_ok=True)
        (run_dir / "arms" / arm / "train_log.jsonl").write_text(
            "".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in (1, 2, 3)))
    (run_dir / "plots").mkdir(exist_ok=True)
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1), dpi=16)
    fig.savefig(run_dir / "plots" / "benchmarks.png")
    plt.close(fig)
    return run_dir


def test_result_metrics_for_an_arm(tmp_path):
    run_dir = _finished_run(tmp_path)
    m = tracking.result_metrics(EvalResults.read(run_dir).scores, Analysis.read(run_dir).arms,
                                ProbeResults.read(run_dir).as_dict(), "sft")
    assert m["eval/math500"] == 50.0 and m["eval_base/math500"] == 25.0 and m["eval/ifeval"] == 25.0
    assert m["ti/TI_other_v2"] == 12.5 and m["ti/TI_non_v2"] == -40.0 and m["ti/gain_math"] == 25.0
    assert "ti/TI_non_v1" not in m  # NaN (inconclusive) is left out
    assert m["shift/pca_d_faithful/math500"] == 0.5 and m["shift/token_kl/math500"] == 0.125
    assert m["shift/one_minus_cka"] == pytest.approx(0.2) and m["shift/probe_acc_drop"] == pytest.approx(0.2)


class FakeSummaryWriter:
    """torch.utils.tensorboard.SummaryWriter's signatures (torch 2.x writer.py); records every call."""

    made: list[FakeSummaryWriter] = []

    def __init__(self, log_dir=None, comment="", purge_step=None, max_queue=10, flush_secs=120, filename_suffix=""):
        self.log_dir, self.scalars, self.images, self.texts, self.closed = log_dir, {}, {}, {}, False
        FakeSummaryWriter.made.append(self)

    def add_scalar(self, tag, scalar_value, global_step=None, walltime=None, new_style=False, double_precision=False):
        self.scalars[tag] = (scalar_value, global_step)

    def add_image(self, tag, img_tensor, global_step=None, walltime=None, dataformats="CHW"):
        self.images[tag] = (img_tensor.shape, dataformats)

    def add_text(self, tag, text_string, global_step=None, walltime=None):
        self.texts[tag] = text_string

    def close(self):
        self.closed = True


def test_report_logs_to_each_arms_tensorboard_folder_fake_writer(tmp_path, monkeypatch):
    run_dir = _finished_run(tmp_path / "run")
    FakeSummaryWriter.made = []
    monkeypatch.setattr(tracking, "summary_writer", lambda: FakeSummaryWriter)
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda m, *a: object())
    out = tracking.log_results(_recipe("tensorboard", tags=["t1"]), run_dir)
    assert out["tracker"] == "tensorboard" and set(out["logged"]) == {"sft", "grpo"}
    by_dir = {Path(w.log_dir).parent.name: w for w in FakeSummaryWriter.made}
    sft = by_dir["sft"]
    assert sft.log_dir == str(run_dir / "arms" / "sft" / "tracker") and sft.closed
    assert sft.scalars["eval/math500"] == (50.0, 3)  # at the arm's last training step
    assert sft.scalars["ti/TI_other_v2"] == (12.5, 3) and by_dir["grpo"].scalars["ti/TI_other_v2"] == (30.0, 3)
    assert sft.images["plots/benchmarks"][1] == "HWC" and "t1" in sft.texts["run"]


@pytest.mark.skipif(importlib.util.find_spec("tensorboard") is None, reason="tensorboard is not installed")
def test_tensorboard_end_to_end_training_then_report(tmp_path, kit_cache, tokenizer):
    """A real SFT training (tiny random Qwen3, 2 steps) with report_to=tensorboard writes its curves to
    arms/sft/tracker; the report stage's scores land in the same folder, read back from the event files."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    from kit.hardware import detect
    from kit.models import add_lora, load_base
    from kit.train.sft import train_on

    recipe = _recipe("tensorboard")
    recipe = dataclasses.replace(recipe, sft=dataclasses.replace(recipe.sft, max_steps=2, logging_steps=1))
    model, tok, backend = load_base(recipe, detect(), kit_cache, for_training=True)
    model = add_lora(model, recipe, backend)
    run_dir = tmp_path / "run"
    out = run_dir / "arms" / "sft"
    out.mkdir(parents=True)
    rows = [{"prompt": [{"role": "user", "content": f"What is {i}+1?"}],
             "completion": [{"role": "assistant", "content": f"{i + 1}"}]} for i in range(4)]
    train_on(recipe, detect(), model, tok, rows, out, arm="sft")
    _finished_run(run_dir)
    tracking.log_results(dataclasses.replace(recipe, arms=["sft"]), run_dir)
    ea = EventAccumulator(str(out / "tracker"), size_guidance={"scalars": 0, "images": 0})
    ea.Reload()
    scalars = set(ea.Tags()["scalars"])
    assert "train/loss" in scalars  # the Trainer's curve ...
    assert {"eval/math500", "eval_base/math500", "ti/TI_other_v2", "shift/pca_d_faithful/math500"} <= scalars
    assert ea.Scalars("eval/math500")[-1].value == 50.0 and ea.Scalars("ti/TI_other_v2")[-1].value == 12.5
    assert "plots/benchmarks" in ea.Tags()["images"]


def _fake_wandb() -> types.ModuleType:
    """wandb's calls the kit makes, with wandb's signatures; records them on the module."""
    wb = types.ModuleType("wandb")
    wb.calls = []
    wb.run = None

    class Run:
        def __init__(self, kwargs):
            self.id, self.kwargs, self.logged, self.summary, self.finished = kwargs.get("id"), kwargs, [], {}, False

        def log(self, data, step=None, commit=None):
            self.logged.append(dict(data))

        def finish(self, exit_code=None, quiet=None):
            self.finished = True
            wb.run = None

    def init(entity=None, project=None, dir=None, id=None, name=None, notes=None, tags=None, config=None,
             config_exclude_keys=None, config_include_keys=None, allow_val_change=None, group=None, job_type=None,
             mode=None, force=None, anonymous=None, reinit=None, resume=None, resume_from=None, fork_from=None,
             save_code=None, tensorboard=None, sync_tensorboard=None, monitor_gym=None, settings=None):
        run = Run(dict(project=project, dir=dir, id=id, name=name, tags=tags, resume=resume))
        wb.calls.append(run)
        wb.run = run
        return run

    def finish(exit_code=None, quiet=None):
        if wb.run is not None:
            wb.run.finish()

    class Image:
        def __init__(self, data_or_path, mode=None, caption=None, grouping=None, classes=None, boxes=None,
                     masks=None, file_type=None, normalize=True):
            self.path = data_or_path

    wb.init, wb.finish, wb.Image = init, finish, Image
    return wb


def test_report_resumes_the_wandb_training_run(tmp_path, monkeypatch):
    """Fake wandb module (wandb is not installed in the CPU stack; see the module docstring)."""
    wb = _fake_wandb()
    monkeypatch.setitem(sys.modules, "wandb", wb)
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda m, *a: object())
    run_dir = _finished_run(tmp_path / "run")
    recipe = _recipe("wandb", project="proj", tags=["t1"])
    tracking.trainer_args(recipe, run_dir / "arms" / "sft")  # the training run's id, kept in its folder
    train_id = os.environ["WANDB_RUN_ID"]
    wb.run = wb.init(id=train_id)  # the Trainer's run, left open by WandbCallback
    tracking.finish_training_run(recipe)
    assert wb.run is None and wb.calls[0].finished
    tracking.log_results(recipe, run_dir)
    sft, grpo = wb.calls[1], wb.calls[2]
    assert sft.kwargs == {"project": "proj", "dir": str(run_dir / "arms" / "sft" / "tracker"), "id": train_id,
                          "name": "smoke-sft", "tags": ["reasoning-transfer", "arxiv:2507.00432", "sft", "t1"],
                          "resume": "allow"}
    assert grpo.kwargs["id"] and grpo.kwargs["id"] != train_id and grpo.kwargs["project"] == "proj"  # no training id
    logged = sft.logged[0]
    assert logged["eval/math500"] == 50.0 and logged["ti/TI_non_v2"] == -40.0 and logged["train/global_step"] == 3
    assert logged["shift/one_minus_cka"] == pytest.approx(0.2) and logged["plots/benchmarks"].path.endswith(".png")
    assert sft.summary["ti/TI_other_v2"] == 12.5 and sft.finished and grpo.finished


@pytest.mark.skipif(importlib.util.find_spec("wandb") is None, reason="wandb is not installed (the fake covers it)")
def test_report_logs_to_real_wandb_offline(tmp_path, monkeypatch):
    monkeypatch.setenv("WANDB_MODE", "offline")
    monkeypatch.setenv("WANDB_SILENT", "true")
    run_dir = _finished_run(tmp_path / "run")
    out = tracking.log_results(_recipe("wandb", project="proj"), run_dir)
    assert out["logged"]["sft"] > 5
    assert list((run_dir / "arms" / "sft" / "tracker" / "wandb").glob("offline-run-*"))


def test_report_logs_to_trackio_by_project_and_name(tmp_path, monkeypatch):
    """Fake trackio module with trackio's signatures (see the module docstring)."""
    calls: list[tuple[str, dict]] = []
    tk = types.ModuleType("trackio")

    def init(project, name=None, group=None, space_id=None, space_storage=None, dataset_id=None, config=None,
             resume="never", settings=None, private=None, embed=True, auto_log_gpu=None, gpu_log_interval=10.0):
        calls.append(("init", dict(project=project, name=name, config=config, resume=resume)))

    tk.init = init
    tk.log = lambda metrics, step=None: calls.append(("log", dict(metrics=metrics, step=step)))
    tk.finish = lambda: calls.append(("finish", {}))
    tk.Image = lambda value, caption=None: ("image", value)
    monkeypatch.setitem(sys.modules, "trackio", tk)
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda m, *a: object())
    run_dir = _finished_run(tmp_path / "run")
    tracking.log_results(_recipe("trackio", project="tp"), run_dir)
    assert [c[0] for c in calls] == ["init", "log", "finish"] * 2
    init_kw, log_kw = calls[0][1], calls[1][1]
    assert init_kw == {"project": "tp", "name": "smoke-sft", "resume": "allow",
                       "config": {"tags": ["reasoning-transfer", "arxiv:2507.00432", "sft"]}}
    assert log_kw["step"] == 3 and log_kw["metrics"]["eval/math500"] == 50.0


def test_no_trained_arm_logs_one_eval_run(tmp_path, monkeypatch):
    """An audit recipe (arms: []) has no training run: every model's scores go to one '<run>-eval' run."""
    FakeSummaryWriter.made = []
    monkeypatch.setattr(tracking, "summary_writer", lambda: FakeSummaryWriter)
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda m, *a: object())
    run_dir = _finished_run(tmp_path / "run")
    out = tracking.log_results(dataclasses.replace(_recipe("tensorboard"), arms=[]), run_dir)
    assert set(out["logged"]) == {"eval"}
    (w,) = FakeSummaryWriter.made
    assert w.log_dir == str(run_dir / "tracker") and w.scalars["eval/grpo/math500"][0] == 75.0


def test_report_stage_logs_after_building(monkeypatch, tmp_path):
    import kit.report
    import kit.report.build

    order: list[str] = []
    monkeypatch.setattr(kit.report.build, "build", lambda d: order.append("build") or {"report": "r"})
    monkeypatch.setattr(tracking, "log_results", lambda r, d: order.append("log") or {"tracker": "wandb"})
    ctx = types.SimpleNamespace(recipe=_recipe("wandb"), run_dir=tmp_path)
    assert kit.report.run_stage(ctx) == {"report": "r", "tracking": {"tracker": "wandb"}}
    assert order == ["build", "log"]
    monkeypatch.setattr(tracking, "log_results", lambda r, d: {})
    assert kit.report.run_stage(ctx) == {"report": "r"}


def test_kit_run_refuses_a_missing_tracker_before_any_work(monkeypatch, tmp_path, capsys):
    """The runner checks the tracker before it claims the run folder: one line, nothing written."""
    import importlib.util

    from kit.run import main

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wandb" else real(name, *a))
    rc = main([str(ROOT / "recipes" / "smoke.yaml"), f"output_dir={tmp_path}", "train.report_to=wandb"])
    err = capsys.readouterr().err
    assert rc == 2 and err.count("\n") == 1 and "wandb" in err
    assert not any(tmp_path.iterdir())


def test_a_tracker_failure_at_the_report_stage_is_a_warning(monkeypatch, tmp_path, capsys):
    """The report is written before the results go to the tracker; a tracker's login or network error there is one
    warning line and the stage is done (a finished study is not failed by its tracker)."""
    from types import SimpleNamespace

    import kit.report
    import kit.report.build
    import kit.tracking

    def down(recipe, run_dir):
        raise ConnectionError("wandb: network is unreachable")

    monkeypatch.setattr(kit.report.build, "build", lambda run_dir: {"report": "report.md", "plots": 3})
    monkeypatch.setattr(kit.tracking, "log_results", down)
    summary = kit.report.run_stage(SimpleNamespace(run_dir=tmp_path, recipe=_recipe("wandb")))
    assert summary == {"report": "report.md", "plots": 3, "tracking_error": "wandb: network is unreachable"}
    out = capsys.readouterr().out
    assert out.count("\n") == 1 and out.startswith("warning: results not logged to wandb")


def test_preflight_names_a_missing_tracker(monkeypatch):
    from kit.preflight import check_tracker_package

    real = importlib.util.find_spec
    monkeypatch.setattr(tracking.importlib.util, "find_spec", lambda m, *a: None if m == "wandb" else real(m, *a))
    check = check_tracker_package(_recipe("wandb"))
    assert not check.ok and "pip install wandb" in check.line()
    assert check_tracker_package(_recipe("none")).ok
