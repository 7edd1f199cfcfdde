"""The eval stage: base and every arm on seeded subsets of each benchmark, one JSON line per sample.

A rerun reads the per-sample logs and only generates what is missing, so an interrupted evaluation
continues where it stopped; work is done in fixed chunks, and an incomplete chunk is redone whole, so the
resumed log holds exactly the samples of an uninterrupted run (`plan_chunks`). With `distributed.processes` N > 1
the chunks of base and arms are shared out to N worker processes (chunk c to worker c % N, kit.eval.shards) and
merged back, so the logs are those of one process. Scores are aggregated from the logs alone (eval/scores.json,
eval/item_scores.json), so the report never regenerates anything.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from tqdm import tqdm

from kit.chat import render_prompt, split_thinking
from kit.eval import benchmarks
from kit.artefacts import (EvalResults, Sample, append_samples, read_json, read_samples,  # noqa: F401
                           rewrite_samples, samples_path, shard_path, write_json)
from kit.eval.benchmarks.base import Benchmark, Decode, Item, load_rows, select_items
from kit.gen.engine import make_engine, stable_seed
from kit.gen.vllm import reference_engine, release
from kit.errors import KitError
from kit.eval.shards import Key, merge_log, prepare_shard_log, shard_todo


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




def plan_chunks(keys: list[Key], size: int, rows: list[dict[str, Any]]) -> tuple[list[int], list[dict[str, Any]]]:
    """Which fixed chunks still need generating, and the log rows to keep.

    Why chunks and not per-item seeds: the engines take one seed per `generate` call (the HF engine seeds
    torch once per batch, and sampled tokens depend on the batch's composition; the vLLM engine derives
    per-prompt seeds from it by position). A resumed run reproduces an uninterrupted one exactly only if
    every call sees the same prompts in the same order with the same seed. So chunk boundaries are fixed
    over the *full* ordered list of (item, variant, sample) keys, whatever is already done, and a chunk
    is either complete in the log (kept) or redone whole: its partial rows are dropped and the whole chunk
    generated again under its usual seed. This holds for the same subset, decode and `eval.batch_size`
    (changing the batch size changes the chunks, hence the samples)."""
    done = {(r["item_id"], r.get("variant", ""), r["sample"]) for r in rows}
    chunks = [keys[i:i + size] for i in range(0, len(keys), size)]
    todo = [c for c, chunk in enumerate(chunks) if not all(k in done for k in chunk)]
    redo = {k for c in todo for k in chunks[c]}
    keep = [r for r in rows if (r["item_id"], r.get("variant", ""), r["sample"]) not in redo]
    return todo, keep


def subset(bench: Benchmark, eval_cfg, n_items: int | None, out_dir: Path) -> list[Item]:
    items = bench.items(load_rows(bench, use_fixtures=eval_cfg.source == "fixtures"))
    chosen = select_items(items, n_items, stable_seed(eval_cfg.seed, bench.name))
    write_json(out_dir / "subsets" / f"{bench.name}.json",
               {"benchmark": bench.name, "seed": eval_cfg.seed, "available": len(items),
                "ids": [it.id for it in chosen]})
    return chosen


def read_subset(bench: Benchmark, eval_cfg, out_dir: Path) -> list[Item]:
    """The subset the runner chose and wrote (eval workers read it, never write it: one writer per file)."""
    path = out_dir / "subsets" / f"{bench.name}.json"
    saved = read_json(path, "eval")
    if not isinstance(saved, dict) or saved.get("seed") != eval_cfg.seed or not isinstance(saved.get("ids"), list):
        raise KitError(f"{path}: missing or not this recipe's subset; eval workers run inside the runner's eval stage")
    by_id = {it.id: it for it in bench.items(load_rows(bench, use_fixtures=eval_cfg.source == "fixtures"))}
    unknown = [i for i in saved["ids"] if i not in by_id]
    if unknown:
        raise KitError(f"{path}: item ids {unknown[:3]} are not in {bench.name}'s rows; redo eval with --fresh")
    return [by_id[i] for i in saved["ids"]]


def eval_keys(bench: Benchmark, items: list[Item], recipe) -> list[Key]:
    """The full ordered key list of one (model, benchmark): what `plan_chunks` cuts into chunks."""
    if bench.kind == "loglik":
        return [(it.id, "", 0) for it in items]
    decode = resolved_decode(bench, recipe.eval)
    return [(it.id, v, k) for it in items for v in bench.variants for k in range(decode.n_samples)]


def evaluate_one(engine, model_name: str, bench: Benchmark, items: list[Item], recipe, log: Path) -> None:
    """Generate/score what the log lacks for one (model, benchmark); append a line per sample.
    Work is cut into fixed chunks of `eval.batch_size` keys (see `plan_chunks`), so a resumed run
    writes exactly the samples an uninterrupted run would. Shard logs of an interrupted sharded run are merged
    first, so a rerun in one process keeps their complete chunks too."""
    keys = eval_keys(bench, items, recipe)
    merge_log(log, keys, chunk_size(recipe))
    rows = read_samples(log)
    log.parent.mkdir(parents=True, exist_ok=True)
    todo, keep = plan_chunks(keys, chunk_size(recipe), rows)
    if log.exists():
        rewrite_samples(log, keep)
    generate_chunks(engine, model_name, bench, items, recipe, keys, todo, log)


def chunk_size(recipe) -> int:
    return max(1, recipe.eval.batch_size)


def generate_chunks(engine, model_name: str, bench: Benchmark, items: list[Item], recipe, keys: list[Key],
                    todo: list[int], log: Path) -> None:
    """Chunks `todo` (numbers over the full key list), each one engine call, appended to `log`."""
    size = chunk_size(recipe)
    decode = resolved_decode(bench, recipe.eval) if bench.kind != "loglik" else None
    by_id = {it.id: it for it in items}
    for c in tqdm(todo, desc=f"{model_name}/{bench.name}", leave=False):
        part = [(by_id[i], v, k) for i, v, k in keys[c * size:(c + 1) * size]]
        if bench.kind == "loglik":
            _loglik_chunk(engine, model_name, bench, [it for it, _, _ in part], recipe, log)
        else:
            _generate_chunk(engine, model_name, bench, part, recipe, decode, log)


def _loglik_chunk(engine, model_name: str, bench: Benchmark, part: list[Item], recipe, log: Path) -> None:
    thinking = recipe.chat.enable_thinking
    reqs = [bench.requests(it) for it in part]
    flat = [(render_prompt(ctx, thinking, recipe.chat.system), cont) for r in reqs for ctx, cont in r]
    lls = engine.loglik(flat)
    samples, pos = [], 0
    for it, r in zip(part, reqs):
        vals = lls[pos:pos + len(r)]
        pos += len(r)
        samples.append(Sample(model_name, bench.name, it.id, it.cluster, 0, "", flat[pos - len(r)][0], "", "", False,
                              bench.score_loglik(it, vals, [len(c) for _, c in r]), thinking, logliks=vals))
    append_samples(log, samples)


def _generate_chunk(engine, model_name: str, bench: Benchmark, part: list[tuple[Item, str, int]], recipe,
                    decode: Decode, log: Path) -> None:
    """One engine call for one chunk, under the chunk's seed (its first key); one line per sample.
    `finished` (False: the length cap cut the generation) goes to the scorer, see `Benchmark.score_sample`."""
    thinking = recipe.chat.enable_thinking
    prompts = [render_prompt(bench.prompt(it, v), thinking, recipe.chat.system) for it, v, _ in part]
    seed = stable_seed(recipe.eval.seed, model_name, bench.name, part[0][0].id, part[0][2])
    outputs = engine.generate(prompts, decode, seed)
    samples = []
    for (it, v, k), prompt, gen in zip(part, prompts, outputs):
        parts = split_thinking(gen.text, thinking)
        scores = bench.score_sample(it, parts.answer, gen.text, v, finished=gen.finished)
        samples.append(Sample(model_name, bench.name, it.id, it.cluster, k, v, prompt, gen.text, parts.answer,
                              parts.truncated, scores, thinking, finished=gen.finished,
                              output_ids=list(gen.token_ids), decode=dataclasses.asdict(decode)))
    append_samples(log, samples)


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
    # cut by the length cap (Generation.finished False); loglik rows have no "finished" and count as finished
    unfinished = sum(1 for r in gen_rows if r.get("finished") is False) / len(gen_rows) if gen_rows else 0.0
    return {"group": bench.group, "kind": bench.kind, "primary": bench.primary, "paper_column": bench.paper_column,
            "n_items": len(ordered), "n_samples": len(gen_rows), "truncation_rate": trunc,
            "unfinished_rate": unfinished, "scores": scores}


def run(ctx) -> dict[str, Any]:
    """The runner's eval stage: base and arms here (one process) or in `distributed.processes` worker processes
    (`run_sharded`), then the compared models here, then scores from the logs alone."""
    recipe = ctx.recipe
    out = ctx.run_dir / "eval"
    models = ["base"] + list(recipe.arms) + list(recipe.compare)
    benches = [benchmarks.get(n) for n in recipe.eval.benchmarks]
    subsets = {b.name: subset(b, recipe.eval, ctx.plan.eval_items[b.name], out) for b in benches}
    tok = None
    if recipe.distributed.processes > 1 and not ctx.worker:
        run_sharded(ctx, benches, subsets, recipe.distributed.processes)
    else:
        model, tok = ctx.eval_model()
        engine = make_engine(ctx.eval_engine_name, model, tok, recipe.eval.batch_size, ctx.adapters())
        for name in ["base"] + list(recipe.arms):  # one base, adapters switched
            engine.select(name)
            for b in benches:
                evaluate_one(engine, name, b, subsets[b.name], recipe, samples_path(ctx.run_dir, name, b.name))
        release(engine)  # a vLLM engine holds its memory share until torn down; the next model needs it
        del engine, model
    for name in recipe.compare:  # audited full models: one load each (their own vLLM engine, bf16 where they fit)
        tok = tok or ctx.tokenizer()
        ref_engine, ref_model = reference_engine(ctx, name, tok, recipe.eval.batch_size)
        for b in benches:
            evaluate_one(ref_engine, name, b, subsets[b.name], recipe, samples_path(ctx.run_dir, name, b.name))
        release(ref_engine)
        del ref_engine, ref_model
    scores: dict[str, Any] = {}
    per_item: dict[str, Any] = {}
    for name in models:
        for b in benches:
            rows = read_samples(samples_path(ctx.run_dir, name, b.name))
            scores.setdefault(name, {})[b.name] = aggregate(b, rows, subsets[b.name])
            by_item = item_scores(rows, subsets[b.name])
            per_item.setdefault(name, {})[b.name] = {
                it.id: {"cluster": it.cluster, "stratum": b.stratum(it), "weight": b.weight(it), **by_item[it.id]}
                for it in subsets[b.name] if it.id in by_item}
    EvalResults(scores, per_item).write(ctx.run_dir)
    summary: dict[str, Any] = {"models": models, "benchmarks": [b.name for b in benches],
                               "items": {b.name: len(subsets[b.name]) for b in benches}}
    if recipe.distributed.processes > 1:
        summary["processes"] = recipe.distributed.processes
    return summary


def run_sharded(ctx, benches: list[Benchmark], subsets: dict[str, list[Item]], shards: int) -> None:
    """Base and arms in `shards` worker processes (`python -m kit.worker eval RUN --shard r --shards N`, one GPU
    each, or CPU processes), chunk c by worker c % N (kit.eval.shards); merged into the main logs after. Shard logs
    left by a killed run (of any N) are merged first, so a worker only does what no log holds complete."""
    import sys

    from kit import dist

    recipe, size = ctx.recipe, chunk_size(ctx.recipe)
    logs = [(samples_path(ctx.run_dir, name, b.name), eval_keys(b, subsets[b.name], recipe))
            for name in ["base"] + list(recipe.arms) for b in benches]
    busy: set[int] = set()
    for log, keys in logs:
        merge_log(log, keys, size)
        busy |= {r for r in range(shards) if shard_todo(keys, size, log, r, shards)}
    if busy:
        print(f"[eval] {len(busy)} worker processes"
              f"{' (GPUs ' + ','.join(map(str, sorted(busy))) + ')' if ctx.hw.cuda else ' (CPU)'}", flush=True)
        cmds = [([sys.executable, "-m", "kit.worker", "eval", str(ctx.run_dir), "--shard", str(r), "--shards",
                  str(shards)],
                 dist.worker_env([r] if ctx.hw.cuda else None, KIT_SHARD=str(r), KIT_SHARDS=str(shards)))
                for r in sorted(busy)]
        dist.run_workers(cmds, "eval")
    for log, keys in logs:
        merge_log(log, keys, size)
        todo, _ = plan_chunks(keys, size, read_samples(log))
        if todo:
            raise KitError(f"eval: {log} still lacks {len(todo)} chunk(s) after every worker finished; rerun to "
                           f"generate them")


def run_shard(ctx, shard: int, shards: int) -> dict[str, Any]:
    """An eval worker's share (kit.worker eval): for base and each arm, the chunks c with c % shards == shard that
    no log holds complete, appended to this shard's logs; the subsets are the ones the runner wrote."""
    recipe = ctx.recipe
    if not 0 <= shard < shards:
        raise KitError(f"--shard {shard} is not one of the {shards} shards (0..{shards - 1})")
    size = chunk_size(recipe)
    benches = [benchmarks.get(n) for n in recipe.eval.benchmarks]
    subsets = {b.name: read_subset(b, recipe.eval, ctx.run_dir / "eval") for b in benches}
    names = ["base"] + list(recipe.arms)
    work = {(name, b.name): shard_todo(eval_keys(b, subsets[b.name], recipe), size,
                                       samples_path(ctx.run_dir, name, b.name), shard, shards)
            for name in names for b in benches}
    if not any(work.values()):
        return {"shard": shard, "chunks": 0}
    model, tok = ctx.eval_model()
    engine = make_engine(ctx.eval_engine_name, model, tok, recipe.eval.batch_size, ctx.adapters())
    for name in names:
        engine.select(name)
        for b in benches:
            log, keys = samples_path(ctx.run_dir, name, b.name), eval_keys(b, subsets[b.name], recipe)
            prepare_shard_log(keys, size, log, shard)
            todo = shard_todo(keys, size, log, shard, shards)
            generate_chunks(engine, name, b, subsets[b.name], recipe, keys, todo, shard_path(log, shard))
    release(engine)
    return {"shard": shard, "chunks": sum(len(v) for v in work.values())}
