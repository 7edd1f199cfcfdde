"""Token-distribution shift of a fine-tuned model against its base on the fine-tuned model's OWN generations
(teacher forcing), paper §4 / paper.md §6.2.

Per answer token y_t (a token of the generated output; its distribution is the logits at position t-1):

* log p_ft(y_t), log p_base(y_t) and ranks under each model (rank 0 = top-1 = #tokens with strictly larger logit);
* the exact full-vocabulary KL(p_ft(.|y_<t) || p_base(.|y_<t)), computed over chunks of positions so that
  [chunk, V] is the largest tensor ever materialised.

Aggregates:

* ``paper_kl_estimate``: the paper's "KL" (calculate_KL.py): per sample mean_t[log(p_ft+1e-10) - log(p_base+1e-10)]
  over the sampled tokens, averaged over samples, absolute value. The paper's slicing
  ``prompt_logprobs[prompt_length + 1:]`` drops the first answer token; ``skip_first=True`` (default) does the
  same. It is a single-sample Monte-Carlo estimate on ft's own (greedy) tokens, not the full-vocabulary KL.
* full-vocabulary KL per token, averaged like the paper's estimate (per sample, then over samples) and pooled;
* rank shift = rank_base - rank_ft per token (positive: ft prefers the token more than the base does), mean
  pooled over tokens and mean of per-sample means (the paper's aggregation code is not released);
* most-shifted tokens: tokens that are ft's top-1 (rank_ft == 0) while the base ranks them >= min_base_rank,
  aggregated by token id with counts (the paper's exact selection rule is UNCONFIRMED).

``score_pairs`` computes all per-token quantities for (prompt_ids, output_ids) pairs from a model, in batches:
one forward per model through the decoder body for the final hidden states, then the LM head applied to chunks
of answer positions. It assumes logits = lm_head(final hidden state) (true for Qwen2/2.5/3, Llama, Mistral;
models with final-logit soft-capping or logit scaling are refused).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import numpy as np
import torch

from kit.errors import KitError

EPS = 1e-10
DEFAULT_CHUNK = 256

__all__ = [
    "full_kl",
    "token_ranks",
    "token_stats_from_logits",
    "paper_kl_estimate",
    "rank_shift_summary",
    "most_shifted_tokens",
    "summarize_token_shift",
    "score_pairs",
    "to_jsonable",
]


def _t(x) -> torch.Tensor:
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def token_ranks(logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Rank of each target under each row of logits [n, V]: #entries strictly larger (0 = top-1)."""
    logits = _t(logits).float()
    targets = _t(targets).long().to(logits.device)
    tgt = logits.gather(-1, targets.unsqueeze(-1))
    return (logits > tgt).sum(-1)


def _chunk_stats(lf: torch.Tensor, lb: torch.Tensor, targets: torch.Tensor) -> dict[str, torch.Tensor]:
    """Per-row stats for logits of ft and base [n, V] and the sampled targets [n]."""
    lf = lf.float()
    lb = lb.float().to(lf.device)
    targets = targets.long().to(lf.device)
    lpf = torch.log_softmax(lf, dim=-1)
    lpb = torch.log_softmax(lb, dim=-1)
    kl = (lpf.exp() * (lpf - lpb)).sum(-1)
    t = targets.unsqueeze(-1)
    return {
        "logp_ft": lpf.gather(-1, t).squeeze(-1),
        "logp_base": lpb.gather(-1, t).squeeze(-1),
        "rank_ft": (lf > lf.gather(-1, t)).sum(-1),
        "rank_base": (lb > lb.gather(-1, t)).sum(-1),
        "kl": kl.clamp_min(0.0),
    }


def full_kl(logits_p, logits_q, *, chunk_size: int = DEFAULT_CHUNK) -> torch.Tensor:
    """KL(softmax(logits_p) || softmax(logits_q)) per row for [T, V] logits, computed over row chunks (float32)."""
    lp, lq = _t(logits_p), _t(logits_q)
    if lp.shape != lq.shape:
        raise KitError(f"logit shapes differ: {tuple(lp.shape)} vs {tuple(lq.shape)}")
    lp2 = lp.reshape(-1, lp.shape[-1])
    lq2 = lq.reshape(-1, lq.shape[-1])
    out = []
    for s in range(0, lp2.shape[0], chunk_size):
        a = torch.log_softmax(lp2[s : s + chunk_size].float(), -1)
        b = torch.log_softmax(lq2[s : s + chunk_size].float().to(a.device), -1)
        out.append((a.exp() * (a - b)).sum(-1).clamp_min(0.0))
    if not out:
        return torch.zeros(lp.shape[:-1])
    return torch.cat(out).reshape(lp.shape[:-1])


