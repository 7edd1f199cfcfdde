"""Where an export's rows come from: a run folder whose data stage is done (its data/rl.jsonl and data/sft.jsonl,
the exact rows the kit's arms trained on) or a recipe (the data stage's own build, `kit.data.train_sets.build`,
run into a temporary folder). And the one way exports are written: every file into a temporary folder first, then
renamed into place, so a failed export leaves nothing half-written."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from kit.errors import KitError


@dataclass
class TrainingFiles:
    """The recipe and the data stage's rows (kit/data/train_sets.py `build`: rl rows hold prompt, answer,
    question; sft rows prompt, completion, question, answer), and where they came from."""

    recipe: Any
    rl: list[dict[str, Any]]
    sft: list[dict[str, Any]]
    origin: str  # "run folder <path>" or "recipe <path>"
    run_dir: Path | None  # the run folder, or None for a recipe


def model_path(recipe) -> str:
    """The base model as another trainer should load it: the Hub id (or local folder) of `model.id`, or the folder
    of a model the kit builds itself (the tiny random Qwen3)."""
    from kit.models import BUILT_IDS, cache_root, resolve_path

    if recipe.model.id in BUILT_IDS:
        return resolve_path(recipe.model, cache_root(recipe))
    return recipe.model.id


def _needs_training_data(recipe) -> bool:
    from kit.registry import ARMS

    return any(ARMS.get(a).needs for a in recipe.arms)


def from_run(run_dir: Path, overrides: list[str]) -> TrainingFiles:
    """A run folder whose data stage finished (its manifest written and both files present)."""
    from kit.compose import load_recipe
    from kit.data.train_sets import read_jsonl
    from kit.rundir import MARKER, RESOLVED
    from kit.stages import Ledger

    if not (run_dir / MARKER).is_file() or not (run_dir / RESOLVED).is_file():
        raise KitError(f"'{run_dir}' is not a kit run folder (no {MARKER} and {RESOLVED}); give a run folder "
                       f"(outputs/<run>) or a recipe file")
    recipe = load_recipe(str(run_dir / RESOLVED), overrides)
    files = [run_dir / "data" / "rl.jsonl", run_dir / "data" / "sft.jsonl"]
    if Ledger(run_dir).manifest("data") is None or not all(f.is_file() for f in files):
        raise KitError(f"the data stage of '{run_dir}' is not done; run `python -m kit.run {run_dir / RESOLVED} "
                       f"--stages data` first, or export from the recipe")
    return TrainingFiles(recipe, read_jsonl(files[0]), read_jsonl(files[1]), f"run folder {run_dir}", run_dir)


def from_recipe(path: Path, overrides: list[str]) -> TrainingFiles:
    """A recipe: the data stage's build at the recipe's scale (kit.plan's problem count), into a temporary folder
    that is removed afterwards."""
    from kit.compose import load_recipe
    from kit.data.train_sets import build, read_jsonl
    from kit.models import cache_root, recipe_tokenizer
    from kit.plan import n_problems

    recipe = load_recipe(str(path), overrides)
    if not _needs_training_data(recipe):
        raise KitError(f"recipe {path} trains no arm (arms: {list(recipe.arms)}), so it has no training data to "
                       f"export; use a recipe with arms")
    with tempfile.TemporaryDirectory(prefix="kit-export-data-") as tmp:
        build(recipe, recipe_tokenizer(recipe, cache_root(recipe)), n_problems(recipe), Path(tmp))
        rl, sft = read_jsonl(Path(tmp) / "rl.jsonl"), read_jsonl(Path(tmp) / "sft.jsonl")
    return TrainingFiles(recipe, rl, sft, f"recipe {path}", None)


def training_files(target: str, overrides: list[str]) -> TrainingFiles:
    """A run folder or a recipe file, told apart by what is on disk; anything else is one line."""
    p = Path(target)
    if p.is_dir():
        return from_run(p, overrides)
    if p.is_file() and p.suffix in (".yaml", ".yml"):
        return from_recipe(p, overrides)
    what = "does not exist" if not p.exists() else "is neither a folder nor a .yaml recipe"
    raise KitError(f"'{target}' {what}; give a run folder (outputs/<run>) or a recipe (recipes/<name>.yaml)")


def default_out(files: TrainingFiles, fmt: str) -> Path:
    """<run>/export/<format> for a run folder; <output_dir>/<run name>-export/<format> for a recipe."""
    if files.run_dir is not None:
        return files.run_dir / "export" / fmt
    name = files.recipe.run_name or files.recipe.name
    return Path(files.recipe.output_dir) / f"{name}-export" / fmt


@contextlib.contextmanager
def staged(out_dir: Path) -> Iterator[Path]:
    """A temporary folder beside `out_dir` to write into; on success each file is renamed into `out_dir` (an
    atomic replace per file), on failure the folder is removed and `out_dir` is untouched."""
    if out_dir.exists() and not out_dir.is_dir():
        raise KitError(f"--out '{out_dir}' is a file; give a folder")
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", suffix=".tmp", dir=out_dir.parent))
    try:
        yield tmp
        out_dir.mkdir(parents=True, exist_ok=True)
        for f in sorted(tmp.iterdir()):
            os.replace(f, out_dir / f.name)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def assistant_text(completion: str) -> str:
    """The teacher's turn as message content: the data stage's completion without the template's end token
    (kit/chat.py render_completion appends `<|im_end|>`; a think target keeps its `<think>…</think>` block)."""
    from kit.chat import IM_END

    return completion[: -len(IM_END)] if completion.endswith(IM_END) else completion
