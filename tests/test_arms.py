"""Each arm takes real optimisation steps on the tiny model through the same code path as a GPU run:
finite loss, LoRA weights that moved; plus the GRPO health checks."""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
import torch

from kit import recipe as R
from kit.errors import KitError
from kit.hardware import detect
from kit.plan import make_plan
from kit.run import Context
from kit.train.health import HealthMonitor
from tests.conftest import ROOT

torch.set_num_threads(1)


@pytest.fixture()
def ctx(tmp_path, kit_cache):
    from kit.data.train_sets import build

    r = R.load(ROOT / "recipes" / "smoke.yaml", [f"output_dir={tmp_path}", "data.num_problems=4",
                                                 "sft.max_steps=2", "grpo.max_steps=2", "onpolicy.rounds=1",
                                                 "onpolicy.samples_per_problem=2", "onpolicy.max_completion_length=8"])
    hw = detect()
    c = Context(r, hw, make_plan(r, hw, "float32"), r.run_dir)
    build(r, c.tokenizer(), 4, r.run_dir / "data")
    return c


def _lora_b_norm(adapter_dir) -> float:
    from safetensors.torch import load_file

    sd = load_file(str(adapter_dir / "adapter_model.safetensors"))
    return float(sum(v.float().norm() for k, v in sd.items() if "lora_B" in k))


def _log(out_dir) -> list[dict]:
    return [json.loads(x) for x in (out_dir / "train_log.jsonl").read_text().splitlines()]


@pytest.mark.slow
def test_sft_steps_move_the_adapter(ctx):
    from kit.registry import ARMS

    out = ctx.run_dir / "arms" / "sft"
    out.mkdir(parents=True)
    summary = ARMS.get("sft").train(ctx, out)
    assert summary["steps"] == 2 and torch.isfinite(torch.tensor(summary["train_loss"]))
    assert _lora_b_norm(out / "adapter") > 0  # B starts at zero: non-zero means gradients flowed
    assert any(r.get("grad_norm", 0) > 0 for r in _log(out))


@pytest.mark.slow
def test_grpo_steps_with_a_varying_reward(ctx, monkeypatch):
    """A random model never earns the correctness reward; a reward with variance must give gradients."""
    import kit.train.grpo as grpo

    def ascii_share(prompts, completions, **kw):
        return [sum(ch.isascii() and ch.isalpha() for ch in c) / max(1, len(c)) for c in completions]

    ascii_share.__name__ = "ascii_share"
    monkeypatch.setattr(grpo, "build_rewards", lambda *a, **k: ([ascii_share], [1.0]))
    out = ctx.run_dir / "arms" / "grpo"
    out.mkdir(parents=True)
    grpo.run(ctx, out)
    log = _log(out)
    assert any(r.get("grad_norm", 0) > 0 for r in log) and all(torch.isfinite(torch.tensor(r["loss"]))
                                                               for r in log if "loss" in r)
    assert _lora_b_norm(out / "adapter") > 0


def test_grpo_health_stop_raises(ctx, monkeypatch):
    """With the real reward the random model gets zero variance every step: action=stop must stop it."""
    import kit.train.grpo as grpo

    ctx.recipe.grpo.health.warn_after = 1
    ctx.recipe.grpo.health.stop_after = 1
    ctx.recipe.grpo.health.action = "stop"
    ctx.recipe.grpo.max_steps = 6
    out = ctx.run_dir / "arms" / "grpo"
    out.mkdir(parents=True)
    with pytest.raises(KitError, match="GRPO stopped by the health check: zero_reward_variance"):
        grpo.run(ctx, out)
    steps = [r["step"] for r in _log(out)]
    assert max(steps) < 6  # it stopped early


@pytest.mark.slow
def test_onpolicy_sft_trains_on_accepted_samples(ctx, monkeypatch):
    import kit.train.onpolicy_sft as onp

    # accept every sample (a random model never answers correctly nor stops before the cap)
    monkeypatch.setattr(onp.Correctness, "score", lambda self, text, row: 1.0)
    monkeypatch.setattr(onp.Correctness, "truncated", lambda self, ids: False)
    out = ctx.run_dir / "arms" / "onpolicy_sft"
    out.mkdir(parents=True)
    summary = onp.run(ctx, out)
    assert summary["accepted"] == summary["samples"] == 8
    assert (out / "round-0" / "done.json").exists()
    assert _lora_b_norm(out / "adapter") > 0