def _pack(parts: list[dict[str, torch.Tensor]], token_ids) -> dict[str, np.ndarray]:
    keys = ("logp_ft", "logp_base", "rank_ft", "rank_base", "kl")
    if parts:
        cat = {k: torch.cat([p[k].cpu() for p in parts]) for k in keys}
    else:
        cat = {k: torch.zeros(0) for k in keys}
    return {
        "token_id": np.asarray(token_ids, dtype=np.int64),
        "logp_ft": cat["logp_ft"].numpy().astype(np.float32),
        "logp_base": cat["logp_base"].numpy().astype(np.float32),
        "rank_ft": cat["rank_ft"].numpy().astype(np.int64),
        "rank_base": cat["rank_base"].numpy().astype(np.int64),
        "kl": cat["kl"].numpy().astype(np.float32),
    }


def token_stats_from_logits(
    logits_ft, logits_base, input_ids, answer_mask, *, chunk_size: int = DEFAULT_CHUNK
) -> dict[str, np.ndarray]:
    """Per-answer-token stats from full-sequence logits [T, V] of both models on the same ids [T].

    answer_mask[t] is True for answer (generated) tokens; token t is scored with logits[t-1] (an answer token
    at t = 0 has no prediction and is dropped). Returns arrays in answer order: token_id, logp_ft, logp_base,
    rank_ft, rank_base, kl (full-vocabulary KL(p_ft || p_base) of the distribution that produced the token).
    """
    lf, lb = _t(logits_ft), _t(logits_base)
    ids = _t(input_ids).long().reshape(-1)
    mask = _t(answer_mask).bool().reshape(-1)
    if lf.shape != lb.shape or lf.ndim != 2 or lf.shape[0] != ids.shape[0] or mask.shape != ids.shape:
        raise KitError("need logits [T, V] for both models, input_ids [T] and answer_mask [T]")
    pos = torch.nonzero(mask, as_tuple=False).reshape(-1)
    pos = pos[pos >= 1]
    parts = []
    for s in range(0, len(pos), chunk_size):
        p = pos[s : s + chunk_size]
        parts.append(_chunk_stats(lf[p - 1], lb[p - 1], ids[p]))
    return _pack(parts, ids[pos].numpy())


# ----------------------------------------------------------------------------------------------- aggregates


def _sel(sample: dict, skip_first: bool) -> slice:
    return slice(1, None) if skip_first else slice(0, None)


def paper_kl_estimate(samples: Sequence[dict], *, skip_first: bool = True, eps: float = EPS) -> dict:
    """The paper's sampled-token "KL": |mean over samples of mean_t[log(p_ft+eps) - log(p_base+eps)]|.

    Samples with no tokens left (after skipping the first) are ignored and counted in n_empty.
    """
    per = []
    n_tok = 0
    n_empty = 0
    for s in samples:
        sl = _sel(s, skip_first)
        lf = np.asarray(s["logp_ft"], dtype=np.float64)[sl]
        lb = np.asarray(s["logp_base"], dtype=np.float64)[sl]
        if len(lf) == 0:
            n_empty += 1
            continue
        per.append(float(np.mean(np.log(np.exp(lf) + eps) - np.log(np.exp(lb) + eps))))
        n_tok += len(lf)
    signed = float(np.mean(per)) if per else float("nan")
    return {
        "kl_estimate": abs(signed),
        "signed_mean": signed,
        "per_sample": per,
        "n_samples": len(per),
        "n_empty": n_empty,
        "n_tokens": n_tok,
        "skip_first": skip_first,
    }


