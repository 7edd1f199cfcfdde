"""The eval stage sharded over worker processes (distributed.processes > 1): chunk ownership and the merge of shard
logs (unit), and end to end on CPU: the per-sample logs and scores of `--gpus 2` equal those of one process, also
after a killed worker, partial chunks and stale shard logs of another process count."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

from kit.artefacts import read_samples, samples_path, shard_logs, shard_path
from kit.eval.shards import chunks_of, complete_chunks, merge_log, merge_rows, owned, prepare_shard_log, shard_todo
from kit.eval import benchmarks
from kit.eval.benchmarks.base import load_rows
from kit.eval.stage import eval_keys, evaluate_one, generate_chunks, plan_chunks
from kit.gen.engine import Generation
from tests.conftest import ROOT, run_kit

KEYS = [(f"i{n}", v, 0) for n in range(4) for v in ("a", "b")] + [("i4", "a", 0)]  # chunks of 2: 0..4, 4 short
ALL = [0, 1, 2, 3, 4]


def row(key, text: str = "ok") -> dict:
    return {"item_id": key[0], "variant": key[1], "sample": key[2], "scores": {"acc": 1.0}, "output": text}


def rows_of(chunks: list[int], text: str = "ok") -> list[dict]:
    return [row(k, text) for c in chunks for k in chunks_of(KEYS, 2)[c]]


def _write(path: Path, rows: list[dict], torn: bool = False) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) + ('{"item_id": "i' if torn else ""))


# --- unit: ownership and merge ---------------------------------------------------------------------------------

def test_ownership_is_by_chunk_number_and_covers_every_chunk_once():
    assert chunks_of(KEYS, 2)[-1] == [("i4", "a", 0)]  # the last chunk is short, as plan_chunks cuts it
    for n in (1, 2, 3, 7):
        shares = [owned(range(5), r, n) for r in range(n)]
        assert sorted(c for s in shares for c in s) == ALL
    assert owned(range(5), 0, 2) == [0, 2, 4] and owned(range(5), 1, 2) == [1, 3]
    assert owned([1, 4], 0, 2) == [4] and owned([1, 4], 1, 3) == [1, 4]  # what is done is not re-dealt


def test_merged_shards_equal_the_one_process_log_in_key_order():
    one = rows_of(ALL)  # an uninterrupted one-process log: chunk after chunk, keys in order
    assert merge_rows(KEYS, 2, [], [rows_of([4, 2, 0]), rows_of([3, 1])]) == one  # appended in any order
    assert merge_rows(KEYS, 2, rows_of([1]), [rows_of([0, 2]), rows_of([3, 4])]) == one


def test_a_chunk_complete_in_no_single_log_is_dropped_to_be_redone_whole():
    main = rows_of([0]) + [row(("i1", "a", 0))]  # killed inside chunk 1
    stale = [row(("i1", "b", 0), text="another attempt")]  # chunk 1's other key, in another run's shard log
    merged = merge_rows(KEYS, 2, main, [stale, rows_of([2, 3, 4])])
    assert merged == rows_of([0, 2, 3, 4])  # chunk 1 is whole in no log: neither half survives
    assert plan_chunks(KEYS, 2, merged)[0] == [1]  # and it is exactly what is left to generate
    assert complete_chunks(KEYS, 2, main + stale) == {0, 1} != complete_chunks(KEYS, 2, main)


def test_main_log_rows_win_and_other_keys_stay():
    foreign = {"item_id": "gone", "variant": "", "sample": 0, "scores": {}}
    merged = merge_rows(KEYS, 2, rows_of([0]) + [foreign], [rows_of([0], text="dup"), rows_of([1, 2, 3, 4])])
    assert merged == rows_of(ALL) + [foreign]  # as plan_chunks keeps rows of keys it does not plan


def test_merge_log_rewrites_the_main_log_and_removes_every_shard_log(tmp_path):
    log = tmp_path / "base" / "b.jsonl"
    _write(log, rows_of([0]) + [row(("i1", "a", 0))], torn=True)
    _write(shard_path(log, 1), rows_of([1, 3]))
    _write(shard_path(log, 4), rows_of([2, 4]), torn=True)  # a shard of a run with more processes
    (log.parent / "b.jsonl.shard0.tmp").write_text("half")  # a rewrite killed midway: not a shard log
    assert [p.name for p in shard_logs(log)] == ["b.jsonl.shard1", "b.jsonl.shard4"]
    assert merge_log(log, KEYS, 2) is True
    assert read_samples(log) == rows_of(ALL) and shard_logs(log) == []
    assert merge_log(log, KEYS, 2) is False and read_samples(log) == rows_of(ALL)


def test_a_shard_redoes_its_partial_chunk_whole(tmp_path):
    log = tmp_path / "b.jsonl"
    _write(log, rows_of([0]))
    own = shard_path(log, 1)
    _write(own, rows_of([1]) + [row(("i3", "a", 0))], torn=True)  # shard 1 of 2, killed inside chunk 3
    assert shard_todo(KEYS, 2, log, 1, 2) == [3]  # chunk 1 is whole in its log; chunk 3 is not
    assert shard_todo(KEYS, 2, log, 0, 2) == [2, 4]  # chunk 0 is in the main log
    prepare_shard_log(KEYS, 2, log, 1)
    assert read_samples(own) == rows_of([1])  # chunk 3's row and the torn line are gone: redone whole


class SeededEngine:
    """Stands in for a sampling engine: an output depends on the call's seed, the prompt's position and the call's
    size, as batched sampling does, so a chunk generated with another seed or other prompts shows."""

    def __init__(self):
        self.calls = 0

    def generate(self, prompts, decode, seed):
        self.calls += 1
        return [Generation(hashlib.sha256(repr((seed, i, len(prompts), p)).encode()).hexdigest()[:12], [i], True)
                for i, p in enumerate(prompts)]


def _math500_run(batch_size: int = 2):
    bench = benchmarks.get("math500")
    recipe = SimpleNamespace(chat=SimpleNamespace(enable_thinking=False, system=None),
                             eval=SimpleNamespace(batch_size=batch_size, seed=7, temperature=None, top_p=None,
                                                  samples=None, max_new_tokens=16))
    return bench, bench.items(load_rows(bench, use_fixtures=True)), recipe


def _shard(bench, items, recipe, log: Path, shard: int, shards: int) -> None:
    """What one eval worker does for one (model, benchmark) (kit.eval.stage.run_shard's loop)."""
    keys = eval_keys(bench, items, recipe)
    prepare_shard_log(keys, 2, log, shard)
    todo = shard_todo(keys, 2, log, shard, shards)
    generate_chunks(SeededEngine(), "base", bench, items, recipe, keys, todo, shard_path(log, shard))


@pytest.mark.parametrize("shards", [2, 3])
def test_shards_merged_equal_the_one_process_log_line_for_line(tmp_path, shards):
    bench, items, recipe = _math500_run()
    one = tmp_path / "one.jsonl"
    evaluate_one(SeededEngine(), "base", bench, items, recipe, one)
    assert len(read_samples(one)) == 3 * len(items) >= 6  # several chunks of 2
    log = tmp_path / "sharded.jsonl"
    for r in reversed(range(shards)):
        _shard(bench, items, recipe, log, r, shards)
    assert merge_log(log, eval_keys(bench, items, recipe), 2)
    assert log.read_text() == one.read_text()


def test_a_one_process_rerun_keeps_what_a_killed_sharded_run_finished(tmp_path):
    bench, items, recipe = _math500_run()
    one = tmp_path / "one.jsonl"
    evaluate_one(SeededEngine(), "base", bench, items, recipe, one)
    log = tmp_path / "log.jsonl"
    _shard(bench, items, recipe, log, 0, 2)  # shard 1 of 2 never ran
    rows = read_samples(shard_path(log, 0))
    _write(shard_path(log, 0), rows[:-1], torn=True)  # and shard 0 was killed inside its last chunk
    engine = SeededEngine()
    evaluate_one(engine, "base", bench, items, recipe, log)
    # the same rows; in one process the redone chunks are appended after the kept ones, as any resume does there
    assert sorted(log.read_text().splitlines()) == sorted(one.read_text().splitlines()) and not shard_logs(log)
    n_chunks = len(chunks_of(eval_keys(bench, items, recipe), 2))
    assert engine.calls == n_chunks - (len(owned(range(n_chunks), 0, 2)) - 1)  # shard 0's whole chunks kept


# --- end to end on CPU ------------------------------------------------------------------------------------------

SMOKE = str(ROOT / "recipes" / "smoke.yaml")
# onpolicy_sft trains in one process whatever distributed.processes is (its arm is not multiprocess), so its train
# stage, and with it the eval stage's hash, is the same under --gpus 2: the one folder serves both runs. A generate
# benchmark with two samples, one with two variants, one scored by log-likelihood; chunks of 2 keys so that every
# benchmark has several chunks to deal out.
OVERRIDES = ["arms=[onpolicy_sft]", "eval.benchmarks=[math500,gpqa_diamond,headqa]", "eval.batch_size=2",
             "eval.samples=2"]
# One torch thread in every process (runner, eval workers, this test process when it plays a worker): CPU kernels
# may split reductions by thread count, so equal floats, hence equal sampled tokens, need equal thread counts.
ENV = {"OMP_NUM_THREADS": "1"}


def _logs(eval_dir: Path) -> dict[str, list[dict]]:
    root = eval_dir / "samples"
    return {str(p.relative_to(root)): read_samples(p) for p in sorted(root.rglob("*.jsonl"))}


@pytest.fixture(scope="module")
def one_process(tmp_path_factory, kit_cache):
    """A run trained and evaluated in one process; its eval folder copied aside."""
    out = tmp_path_factory.mktemp("dist-eval")
    res = run_kit(SMOKE, f"output_dir={out}", *OVERRIDES, "--stages", "data,train_onpolicy_sft,eval", env=ENV)
    assert res.returncode == 0, res.stderr[-3000:]
    run_dir = out / "smoke"
    shutil.copytree(run_dir / "eval", out / "one-process-eval")
    return run_dir, out / "one-process-eval"


@pytest.mark.slow
def test_sharded_eval_equals_one_process(one_process):
    run_dir, one = one_process
    res = run_kit(SMOKE, f"output_dir={run_dir.parent}", *OVERRIDES, "--gpus", "2", "--fresh", "--stages", "eval",
                  env=ENV)
    assert res.returncode == 0, res.stderr[-3000:]
    assert "[eval] 2 worker processes (CPU)" in res.stdout
    logs, expected = _logs(run_dir / "eval"), _logs(one)
    assert set(logs) == {f"{m}/{b}.jsonl" for m in ("base", "onpolicy_sft") for b in ("math500", "gpqa_diamond",
                                                                                       "headqa")}
    assert logs == expected  # every row: model, benchmark, item, sample, variant, output, token ids, scores, logliks
    assert all(len(rows) >= 3 for rows in logs.values())
    assert (run_dir / "eval" / "scores.json").read_text() == (one / "scores.json").read_text()
    assert (run_dir / "eval" / "item_scores.json").read_text() == (one / "item_scores.json").read_text()
    assert not list((run_dir / "eval" / "samples").rglob("*.shard*"))
    manifest = json.loads((run_dir / "manifests" / "eval.json").read_text())
    assert manifest["summary"]["processes"] == 2


@pytest.mark.slow
def test_killed_worker_then_rerun_with_another_n_equals_one_process(one_process):
    """Only shard 0 of 2 ran (in this process, as `python -m kit.worker eval` would), a shard log of a 4-process
    run holds half a chunk whose other half is in the main log, another chunk was cut mid-write; a sharded rerun
    with 3 processes keeps what is complete, redoes the rest, and ends with the one-process logs."""
    import torch

    from kit.worker import eval_shard

    run_dir, one = one_process
    if not (run_dir / "manifests" / "eval.json").exists():  # this test alone: the sharded one did not run before
        res = run_kit(SMOKE, f"output_dir={run_dir.parent}", *OVERRIDES, "--gpus", "2", "--fresh", "--stages",
                      "eval", env=ENV)
        assert res.returncode == 0, res.stderr[-3000:]
    (run_dir / "manifests" / "eval.json").unlink()  # the eval stage did not finish
    for name in ("scores.json", "item_scores.json"):
        (run_dir / "eval" / name).unlink()
    gpqa = samples_path(run_dir, "base", "gpqa_diamond")
    full = read_samples(one / "samples" / "base" / "gpqa_diamond.jsonl")
    assert len(full) >= 5  # chunks 0, 1 and 2 of two keys each (the last maybe one)
    for log in (run_dir / "eval" / "samples").rglob("*.jsonl"):
        log.write_text("")
    _write(gpqa, full[:2] + full[2:3])  # chunk 0 whole, chunk 1 cut after its first row
    tampered = dict(full[3], output="TAMPERED")
    _write(shard_path(gpqa, 3), [tampered])  # chunk 1's other row, from another run: never pieced together

    torch.set_num_threads(1)  # as the worker processes (OMP_NUM_THREADS=1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    summary = eval_shard(run_dir, 0, 2)
    assert summary["chunks"] > 0
    math0 = shard_path(samples_path(run_dir, "onpolicy_sft", "math500"), 0)
    rows = read_samples(math0)
    assert len(rows) >= 2
    _write(math0, rows[:-1], torn=True)  # killed while writing its last chunk
    assert shard_path(gpqa, 0).exists() and not shard_path(gpqa, 1).exists()

    res = run_kit(SMOKE, f"output_dir={run_dir.parent}", *OVERRIDES, "--gpus", "3", "--stages", "eval", env=ENV)
    assert res.returncode == 0, res.stderr[-3000:]
    assert _logs(run_dir / "eval") == _logs(one)
    assert "TAMPERED" not in gpqa.read_text()
    assert (run_dir / "eval" / "scores.json").read_text() == (one / "scores.json").read_text()
    assert not list((run_dir / "eval" / "samples").rglob("*.shard*"))
