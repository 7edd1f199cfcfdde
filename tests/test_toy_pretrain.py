"""The toy tokenizer and the toy base: single-id chat tokens, exact round trips, a cached quick pretraining
whose greedy answers beat chance."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from kit.chat import IM_END, render_completion, render_prompt, split_thinking
from kit.toy import pretrain
from kit.toy.tokenizer import PAD, SPECIAL_TOKENS, THINK_TOKENS, build_tokenizer, learn_merges
from kit.toy.world import TASKS, base_style, make_split, teacher_trace, tasks_in, verify


@pytest.fixture(scope="module")
def tok():
    return build_tokenizer()


def _texts(n: int = 5) -> list[str]:
    out = []
    for name, task in TASKS.items():
        for p in make_split(name, n, seed=0):
            out.append(render_prompt(p.question, enable_thinking=False) + render_completion(base_style(p)))
            out.append(render_prompt(p.question, enable_thinking=True) + render_completion(base_style(p)))
            if task.teacher_trace is not None:
                out.append(render_prompt(p.question, enable_thinking=False) + render_completion(teacher_trace(p)))
                out.append(render_prompt(p.question, True) + render_completion(base_style(p), teacher_trace(p)))
    return out


def test_chat_tokens_are_single_ids_and_roles(tok):
    for t in (*SPECIAL_TOKENS, *THINK_TOKENS):
        ids = tok(t, add_special_tokens=False)["input_ids"]
        assert len(ids) == 1 and ids[0] == tok.convert_tokens_to_ids(t), t
    assert tok.eos_token == IM_END and tok.pad_token == PAD and tok.padding_side == "left"
    assert tok.eos_token_id != tok.pad_token_id
    assert len(tok) < 1000
    # inside text, too
    ids = tok("x<|im_start|>user\n<think>\n\n</think>\n\nA<|im_end|>", add_special_tokens=False)["input_ids"]
    for t in ("<|im_start|>", "<think>", "</think>", IM_END):
        assert tok.convert_tokens_to_ids(t) in ids


def test_world_text_round_trips(tok):
    texts = _texts()
    texts.append("Odd text: ünïcode ✓, tabs\tand  double  spaces, 12345, \\boxed{ -3 }\n\n\n")
    for text in texts:
        assert tok.decode(tok(text, add_special_tokens=False)["input_ids"]) == text


def test_skip_special_tokens_keeps_think_tags(tok):
    text = "<|im_start|>assistant\n<think>\nstep one\n</think>\n\nThe answer is \\boxed{3}.<|im_end|><|endoftext|>"
    out = tok.decode(tok(text, add_special_tokens=False)["input_ids"], skip_special_tokens=True)
    assert out == "assistant\n<think>\nstep one\n</think>\n\nThe answer is \\boxed{3}."
    assert split_thinking(out, enable_thinking=False).answer == "The answer is \\boxed{3}."


def test_prompt_tokens_are_a_prefix_of_prompt_plus_answer(tok):
    """Generation starts right after the prompt's tokens: the training text must tokenize the prompt the same
    way, or the model never sees at training time the boundary it is asked to continue from."""
    for name, task in TASKS.items():
        for p in make_split(name, 5, seed=1):
            for think in (False, True):
                prompt = render_prompt(p.question, enable_thinking=think)
                responses = [base_style(p)] + ([teacher_trace(p)] if task.teacher_trace else [])
                for r in responses:
                    a = tok(prompt, add_special_tokens=False)["input_ids"]
                    b = tok(prompt + render_completion(r), add_special_tokens=False)["input_ids"]
                    assert b[:len(a)] == a, (name, r[:30])


def test_save_and_auto_load_round_trip(tok, tmp_path):
    from transformers import AutoTokenizer

    tok.save_pretrained(tmp_path)
    again = AutoTokenizer.from_pretrained(str(tmp_path))
    assert again.get_vocab() == tok.get_vocab()
    assert (again.eos_token, again.pad_token, again.padding_side) == (IM_END, PAD, "left")
    for text in _texts(2):
        ids = tok(text, add_special_tokens=False)["input_ids"]
        assert again(text, add_special_tokens=False)["input_ids"] == ids
        assert again.decode(ids, skip_special_tokens=True) == tok.decode(ids, skip_special_tokens=True)
    batch = again(["a", "a longer text"], padding=True, return_tensors="pt", add_special_tokens=False)
    assert batch["input_ids"][0, 0].item() == again.pad_token_id  # left padding


def test_merges_are_deterministic():
    texts = _texts(2)
    assert learn_merges(texts, 50) == learn_merges(list(texts), 50)


# the quick base: built once per session by the `quick_base` fixture (tests/conftest.py)

@pytest.mark.slow
def test_quick_base_builds_and_is_cached(quick_base, monkeypatch):
    cache, path, _ = quick_base
    assert path.parent == cache and path.name.startswith("toy-qwen3-quick-")
    for f in ("config.json", "model.safetensors", "tokenizer.json", pretrain.BUILD_INFO):
        assert (path / f).exists()
    assert not [p for p in cache.iterdir() if ".tmp" in p.name]
    # the second call must reuse the cached base: no build starts and the weights file is untouched
    # (a behavioural check instead of a wall-clock bound, which a loaded machine can break)
    builds: list[Path] = []
    monkeypatch.setattr(pretrain, "build_base", lambda out, *a, **k: builds.append(out))
    before = (path / "model.safetensors").stat().st_mtime_ns
    assert pretrain.ensure_base(cache, quick=True) == path
    assert builds == [] and (path / "model.safetensors").stat().st_mtime_ns == before
    assert pretrain.base_dir(cache, quick=False) != path  # the default build has its own key


def _off_by_ten(value: int) -> int:
    """A wrong result with as many digits as the right one (so token counts do not give it away)."""
    if value < 10:
        return (value + 5) % 10
    return value + 10 if len(str(value + 10)) == len(str(value)) else value - 10


# the worked math habit: the story read back sentence by sentence, equations after commas, then the box
WORKED = re.compile(r"([A-Z][^.\n]*\. )+The answer is \\boxed\{\d+\}\.")


def _prefers_correct_arithmetic(model, tok, problems) -> float:
    """Share of (problem, first or last equation) where the model gives the base's worked answer a higher
    likelihood than the same answer with that equation's result 10 off: an untrained model is at chance."""
    import torch

    wins = 0
    for p in problems:
        good = base_style(p)
        eqs = re.findall(r"\d+ [-+*/] \d+ = \d+", good)
        prompt = tok(render_prompt(p.question, enable_thinking=False), add_special_tokens=False).input_ids
        for eq in (eqs[0], eqs[-1]):
            left, right = eq.rsplit(" = ", 1)
            bad = re.sub(rf"(?<!\d){re.escape(eq)}(?!\d)", f"{left} = {_off_by_ten(int(right))}", good, count=1)
            assert bad != good
            scores = []
            for text in (good, bad):
                ids = tok(text + IM_END, add_special_tokens=False).input_ids
                with torch.no_grad():
                    logits = model(torch.tensor([prompt + ids])).logits[0, len(prompt) - 1:-1]
                scores.append(torch.log_softmax(logits, -1)[range(len(ids)), ids].sum().item())
            wins += scores[0] > scores[1]
    return wins / (2 * len(problems))


