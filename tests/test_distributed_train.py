"""Train stages in several processes (issue #13): the batch split, the launcher's command, the refusals, and a real
two-process run of the smoke recipe's SFT and GRPO stages on CPU (torchrun under `accelerate launch`, gloo)."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kit import dist
from kit.errors import KitError

ROOT = Path(__file__).resolve().parents[1]


def _recipe(*overrides: str):
    from kit.compose import load_recipe

    return load_recipe(str(ROOT / "recipes" / "smoke.yaml"), list(overrides))


@pytest.mark.parametrize("batch,accum,n,expected", [
    (4, 1, 2, (2, 1)),     # the batch divides: each process takes half of every step
    (3, 4, 2, (3, 2)),     # it does not: the accumulation is shared instead
    (8, 32, 8, (1, 32)),
    (5, 5, 1, (5, 5)),     # one process: unchanged
])
def test_split_batch_keeps_the_global_batch(batch, accum, n, expected):
    b, a = dist.split_batch(batch, accum, n, "sft.batch_size")
    assert (b, a) == expected
    assert b * a * n == batch * accum


def test_split_batch_refuses_what_cannot_be_shared():
    with pytest.raises(KitError, match="neither the batch \\(3\\) nor the accumulation \\(3\\) divides by the 2"):
        dist.split_batch(3, 3, 2, "sft.batch_size/grad_accum")


def test_sft_config_takes_its_share_of_the_batch(tmp_path):
    from kit.hardware import Hardware
    from kit.train.sft import sft_config

    cpu = Hardware(False, "cpu", (0, 0), 0.0, False)
    one = sft_config(_recipe(), cpu, tmp_path, 8)
    two = sft_config(_recipe("distributed.processes=2"), cpu, tmp_path, 8)
    assert one.per_device_train_batch_size == 4 and two.per_device_train_batch_size == 2
    assert one.max_steps == two.max_steps  # same global batch: the same number of optimizer steps


def test_grpo_config_keeps_whole_groups_per_generation(tmp_path):
    """TRL's generation batch (per-process batch x processes x steps_per_generation) is the recipe's; a config for
    one of 2 processes holds half of each step's completions."""
    from kit.hardware import Hardware
    from kit.train.grpo import grpo_kwargs, rollout_shape

    cpu = Hardware(False, "cpu", (0, 0), 0.0, False)
    r = _recipe("distributed.processes=2", "grpo.prompts_per_step=2", "grpo.num_generations=4", "grpo.grad_accum=2")
    kw = grpo_kwargs(r, cpu, tmp_path, 8, [1.0])
    assert kw["per_device_train_batch_size"] == 4 and kw["gradient_accumulation_steps"] == 2
    assert kw["per_device_train_batch_size"] * 2 * kw["steps_per_generation"] == 2 * 4 * 2
    shape = rollout_shape(r, cpu)
    assert shape["trainer_processes"] == 2 and shape["generation_batch_size"] == 16


def test_grpo_explicit_rollout_reuse_is_shared_when_the_accumulation_is(tmp_path):
    """prompts_per_step x num_generations = 3 x 4 = 12 does not split over 8 processes, grad_accum 16 does: each
    process then reuses its rollout over steps_per_generation / 8 micro-batches, so the generation batch (12 x 8 x 4
    = 384 = 12 x 32) is the one-process recipe's."""
    from kit.hardware import Hardware
    from kit.train.grpo import grpo_kwargs

    cpu = Hardware(False, "cpu", (0, 0), 0.0, False)
    base = ("grpo.prompts_per_step=3", "grpo.num_generations=4", "grpo.grad_accum=16", "grpo.steps_per_generation=32")
    one = grpo_kwargs(_recipe(*base), cpu, tmp_path, 8, [1.0])
    eight = grpo_kwargs(_recipe(*base, "distributed.processes=8"), cpu, tmp_path, 8, [1.0])
    assert eight["gradient_accumulation_steps"] == 2 and eight["steps_per_generation"] == 4
    assert eight["per_device_train_batch_size"] * 8 * eight["steps_per_generation"] == \
        one["per_device_train_batch_size"] * one["steps_per_generation"]
    with pytest.raises(KitError, match="steps_per_generation \\(36\\) does not divide by the 8"):
        grpo_kwargs(_recipe(*base[:3], "grpo.steps_per_generation=36", "distributed.processes=8"), cpu, tmp_path, 8,
                    [1.0])


