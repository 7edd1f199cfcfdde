"""The kit's `evaluate` metric modules, shipped in the wheel as `kit.metrics` (pyproject.toml maps this folder there).

`evaluate.load` takes a metric's folder path, not an import name, so an installed copy offers the path:

    import evaluate, kit.metrics
    ti = evaluate.load(kit.metrics.path("transferability_index"))

In a checkout the folders load by their repository path as well: evaluate.load("metrics/transferability_index").
"""

from __future__ import annotations

from pathlib import Path

NAMES = ("transferability_index", "math_accuracy")


def path(name: str) -> str:
    """The folder of the shipped metric `name`, as the string `evaluate.load` expects (it reads `<dir>/<name>.py`)."""
    if name not in NAMES:
        from kit.errors import KitError

        raise KitError(f"unknown metric {name!r}; the kit ships: {', '.join(NAMES)}")
    return str(Path(__file__).resolve().parent / name)