def rank_shift_summary(samples: Sequence[dict], *, skip_first: bool = True) -> dict:
    """Rank shift (rank_base - rank_ft) and related rates, pooled over tokens and as mean of per-sample means."""
    rb_all, rf_all, per = [], [], []
    for s in samples:
        sl = _sel(s, skip_first)
        rb = np.asarray(s["rank_base"], dtype=np.float64)[sl]
        rf = np.asarray(s["rank_ft"], dtype=np.float64)[sl]
        if len(rb) == 0:
            continue
        rb_all.append(rb)
        rf_all.append(rf)
        per.append(float(np.mean(rb - rf)))
    if not rb_all:
        nan = float("nan")
        return {"mean_rank_shift_tokens": nan, "mean_rank_shift_samples": nan, "n_tokens": 0}
    rb = np.concatenate(rb_all)
    rf = np.concatenate(rf_all)
    return {
        "mean_rank_shift_tokens": float(np.mean(rb - rf)),
        "mean_rank_shift_samples": float(np.mean(per)),
        "mean_rank_base": float(np.mean(rb)),
        "mean_rank_ft": float(np.mean(rf)),
        "frac_base_rank_gt0": float(np.mean(rb > 0)),
        "frac_ft_top1_base_not_top1": float(np.mean((rf == 0) & (rb > 0))),
        "n_tokens": int(len(rb)),
    }


def most_shifted_tokens(
    samples: Sequence[dict],
    *,
    min_base_rank: int = 1,
    skip_first: bool = True,
    top_k: int | None = 50,
    tokenizer=None,
) -> list[dict]:
    """Tokens that ft ranks first (rank_ft == 0) while the base ranks them >= min_base_rank, by token id.

    Sorted by count (desc), then mean base rank (desc). Each entry: token_id, count, mean_base_rank,
    max_base_rank, n_samples (samples where it occurs), and token (decoded) if a tokenizer is given.
    """
    agg: dict[int, list] = defaultdict(lambda: [0, 0.0, 0, set()])
    for si, s in enumerate(samples):
        sl = _sel(s, skip_first)
        tid = np.asarray(s["token_id"])[sl]
        rb = np.asarray(s["rank_base"])[sl]
        rf = np.asarray(s["rank_ft"])[sl]
        hit = (rf == 0) & (rb >= min_base_rank)
        for t, r in zip(tid[hit].tolist(), rb[hit].tolist()):
            a = agg[int(t)]
            a[0] += 1
            a[1] += r
            a[2] = max(a[2], int(r))
            a[3].add(si)
    rows = [
        {"token_id": t, "count": a[0], "mean_base_rank": a[1] / a[0], "max_base_rank": a[2], "n_samples": len(a[3])}
        for t, a in agg.items()
    ]
    rows.sort(key=lambda r: (-r["count"], -r["mean_base_rank"], r["token_id"]))
    if top_k is not None:
        rows = rows[:top_k]
    if tokenizer is not None:
        for r in rows:
            r["token"] = tokenizer.decode([r["token_id"]])
    return rows


def summarize_token_shift(
    samples: Sequence[dict],
    *,
    skip_first: bool = True,
    min_base_rank: int = 1,
    top_k: int = 50,
    tokenizer=None,
) -> dict:
    """All token-shift aggregates for one arm and one benchmark (JSON-serialisable)."""
    kl_per, kl_pool = [], []
    for s in samples:
        k = np.asarray(s["kl"], dtype=np.float64)[_sel(s, skip_first)]
        if len(k):
            kl_per.append(float(k.mean()))
            kl_pool.append(k)
    pooled = np.concatenate(kl_pool) if kl_pool else np.zeros(0)
    paper = paper_kl_estimate(samples, skip_first=skip_first)
    paper.pop("per_sample")
    return {
        "paper_kl": paper,
        "full_kl": {
            "mean_samples": float(np.mean(kl_per)) if kl_per else float("nan"),
            "mean_tokens": float(pooled.mean()) if len(pooled) else float("nan"),
            "median_tokens": float(np.median(pooled)) if len(pooled) else float("nan"),
            "p95_tokens": float(np.quantile(pooled, 0.95)) if len(pooled) else float("nan"),
        },
        "rank_shift": rank_shift_summary(samples, skip_first=skip_first),
        "most_shifted": most_shifted_tokens(
            samples, min_base_rank=min_base_rank, skip_first=skip_first, top_k=top_k, tokenizer=tokenizer
        ),
        "n_samples": len(samples),
        "skip_first": skip_first,
    }


def to_jsonable(samples: Sequence[dict]) -> list[dict]:
    """Per-sample arrays -> lists (for JSONL dumps)."""
    return [{k: (v.tolist() if isinstance(v, np.ndarray) else v) for k, v in s.items()} for s in samples]


# ----------------------------------------------------------------------------------------------- model helper


