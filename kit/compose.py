"""The composition root's recipe loader: the recipe as read and validated by kit.recipe, plus the checks that need
the registries above the recipe layer (benchmark names, paper rows, data sources, built models)."""

from __future__ import annotations

from kit.recipe import Recipe, load


def load_recipe(path: str, overrides: list[str] | None = None) -> Recipe:
    """Every entry point (kit.run, kit.study, kit.gpucheck) loads recipes through this."""
    return load(path, overrides or [])
