"""Benchmark registry: every module in this package registers one `Benchmark` subclass by name; plug-ins (the CPU
mini-world's `toy_<task>`, kit/toy/benchmarks.py) register theirs from `kit.registry.load_plugins()`, which every
lookup here runs first.

The registry is the one source of a benchmark's facts: its group, its full size (what the plan scales from) and
its position in the paper's tables (what kit/report/paper_numbers.py reads the published rows in). `register`
checks them, so a benchmark that lacks one fails where it is defined, not later as an empty plan or a shifted
table column.
"""

from __future__ import annotations

import difflib
import importlib
import pkgutil

from kit.errors import KitError
from kit.eval.benchmarks.base import Benchmark
from kit.groups import GROUPS

REGISTRY: dict[str, type[Benchmark]] = {}
_LOADED = False


def register(cls: type[Benchmark]) -> type[Benchmark]:
    """Add `cls` under its name after checking its metadata (see `validate`)."""
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise RuntimeError(f"benchmark name '{cls.name}' registered twice")
    validate(cls)
    REGISTRY[cls.name] = cls
    return cls


def validate(cls: type[Benchmark]) -> None:
    """A registered benchmark must say its group, its full size and (if any) a paper position no other holds:
    without a size the plan would size a whole-benchmark run at 0 items, and a clash would shift published rows."""
    name = getattr(cls, "name", None) or cls.__name__
    group = getattr(cls, "group", None)
    if group not in GROUPS:
        raise KitError(f"benchmark '{name}': group {group!r} is not one of {GROUPS}")
    size = getattr(cls, "full_size", None)
    if isinstance(size, bool) or not isinstance(size, int) or size < 1:
        raise KitError(f"benchmark '{name}': set `full_size` to the number of items in the whole benchmark "
                       f"(a positive int; got {size!r})")
    pos = cls.paper_position
    if pos is None:
        return
    if isinstance(pos, bool) or not isinstance(pos, int) or pos < 1:
        raise KitError(f"benchmark '{name}': `paper_position` must be a column number >= 1 or None (got {pos!r})")
    for other in REGISTRY.values():
        if other is not cls and other.paper_position == pos:
            raise KitError(f"benchmark '{name}': paper_position {pos} is already '{other.name}''s")


def _discover() -> None:
    """This package's benchmark modules, then the plug-ins' registrations (kit.registry.load_plugins)."""
    global _LOADED
    if not _LOADED:
        for mod in pkgutil.iter_modules(__path__):
            if mod.name not in ("base",) and not mod.name.startswith("_"):
                importlib.import_module(f"{__name__}.{mod.name}")
        _LOADED = True
    from kit.registry import load_plugins

    load_plugins()


def names() -> list[str]:
    _discover()
    return sorted(REGISTRY)


def get(name: str) -> Benchmark:
    _discover()
    if name not in REGISTRY:
        close = difflib.get_close_matches(name, REGISTRY, n=1)
        hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(sorted(REGISTRY))}"
        raise KitError(f"unknown benchmark '{name}'{hint}")
    return REGISTRY[name]()


def full_sizes() -> dict[str, int]:
    """Items in each whole benchmark, by name."""
    _discover()
    return {n: REGISTRY[n].full_size for n in sorted(REGISTRY)}


def paper_order() -> tuple[str, ...]:
    """Benchmarks in the paper's tables, in the order of their `paper_position`."""
    _discover()
    placed = [c for c in REGISTRY.values() if c.paper_position is not None]
    return tuple(c.name for c in sorted(placed, key=lambda c: c.paper_position or 0))
