"""Token shift: full-vocabulary KL, ranks, the paper's sampled-token estimator, most-shifted tokens, model helper."""

import copy
import json
import math

import numpy as np
import pytest
import torch

from kit.errors import KitError
from kit.probe.tokens import (
    full_kl,
    most_shifted_tokens,
    paper_kl_estimate,
    rank_shift_summary,
    score_pairs,
    summarize_token_shift,
    to_jsonable,
    token_ranks,
    token_stats_from_logits,
)

torch.set_num_threads(1)


def test_kl_zero_identical_and_matches_torch():
    g = torch.Generator().manual_seed(0)
    a = torch.randn(7, 50, generator=g) * 3
    b = torch.randn(7, 50, generator=g) * 3
    assert torch.allclose(full_kl(a, a.clone()), torch.zeros(7), atol=1e-6)
    ref = torch.nn.functional.kl_div(
        torch.log_softmax(b, -1), torch.log_softmax(a, -1), log_target=True, reduction="none"
    ).sum(-1)
    assert torch.allclose(full_kl(a, b), ref, atol=1e-5)
    for chunk in (1, 3, 1000):
        assert torch.allclose(full_kl(a, b, chunk_size=chunk), full_kl(a, b, chunk_size=7), atol=1e-7)
    # bf16 inputs are upcast
    assert torch.allclose(full_kl(a.bfloat16(), b.bfloat16()), full_kl(a.bfloat16().float(), b.bfloat16().float()))
    with pytest.raises(KitError):
        full_kl(a, b[:, :10])


def test_ranks_by_hand():
    logits = torch.tensor([[0.1, 2.0, 1.0, 3.0], [5.0, 1.0, 1.0, 0.0]])
    assert token_ranks(logits, torch.tensor([3, 0])).tolist() == [0, 0]
    assert token_ranks(logits, torch.tensor([1, 1])).tolist() == [1, 1]  # tie at 1.0: strictly larger count
    assert token_ranks(logits, torch.tensor([0, 3])).tolist() == [3, 3]


def test_token_stats_alignment_by_hand():
    V = 4
    ids = torch.tensor([2, 1, 3, 0])  # prompt = [2, 1], answer = [3, 0]
    mask = torch.tensor([False, False, True, True])
    lf = torch.zeros(4, V)
    lb = torch.zeros(4, V)
    lf[1] = torch.tensor([0.0, 1.0, 2.0, 3.0])  # predicts token at position 2 (=3): ft rank 0
    lb[1] = torch.tensor([3.0, 2.0, 1.0, 0.0])  # base rank of 3 = 3
    lf[2] = torch.tensor([1.0, 0.0, 0.0, 0.0])  # predicts token at position 3 (=0): ft rank 0
    lb[2] = torch.tensor([0.0, 1.0, 2.0, 0.5])  # base rank of 0: 3 larger -> 3
    r = token_stats_from_logits(lf, lb, ids, mask, chunk_size=1)
    assert r["token_id"].tolist() == [3, 0]
    assert r["rank_ft"].tolist() == [0, 0] and r["rank_base"].tolist() == [3, 3]
    assert r["logp_ft"][0] == pytest.approx(torch.log_softmax(lf[1], -1)[3].item())
    assert r["logp_base"][1] == pytest.approx(torch.log_softmax(lb[2], -1)[0].item())
    assert r["kl"][0] == pytest.approx(full_kl(lf[1:2], lb[1:2])[0].item(), abs=1e-6)
    same = token_stats_from_logits(lf, lf.clone(), ids, mask)
    assert np.allclose(same["kl"], 0.0, atol=1e-7) and (same["rank_ft"] == same["rank_base"]).all()


def test_paper_estimator_by_hand():
    s1 = {"logp_ft": np.log([0.9, 0.5, 0.4]), "logp_base": np.log([0.1, 0.5, 0.2])}
    s2 = {"logp_ft": np.log([0.3, 0.3]), "logp_base": np.log([0.6, 0.6])}
    eps = 1e-10

    def lr(p, q):
        return math.log(p + eps) - math.log(q + eps)

    r = paper_kl_estimate([s1, s2], skip_first=True)
    want = ((lr(0.5, 0.5) + lr(0.4, 0.2)) / 2 + lr(0.3, 0.6)) / 2
    assert r["signed_mean"] == pytest.approx(want) and r["kl_estimate"] == pytest.approx(abs(want))
    assert r["n_tokens"] == 3 and r["n_samples"] == 2
    r = paper_kl_estimate([s1, s2], skip_first=False)
    want = ((lr(0.9, 0.1) + lr(0.5, 0.5) + lr(0.4, 0.2)) / 3 + lr(0.3, 0.6)) / 2
    assert r["kl_estimate"] == pytest.approx(abs(want))
    # a one-token sample is empty after skipping the first token
    r = paper_kl_estimate([{"logp_ft": np.log([0.5]), "logp_base": np.log([0.1])}])
    assert r["n_empty"] == 1 and math.isnan(r["kl_estimate"])


