"""The eval stage: base and every arm on seeded subsets of each benchmark, one JSON line per sample.

A rerun reads the per-sample logs and only generates what is missing, so an interrupted evaluation
continues where it stopped. Scores are aggregated from the logs alone (eval/scores.json,
eval/item_scores.json), so the report never regenerates anything.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

from tqdm import tqdm

from kit.chat import render_prompt, split_thinking
from kit.eval import benchmarks
from kit.eval.benchmarks.base import Benchmark, Decode, Item, load_rows, select_items
from kit.eval.engine import make_engine, stable_seed


def resolved_decode(bench: Benchmark, eval_cfg) -> Decode:
    """The benchmark's paper decode settings with the recipe's overrides and length cap applied."""
    d = bench.decode
    sampled = d.temperature > 0
    return dataclasses.replace(
        d,
        temperature=eval_cfg.temperature if (sampled and eval_cfg.temperature is not None) else d.temperature,
        top_p=eval_cfg.top_p if (sampled and eval_cfg.top_p is not None) else d.top_p,
        n_samples=eval_cfg.samples if (sampled and eval_cfg.samples is not None) else d.n_samples,
        max_new_tokens=min(d.max_new_tokens, eval_cfg.max_new_tokens),
    )


def read_samples(path: Path) -> list[dict[str, Any]]:
    """Per-sample lines; a torn last line (killed mid-write) is ignored and regenerated."""
    if not path.exists():
        return []
    rows = []
    for line in path.read_text().splitlines():
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return rows


def _rewrite_clean(path: Path, rows: list[dict[str, Any]]) -> None:
    """Drop a torn trailing line before appending, so the log stays valid JSONL."""
    tmp = path.with_suffix(".tmp")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    tmp.replace(path)


def subset(bench: Benchmark, eval_cfg, n_items: int | None, out_dir: Path) -> list[Item]:
    items = bench.items(load_rows(bench, use_fixtures=eval_cfg.source == "fixtures"))
    chosen = select_items(items, n_items, stable_seed(eval_cfg.seed, bench.name))
    (out_dir / "subsets").mkdir(parents=True, exist_ok=True)
    (out_dir / "subsets" / f"{bench.name}.json").write_text(json.dumps(
        {"benchmark": bench.name, "seed": eval_cfg.seed, "available": len(items),
         "ids": [it.id for it in chosen]}, indent=1))
    return chosen


def evaluate_one(engine, model_name: str, bench: Benchmark, items: list[Item], recipe, log: Path) -> None:
    """Generate/score what the log lacks for one (model, benchmark); append a line per sample."""
    rows = read_samples(log)
    if log.exists():
        _rewrite_clean(log, rows)
    done = {(r["item_id"], r.get("variant", ""), r["sample"]) for r in rows}
    thinking = recipe.chat.enable_thinking
    log.parent.mkdir(parents=True, exist_ok=True)
    if bench.kind == "loglik":
        todo = [it for it in items if (it.id, "", 0) not in done]
        chunk = max(1, recipe.eval.batch_size)
        for start in tqdm(range(0, len(todo), chunk), desc=f"{model_name}/{bench.name}", leave=False):
            part = todo[start:start + chunk]
            reqs = [bench.requests(it) for it in part]
            flat = [(render_prompt(ctx, thinking, recipe.chat.system), cont) for r in reqs for ctx, cont in r]
            lls = engine.loglik(flat)
            with open(log, "a") as f:
                pos = 0
                for it, r in zip(part, reqs):
                    vals = lls[pos:pos + len(r)]
                    pos += len(r)
                    scores = bench.score_loglik(it, vals, [len(c) for _, c in r])
                    f.write(json.dumps({"model": model_name, "benchmark": bench.name, "item_id": it.id,
                                        "cluster": it.cluster, "sample": 0, "variant": "", "prompt": flat[pos - len(r)][0],
                                        "output": "", "answer": "", "truncated": False, "scores": scores,
                                        "logliks": vals, "enable_thinking": thinking}) + "\n")
        return
    decode = resolved_decode(bench, recipe.eval)
    todo = [(it, v, k) for it in items for v in bench.variants for k in range(decode.n_samples)
            if (it.id, v, k) not in done]
    chunk = max(1, recipe.eval.batch_size)
    for start in tqdm(range(0, len(todo), chunk), desc=f"{model_name}/{bench.name}", leave=False):
        part = todo[start:start + chunk]
        prompts = [render_prompt(bench.prompt(it, v), thinking, recipe.chat.system) for it, v, _ in part]
        seed = stable_seed(recipe.eval.seed, model_name, bench.name, part[0][0].id, part[0][2])
        outputs = engine.generate(prompts, decode, seed)
        with open(log, "a") as f:
            for (it, v, k), prompt, gen in zip(part, prompts, outputs):
                parts = split_thinking(gen.text, thinking)
                scores = bench.score(it, parts.answer, gen.text, v)
                f.write(json.dumps({"model": model_name, "benchmark": bench.name, "item_id": it.id,
                                    "cluster": it.cluster, "sample": k, "variant": v, "prompt": prompt,
                                    "output": gen.text, "output_ids": gen.token_ids, "finished": gen.finished,
                                    "answer": parts.answer, "truncated": parts.truncated,
                                    "scores": scores, "enable_thinking": thinking,
                                    "decode": dataclasses.asdict(decode)}) + "\n")


def item_scores(rows: list[dict[str, Any]], items: list[Item]) -> dict[str, dict[str, float]]:
    """Per item: each column averaged over its samples, variants merged (GPQA's two orders)."""
    wanted = {it.id for it in items}
    acc: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        if r["item_id"] not in wanted:
            continue
        cols = acc.setdefault(r["item_id"], {})
        for k, v in r["scores"].items():
            cols.setdefault(k, []).append(float(v))
    return {i: {k: sum(v) / len(v) for k, v in cols.items()} for i, cols in acc.items()}


def aggregate(bench: Benchmark, rows: list[dict[str, Any]], items: list[Item]) -> dict[str, Any]:
    per_item = item_scores(rows, items)
    ordered = [per_item[it.id] for it in items if it.id in per_item]
    scores = bench.aggregate(ordered)
    gen_rows = [r for r in rows if r["item_id"] in per_item]
    trunc = sum(1 for r in gen_rows if r.get("truncated")) / len(gen_rows) if gen_rows else 0.0
    return {"group": bench.group, "kind": bench.kind, "primary": bench.primary, "paper_column": bench.paper_column,
            "n_items": len(ordered), "n_samples": len(gen_rows), "truncation_rate": trunc, "scores": scores}


def run(ctx) -> dict[str, Any]:
    recipe = ctx.recipe
    out = ctx.run_dir / "eval"
    models = ["base"] + list(recipe.arms) + list(recipe.compare)
    model, tok = ctx.eval_model()
    engine = make_engine(ctx.eval_engine, model, tok, recipe.eval.batch_size, ctx.adapters())
    benches = [benchmarks.get(n) for n in recipe.eval.benchmarks]
    subsets = {b.name: subset(b, recipe.eval, ctx.plan.eval_items[b.name], out) for b in benches}
    for name in ["base"] + list(recipe.arms):  # one base, adapters switched
        engine.select(name)
        for b in benches:
            evaluate_one(engine, name, b, subsets[b.name], recipe, out / "samples" / name / f"{b.name}.jsonl")
    del engine, model
    for name in recipe.compare:  # audited full models: one load each
        ref_model = ctx.reference_model(name)
        ref_engine = make_engine("hf", ref_model, tok, recipe.eval.batch_size)
        for b in benches:
            evaluate_one(ref_engine, name, b, subsets[b.name], recipe, out / "samples" / name / f"{b.name}.jsonl")
        del ref_engine, ref_model
    scores: dict[str, Any] = {}
    per_item: dict[str, Any] = {}
    for name in models:
        for b in benches:
            rows = read_samples(out / "samples" / name / f"{b.name}.jsonl")
            scores.setdefault(name, {})[b.name] = aggregate(b, rows, subsets[b.name])
            by_item = item_scores(rows, subsets[b.name])
            per_item.setdefault(name, {})[b.name] = {
                it.id: {"cluster": it.cluster, "stratum": b.stratum(it), "weight": b.weight(it), **by_item[it.id]}
                for it in subsets[b.name] if it.id in by_item}
    (out / "scores.json").write_text(json.dumps(scores, indent=1))
    (out / "item_scores.json").write_text(json.dumps(per_item))
    return {"models": models, "benchmarks": [b.name for b in benches],
            "items": {b.name: len(subsets[b.name]) for b in benches}}
