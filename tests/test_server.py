"""GRPO rollouts on their own GPUs (TRL's server mode): the `trl vllm-serve` command, the server's lifetime around
the trainers, and the GRPOConfig the trainers get. vLLM cannot run here: tests/fakes/fake_vllm_serve.py stands in
for the server (same arguments and routes as trl/scripts/vllm_serve.py and vllm_client.py)."""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import sys
import time
from pathlib import Path

import pytest

from kit import recipe as recipe_mod
from kit.errors import KitError
from kit.hardware import Hardware
from kit.train import server
from kit.train.rollouts import GENERATION, SERVER_HOST, generation_mode
from tests.conftest import ROOT

FAKES = Path(__file__).parent / "fakes"
GPU = Hardware(True, "NVIDIA H100 80GB HBM3", (9, 0), 79.1, True, count=8)
SERVER_RECIPE = ["distributed.processes=6", "distributed.rollout_gpus=2", "distributed.rollout_tensor_parallel=2",
                 "model.load_in_4bit=false", "grpo.use_vllm=true"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind((SERVER_HOST, 0))
        return s.getsockname()[1]


def _recipe(tmp_path: Path, *extra: str):
    return recipe_mod.load(ROOT / "recipes" / "qwen3-14b.yaml",
                           [f"output_dir={tmp_path}", f"distributed.server_port={_free_port()}", *SERVER_RECIPE, *extra])


@pytest.fixture
def fake_serve(monkeypatch, tmp_path):
    """`trl vllm-serve` replaced by the fake; returns the file it records its arguments in."""
    monkeypatch.setattr(server, "SERVE", [sys.executable, str(FAKES / "fake_vllm_serve.py")])
    monkeypatch.setattr(server, "POLL_S", 0.05)
    record = tmp_path / "fake_record.json"
    monkeypatch.setenv("FAKE_VLLM_SERVE_RECORD", str(record))
    return record


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie (exited, not yet reaped by its parent) counts as gone
        return Path(f"/proc/{pid}/stat").read_text().split()[2] != "Z"
    except OSError:
        return False


# ---------------------------------------------------------------------------------------------------------
# the command line


def test_serve_command_is_what_trls_own_parser_reads(tmp_path):
    """K=4 GPUs at tensor parallel 2 (data parallel 2), parsed by trl's own vllm-serve parser (no vllm needed)."""
    from trl.scripts.vllm_serve import ScriptArguments, make_parser

    r = _recipe(tmp_path, "distributed.processes=8", "distributed.rollout_gpus=4")
    cmd = server.serve_command(r, GPU)
    assert cmd[:len(server.SERVE)] == server.SERVE and cmd[len(server.SERVE) - 1] == "vllm-serve"
    args, extra = make_parser(prog="trl vllm-serve").parse_args_and_config(cmd[len(server.SERVE):],
                                                                          return_remaining_strings=True)
    assert isinstance(args, ScriptArguments) and extra == []
    assert (args.model, args.revision) == ("Qwen/Qwen3-14B-Base", r.model.revision)
    assert (args.tensor_parallel_size, args.data_parallel_size) == (2, 2)
    assert (args.host, args.port) == ("127.0.0.1", r.distributed.server_port)
    assert args.gpu_memory_utilization == server.SERVER_GPU_MEMORY_UTILIZATION
    assert args.max_model_len == r.data.max_prompt_tokens + r.grpo.max_completion_length == 512 + 4096
    assert args.dtype == "bfloat16" and args.enable_prefix_caching is True and args.enforce_eager is False


def test_trl_cli_knows_the_vllm_serve_command():
    """SERVE runs trl's console-script module; vllm-serve is one of its commands."""
    assert server.SERVE[1:3] == ["-m", "trl.cli.main"]
    from trl.cli.main import get_commands

    assert "vllm-serve" in {c.name for c in get_commands()}


def test_data_parallel_rollout_server_is_refused_for_dense_models(tmp_path):
    r = _recipe(tmp_path, "distributed.processes=8", "distributed.rollout_gpus=4")
    with pytest.raises(KitError, match=r"data parallel 2.*distributed.rollout_tensor_parallel=4") as e:
        generation_mode(r, GPU, check_installed=False)
    assert "\n" not in str(e.value)
    with pytest.raises(KitError, match="data parallel 2"):
        with server.rollout_server(r, GPU):
            pass


# ---------------------------------------------------------------------------------------------------------
# lifetime: start, health, stop


def test_server_starts_is_healthy_and_stops(fake_serve, tmp_path, capsys):
    r = _recipe(tmp_path)
    with server.rollout_server(r, GPU, timeout_s=60) as url:
        assert url == f"http://127.0.0.1:{r.distributed.server_port}"
        assert server._healthy(url + "/health")
        rec = json.loads(fake_serve.read_text())
        assert rec["cuda_visible_devices"] == "0,1"  # GPUs 0..rollout_gpus-1; the trainers get the others
        assert rec["args"]["tensor_parallel_size"] == 2 and rec["args"]["data_parallel_size"] == 1
        assert _alive(rec["pid"])
    assert not _alive(rec["pid"]) and not server._healthy(url + "/health")
    log = tmp_path / r.name / "arms" / "grpo" / "rollout_server.log"
    assert log == Path(r.run_dir) / "arms" / "grpo" / server.LOG_NAME
    first, *rest = log.read_text().splitlines()
    assert first.startswith("$ ") and "--tensor_parallel_size 2" in first  # the command, then the server's output
    assert any("fake vllm serve" in ln for ln in rest)
    assert "[rollout_server] up at" in capsys.readouterr().out


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_server_is_stopped_when_the_trainers_fail_or_ctrl_c(fake_serve, tmp_path, error):
    r = _recipe(tmp_path)
    with pytest.raises(error):
        with server.rollout_server(r, GPU, timeout_s=60):
            pid = json.loads(fake_serve.read_text())["pid"]
            raise error()
    assert not _alive(pid)


def test_a_server_that_dies_is_one_line_with_its_log(fake_serve, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_SERVE", "die")
    r = _recipe(tmp_path)
    with pytest.raises(KitError) as e:
        with server.rollout_server(r, GPU, timeout_s=60):
            pytest.fail("the block must not run without a server")
    msg = str(e.value)
    assert "\n" not in msg and "exited with code 3" in msg and "CUDA out of memory (fake)" in msg
    assert "rollout_server.log" in msg


def test_a_server_that_never_answers_times_out_and_is_stopped(fake_serve, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_VLLM_SERVE", "hang")
    r = _recipe(tmp_path)
    t0 = time.monotonic()
    with pytest.raises(KitError, match=r"was not up at .* after 1 s") as e:
        with server.rollout_server(r, GPU, timeout_s=1.0):
            pass
    assert "\n" not in str(e.value) and time.monotonic() - t0 < 30
    assert not _alive(json.loads(fake_serve.read_text())["pid"])


def test_a_busy_port_is_refused_before_starting(fake_serve, tmp_path):
    r = _recipe(tmp_path)
    with server.rollout_server(r, GPU, timeout_s=60):
        with pytest.raises(KitError, match="already answers.*distributed.server_port"):
            with server.rollout_server(r, GPU, timeout_s=60):
                pass


# ---------------------------------------------------------------------------------------------------------
# the trainers' side: generation mode and the real GRPOConfig


@pytest.fixture
def vllm_importable(monkeypatch):
    """vllm importable (tests/fakes/vllm) and bf16 'available' to TrainingArguments (as tests/test_gpu_path.py)."""
    monkeypatch.syspath_prepend(str(FAKES))
    import transformers.training_args as ta

    monkeypatch.setattr(ta, "is_torch_bf16_gpu_available", lambda: True)
    yield
    for name in [m for m in sys.modules if m == "vllm" or m.startswith("vllm.")]:
        del sys.modules[name]


def test_grpo_config_in_server_mode(vllm_importable, tmp_path):
    """GRPOConfig needs vllm only when the trainer starts (vllm_generation.py:294), not to be built."""
    from kit.train.grpo import grpo_config

    r = _recipe(tmp_path)
    assert generation_mode(r, GPU) == "vllm_server"
    cfg = grpo_config(r, GPU, tmp_path, 1000, [1.0])
    assert cfg.use_vllm is True and cfg.vllm_mode == "server"
    assert (cfg.vllm_server_host, cfg.vllm_server_port) == ("127.0.0.1", r.distributed.server_port)
    assert cfg.vllm_server_base_url is None and cfg.vllm_server_timeout == 240.0
    # 4 trainer processes share the recipe's 16-sequence micro-batch; the generation batch stays 512 x 16
    assert cfg.per_device_train_batch_size == 4 and cfg.steps_per_generation == 512


def test_grpo_config_builds_without_vllm_installed(tmp_path, monkeypatch):
    """The planner builds it too (check_installed=False) on a machine without vllm."""
    import transformers.training_args as ta

    from kit.train.grpo import rollout_shape

    monkeypatch.setattr(ta, "is_torch_bf16_gpu_available", lambda: True)
    assert importlib.util.find_spec("vllm") is None
    shape = rollout_shape(_recipe(tmp_path), GPU)
    assert shape["mode"] == "vllm_server" and shape["vllm_mode"] == "server" and shape["trainer_processes"] == 4


def test_server_mode_with_a_4bit_base_is_refused(tmp_path):
    """TRL merges the LoRA into the base and sends the base's parameters (vllm_generation.py:443-469): for an NF4
    base that is a lossy requantization (and packed 4-bit tensors for a 16-bit server)."""
    r = _recipe(tmp_path, "model.load_in_4bit=true")
    with pytest.raises(KitError, match="model.load_in_4bit=true: TRL's vLLM.*set model.load_in_4bit=false") as e:
        generation_mode(r, GPU, check_installed=False)
    assert "\n" not in str(e.value)


def test_several_trainers_train_with_hf_so_colocated_vllm_needs_16_bit(tmp_path):
    """`_backend` follows kit.hardware.training_backend: 'auto' is transformers+peft with several processes."""
    multi = ["distributed.processes=8", "grpo.use_vllm=true"]
    with pytest.raises(KitError, match="several trainer processes"):
        generation_mode(recipe_mod.load(ROOT / "recipes" / "qwen3-14b.yaml", multi), GPU, check_installed=False)
    r = recipe_mod.load(ROOT / "recipes" / "qwen3-14b.yaml", [*multi, "model.load_in_4bit=false"])
    assert generation_mode(r, GPU, check_installed=False) == "vllm_trl"
    one = recipe_mod.load(ROOT / "recipes" / "qwen3-14b.yaml")
    assert generation_mode(one, GPU, check_installed=False) == "vllm_unsloth"  # one process: unsloth's engine


def test_generation_registry_has_server_mode():
    kw = GENERATION["vllm_server"](recipe_mod.load(ROOT / "recipes" / "qwen3-14b.yaml", ["distributed.server_port=8123"]))
    assert kw["vllm_mode"] == "server" and kw["vllm_server_port"] == 8123 and kw["use_vllm"] is True