def test_visible_devices_respect_a_users_restriction(monkeypatch):
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert dist.visible_devices([2, 3]) == ["2", "3"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "4,5,6,7")
    assert dist.visible_devices([0, 2]) == ["4", "6"]
    assert dist.worker_env([1])["CUDA_VISIBLE_DEVICES"] == "5"
    with pytest.raises(KitError, match="shows 4 device"):
        dist.visible_devices([4])


@pytest.mark.parametrize("strategy,expect", [("ddp", "--multi_gpu"), ("zero2", "zero2.yaml"), ("zero3", "zero3.yaml"),
                                             ("fsdp", "fsdp.yaml")])
def test_accelerate_command_and_shipped_configs(strategy, expect):
    from accelerate.commands.config.config_args import load_config_from_file
    from accelerate.commands.launch import launch_command_parser

    r = _recipe("distributed.processes=4", f"distributed.strategy={strategy}", "distributed.main_port=29555")
    cmd = dist.accelerate_command(r, ["train", "/x", "sft"], 4)
    assert cmd[:3] == [sys.executable, "-m", "accelerate.commands.launch"]
    assert cmd[-5:] == ["-m", "kit.worker", "train", "/x", "sft"]
    assert any(expect in c for c in cmd)
    args = launch_command_parser().parse_args(cmd[3:])  # accelerate's own parser accepts every flag we pass
    assert args.num_processes == 4 and args.main_process_port == 29555 and args.module
    if strategy != "ddp":
        cfg = load_config_from_file(args.config_file)
        kind = {"zero2": "DEEPSPEED", "zero3": "DEEPSPEED", "fsdp": "FSDP"}[strategy]
        assert cfg.distributed_type.name == kind
        if kind == "DEEPSPEED":
            assert cfg.deepspeed_config["zero_stage"] == int(strategy[-1])


def test_shipped_configs_are_package_data():
    import tomllib

    data = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["package-data"]["kit"]
    assert "configs/**/*" in data
    assert sorted(p.name for p in dist.CONFIGS.glob("*.yaml")) == sorted(dist.STRATEGY_CONFIG.values())


@pytest.mark.parametrize("overrides,message", [
    (["distributed.processes=2", "distributed.rollout_gpus=2", "grpo.use_vllm=true"], "leaves no process to train"),
    (["distributed.processes=4", "distributed.rollout_gpus=3", "distributed.rollout_tensor_parallel=2",
      "grpo.use_vllm=true"], "not a multiple"),
    (["distributed.processes=4", "distributed.rollout_gpus=2"], "set grpo.use_vllm=true"),
    (["distributed.processes=2", "model.backend=unsloth"], "train with transformers\\+peft"),
])
def test_recipe_refuses_impossible_layouts(overrides, message):
    with pytest.raises(KitError, match=message):
        _recipe(*overrides)


def test_more_processes_than_gpus_is_refused():
    from kit.hardware import Hardware, check_gpu_settings

    two = Hardware(True, "NVIDIA H100 80GB HBM3", (9, 0), 79.1, True, 2)
    check_gpu_settings(_recipe("distributed.processes=2", "model.dtype=auto"), two)
    with pytest.raises(KitError, match="distributed.processes=4 \\(--gpus\\) but this machine has 2 GPU"):
        check_gpu_settings(_recipe("distributed.processes=4", "model.dtype=auto"), two)


