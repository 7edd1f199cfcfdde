"""The probe stage: how far each arm moved from the base, in latent space and in token space.

One base load serves every model: the base's features come with the adapters switched off, each arm's with
its adapter on, and a norm-matched random LoRA is the control for "any perturbation of that size".
Texts are the benchmarks' prompts (K per benchmark, sampled as the paper: random.seed(42), shuffle, first K), or
with probe.pca_texts=paper the dataset columns joined as the paper's PCA script joins them;
token shift uses each arm's own generations saved by the eval stage.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from typing import Any

import numpy as np

from kit.artefacts import ProbeResults, read_samples, samples_path
from kit.eval import benchmarks
from kit.eval.benchmarks.base import load_rows
from kit.gen.engine import select_adapter


class Clock:
    """Seconds spent per part of the stage (the report shows what the latent check itself costs)."""

    def __init__(self) -> None:
        self.totals: dict[str, float] = {}

    @contextmanager
    def __call__(self, part: str):
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.totals[part] = round(self.totals.get(part, 0.0) + time.perf_counter() - t0, 3)


def probe_texts(recipe) -> tuple[list[str], list[str], list[str]]:
    """(texts, benchmark of each text, group of each text).

    `probe.pca_texts=kit`: each benchmark's prompts as the model sees them (no chat template).
    `probe.pca_texts=paper`: dataset columns joined as the paper's PCA script joins them (kit/probe/paper_texts.py),
    solutions and answers included; the probe and CKA then read the same texts.
    """
    from kit.probe.collect import sample_texts
    from kit.probe.paper_texts import paper_texts

    mode = recipe.probe.pca_texts
    k, seed = recipe.probe.texts_per_benchmark, recipe.probe.seed
    texts, bench_of, group_of = [], [], []
    for name in recipe.eval.benchmarks:
        bench = benchmarks.get(name)
        rows = load_rows(bench, use_fixtures=recipe.eval.source == "fixtures")
        if mode == "paper":
            chosen = paper_texts(name, rows, k=k, seed=seed)
        else:
            items = bench.items(rows)
            if bench.kind == "loglik":
                raw = [bench.requests(it)[0][0] for it in items]
            else:
                raw = [bench.prompt(it, bench.variants[0]) for it in items]
            chosen = sample_texts(raw, k=k, seed=seed)
        texts += chosen
        bench_of += [name] * len(chosen)
        group_of += [bench.group] * len(chosen)
    return texts, bench_of, group_of


def _features(model, tok, texts: list[str], recipe, name: str, bench_of: list[str]) -> dict[str, np.ndarray]:
    """Faithful and masked features of `texts` under adapter `name`.

    Faithful features are collected one benchmark at a time: the paper ran its script once per benchmark,
    so its texts were padded to the longest text of that benchmark only, and pad positions count in the
    faithful mean. Masked features do not depend on padding and are collected in one pass.
    """
    from kit.probe.collect import hidden_means

    select_adapter(model, name)
    p = recipe.probe
    kw = {"max_length": p.max_length, "batch_size": p.batch_size}
    faithful = None
    for b in dict.fromkeys(bench_of):
        idx = [i for i, x in enumerate(bench_of) if x == b]
        part = hidden_means(model, tok, [texts[i] for i in idx], mode="faithful", **kw)
        if faithful is None:
            faithful = np.zeros((part.shape[0], len(texts), part.shape[2]), dtype=part.dtype)
        faithful[:, idx] = part
    return {"faithful": faithful, "masked": hidden_means(model, tok, texts, mode="masked", **kw)}


def _compare(base: dict[str, np.ndarray], arm: dict[str, np.ndarray], bench_of: list[str], groups: list[str],
             n_boot: int, seed: int) -> dict[str, Any]:
    from kit.probe.linear import cka_per_layer, probe_transfer
    from kit.probe.pca import pca_shift

    bench_arr = np.array(bench_of)
    pca = {}
    for b in dict.fromkeys(bench_of):
        sel = bench_arr == b
        if sel.sum() < 3:
            continue
        f = pca_shift(base["faithful"][:, sel], arm["faithful"][:, sel], n_boot=n_boot, seed=seed)
        c = pca_shift(base["masked"][:, sel], arm["masked"][:, sel], n_boot=n_boot, seed=seed)
        pca[b] = {"faithful": {"d": f["d"], "d_ci": f.get("ci", {}).get("d"), "shift": f["shift"]},
                  "corrected": {"d": c["corrected"]["d_scaled"], "d_ci": c.get("ci", {}).get("d_scaled"),
                                "shift": c["corrected"]["shift_scaled"]}}
    out: dict[str, Any] = {"pca": pca, "cka": cka_per_layer(base["masked"], arm["masked"], n_boot=n_boot, seed=seed)}
    if len(set(groups)) >= 2:
        pr = probe_transfer(base["masked"], arm["masked"], groups, seed=seed, n_boot=n_boot, retrain_arm=False)
        out["probe"] = {"base_acc": pr["acc_base"], "arm_acc": pr["acc_arm"], "drop": pr["drop"],
                        "drop_ci": pr.get("drop_ci"), "chance": pr["chance"]}
    return out


def _token_shift(model, tok, arm: str, recipe, run_dir, base_model=None) -> dict[str, Any]:
    """Token shift of `arm`'s own generations. `model` scores as the arm; the base is `base_model` when
    given (audited full models), else the same PeftModel with its adapters disabled."""
    from kit.probe.tokens import score_pairs, summarize_token_shift

    out = {}
    select_adapter(model, arm if base_model is None else "base")
    for name in recipe.eval.benchmarks:
        rows = [r for r in read_samples(samples_path(run_dir, arm, name)) if r.get("output_ids")]
        rows = rows[:recipe.probe.token_samples]
        if not rows:
            continue
        # the prompt is tokenised exactly as the engine did; the output is the generated ids themselves
        pairs = [(tok(r["prompt"], add_special_tokens=False)["input_ids"], r["output_ids"]) for r in rows]
        pairs = [(p, o) for p, o in pairs if len(o) >= 2]
        if not pairs:
            continue
        samples = score_pairs(model, pairs, base_model=base_model, batch_size=recipe.probe.batch_size)
        s = summarize_token_shift(samples, tokenizer=tok, top_k=20)
        ranks = np.concatenate([np.asarray(x["rank_base"]) - np.asarray(x["rank_ft"]) for x in samples])
        # sanity: on greedy generations the arm's own top-1 token is what it generated (rank 0)
        top1 = float(np.mean(np.concatenate([np.asarray(x["rank_ft"]) == 0 for x in samples])))
        out[name] = {"paper_kl": s["paper_kl"]["kl_estimate"], "kl": s["full_kl"]["mean_samples"],
                     "rank_shift_mean": float(ranks.mean()),
                     "n_tokens": int(ranks.size), "arm_top1_rate": top1, "rank_shift_values": ranks.tolist()[:5000],
                     "top_shifted": [(t.get("token") or t["token_id"], t["count"]) for t in s["most_shifted"]],
                     "summary": {k: v for k, v in s.items() if k not in ("most_shifted",)}}
    return out


def run(ctx) -> dict[str, Any]:
    from kit.probe.control import add_norm_matched_random_adapter

    t0 = time.time()
    clock = Clock()
    recipe = ctx.recipe
    with clock("load"):
        model, tok = ctx.eval_model(vllm_engine=False)
        texts, bench_of, groups = probe_texts(recipe)
    n_boot = recipe.probe.bootstrap
    with clock("latent"):
        base = _features(model, tok, texts, recipe, "base", bench_of)
    result: dict[str, Any] = {"texts": len(texts), "pca_texts": recipe.probe.pca_texts,
                              "benchmarks": list(dict.fromkeys(bench_of)),
                              "layers": int(base["masked"].shape[0]), "arms": {}}
    for arm in recipe.arms:
        with clock("latent"):
            block = _compare(base, _features(model, tok, texts, recipe, arm, bench_of), bench_of, groups, n_boot,
                             recipe.probe.seed)
        with clock("control"):
            control_name = f"{arm}_random_control"
            norms = {}
            if control_name not in model.peft_config:
                norms = add_norm_matched_random_adapter(model, source_adapter=arm, new_adapter=control_name,
                                                        seed=recipe.probe.seed)
            ctrl = _compare(base, _features(model, tok, texts, recipe, control_name, bench_of), bench_of, groups,
                            n_boot, recipe.probe.seed)
            block["control"] = {**ctrl, "norms": norms}
        with clock("tokens"):
            block["tokens"] = _token_shift(model, tok, arm, recipe, ctx.run_dir)
        result["arms"][arm] = block
    for name in recipe.compare:  # audited full models: their own load, the shared base as reference
        with clock("load"):
            ref = ctx.reference_model(name)
        with clock("latent"):
            block = _compare(base, _features(ref, tok, texts, recipe, "base", bench_of), bench_of, groups, n_boot,
                             recipe.probe.seed)
        with clock("tokens"):
            select_adapter(model, "base")
            block["tokens"] = _token_shift(ref, tok, name, recipe, ctx.run_dir, base_model=model)
        result["arms"][name] = block
        del ref
    result["timings"] = clock.totals
    result["seconds"] = round(time.time() - t0, 2)
    arms = result.pop("arms")
    ProbeResults(arms, result).write(ctx.run_dir)
    result["arms"] = arms
    return {"texts": len(texts), "models": list(result["arms"]), "seconds": result["seconds"], **result["timings"]}
