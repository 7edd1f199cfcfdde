"""The HF generation engine: batching must not change greedy outputs; log-likelihoods match a direct sum."""

from __future__ import annotations

import pytest
import torch

from kit.chat import render_prompt
from kit.gen.decode import Decode
from kit.gen.engine import HFEngine, stable_seed, truncate_at_stop

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def engine(tokenizer):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    model = Qwen3ForCausalLM(Qwen3Config(vocab_size=151936, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                                         num_attention_heads=2, num_key_value_heads=1, head_dim=16))
    return HFEngine(model, tokenizer, batch_size=3)


PROMPTS = [render_prompt(q, False) for q in ["hi", "What is the capital of France, and why?", "2+2?",
                                              "Write one long sentence about rivers and mountains.", "ok"]]


def test_batched_greedy_equals_one_by_one(engine):
    d = Decode(temperature=0.0, max_new_tokens=8)
    batched = engine.generate(PROMPTS, d, seed=0)
    single = [engine.generate([p], d, seed=0)[0] for p in PROMPTS]
    assert batched == single
    assert all(g.text and len(g.token_ids) == 8 and not g.finished for g in batched)  # random model: no EOS


def test_generation_ids_stop_at_the_end_token(tokenizer):
    """Ids are cut after the first end token (kept), padding dropped; text has no special tokens."""
    im_end = tokenizer.convert_tokens_to_ids("<|im_end|>")
    pad = tokenizer.pad_token_id
    word = tokenizer("hello", add_special_tokens=False)["input_ids"]

    class Stub(torch.nn.Module):
        device = torch.device("cpu")

        def generate(self, input_ids, attention_mask, **kw):
            n = input_ids.shape[0]
            tails = [word + [im_end, pad, pad], word + word + word + [im_end, 7][: 5 - 3 * len(word)]]
            width = max(len(t) for t in tails)
            rows = [t + [pad] * (width - len(t)) for t in tails[:n]]
            return torch.cat([input_ids, torch.tensor(rows)], dim=1)

    eng = HFEngine(Stub(), tokenizer, batch_size=2)
    gens = eng.generate(["<|im_start|>user\nhi<|im_end|>\n", "<|im_start|>user\nhello there<|im_end|>\n"],
                        Decode(max_new_tokens=5), 0)
    by_text = sorted(gens, key=lambda g: len(g.token_ids))
    assert by_text[0].token_ids == word + [im_end] and by_text[0].finished and by_text[0].text == "hello"
    assert im_end not in by_text[1].token_ids[:-1]


def test_sampling_is_seeded(engine):
    d = Decode(temperature=1.0, top_p=1.0, max_new_tokens=8)
    assert engine.generate(PROMPTS[:3], d, seed=5) == engine.generate(PROMPTS[:3], d, seed=5)


def test_loglik_matches_direct_computation(engine, tokenizer):
    reqs = [("Question: 2+2?\nAnswer:", " 4"), ("Question: capital of France?\nAnswer:", " Paris"), ("x", " y z")]
    got = engine.loglik(reqs)
    for (ctx, cont), value in zip(reqs, got):
        c = tokenizer(ctx, add_special_tokens=False)["input_ids"]
        k = tokenizer(cont, add_special_tokens=False)["input_ids"]
        ids = torch.tensor([c + k])
        with torch.no_grad():
            logp = torch.log_softmax(engine.model(ids).logits[0].float(), -1)
        direct = sum(float(logp[len(c) - 1 + j, tok]) for j, tok in enumerate(k))
        assert value == pytest.approx(direct, abs=1e-4)


def test_stop_strings_and_stable_seed():
    assert truncate_at_stop("answer\nQ: next", ("\nQ:",)) == "answer"
    assert truncate_at_stop("no stop here", ("\nQ:",)) == "no stop here"
    assert stable_seed(1, "a") == stable_seed(1, "a") != stable_seed(2, "a")
