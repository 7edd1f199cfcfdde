"""What a benchmark is, for the kit: where its data lives, how an item becomes a prompt, how an output is scored.

Each benchmark is one small module in this package defining one `Benchmark` subclass decorated with
`@register`. Modules are discovered automatically (see `__init__.py`), so adding a benchmark touches one file.

Data flow for one benchmark:
    load_rows(source | fixture) -> rows (dicts in the Hub schema) -> items(rows) -> select_items(seed, n)
    generate:  prompt(item) -> chat template -> engine -> output -> split_thinking -> score(item, answer, output)
    loglik:    requests(item) -> engine log-likelihoods -> score_loglik(item, lls, lengths)
    aggregate(per-item score dicts, samples already averaged) -> {column: value in [0, 1]}
Scores are fractions in [0, 1]; reports show percentages.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

from kit.errors import KitError
from kit.gen.decode import Decode  # noqa: F401  (benchmarks name their decode settings)
from kit.groups import Group

FIXTURE_DIR = Path(__file__).resolve().parents[2] / "data" / "fixtures" / "benchmarks"


@dataclass(frozen=True)
class HubSource:
    """A dataset on the Hugging Face Hub, pinned. `data_files` names a parquet/json copy when the original
    repo needs a loading script (not supported by the pinned `datasets`)."""

    path: str
    revision: str
    split: str
    name: str | None = None
    data_files: str | tuple[str, ...] | None = None
    gated: bool = False
    note: str = ""


@dataclass
class Item:
    """One scored unit. `cluster` is the resampling unit (a CoQA story, an MC-TACO question); `doc` holds the
    fields the benchmark needs and must be JSON-serialisable (it is saved with the results)."""

    id: str
    doc: dict[str, Any]
    cluster: str = ""

    def __post_init__(self) -> None:
        if not self.cluster:
            self.cluster = self.id


class Benchmark:
    """Base class. Subclasses set the class attributes and implement `items` plus either
    (`prompt`, `score`) for kind "generate" or (`requests`, `score_loglik`) for kind "loglik"."""

    name: ClassVar[str]
    group: ClassVar[Group]
    source: ClassVar[HubSource]
    # Items in the whole benchmark (the paper's count, paper.md §1): the plan scales evaluation subsets from it
    # and sizes a whole-benchmark run by it. Required: `register` refuses a benchmark without it.
    full_size: ClassVar[int]
    # Column of the benchmark in the paper's Tables 1 and 9-11 (1 = first; kit/report/paper_numbers.py reads its
    # published rows in this order and the report lists benchmarks in it). None: not in the paper's tables.
    paper_position: ClassVar[int | None] = None
    kind: ClassVar[Literal["generate", "loglik"]] = "generate"
    decode: ClassVar[Decode] = Decode()
    # The column used for group averages and the transfer index. "fixed" where the paper's scorer is
    # wrong or brittle, otherwise "paper".
    primary: ClassVar[str] = "paper"
    # The column the paper's code computed (shown beside `primary` in reports).
    paper_column: ClassVar[str] = "paper"
    # Prompt variants generated separately for each item (GPQA: the paper's fixed option order vs a
    # per-question shuffle). Scores of all variants of an item are merged into one dict, so each variant
    # must return its own column names.
    variants: ClassVar[tuple[str, ...]] = ("",)
    # Whether `score` takes `finished=` (see `score_sample`).
    uses_finished: ClassVar[bool] = False

    # -- data -------------------------------------------------------------------------------------------
    def load(self, use_fixtures: bool) -> list[dict[str, Any]]:
        """Rows in the Hub schema: the shipped fixture, or the pinned Hub dataset (`source`). Override when a
        benchmark's rows come from several configs or files (HaluEval's three configs, LiveCodeBench's
        jsonl files); `load_rows` always goes through this method."""
        return fixture_rows(self) if use_fixtures else hub_rows(self, self.source)

    def items(self, rows: list[dict[str, Any]]) -> list[Item]:
        raise NotImplementedError

    # -- generate ---------------------------------------------------------------------------------------
    def prompt(self, item: Item, variant: str = "") -> str:
        """The user message exactly as the paper's harness built it (the chat template is applied later)."""
        raise NotImplementedError

    def score(self, item: Item, answer: str, output: str, variant: str = "") -> dict[str, float]:
        """Score one sample. `answer` is the text after the last `</think>` (empty when truncated);
        `output` is the raw generation (the paper's code reads it directly, e.g. its first line).
        Must return at least the `paper` key; `fixed` where the kit corrects the paper's scorer."""
        raise NotImplementedError

    def score_sample(self, item: Item, answer: str, output: str, variant: str = "",
                     finished: bool = True) -> dict[str, float]:
        """What the eval stage calls. `finished` is False when the generation hit the length cap
        (`Generation.finished`). Benchmarks whose kit columns have a fallback that would credit stray text
        in an unfinished output (math-verify's first-number fallback, a last-capital-letter fallback) set
        `uses_finished` and take `finished` as a keyword of `score`; the others score as if finished."""
        if self.uses_finished:
            return self.score(item, answer, output, variant, finished=finished)  # type: ignore[call-arg]
        return self.score(item, answer, output, variant)

    # -- loglik -----------------------------------------------------------------------------------------
    def requests(self, item: Item) -> list[tuple[str, str]]:
        """(context, continuation) pairs; the context is the user message, templated later."""
        raise NotImplementedError

    def score_loglik(self, item: Item, logliks: list[float], lengths: list[int]) -> dict[str, float]:
        """`logliks[i]` is the summed log-probability of continuation i; `lengths[i]` its length in
        characters (lm-eval's acc_norm divides by byte length)."""
        raise NotImplementedError

    # -- resampling structure (used by the paired bootstrap; must agree with `aggregate`) ----------------
    def stratum(self, item: Item) -> str | None:
        """Sub-task whose mean is averaged with equal weight (HaluEval's three tasks); None = one stratum."""
        return None

    def weight(self, item: Item) -> float:
        """Weight of the item's primary score inside its stratum (IFEval: its number of instructions)."""
        return 1.0

    # -- aggregation ------------------------------------------------------------------------------------
    def aggregate(self, item_scores: list[dict[str, float]]) -> dict[str, float]:
        """Benchmark-level scores from per-item scores (samples already averaged). Default: column means."""
        return mean_columns(item_scores)


