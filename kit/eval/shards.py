"""The eval stage sharded over worker processes: which chunks a shard owns, and how shard logs become the main log.

Chunks are numbered over the full ordered key list of one (model, benchmark), as `plan_chunks` cuts it, and chunk c
belongs to shard c % N. Ownership is by chunk number, never by what is done, so every chunk keeps its seed and its
prompts whatever N is, and a shard's samples are exactly the ones one process would write for those chunks. Each
worker appends to its own shard log (`shard_path`); the runner merges: a chunk is taken whole from one log where it
is complete (the main log first), rows go in key order, a chunk complete nowhere is dropped (redone whole on the
next run), and the shard logs are removed. Merging reads every shard log present, so a rerun with another N (or
after a killed worker) continues from all that was finished.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

from kit.artefacts import read_samples, rewrite_samples, shard_logs, shard_path

Key = tuple[str, str, int]  # (item id, variant, sample index), as kit.eval.stage cuts its work


def row_key(row: dict[str, Any]) -> Key:
    return row["item_id"], row.get("variant", ""), row["sample"]


def chunks_of(keys: list[Key], size: int) -> list[list[Key]]:
    """The fixed chunks of `plan_chunks`: `size` consecutive keys each, over the full key list."""
    return [keys[i:i + size] for i in range(0, len(keys), size)]


def owned(chunks: Iterable[int], shard: int, shards: int) -> list[int]:
    """The chunk numbers among `chunks` that shard `shard` of `shards` generates (round robin: the work of a
    benchmark whose items differ in length is spread evenly)."""
    return [c for c in chunks if c % shards == shard]


def complete_chunks(keys: list[Key], size: int, rows: list[dict[str, Any]]) -> set[int]:
    """Chunks every key of which has a row in `rows` (one log: a chunk is never pieced together from two logs, whose
    rows may come from different attempts)."""
    done = {row_key(r) for r in rows}
    return {c for c, chunk in enumerate(chunks_of(keys, size)) if all(k in done for k in chunk)}


def merge_rows(keys: list[Key], size: int, main: list[dict[str, Any]],
               shards: list[list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """The main log's rows after merging: each chunk complete in some log (the main log first, then the shards in
    order), whole from that log and in key order, which is the order an uninterrupted one-process run appends them;
    then the main log's rows of keys outside this key list, which one process keeps too (`plan_chunks`)."""
    sources = [{row_key(r): r for r in rows} for rows in [main, *shards]]
    merged: list[dict[str, Any]] = []
    for chunk in chunks_of(keys, size):
        for src in sources:
            if all(k in src for k in chunk):
                merged += [src[k] for k in chunk]
                break
    wanted = set(keys)
    return merged + [r for r in main if row_key(r) not in wanted]


def merge_log(log: Path, keys: list[Key], size: int) -> bool:
    """Fold every shard log of `log` into it (atomically, then the shard logs are removed: a merge interrupted in
    between is redone with the same result). False when there was no shard log."""
    parts = shard_logs(log)
    if not parts:
        return False
    rows = merge_rows(keys, size, read_samples(log), [read_samples(p) for p in parts])
    log.parent.mkdir(parents=True, exist_ok=True)
    rewrite_samples(log, rows)
    for p in parts:
        p.unlink(missing_ok=True)
    return True


def shard_todo(keys: list[Key], size: int, log: Path, shard: int, shards: int) -> list[int]:
    """The chunks shard `shard` still has to generate: its own, complete neither in the main log nor in its shard
    log."""
    done = complete_chunks(keys, size, read_samples(log))
    done |= complete_chunks(keys, size, read_samples(shard_path(log, shard)))
    return owned((c for c in range(len(chunks_of(keys, size))) if c not in done), shard, shards)


def prepare_shard_log(keys: list[Key], size: int, log: Path, shard: int) -> None:
    """Drop the rows of incomplete chunks (and a torn last line) from a shard's log before it appends: a partial
    chunk is redone whole, under its usual seed."""
    own = shard_path(log, shard)
    rows = read_samples(own)
    if not own.exists():
        return
    done = complete_chunks(keys, size, rows)
    chunks = chunks_of(keys, size)
    keep_keys = {k for c in done for k in chunks[c]}
    rewrite_samples(own, [r for r in rows if row_key(r) in keep_keys])