@pytest.mark.slow
def test_quick_base_has_both_math_habits_and_computes(quick_base):
    """Sampled, the base shows its two math habits (work it out, or box a guess) and nothing else; scored,
    it prefers right arithmetic to wrong (0.855 for the quick base on 2026-11-28, 0.52 untrained)."""
    import torch

    _, path, _ = quick_base
    model, tok = pretrain.load_base(path)
    assert model.config.vocab_size == len(tok) and model.config.tie_word_embeddings
    assert model.config.eos_token_id == tok.eos_token_id and model.config.pad_token_id == tok.pad_token_id
    problems = [p for name in tasks_in("math") for p in make_split(name, 100, seed=11)]
    torch.manual_seed(0)
    texts = pretrain.generate_batch(model, tok, [p.question for p in problems], 128, n=3, do_sample=True,
                                    temperature=1.0)
    answers = [split_thinking(t, enable_thinking=False).answer for t in texts]
    worked = sum(bool(WORKED.fullmatch(a)) and "=" in a for a in answers)
    direct = sum(bool(re.fullmatch(r"The answer is \\boxed\{\d+\}\.", a)) for a in answers)
    assert (worked + direct) / len(answers) >= 0.9, answers[:3]
    assert worked >= 30 and direct >= 30, (worked, direct)
    assert _prefers_correct_arithmetic(model, tok, problems) >= 0.75
    info = json.loads((path / pretrain.BUILD_INFO).read_text())
    assert set(info["groups"]) == {"math", "other", "non"} and info["cfg"] == json.loads(
        json.dumps(dataclasses.asdict(pretrain.QUICK)))


