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


def test_sft_tokens_single_eos_and_completion_only_loss(tokenizer):
    """What SFTTrainer feeds the model: one <|im_end|> at the end, loss only on completion tokens."""
    import datasets
    from trl import SFTConfig, SFTTrainer
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from kit.compat import patch_trl_for_cpu

    patch_trl_for_cpu()
    model = Qwen3ForCausalLM(Qwen3Config(vocab_size=151936, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1, head_dim=16))
    ex = sft_example(P, "no_think", enable_thinking=False)
    args = SFTConfig(output_dir="/tmp/kit-test-sft", max_steps=1, report_to="none", use_cpu=True, bf16=False,
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
