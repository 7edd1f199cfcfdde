"""The console (issue #14): one progress bar per training run instead of metric dicts, --help that works, a GPU
self-check that refuses a CPU at real shapes, bitsandbytes' missing-`kernels` note filtered."""

from __future__ import annotations

import logging
from types import SimpleNamespace

import pytest


def test_progress_bar_counts_steps_and_shows_the_watched_figures(capsys):
    from kit.train.console import ConsoleProgress

    bar = ConsoleProgress("train grpo")
    state = SimpleNamespace(is_world_process_zero=True, max_steps=10, global_step=4)  # resumed at step 4
    bar.on_train_begin(None, state, None)
    assert bar.bar.n == 4 and bar.bar.total == 10
    state.global_step = 6
    bar.on_step_end(None, state, None)
    bar.on_log(None, state, None, logs={"loss": 0.25, "reward": 0.5, "completions/mean_length": 812.0,
                                        "clip_ratio/low_mean": 0.0, "step_time": 1.0})
    assert bar.bar.n == 6 and bar.bar.postfix == "loss=0.25, reward=0.5, len=812"
    bar.on_train_end(None, state, None)
    assert bar.bar is None


def test_other_ranks_draw_no_bar():
    from kit.train.console import ConsoleProgress

    bar = ConsoleProgress("train sft")
    bar.on_train_begin(None, SimpleNamespace(is_world_process_zero=False, max_steps=3, global_step=0), None)
    bar.on_log(None, None, None, logs={"loss": 1.0})
    assert bar.bar is None


def test_quiet_console_replaces_the_dict_printers(tmp_path):
    import torch
    from transformers import PrinterCallback, ProgressCallback, Trainer, TrainingArguments

    from kit.train.console import ConsoleProgress, quiet_console

    for disable_tqdm in (False, True):  # ProgressCallback or PrinterCallback, depending on disable_tqdm
        args = TrainingArguments(output_dir=str(tmp_path), use_cpu=True, report_to="none", disable_tqdm=disable_tqdm)
        trainer = Trainer(model=torch.nn.Linear(2, 2), args=args)
        quiet_console(trainer, "train x")
        kinds = [type(c) for c in trainer.callback_handler.callbacks]
        assert ProgressCallback not in kinds and PrinterCallback not in kinds and ConsoleProgress in kinds


def test_report_help_works(capsys):
    from kit.report.__main__ import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    assert exc.value.code == 0 and "RUN_DIR" not in capsys.readouterr().err
    assert main(["/nonexistent-run"]) == 2


def test_gpucheck_on_a_cpu_refuses_real_shapes(capsys):
    import torch

    from kit.gpucheck import main

    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")
    assert main(["--recipes", "qwen3-0.6b"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--shapes tiny" in err
    assert main(["--decode", "0.6b"]) == 2


def test_bitsandbytes_kernels_note_is_filtered_and_others_are_not(caplog):
    import kit  # noqa: F401  (installs the filter)

    log = logging.getLogger("bitsandbytes.backends.cpu.ops")
    with caplog.at_level(logging.WARNING, logger=log.name):
        log.warning("Failed to load CPU gemm_4bit_forward from kernels-community: %s. Please make sure", "x")
        log.warning("something else went wrong")
    assert [r.getMessage() for r in caplog.records] == ["something else went wrong"]


def test_run_help_lists_the_stages_and_every_arm(capsys):
    from kit.registry import ARMS
    from kit.run import main

    with pytest.raises(SystemExit) as exc:
        main(["--help"])
    out = capsys.readouterr().out
    assert exc.value.code == 0
    for stage in ("data", "train_<arm>", "eval", "probe", "report"):
        assert f"\n  {stage} " in out
    assert all(arm in out for arm in ARMS.names()) and "3 a --dry-run plan that does not fit" in out


def test_run_check_is_the_preflight(capsys, tmp_path):
    """`kit.run RECIPE --check` runs kit.preflight (downloads reachable, plan fits) and nothing else."""
    from kit.run import main

    assert main(["smoke", f"output_dir={tmp_path}", "--check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("preflight of smoke") and "preflight passed" in out
    assert not any(tmp_path.iterdir())
    assert main(["qwen3-14b", f"output_dir={tmp_path}", "--check", "--gpu", "t4"]) == 2
    out = capsys.readouterr().out  # the Hub is offline under the tests; the plan's line says why it does not fit
    assert "no fit     plan: this plan does not fit Tesla T4" in out and "lower sft.batch_size" in out


def test_a_slow_model_build_is_reported_as_its_own_step(monkeypatch, capsys, tmp_path):
    """A kit-built base (the toy's takes minutes) is built before the first stage and timed as [base], so its time
    is not counted as the data stage's; a cached one (fast) prints nothing; a report-only run builds nothing."""
    import time
    from types import SimpleNamespace

    import kit.models
    from kit.compose import load_recipe
    from kit.run import _prepare_built_model

    calls = []

    def slow(model_cfg, root):
        calls.append(root)
        time.sleep(1.1)
        return str(root / "tiny")

    monkeypatch.setattr(kit.models, "resolve_path", slow)
    ctx = SimpleNamespace(recipe=load_recipe("smoke", []), cache_root=tmp_path)
    _prepare_built_model(ctx, ["data", "train_sft"])
    out = capsys.readouterr().out
    assert out.startswith("[base] built 'tiny-random-qwen3' in 1.") and calls == [tmp_path]
    _prepare_built_model(ctx, ["report"])
    assert calls == [tmp_path] and capsys.readouterr().out == ""