def test_rank_shift_and_most_shifted_by_hand():
    samples = [
        {"token_id": np.array([5, 7, 7, 9]), "rank_ft": np.array([0, 0, 0, 2]), "rank_base": np.array([9, 4, 2, 2])},
        {"token_id": np.array([1, 7, 8]), "rank_ft": np.array([0, 0, 0]), "rank_base": np.array([0, 6, 0])},
    ]
    r = rank_shift_summary(samples, skip_first=True)
    # skipped: (5: 9-0) and (1: 0-0); kept shifts: 4, 2, 0 | 6, 0
    assert r["mean_rank_shift_tokens"] == pytest.approx((4 + 2 + 0 + 6 + 0) / 5)
    assert r["mean_rank_shift_samples"] == pytest.approx(((4 + 2 + 0) / 3 + (6 + 0) / 2) / 2)
    assert r["frac_base_rank_gt0"] == pytest.approx(4 / 5)
    top = most_shifted_tokens(samples, skip_first=True)
    assert top[0] == {"token_id": 7, "count": 3, "mean_base_rank": 4.0, "max_base_rank": 6, "n_samples": 2}
    assert [t["token_id"] for t in top] == [7]  # 9 is not ft's top-1; 8 is the base's top-1 too
    top = most_shifted_tokens(samples, skip_first=False, min_base_rank=5)
    assert [(t["token_id"], t["count"]) for t in top] == [(5, 1), (7, 1)]
    summ = summarize_token_shift(
        [dict(s, logp_ft=np.zeros(len(s["token_id"])), logp_base=np.zeros(len(s["token_id"])), kl=np.ones(len(s["token_id"]))) for s in samples]
    )
    assert summ["full_kl"]["mean_samples"] == 1.0 and summ["paper_kl"]["kl_estimate"] == 0.0
    json.dumps(summ)


def tiny_qwen3(vocab=300):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    cfg = Qwen3Config(
        vocab_size=vocab,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
    )
    torch.manual_seed(0)
    return Qwen3ForCausalLM(cfg).eval()


def test_score_pairs_matches_full_logits_and_peft():
    from peft import LoraConfig, get_peft_model

    base = tiny_qwen3()
    ref = copy.deepcopy(base)
    pm = get_peft_model(base, LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0))
    pairs = [([1, 2, 3, 4, 5], list(range(10, 17))), ([7, 8], list(range(20, 31))), ([9], [4])]
    # fresh LoRA: identical to the base -> zero KL and no rank shift
    z = score_pairs(pm, pairs, batch_size=2, chunk_size=3)
    assert all(np.allclose(s["kl"], 0.0, atol=1e-6) and (s["rank_ft"] == s["rank_base"]).all() for s in z)
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
    got = score_pairs(pm, pairs, batch_size=2, chunk_size=3)  # base via disable_adapter
    got_ref = score_pairs(pm, pairs, base_model=ref, batch_size=3, chunk_size=100)
    for (p, o), g, gr in zip(pairs, got, got_ref):
        seq = torch.tensor([p + o])
        with torch.no_grad():
            lf = pm(input_ids=seq).logits[0]
            lb = ref(input_ids=seq).logits[0]
        mask = torch.zeros(seq.shape[1], dtype=torch.bool)
        mask[len(p):] = True
        want = token_stats_from_logits(lf, lb, seq[0], mask)
        for k in want:
            np.testing.assert_allclose(g[k].astype(float), want[k].astype(float), atol=2e-5)
            np.testing.assert_allclose(gr[k].astype(float), want[k].astype(float), atol=2e-5)
        assert len(g["token_id"]) == len(o)
    assert max(float(s["kl"].max()) for s in got) > 1e-3
    summ = summarize_token_shift(got)
    assert summ["paper_kl"]["n_tokens"] == sum(len(o) - 1 for _, o in pairs)
    json.dumps(to_jsonable(got))
    with pytest.raises(KitError):
        score_pairs(ref, pairs)  # no base and no disable_adapter


def test_greedy_generation_has_ft_rank_zero():
    """End-to-end alignment: tokens the model picked greedily are its own top-1 (rank_ft == 0)."""
    from peft import LoraConfig, get_peft_model

    pm = get_peft_model(tiny_qwen3(), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"], lora_dropout=0.0))
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.5)
        prompt = torch.tensor([[5, 17, 42, 8]])
        out = pm.generate(input_ids=prompt, attention_mask=torch.ones_like(prompt), max_new_tokens=12, do_sample=False)
    gen = out[0, prompt.shape[1]:].tolist()
    (s,) = score_pairs(pm, [(prompt[0].tolist(), gen)], chunk_size=5)
    assert s["token_id"].tolist() == gen
    assert (s["rank_ft"] == 0).all()
    assert (s["logp_ft"] >= s["logp_base"] - 1e-6).any()