def test_kit_run_under_a_launcher_points_to_gpus(monkeypatch, capsys):
    from kit.run import main

    monkeypatch.setenv("WORLD_SIZE", "2")
    assert main([str(ROOT / "recipes" / "smoke.yaml"), "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "--gpus N" in err


def test_the_process_count_is_layout_not_a_setting():
    """A run trained on one GPU may be evaluated (or resumed) on eight: no stage hashes `distributed.*`, as none
    hashes the GPU model; the recipe's global batch, which does change results, is in the arms' own sections."""
    from kit.run import build_stages
    from kit.stages import stage_hash

    one, eight = _recipe(), _recipe("distributed.processes=8", "distributed.strategy=zero2")
    s1, s8 = build_stages(one), build_stages(eight)
    for name in s1:
        assert not any(k.startswith(("distributed", "train")) for k in s1[name].keys), name
        assert stage_hash(one, s1[name], s1) == stage_hash(eight, s8[name], s8), name
    assert stage_hash(_recipe("sft.batch_size=2"), s1["train_sft"], s1) != stage_hash(one, s1["train_sft"], s1)


def test_worker_stops_when_its_runner_is_gone():
    """A worker whose runner was killed (-9) exits by itself instead of writing on into the folder."""
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    code = "from kit.dist import watch_parent; import time; watch_parent(0.1); time.sleep(30)"
    t0 = time.time()
    p = subprocess.run([sys.executable, "-c", code], env={**os.environ, dist.PARENT_ENV: str(dead.pid)},
                       capture_output=True, text=True, timeout=60, cwd=ROOT)
    assert p.returncode == 3 and "is gone" in p.stderr
    assert time.time() - t0 < 25


def _run(out: Path, *extra: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "kit.run", str(ROOT / "recipes" / "smoke.yaml"),
                           f"output_dir={out}", "arms=[sft,grpo]", *extra],
                          env=env, capture_output=True, text=True, timeout=900, cwd=ROOT)


def _adapter_shapes(path: Path) -> dict[str, tuple[int, ...]]:
    from safetensors import safe_open

    with safe_open(str(path / "adapter_model.safetensors"), "pt") as f:
        return {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}


@pytest.mark.slow
def test_two_processes_train_sft_and_grpo_like_one(tmp_path, kit_cache):
    """The smoke recipe's SFT and GRPO stages in 2 CPU processes (gloo): one manifest per stage, one log row per
    step, finite losses, the same optimizer steps and adapter files as one process, each process a half batch."""
    stages = "--stages", "data,train_sft,train_grpo"
    one = _run(tmp_path / "one", *stages)
    assert one.returncode == 0, one.stderr[-2000:]
    two = _run(tmp_path / "two", "--gpus", "2", *stages)
    assert two.returncode == 0, two.stderr[-2000:]
    assert "2 trainer processes (ddp, CPU/gloo)" in two.stdout
    r1, r2 = tmp_path / "one" / "smoke", tmp_path / "two" / "smoke"
    for arm in ("sft", "grpo"):
        m1 = json.loads((r1 / "manifests" / f"train_{arm}.json").read_text())
        m2 = json.loads((r2 / "manifests" / f"train_{arm}.json").read_text())
        assert m2["summary"]["processes"] == 2 and m1["summary"]["steps"] == m2["summary"]["steps"]
        assert not (r2 / "arms" / arm / ".worker_summary.json").exists()
        a1, a2 = r1 / "arms" / arm / "adapter", r2 / "arms" / arm / "adapter"
        assert sorted(p.name for p in a1.iterdir()) == sorted(p.name for p in a2.iterdir())
        assert _adapter_shapes(a1) == _adapter_shapes(a2)
        rows = [json.loads(ln) for ln in (r2 / "arms" / arm / "train_log.jsonl").read_text().splitlines()]
        steps = [r["step"] for r in rows if "loss" in r]
        assert steps == sorted(set(steps)) and len(steps) == m2["summary"]["steps"]  # one writer, no duplicates
        assert all(math.isfinite(r["loss"]) for r in rows if "loss" in r)
        ckpt = max((r2 / "arms" / arm / "checkpoints").glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
        state = json.loads((ckpt / "trainer_state.json").read_text())
        state1 = json.loads((max((r1 / "arms" / arm / "checkpoints").glob("checkpoint-*"),
                                 key=lambda p: int(p.name.split("-")[1])) / "trainer_state.json").read_text())
        assert state["train_batch_size"] * 2 == state1["train_batch_size"]  # the data is split between the ranks
    # the ranks share the data: per step, the gathered token count equals one process's (it would double if each
    # rank read every example), and the losses agree to float32 reduction order
    logs = {d: [json.loads(ln) for ln in (d / "arms" / "sft" / "train_log.jsonl").read_text().splitlines()]
            for d in (r1, r2)}
    steps = {d: {r["step"]: r for r in rows if "num_tokens" in r} for d, rows in logs.items()}
    assert steps[r1].keys() == steps[r2].keys() and len(steps[r1]) == 3
    for step, row in steps[r1].items():
        assert steps[r2][step]["num_tokens"] == row["num_tokens"]
        assert steps[r2][step]["loss"] == pytest.approx(row["loss"], rel=1e-4)

    again = _run(tmp_path / "two", "--gpus", "2", *stages)  # the same rules as one process: done is skipped
    assert again.returncode == 0 and "[train_sft] done earlier, skipped" in again.stdout
    other = _run(tmp_path / "two", *stages)  # one process on the same folder: the layout is not a setting
    assert other.returncode == 0 and "[train_grpo] done earlier, skipped" in other.stdout, other.stderr[-2000:]

    # killed after its first checkpoint: no manifest, no adapter, the newest checkpoint gone -> the 2 processes
    # resume from checkpoint-2 (each rank's RNG state) and train the last step only
    import shutil

    (r2 / "manifests" / "train_sft.json").unlink()
    shutil.rmtree(r2 / "arms" / "sft" / "adapter")
    for ckpt in (r2 / "arms" / "sft" / "checkpoints").glob("checkpoint-*"):
        if int(ckpt.name.split("-")[1]) > 2:
            shutil.rmtree(ckpt)
    resumed = _run(tmp_path / "two", "--gpus", "2", "--stages", "train_sft")
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads((r2 / "manifests" / "train_sft.json").read_text())["summary"]
    assert summary["resumed_from"].endswith("checkpoint-2") and summary["processes"] == 2
    assert _adapter_shapes(r2 / "arms" / "sft" / "adapter") == _adapter_shapes(r1 / "arms" / "sft" / "adapter")


@pytest.mark.parametrize("overrides", [
    ("grpo.prompts_per_step=2", "grpo.num_generations=8", "grpo.grad_accum=4"),            # the batch splits
    ("grpo.prompts_per_step=3", "grpo.num_generations=4", "grpo.grad_accum=16"),           # the accumulation does
    ("grpo.prompts_per_step=3", "grpo.num_generations=4", "grpo.grad_accum=16", "grpo.steps_per_generation=32"),
    ("grpo.prompts_per_step=2", "grpo.num_generations=8", "grpo.grad_accum=4", "grpo.steps_per_generation=8"),
])
def test_the_plan_splits_grpo_as_the_trainer_does(tmp_path, overrides):
    """kit.plan's per-process rollout and the GRPOConfig arguments the trainer builds come from one rule."""
    from kit.hardware import Hardware
    from kit.plan.arms import local_rollout
    from kit.train.grpo import grpo_kwargs
    from kit.train.rollouts import derived_rollout

    cpu = Hardware(False, "cpu", (0, 0), 0.0, False)
    r = _recipe(*overrides, "distributed.processes=8")
    kw = grpo_kwargs(r, cpu, tmp_path, 8, [1.0])
    ro = local_rollout(r, derived_rollout(r), 8)
    assert (ro.micro_batch, ro.grad_accum, ro.steps_per_generation) == \
        (kw["per_device_train_batch_size"], kw["gradient_accumulation_steps"], kw["steps_per_generation"])


def test_a_resume_under_another_layout_is_refused(tmp_path):
    """Checkpoints written under ZeRO (partitioned optimizer, no optimizer.pt) or another backend cannot be resumed
    by another layout; DDP and one process read each other's checkpoints."""
    out = tmp_path / "sft"
    (out / "checkpoints" / "checkpoint-2").mkdir(parents=True)
    dist.check_layout(out, {"strategy": "zero2", "processes": 8, "backend": "hf"})
    with pytest.raises(KitError, match="written with processes=8; this run has processes=4"):
        dist.check_layout(out, {"strategy": "zero2", "processes": 4, "backend": "hf"})
    with pytest.raises(KitError, match="written with strategy=zero2"):
        dist.check_layout(out, {"strategy": "ddp", "processes": 8, "backend": "hf"})
    dist.check_layout(out, {"strategy": "zero2", "processes": 8, "backend": "hf"})  # the same layout: fine
    ddp = tmp_path / "grpo"
    (ddp / "checkpoints" / "checkpoint-1").mkdir(parents=True)
    dist.check_layout(ddp, {"strategy": "ddp", "processes": 2, "backend": "hf"})
    dist.check_layout(ddp, {"strategy": "ddp", "processes": 1, "backend": "hf"})
    with pytest.raises(KitError, match="backend=hf; this run has backend=unsloth"):
        dist.check_layout(ddp, {"strategy": "ddp", "processes": 1, "backend": "unsloth"})
    assert json.loads((ddp / dist.LAYOUT).read_text())["processes"] == 1


def test_a_child_dies_with_its_runner(tmp_path):
    """die_with_parent: a process started by a runner that is then killed with -9 gets SIGTERM from the kernel."""
    import signal

    code = ("import subprocess, sys, time; from kit.dist import die_with_parent; "
            "p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'], preexec_fn=die_with_parent); "
            f"open({str(tmp_path / 'pid')!r}, 'w').write(str(p.pid)); time.sleep(60)")
    runner = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT)
    pid_file = tmp_path / "pid"
    for _ in range(200):
        if pid_file.exists() and pid_file.read_text():
            break
        time.sleep(0.1)
    child = int(pid_file.read_text())
    runner.send_signal(signal.SIGKILL)
    runner.wait()
    for _ in range(100):  # the child is reparented and exits; /proc/<pid> goes (or turns into a zombie)
        try:
            state = Path(f"/proc/{child}/stat").read_text().split()[2]
        except FileNotFoundError:
            return
        if state == "Z":
            return
        time.sleep(0.1)
    os.kill(child, signal.SIGKILL)
    raise AssertionError("the child outlived its killed runner")


@pytest.mark.parametrize("env,expected", [({}, False), ({"ACCELERATE_USE_FSDP": "true"}, True),
                                          ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "3"}, True),
                                          ({"ACCELERATE_USE_DEEPSPEED": "true", "ACCELERATE_DEEPSPEED_ZERO_STAGE": "2"}, False)])
def test_a_4bit_base_is_stored_shardable_under_fsdp_and_zero3(monkeypatch, env, expected):
    from kit import models

    for k in ("ACCELERATE_USE_FSDP", "ACCELERATE_USE_DEEPSPEED", "ACCELERATE_DEEPSPEED_ZERO_STAGE"):
        monkeypatch.delenv(k, raising=False)
    for k, v in env.items():
        monkeypatch.setenv(k, v)
    assert ("bnb_4bit_quant_storage" in models._quant_storage("bfloat16")) is expected
