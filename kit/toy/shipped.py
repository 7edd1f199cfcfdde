"""The toy base shipped with the kit (kit/toy/shipped/<folder name>.tar), so `make toy` needs no build and every
machine starts the study from the same weights.

Why ship it: pretraining on CPU is not bit-identical across CPU types (AVX-512/AMX vs AVX2 kernels sum in
another order), and a base rebuilt on another machine changed every per-seed figure and three verdicts of
the mini-study (issue #15). It is small (0.87M parameters, about 3.5 MB). A shipped folder is used only when
its name is the build key of the current code (`kit.toy.pretrain.base_dir`): change the world, the tokenizer
or the pretraining settings and the kit builds a new base instead (and `tests/test_toy_shipped.py` fails until
`python -m kit.toy.pretrain --ship` has put the new one here).
"""

from __future__ import annotations

import io
import os
import shutil
import tarfile
from pathlib import Path

SHIPPED = Path(__file__).resolve().parent / "shipped"
FILES = ("config.json", "generation_config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
         "toy_build.json")


def shipped(name: str) -> Path | None:
    """The shipped archive of the base folder called `name` (toy-qwen3-<kind>-<key>), if the kit has it."""
    path = SHIPPED / f"{name}.tar"
    return path if path.is_file() else None


def unpack(name: str, out: Path) -> bool:
    """Unpack the shipped base `name` into the cache folder `out` (atomically); False when none is shipped."""
    src = shipped(name)
    if src is None:
        return False
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)  # our own half-unpacked folder from a killed run of this process id
    tmp.mkdir()
    with tarfile.open(src) as tar:
        for member in tar.getmembers():
            if member.name not in FILES or not member.isfile():  # only the files ship() writes, flat
                raise OSError(f"{src}: unexpected entry {member.name!r}")
            with tar.extractfile(member) as f:
                (tmp / member.name).write_bytes(f.read())
    try:
        os.replace(tmp, out)
    except OSError:  # another process unpacked it first: keep theirs
        shutil.rmtree(tmp, ignore_errors=True)
    return True


def ship(built: Path) -> Path:
    """Archive a built base folder into the package (what `python -m kit.toy.pretrain --ship` does), replacing only
    earlier shipped archives (toy-qwen3-*.tar, which this function wrote). The archive is byte-stable: fixed
    order, times and owners, so shipping the same base twice changes nothing in git."""
    SHIPPED.mkdir(parents=True, exist_ok=True)
    for old in SHIPPED.glob("toy-qwen3-*.tar"):
        if old.name != f"{built.name}.tar":
            old.unlink()
    dest = SHIPPED / f"{built.name}.tar"
    tmp = dest.with_name(dest.name + ".tmp")
    with tarfile.open(tmp, "w", format=tarfile.USTAR_FORMAT) as tar:
        for f in FILES:
            if (built / f).exists():
                data = (built / f).read_bytes()
                info = tarfile.TarInfo(f)
                info.size, info.mtime, info.mode = len(data), 0, 0o644
                tar.addfile(info, io.BytesIO(data))
    os.replace(tmp, dest)
    return dest