@pytest.mark.slow
def test_the_arithmetic_check_is_at_chance_for_an_untrained_model(quick_base):
    import torch

    _, path, _ = quick_base
    _, tok = pretrain.load_base(path)
    torch.manual_seed(0)
    untrained = pretrain.make_model(pretrain.QUICK, tok).eval()
    problems = [p for name in tasks_in("math") for p in make_split(name, 100, seed=11)]
    assert 0.35 <= _prefers_correct_arithmetic(untrained, tok, problems) <= 0.65


def test_pretraining_answers_math_with_equations_or_directly_in_the_configured_share():
    from kit.toy.world import direct_answer

    from dataclasses import replace

    cfg = replace(pretrain.DEFAULT, mix_other=0.0, mix_non=0.0, mix_facts=0.0)  # math documents only
    answers = [rest for _, rest in pretrain.pretrain_texts(cfg, 2000)]
    direct = [a for a in answers if a.startswith("The answer is \\boxed")]
    worked = [a for a in answers if WORKED.fullmatch(a.removesuffix(IM_END)) and "=" in a]
    assert len(direct) + len(worked) == len(answers)
    assert abs(len(direct) / len(answers) - cfg.math_direct) < 0.05, (len(direct), len(worked))
    p = make_split("math_items", 1, seed=0, part="pretrain")[0]
    assert direct_answer(p) == f"The answer is \\boxed{{{p.answer}}}." and verify(direct_answer(p), p)


def test_build_settings_key_changes_with_settings():
    from dataclasses import replace

    assert pretrain.cfg_key(pretrain.QUICK) != pretrain.cfg_key(pretrain.DEFAULT)
    assert pretrain.cfg_key(replace(pretrain.QUICK, seed=1)) != pretrain.cfg_key(pretrain.QUICK)


@pytest.mark.slow
def test_cli_reuses_the_cached_quick_base_and_prints_accuracy(quick_base, capsys):
    cache, path, _ = quick_base
    assert pretrain.main(["--quick", "--out", str(cache)]) == 0
    out = capsys.readouterr().out
    assert str(path) in out and "built in" in out
    for g in ("math", "other", "non"):
        assert re.search(rf"^  {g} +\d+\.\d%", out, re.M), out


@pytest.mark.slow
def test_pretraining_is_deterministic(tmp_path):
    """Same settings, same weights (a few steps of a tiny build, twice)."""
    from dataclasses import replace

    import torch
    from safetensors.torch import load_file

    cfg = replace(pretrain.QUICK, steps=4, batch_size=4, eval_per_task=2, hidden_size=64, intermediate_size=128)
    pretrain.build_base(tmp_path / "a", cfg)
    pretrain.build_base(tmp_path / "b", cfg)
    a, b = load_file(tmp_path / "a" / "model.safetensors"), load_file(tmp_path / "b" / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    docs = pretrain.pretrain_texts(cfg, 50)
    assert docs == pretrain.pretrain_texts(cfg, 50)
    assert any(p == "" for p, _ in docs) and any(p.startswith("<|im_start|>user\n") for p, _ in docs)
