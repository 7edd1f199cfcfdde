"""The eval stage's per-sample log: a resumed run writes exactly the samples of an uninterrupted one, and
a foreign row is a one-line KitError (#10 item 4, evaluation part)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from kit.errors import KitError
from kit.eval import benchmarks
from kit.eval.benchmarks.base import load_rows
from kit.gen.engine import Generation
from kit.eval.stage import evaluate_one, plan_chunks, read_samples


class SamplingEngine:
    """Stands in for a sampling engine: an output depends on the call's seed, the prompt's position in
    the call and the call's size (as batched sampling does), so a different chunking shows."""

    def __init__(self):
        self.calls: list[int] = []

    def generate(self, prompts, decode, seed):
        self.calls.append(len(prompts))
        out = []
        for i, p in enumerate(prompts):
            h = hashlib.sha256(repr((seed, i, len(prompts), p)).encode()).hexdigest()[:8]
            out.append(Generation(f"guess {h} \\boxed{{{int(h, 16) % 3}}}", [1, 2], i % 2 == 0))
        return out


def _recipe(batch_size: int = 4):
    return SimpleNamespace(
        chat=SimpleNamespace(enable_thinking=False, system=None),
        eval=SimpleNamespace(batch_size=batch_size, seed=7, temperature=None, top_p=None, samples=None,
                             max_new_tokens=64),
    )


def _math500():
    bench = benchmarks.get("math500")
    return bench, bench.items(load_rows(bench, use_fixtures=True))


def _by_key(path: Path) -> dict[tuple, tuple]:
    rows = read_samples(path)
    keys = [(r["item_id"], r["variant"], r["sample"]) for r in rows]
    assert len(keys) == len(set(keys)), "duplicate samples in the log"
    return {(r["item_id"], r["variant"], r["sample"]): (r["output"], r["finished"], r["scores"]) for r in rows}


def test_resume_after_a_torn_line_reproduces_the_uninterrupted_run(tmp_path):
    bench, items = _math500()
    assert bench.decode.n_samples == 3 and len(items) >= 3  # enough keys for several chunks
    full = tmp_path / "full.jsonl"
    evaluate_one(SamplingEngine(), "base", bench, items, _recipe(), full)
    expected = _by_key(full)
    assert len(expected) == 3 * len(items)

    lines = full.read_text().splitlines(keepends=True)
    for cut in (1, 5, 6, 9):  # inside the first, second and third chunks of 4
        if cut >= len(lines):
            continue
        log = tmp_path / f"resumed-{cut}.jsonl"
        log.write_text("".join(lines[:cut]) + lines[cut][: len(lines[cut]) // 2])  # killed mid-write
        engine = SamplingEngine()
        evaluate_one(engine, "base", bench, items, _recipe(), log)
        assert _by_key(log) == expected, f"cut at line {cut}"
        assert all(n == 4 for n in engine.calls[:-1])  # whole chunks only


def test_plan_chunks_redoes_incomplete_chunks_whole():
    keys = [(str(i), "", 0) for i in range(10)]
    rows = [{"item_id": str(i), "variant": "", "sample": 0} for i in (0, 1, 2, 3, 4, 5, 8)]
    todo, keep = plan_chunks(keys, 4, rows)
    assert todo == [1, 2]  # chunk 0 complete; chunk 1 lacks 6, 7; chunk 2 lacks 9
    assert [r["item_id"] for r in keep] == ["0", "1", "2", "3"]


def test_a_row_without_item_id_is_one_line_naming_the_file(tmp_path):
    bench, items = _math500()
    log = tmp_path / "samples" / "base" / "math500.jsonl"
    log.parent.mkdir(parents=True)
    log.write_text(json.dumps({"sample": 0, "scores": {"paper": 1.0}}) + "\n")
    with pytest.raises(KitError) as err:
        evaluate_one(SamplingEngine(), "base", bench, items, _recipe(), log)
    msg = str(err.value)
    assert "\n" not in msg and str(log) in msg and "item_id" in msg and "rerun" in msg
    log.write_text("[1, 2]\n")
    with pytest.raises(KitError, match="item_id"):
        read_samples(log)


def test_aggregate_reports_the_unfinished_share(tmp_path):
    from kit.eval.stage import aggregate

    bench, items = _math500()
    log = tmp_path / "log.jsonl"
    evaluate_one(SamplingEngine(), "base", bench, items, _recipe(), log)
    rows = read_samples(log)
    agg = aggregate(bench, rows, items)
    share = sum(1 for r in rows if not r["finished"]) / len(rows)
    assert 0 < share < 1 and agg["unfinished_rate"] == pytest.approx(share)