def mean_columns(rows: list[dict[str, float]]) -> dict[str, float]:
    if not rows:
        return {}
    keys = [k for k in rows[0] if not k.startswith("_")]
    return {k: sum(float(r[k]) for r in rows) / len(rows) for k in keys}


def mean_of_task_means(item_scores: list[dict[str, float]], tasks: tuple[str, ...] | list[str],
                       columns: tuple[str, ...] = ("paper", "fixed")) -> dict[str, float]:
    """Equal-weight mean over sub-tasks of each sub-task's mean (the paper averages HaluEval's and ACPBench's
    tasks), plus per-task columns `<column>_<task>`. Items carry `_task`, their task's index in `tasks`;
    the same grouping is the bootstrap's strata (`Benchmark.stratum`)."""
    by_task: dict[str, list[dict[str, float]]] = {}
    for s in item_scores:
        by_task.setdefault(tasks[int(round(s["_task"]))], []).append(s)
    out: dict[str, float] = {}
    for col in columns:
        means = {t: sum(s[col] for s in rows) / len(rows) for t, rows in by_task.items()}
        if means:
            out[col] = sum(means.values()) / len(means)
        out.update({f"{col}_{t}": means[t] for t in tasks if t in means})
    return out


def fixture_path(name: str) -> Path:
    return FIXTURE_DIR / f"{name}.jsonl"


def load_rows(bench: Benchmark, use_fixtures: bool) -> list[dict[str, Any]]:
    """Rows in the Hub schema, from the pinned Hub dataset or from the shipped fixture (via `bench.load`,
    which benchmarks may override). Both go through `datasets.load_dataset`, so the fixture exercises the
    same code path as the real data."""
    return bench.load(use_fixtures)


def fixture_rows(bench: Benchmark) -> list[dict[str, Any]]:
    """The shipped fixture `kit/data/fixtures/benchmarks/<name>.jsonl`, loaded through `datasets`."""
    import datasets

    path = fixture_path(bench.name)
    if not path.exists():
        raise KitError(f"no fixture for benchmark '{bench.name}' at {path}")
    ds = datasets.load_dataset("json", data_files=str(path), split="train")
    return [dict(r) for r in ds]


def hub_rows(bench: Benchmark, src: HubSource) -> list[dict[str, Any]]:
    """Rows of one pinned Hub dataset (config `src.name`, split `src.split`); errors become KitError."""
    import datasets

    kwargs: dict[str, Any] = {"split": src.split, "revision": src.revision}
    if src.data_files is not None:
        kwargs["data_files"] = list(src.data_files) if isinstance(src.data_files, tuple) else src.data_files
    try:
        ds = datasets.load_dataset(src.path, src.name, **kwargs)
    except Exception as exc:  # datasets raises many types; the message is what matters to the user
        msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if src.gated or "gated" in msg.lower() or "401" in msg:
            raise KitError(
                f"benchmark '{bench.name}': {src.path} is gated. Accept its terms on its Hugging Face page, "
                f"then log in (`huggingface-cli login` or HF_TOKEN). ({msg})"
            ) from exc
        raise KitError(
            f"benchmark '{bench.name}': could not load {src.path} ({src.name or 'default'}, split {src.split}, "
            f"revision {src.revision[:12]}): {msg}. Set eval.source=fixtures to run offline."
        ) from exc
    return [dict(r) for r in ds]


def select_items(items: list[Item], n: int | None, seed: int) -> list[Item]:
    """A seeded sample of whole clusters, in a stable order. `n=None` or n >= len keeps everything.

    Clusters are shuffled with `random.Random(seed)` and taken whole until at least `n` items are chosen,
    so CoQA stories and MC-TACO questions are never split. The same seed always gives the same subset.
    """
    if n is None or n >= len(items):
        return list(items)
    by_cluster: dict[str, list[Item]] = {}
    for it in items:
        by_cluster.setdefault(it.cluster, []).append(it)
    clusters = sorted(by_cluster)
    random.Random(seed).shuffle(clusters)
    chosen: list[Item] = []
    for c in clusters:
        if len(chosen) >= n:
            break
        chosen.extend(by_cluster[c])
    return chosen
