"""Benchmark registry: every module in this package registers one `Benchmark` subclass by name."""

from __future__ import annotations

import difflib
import importlib
import pkgutil

from kit.errors import KitError
from kit.eval.benchmarks.base import Benchmark

REGISTRY: dict[str, type[Benchmark]] = {}
_LOADED = False


def register(cls: type[Benchmark]) -> type[Benchmark]:
    if cls.name in REGISTRY and REGISTRY[cls.name] is not cls:
        raise RuntimeError(f"benchmark name '{cls.name}' registered twice")
    REGISTRY[cls.name] = cls
    return cls


def _discover() -> None:
    global _LOADED
    if _LOADED:
        return
    for mod in pkgutil.iter_modules(__path__):
        if mod.name not in ("base",) and not mod.name.startswith("_"):
            importlib.import_module(f"{__name__}.{mod.name}")
    _LOADED = True


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