def _body_and_head(model):
    inner = model.get_base_model() if hasattr(model, "get_base_model") else model
    cfg = getattr(inner, "config", None)
    for attr in ("final_logit_softcapping", "logit_scale"):
        v = getattr(cfg, attr, None)
        if v not in (None, 1, 1.0):
            raise KitError(f"score_pairs assumes logits = lm_head(hidden); this model has {attr}={v}")
    head = inner.get_output_embeddings()
    body = inner.get_decoder() if hasattr(inner, "get_decoder") else None
    if body is None or body is inner:
        body = getattr(inner, "model", None)
    if head is None or body is None:
        raise KitError("cannot find the decoder body and LM head of this model")
    return body, head


def _apply_head(head, h: torch.Tensor) -> torch.Tensor:
    dev = next(head.parameters()).device
    return head(h.to(dev))


def _final_hidden(model, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
    body, _ = _body_and_head(model)
    out = body(input_ids=input_ids, attention_mask=attention_mask, use_cache=False)
    return out.last_hidden_state if hasattr(out, "last_hidden_state") else out[0]


def score_pairs(
    model,
    pairs: Sequence[tuple[Sequence[int], Sequence[int]]],
    *,
    base_model=None,
    batch_size: int = 4,
    chunk_size: int = DEFAULT_CHUNK,
) -> list[dict[str, np.ndarray]]:
    """Teacher-forced per-token stats of `model` (fine-tuned) vs the base on (prompt_ids, output_ids) pairs.

    The base is `base_model` if given; otherwise `model` must be a peft PeftModel and the base is
    `model` inside ``model.disable_adapter()``. Returns one dict per pair (see token_stats_from_logits), for
    every output token (the first one included; aggregates skip it by default).
    """
    if base_model is None and not hasattr(model, "disable_adapter"):
        raise KitError("give base_model, or a peft PeftModel whose disable_adapter() gives the base")
    from kit.probe.collect import model_device

    dev_ft = model_device(model)
    dev_b = model_device(base_model) if base_model is not None else dev_ft
    models = [model] + ([base_model] if base_model is not None else [])
    states = [bool(getattr(m, "training", False)) for m in models]
    for m in models:
        m.eval()
    results = []
    try:
        with torch.no_grad():
            for start in range(0, len(pairs), batch_size):
                batch = pairs[start : start + batch_size]
                seqs = [list(p) + list(o) for p, o in batch]
                if any(len(p) == 0 for p, _ in batch):
                    raise KitError("every pair needs a non-empty prompt (the first output token is predicted from it)")
                T = max(len(s) for s in seqs)
                ids = torch.zeros((len(seqs), T), dtype=torch.long)
                mask = torch.zeros((len(seqs), T), dtype=torch.long)
                for i, s in enumerate(seqs):
                    ids[i, : len(s)] = torch.tensor(s, dtype=torch.long)
                    mask[i, : len(s)] = 1  # right padding: real tokens keep positions 0..len-1
                h_ft = _final_hidden(model, ids.to(dev_ft), mask.to(dev_ft))
                if base_model is not None:
                    h_b = _final_hidden(base_model, ids.to(dev_b), mask.to(dev_b))
                    _, head_b = _body_and_head(base_model)
                else:
                    with model.disable_adapter():
                        h_b = _final_hidden(model, ids.to(dev_ft), mask.to(dev_ft))
                    head_b = None
                _, head_ft = _body_and_head(model)
                for i, (p, o) in enumerate(batch):
                    P, O = len(p), len(o)
                    pos = torch.arange(P - 1, P + O - 1)  # positions whose logits predict the output tokens
                    tgt = torch.tensor(list(o), dtype=torch.long)
                    parts = []
                    for s in range(0, O, chunk_size):
                        pp = pos[s : s + chunk_size]
                        lf = _apply_head(head_ft, h_ft[i, pp.to(h_ft.device)])
                        if head_b is not None:
                            lb = _apply_head(head_b, h_b[i, pp.to(h_b.device)])
                        else:
                            with model.disable_adapter():  # an adapted lm_head must be off for the base
                                lb = _apply_head(head_ft, h_b[i, pp.to(h_b.device)])
                        parts.append(_chunk_stats(lf, lb, tgt[s : s + chunk_size]))
                    results.append(_pack(parts, tgt.numpy()))
    finally:
        for m, st in zip(models, states):
            if st:
                m.train()
    return results
