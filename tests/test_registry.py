"""The benchmark registry is the one source of each benchmark's group, full size and place in the paper's tables:
the plan and the paper's numbers read them from it, so a 13th benchmark needs one file and nothing else."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from kit import recipe as R
from kit.errors import KitError
from kit.eval import benchmarks
from kit.eval.benchmarks.base import Benchmark, HubSource, Item
from kit.hardware import Hardware
from tests.conftest import ROOT

H100 = Hardware(True, "NVIDIA H100 80GB HBM3", (9, 0), 80.0, True)
PAPER_ORDER = ("aime24", "aime25", "math500", "olympiadbench", "gpqa_diamond", "livecodebench", "acpbench", "headqa",
               "coqa", "mc_taco", "ifeval", "halueval")
# Items per benchmark as the paper gives them (paper.md §1): what the plan scaled from before the registry held them.
PAPER_SIZES = {"math500": 500, "aime24": 30, "aime25": 30, "olympiadbench": 675, "gpqa_diamond": 198,
               "livecodebench": 511, "acpbench": 280, "headqa": 2742, "coqa": 500, "ifeval": 541,
               "halueval": 30000, "mc_taco": 9442}


class Dummy(Benchmark):
    """A 13th benchmark defined in the test: rows generated in memory, no fixture file, no download."""

    name = "dummy13"
    group = "other"
    full_size = 777
    paper_position = 13
    source = HubSource(path="in-test", revision="none", split="test", note="generated in the test")

    def load(self, use_fixtures: bool) -> list[dict[str, Any]]:
        return [{"id": f"d{i}", "question": f"{i} + 1 = ?", "answer": str(i + 1)} for i in range(self.full_size)]

    def items(self, rows: list[dict[str, Any]]) -> list[Item]:
        return [Item(id=r["id"], doc=r) for r in rows]

    def prompt(self, item: Item, variant: str = "") -> str:
        return item.doc["question"]

    def score(self, item: Item, answer: str, output: str, variant: str = "") -> dict[str, float]:
        return {"paper": float(answer.strip() == item.doc["answer"])}


@contextmanager
def registered(cls: type[Benchmark]) -> Iterator[type[Benchmark]]:
    """`cls` in the registry for the block only (the registry is process-wide)."""
    benchmarks.names()  # the shipped benchmarks first, as in a real run
    benchmarks.register(cls)
    try:
        yield cls
    finally:
        benchmarks.REGISTRY.pop(cls.name, None)


def test_shipped_benchmarks_declare_the_papers_sizes_and_order():
    import kit.plan as plan
    from kit.report import paper_numbers

    assert {b: s for b, s in plan.BENCH_SIZES.items() if b in PAPER_SIZES} == PAPER_SIZES
    assert paper_numbers.ORDER == PAPER_ORDER
    assert [benchmarks.REGISTRY[b].paper_position for b in PAPER_ORDER] == list(range(1, 13))
    toys = [b for b in benchmarks.names() if b.startswith("toy_")]
    assert toys and all(benchmarks.REGISTRY[b].paper_position is None for b in toys)  # not in the paper's tables
    assert all(plan.BENCH_SIZES[b] == 200 for b in toys)  # what the toy's `load` asks for, not 0


def test_a_13th_benchmark_is_planned_and_placed_with_no_other_edit():
    import kit.plan as plan
    from kit.report import paper_numbers
    from kit.report.build import _paper_section

    with registered(Dummy):
        assert plan.BENCH_SIZES["dummy13"] == 777
        assert paper_numbers.ORDER == (*PAPER_ORDER, "dummy13")

        small = R.load(ROOT / "recipes" / "qwen3-14b.yaml", ["scale=0.1", "eval.min_items=50"])
        assert plan.n_eval_items(small, "dummy13") == 78  # 10 % of 777, not the floor and not 0
        capped = R.load(ROOT / "recipes" / "qwen3-14b.yaml", ["eval.items=5000"])
        assert plan.n_eval_items(capped, "dummy13") == 777  # never more than the benchmark has

        whole = R.load(ROOT / "recipes" / "qwen3-14b.yaml", ["eval.benchmarks=[math500, dummy13]"])
        p = plan.make_plan(whole, H100, "bfloat16")
        eval_sizes = next(st.sizes for st in p.stages if st.name == "eval")
        assert p.eval_items["dummy13"] is None  # scale 1: the whole benchmark...
        assert eval_sizes["dummy13"].startswith("777 items x ")  # ...planned at its full size
        assert eval_sizes["math500"].startswith("500 items x ")

        # The report's published-numbers table lists it in its place, with no published value.
        scores = {m: {b: {"group": g, "primary": "paper", "scores": {"paper": 0.5}}
                      for b, g in (("math500", "math"), ("dummy13", "other"))} for m in ("base", "rl")}
        recipe = {"report": {"paper_rows": {"base": "Qwen3-14B-Base", "rl": "UniReason-Qwen3-14B (RL)"}}}
        rows = [ln for ln in _paper_section(recipe, scores, {}) if ln.startswith(("| math500 |", "| dummy13 |"))]
        assert rows == ["| math500 | 60.4 | 50.0 | 87.8 | 50.0 |", "| dummy13 | – | 50.0 | – | 50.0 |"]

    assert "dummy13" not in plan.BENCH_SIZES and paper_numbers.ORDER == PAPER_ORDER


def test_published_rows_are_read_by_position_so_a_new_benchmark_shifts_nothing():
    from kit.report import paper_numbers

    before = paper_numbers._row(*range(12))
    assert before == dict(zip(PAPER_ORDER, range(12)))
    with registered(Dummy):
        assert paper_numbers._row(*range(12)) == before
        assert paper_numbers._row(*range(13)) == {**before, "dummy13": 12}
    with pytest.raises(RuntimeError, match=r"paper columns \[13\]"):
        paper_numbers._row(*range(13))  # a value no benchmark claims is an error, not dropped


def _variant(**attrs: Any) -> type[Benchmark]:
    return type("Variant", (Dummy,), {"name": "dummy_variant", **attrs})


@pytest.mark.parametrize("attrs, message", [
    ({"full_size": None}, "set `full_size`"),
    ({"full_size": 0}, "set `full_size`"),
    ({"full_size": True}, "set `full_size`"),
    ({"group": "maths"}, "group 'maths' is not one of"),
    ({"paper_position": 5}, "paper_position 5 is already 'gpqa_diamond''s"),
    ({"paper_position": 0}, "`paper_position` must be"),
])
def test_registration_refuses_a_benchmark_without_its_metadata(attrs, message):
    benchmarks.names()
    with pytest.raises(KitError, match=re.escape(message)):
        benchmarks.register(_variant(**attrs))
    assert "dummy_variant" not in benchmarks.REGISTRY


def test_a_benchmark_that_never_sets_full_size_is_refused():
    class NoSize(Benchmark):
        name = "no_size"
        group = "math"

    with pytest.raises(KitError, match="benchmark 'no_size': set `full_size`"):
        benchmarks.register(NoSize)
    assert "no_size" not in benchmarks.REGISTRY


def test_groups_are_defined_once():
    from kit import groups
    from kit.measure import ti
    from kit.report import build
    from kit.toy import world

    assert ti.GROUPS is groups.GROUPS and build.GROUPS is groups.GROUPS and world.GROUPS is groups.GROUPS
    assert ti.TARGET_GROUPS == ("other", "non")
    defined = [str(p.relative_to(ROOT)) for p in (ROOT / "kit").rglob("*.py")
               if re.search(r"^GROUPS\b[^=\n]*=", p.read_text(), re.M)]
    assert defined == ["kit/groups.py"]
