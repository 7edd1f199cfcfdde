"""The composition root's recipe loader: the recipe as read and validated by kit.recipe, plus the checks that need
the registries above the recipe layer (benchmark names, paper rows, data sources)."""

from __future__ import annotations

import difflib

from kit.errors import KitError
from kit.recipe import Recipe, load


def load_recipe(path: str, overrides: list[str] | None = None) -> Recipe:
    """Every entry point (kit.run, kit.study, kit.gpucheck, kit.toy.select_lr) loads recipes through this."""
    recipe = load(path, overrides or [])
    check_names(recipe, str(path))
    return recipe


def check_names(recipe: Recipe, origin: str = "recipe") -> None:
    """The recipe's names of plug-ins and published rows, against their registries; one-line KitErrors."""
    from kit.data.train_sets import data_source
    from kit.eval import benchmarks
    from kit.report.paper_numbers import PAPER_ROWS

    for name, row in recipe.report.paper_rows.items():
        if row not in PAPER_ROWS:
            close = difflib.get_close_matches(row, list(PAPER_ROWS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(PAPER_ROWS)}"
            raise KitError(f"{origin}: 'report.paper_rows.{name}' names an unknown row '{row}'{hint}")
    for name in recipe.eval.benchmarks:
        try:
            benchmarks.get(name)
        except KitError as exc:
            raise KitError(f"{origin}: eval.benchmarks: {exc}") from None
    from kit.registry import ARMS

    _check_push_ids(recipe, origin)
    if not any(ARMS.get(a).needs for a in recipe.arms):
        return  # an audit builds no training data: its data section is never read
    try:
        data_source(recipe.data)  # the name, the source's own rules, rl_problems=all against its RL pool
    except KitError as exc:
        raise KitError(f"{origin}: {_data_key(exc)}") from None


def _check_push_ids(recipe: Recipe, origin: str) -> None:
    """Each adapter is pushed as <train.push_to_hub>-<arm>: a prefix the Hub would refuse is refused now, not after
    training (the push checks it again, kit.train.common.push_adapter)."""
    if not recipe.train.push_to_hub:
        return
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    for arm in recipe.arms:
        try:
            validate_repo_id(f"{recipe.train.push_to_hub}-{arm}")
        except HFValidationError as exc:
            raise KitError(f"{origin}: 'train.push_to_hub' gives the repo id '{recipe.train.push_to_hub}-{arm}', "
                           f"which the Hub refuses ({str(exc).splitlines()[0]})") from None


def _data_key(exc: KitError) -> str:
    """An unknown source names the key it came from."""
    text = str(exc)
    return f"data.source: {text}" if text.startswith("unknown data source") else text
