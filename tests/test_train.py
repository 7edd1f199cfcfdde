"""Training data formatting, rewards, and real optimisation steps on the tiny model (CPU, same code path)."""

from __future__ import annotations

import json

import pytest
import torch

from kit.chat import render_prompt
from kit.data.train_sets import RL_SUFFIX, Problem, rl_example, sft_example
from kit.train.rewards import Correctness, Format, build_rewards

torch.set_num_threads(1)
P = Problem("What is $2+2$?", "4", "Add them: $2+2=4$.\n\nThe answer is $\\boxed{4}$.", "fixture")


def test_rl_prompt_uses_the_paper_suffix():
    ex = rl_example(P, enable_thinking=False)
    assert ex["prompt"] == render_prompt("What is $2+2$?" + RL_SUFFIX, False)
    assert ex["prompt"].endswith(
        "Let's think step by step and output the final answer in the \\boxed{}.<|im_end|>\n"
        "<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert ex["answer"] == "4"
    # data.rl_suffix=false (the toy world, whose base never saw the sentence): the bare question, as in eval
    assert rl_example(P, False, suffix=False)["prompt"] == render_prompt("What is $2+2$?", False)


def test_sft_example_golden_strings():
    ex = sft_example(P, "no_think", enable_thinking=False)
    assert ex["prompt"] == "<|im_start|>user\nWhat is $2+2$?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n"
    assert ex["completion"] == "Add them: $2+2=4$.\n\nThe answer is $\\boxed{4}$.<|im_end|>"
    think = Problem(P.question, "4", "<think>\nhmm, 2+2\n</think>\n\nIt is $\\boxed{4}$.", "fixture")
    ex = sft_example(think, "think", enable_thinking=False)
    assert ex["prompt"] == "<|im_start|>user\nWhat is $2+2$?<|im_end|>\n<|im_start|>assistant\n"
    assert ex["completion"] == "<think>\nhmm, 2+2\n</think>\n\nIt is $\\boxed{4}$.<|im_end|>"


def _reward(cls, thinking=False):
    return cls(enable_thinking=thinking, max_completion_length=8, eos_ids={151645})


@pytest.mark.parametrize("completion, ids, expected", [
    ("so $\\boxed{4}$", [1, 151645], 1.0),
    ("so $\\boxed{4.0}$", [1, 151645], 1.0),  # math-verify: numerically equal
    ("so $\\boxed{\\frac{8}{2}}$", [1, 151645], 1.0),
    ("so $\\boxed{5}$", [1, 151645], 0.0),
    ("the answer is 4", [1, 151645], 0.0),  # no box, no credit
    ("so $\\boxed{4}$", list(range(8)), 0.0),  # hit the length cap without EOS: truncated
])
def test_correctness_reward(completion, ids, expected):
    assert _reward(Correctness)([""], [completion], completion_ids=[ids], answer=["4"]) == [expected]


def test_reward_ignores_trainer_objects_among_columns():
    """TRL passes trainer_state, log_extra … beside the dataset columns; only per-row lists are rows."""
    from types import SimpleNamespace

    r = _reward(Correctness)
    got = r(["", ""], ["$\\boxed{4}$", "$\\boxed{3}$"], completion_ids=[[1, 151645]] * 2, answer=["4", "4"],
            trainer_state=SimpleNamespace(global_step=3), log_extra=print)
    assert got == [1.0, 0.0]


def test_correctness_reward_thinking_needs_closed_reasoning():
    r = _reward(Correctness, thinking=True)
    assert r([""] * 2, ["hmm $\\boxed{4}$", "hmm</think>$\\boxed{4}$"], completion_ids=[[1], [1]],
             answer=["4", "4"]) == [0.0, 1.0]


def test_format_reward_and_weights():
    f = _reward(Format)
    assert f([""] * 3, ["$\\boxed{1}$", "no box", "$\\boxed{1}$ $\\boxed{2}$"], completion_ids=None,
             answer=["1"] * 3) == [1.0, 0.0, 0.0]
    funcs, ws = build_rewards({"correctness": 1.0, "format": 0.0}, False, 8, {1})
    assert [fn.__name__ for fn in funcs] == ["correctness"] and ws == [1.0]


def test_sft_tokens_single_eos_and_completion_only_loss(tokenizer, tmp_path):
    """What SFTTrainer feeds the model: one <|im_end|> at the end, loss only on completion tokens."""
    import datasets
    from trl import SFTConfig, SFTTrainer
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from kit.compat import patch_trl_for_cpu

    patch_trl_for_cpu()
    model = Qwen3ForCausalLM(Qwen3Config(vocab_size=151936, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, head_dim=16))
    ex = sft_example(P, "no_think", enable_thinking=False)
    args = SFTConfig(output_dir=str(tmp_path / "sft"), max_steps=1, report_to="none", use_cpu=True, bf16=False,
                     completion_only_loss=True, max_length=256)
    trainer = SFTTrainer(model=model, args=args, train_dataset=datasets.Dataset.from_list([ex]),
                         processing_class=tokenizer)
    row = trainer.train_dataset[0]
    ids, labels = row["input_ids"], row["labels"]
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert ids[-1] == im_end and ids[-2] != im_end
    n_prompt = len(tokenizer(ex["prompt"], add_special_tokens=False)["input_ids"])
    assert all(lab == -100 for lab in labels[:n_prompt])
    assert labels[n_prompt:] == ids[n_prompt:]


def test_sft_tokenizes_small_sets_in_one_process(tmp_path):
    """Explicit dataset_num_proc: unsloth's default (a worker per core) spent 25 s on 8 rows on an H100 box."""
    import os

    from kit import recipe as R
    from kit.hardware import detect
    from kit.train.sft import sft_config
    from tests.conftest import ROOT

    recipe = R.load(ROOT / "recipes" / "smoke.yaml")
    assert sft_config(recipe, detect(), tmp_path, 8).dataset_num_proc == 1
    assert sft_config(recipe, detect(), tmp_path, 40_000).dataset_num_proc == min(8, os.cpu_count() or 1)


# --- resume from checkpoints (#10 item 4) ----------------------------------------------------------------


def _fake_checkpoint(root, step: int, log_history=None):
    """A checkpoint folder with the files Trainer writes for a PEFT model (tiny tensors)."""
    from safetensors.torch import save_file

    ckpt = root / "checkpoints" / f"checkpoint-{step}"
    ckpt.mkdir(parents=True)
    save_file({"w": torch.zeros(4, 4)}, str(ckpt / "adapter_model.safetensors"))
    (ckpt / "adapter_config.json").write_text(json.dumps({"r": 8}))
    torch.save({"state": {}, "param_groups": []}, ckpt / "optimizer.pt")
    torch.save({"last_epoch": step}, ckpt / "scheduler.pt")
    (ckpt / "trainer_state.json").write_text(json.dumps(
        {"global_step": step, "log_history": log_history or [], "max_steps": 10}))
    return ckpt


def _truncate(path, keep: float = 0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


BREAKAGES = {
    "state truncated": lambda c: _truncate(c / "trainer_state.json"),
    "state garbage": lambda c: (c / "trainer_state.json").write_bytes(b"\x00\xff garbage"),
    "state not a trainer state": lambda c: (c / "trainer_state.json").write_text("[1, 2]"),
    "state missing": lambda c: (c / "trainer_state.json").unlink(),
    "weights missing": lambda c: (c / "adapter_model.safetensors").unlink(),
    "weights truncated": lambda c: _truncate(c / "adapter_model.safetensors", 0.9),
    "adapter config missing": lambda c: (c / "adapter_config.json").unlink(),
    "optimizer truncated": lambda c: _truncate(c / "optimizer.pt"),
    "scheduler garbage": lambda c: (c / "scheduler.pt").write_bytes(b"not a zip"),
}


@pytest.mark.parametrize("breakage", list(BREAKAGES))
def test_broken_newest_checkpoint_falls_back_to_the_intact_one(tmp_path, capsys, breakage):
    from kit.train.common import last_checkpoint

    good = _fake_checkpoint(tmp_path, 2)
    bad = _fake_checkpoint(tmp_path, 4)
    assert last_checkpoint(tmp_path) == str(bad)  # both intact: the newest
    BREAKAGES[breakage](bad)
    assert last_checkpoint(tmp_path) == str(good)
    out = capsys.readouterr().out
    assert f"skipping broken checkpoint {bad}" in out and f"delete {bad}" in out


def test_no_intact_checkpoint_starts_over_with_a_note(tmp_path, capsys):
    from kit.train.common import last_checkpoint

    assert last_checkpoint(tmp_path) is None and capsys.readouterr().out == ""  # nothing saved yet: silent
    _truncate(_fake_checkpoint(tmp_path, 2) / "trainer_state.json")
    (tmp_path / "checkpoints" / "checkpoint-3").mkdir()  # an empty folder (killed right after mkdir)
    assert last_checkpoint(tmp_path) is None
    out = capsys.readouterr().out
    assert "checkpoint-3: no trainer_state.json" in out and "training starts over" in out


def test_whole_run_loss_counts_the_steps_before_the_checkpoint(tmp_path):
    """Trainer's train_loss after a resume = (sum of the resumed steps' losses) / global_step; the kit adds
    the checkpoint's logged losses (each a mean over the steps since the previous log)."""
    from kit.train.common import whole_run_loss

    # steps 1-4 logged every 2 steps (means 4.0 and 2.0), checkpoint at 4; resumed steps 5-6 each 1.0
    ckpt = _fake_checkpoint(tmp_path, 4, [{"loss": 4.0, "step": 2}, {"loss": 2.0, "step": 4},
                                          {"loss": 9.0, "step": 6}])  # a row after the checkpoint: ignored
    trainer_value = (1.0 + 1.0) / 6  # what transformers reports for the resumed session
    state = json.loads((ckpt / "trainer_state.json").read_text())
    assert whole_run_loss(trainer_value, 6, state) == pytest.approx((4 * 2 + 2 * 2 + 1 + 1) / 6)
    assert whole_run_loss(0.7, 6, None) == 0.7  # not resumed: Trainer's value is already right
    # killed after the last checkpoint: the rerun trains no step (Trainer reports 0.0), the loss is the logged one
    last = {"global_step": 4, "log_history": [{"loss": 4.0, "step": 2}, {"loss": 2.0, "step": 4}]}
    assert whole_run_loss(0.0, 4, last) == pytest.approx(3.0)
