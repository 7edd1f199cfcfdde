"""The toy base shipped with the kit (kit/toy/shipped/<folder>/), so `make toy` needs no build and every
machine starts the study from the same weights.

Why ship it: pretraining on CPU is not bit-identical across CPU types (AVX-512/AMX vs AVX2 kernels sum in
another order), and a base rebuilt on another machine changed every per-seed figure and three verdicts of
the mini-study (issue #15). It is small (0.87M parameters, about 3.5 MB). A shipped folder is used only when
its name is the build key of the current code (`kit.toy.pretrain.base_dir`): change the world, the tokenizer
or the pretraining settings and the kit builds a new base instead (and `tests/test_toy_shipped.py` fails until
`python -m kit.toy.pretrain --ship` has put the new one here).
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "shipped"
FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
         "toy_build.json")


def shipped(name: str) -> Path | None:
    """The shipped base folder called `name` (a cache folder name: toy-qwen3-<kind>-<key>), if the kit has it."""
    path = SHIPPED / name
    return path if all((path / f).exists() for f in FILES if f != "generation_config.json") else None


def unpack(name: str, out: Path) -> bool:
    """Copy the shipped base `name` into the cache folder `out` (atomically); False when none is shipped."""
    src = shipped(name)
    if src is None:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)  # our own half-copied folder from a killed run of this process id
    shutil.copytree(src, tmp)
    try:
        os.replace(tmp, out)
    except OSError:  # another process unpacked it first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def ship(built: Path) -> Path:
    """Put a built base folder into the package (what `python -m kit.toy.pretrain --ship` does), replacing
    only earlier shipped bases (folders this module wrote: their names start with toy-qwen3-)."""
    for old in SHIPPED.glob("toy-qwen3-*"):
        if old.is_dir() and old.name != built.name:
            shutil.rmtree(old)
    dest = SHIPPED / built.name
    dest.mkdir(parents=True, exist_ok=True)
    for f in FILES:
        if (built / f).exists():
            shutil.copy2(built / f, dest / f)
    return dest