def test_health_monitor_warns_then_stops(tmp_path):
    cfg = SimpleNamespace(zero_std_frac=0.9, clipped_frac=0.8, warn_after=2, stop_after=3, action="stop")
    mon = HealthMonitor(cfg, tmp_path / "stop.jsonl")
    assert mon.observe(1, {"frac_reward_zero_std": 1.0, "grad_norm": 0.3}) == []
    msgs = mon.observe(2, {"frac_reward_zero_std": 0.95, "grad_norm": 0.3})
    assert len(msgs) == 1 and "zero_reward_variance" in msgs[0] and mon.stopped is None
    mon.observe(3, {"frac_reward_zero_std": 0.5})  # a good step resets the streak
    for step in (4, 5):
        mon.observe(step, {"frac_reward_zero_std": 1.0})
    assert mon.stopped is None
    mon.observe(6, {"frac_reward_zero_std": 1.0})
    assert mon.stopped and "zero_reward_variance" in mon.stopped
    with pytest.raises(KitError):
        mon.raise_if_stopped()
    mon2 = HealthMonitor(SimpleNamespace(**{**vars(cfg), "action": "warn"}), tmp_path / "warn.jsonl")
    for step in range(5):
        mon2.observe(step, {"completions/clipped_ratio": 1.0, "grad_norm": 0.0})
    assert mon2.stopped and "length_cap" in mon2.stopped
    mon2.raise_if_stopped()  # warn mode never raises
    assert set(mon2.warnings) == {"length_cap", "zero_grad"}


@pytest.mark.slow
def test_sft_matched_lr_uses_the_rl_learning_rate(ctx):
    from kit.registry import ARMS

    ctx.recipe.grpo.learning_rate = 3e-4
    out = ctx.run_dir / "arms" / "sft_matched_lr"
    out.mkdir(parents=True)
    summary = ARMS.get("sft_matched_lr").train(ctx, out)
    assert summary["learning_rate"] == 3e-4
    lrs = [r["learning_rate"] for r in _log(out) if "learning_rate" in r]
    assert lrs and all(abs(lr - 3e-4) < 1e-12 for lr in lrs)  # constant schedule in the smoke recipe


@pytest.mark.slow
def test_push_to_hub_uploads_each_adapter(ctx, monkeypatch):
    import kit.train.common as common

    pushed = []
    monkeypatch.setattr(common, "push_adapter", lambda path, repo: pushed.append((path.name, repo)))
    ctx.recipe.train.push_to_hub = "me/kit-smoke"
    from kit.registry import ARMS

    out = ctx.run_dir / "arms" / "sft"
    out.mkdir(parents=True)
    ARMS.get("sft").train(ctx, out)
    assert pushed == [("adapter", "me/kit-smoke-sft")]


# --- resume after a kill (#10 item 4) --------------------------------------------------------------------


class _Killed(Exception):
    """Stands in for kill -9: training dies between two checkpoints."""


def _kill_once_at(module, monkeypatch, step: int) -> None:
    """Make the arm's JsonlLog die after writing the row of `step`, the first time only (the rerun goes on)."""
    from kit.train.common import JsonlLog

    fired = []

    class KillingLog(JsonlLog):
        def on_log(self, args, state, control, logs=None, **kwargs):
            super().on_log(args, state, control, logs=logs, **kwargs)
            if state.global_step == step and not fired:
                fired.append(step)
                raise _Killed(step)

    monkeypatch.setattr(module, "JsonlLog", KillingLog)


@pytest.mark.slow
@pytest.mark.parametrize("break_newest", [False, True])
def test_sft_resumed_after_a_kill_reports_the_loss_of_all_steps(ctx, monkeypatch, capsys, break_newest):
    """Killed at step 5 (checkpoints 2 and 4 saved), rerun: train_loss is the mean over steps 1-6, not the
    resumed steps' sum over 6 (Trainer's own value). With checkpoint-4's trainer_state.json cut short, the
    rerun falls back to checkpoint-2 with a note instead of a traceback."""
    import kit.train.sft as sft
    from kit.train.common import read_log

    c = ctx.recipe.sft
    c.max_steps, c.save_steps, c.logging_steps = 6, 2, 1
    out = ctx.run_dir / "arms" / "sft"
    out.mkdir(parents=True)
    _kill_once_at(sft, monkeypatch, 5)
    with pytest.raises(_Killed):
        sft.run(ctx, out)
    ckpts = out / "checkpoints"
    assert sorted(p.name for p in ckpts.glob("checkpoint-*")) == ["checkpoint-2", "checkpoint-4"]
    if break_newest:
        state = ckpts / "checkpoint-4" / "trainer_state.json"
        state.write_text(state.read_text()[:40])
    summary = sft.run(ctx, out)
    expect_from = "checkpoint-2" if break_newest else "checkpoint-4"
    assert summary["resumed_from"].endswith(expect_from)
    if break_newest:
        assert "skipping broken checkpoint" in capsys.readouterr().out
    losses = {r["step"]: r["loss"] for r in read_log(out / "train_log.jsonl") if "loss" in r}
    assert sorted(losses) == [1, 2, 3, 4, 5, 6]
    start = int(expect_from.split("-")[1])
    resumed_only = sum(v for s, v in losses.items() if s > start) / 6  # what Trainer itself reports
    assert summary["train_loss"] == pytest.approx(sum(losses.values()) / 6, rel=1e-6)
    assert summary["train_loss"] != pytest.approx(resumed_only, rel=1e-3)


@pytest.mark.slow
def test_grpo_health_streak_survives_a_resume(ctx, monkeypatch):
    """With the real reward every step of the random model has zero reward variance. Killed at step 4
    (checkpoint-3 saved) with stop_after=5, the resumed run must stop at step 5 (2 more bad steps), not at
    step 8 (5 more, a streak counted from zero); the step-2 warnings are kept, not repeated."""
    import kit.train.grpo as grpo

    g = ctx.recipe.grpo
    g.max_steps, g.save_steps, g.logging_steps = 10, 1, 1
    g.health.warn_after, g.health.stop_after, g.health.action = 2, 5, "stop"
    out = ctx.run_dir / "arms" / "grpo"
    out.mkdir(parents=True)
    _kill_once_at(grpo, monkeypatch, 4)
    with pytest.raises(_Killed):
        grpo.run(ctx, out)
    health = [json.loads(x) for x in (out / "health.jsonl").read_text().splitlines()]
    assert [h["step"] for h in health] == [2, 2, 2]  # zero variance, length cap and zero grad all warn at 2
    with pytest.raises(KitError, match="zero_reward_variance for 5 consecutive logged steps"):
        grpo.run(ctx, out)
    assert max(r["step"] for r in _log(out)) == 5
    health = [json.loads(x) for x in (out / "health.jsonl").read_text().splitlines()]
    assert [h["step"] for h in health] == [2, 2, 2, 5]


def test_health_monitor_restore_continues_the_streak(tmp_path):
    """15 bad steps into a 20-step stop limit, resumed from step 15: stops after 5 more, not 20; the warning
    given at step 5 survives; health.jsonl messages after the checkpoint are dropped (those steps are redone)."""
    cfg = SimpleNamespace(zero_std_frac=0.9, clipped_frac=0.8, warn_after=5, stop_after=20, action="stop")
    log = tmp_path / "health.jsonl"
    first = HealthMonitor(cfg, log)
    history = [{"frac_reward_zero_std": 1.0, "grad_norm": 0.1, "step": s} for s in range(1, 18)]
    for row in history:  # the killed run got to step 17; its checkpoint is at step 15
        first.observe(row["step"], row)
    log.write_text(log.read_text() + json.dumps({"step": 16, "message": "later"}) + "\n" + '{"step": 1')
    mon = HealthMonitor(cfg, log)
    mon.restore(history, upto_step=15)
    assert mon.streak["zero_reward_variance"] == 15 and mon.warnings == ["zero_reward_variance"]
    assert [json.loads(x)["step"] for x in log.read_text().splitlines()] == [5]
    for step in range(16, 20):
        assert mon.observe(step, {"frac_reward_zero_std": 1.0}) == [] and mon.stopped is None
    assert mon.observe(20, {"frac_reward_zero_std": 1.0}) and mon.stopped
    with pytest.raises(KitError):
        mon.raise_if_stopped()


@pytest.mark.slow
def test_checkpoint_that_still_fails_to_load_is_one_line(ctx):
    """A checkpoint whose files look whole but do not load (optimizer.pt a zip of junk) stops with one line
    naming the folder and the fix, not a traceback from inside Trainer."""
    import zipfile

    import kit.train.sft as sft

    ctx.recipe.sft.max_steps, ctx.recipe.sft.save_steps = 2, 2
    out = ctx.run_dir / "arms" / "sft"
    out.mkdir(parents=True)
    sft.run(ctx, out)
    ckpt = out / "checkpoints" / "checkpoint-2"
    with zipfile.ZipFile(ckpt / "optimizer.pt", "w") as z:
        z.writestr("junk", "not a torch save")
    ctx.recipe.sft.max_steps = 3
    with pytest.raises(KitError) as exc:
        sft.run(ctx, out)
    msg = str(exc.value)
    assert f"cannot resume from checkpoint {ckpt}" in msg and "delete that folder and rerun" in msg
    assert "\n" not in msg
