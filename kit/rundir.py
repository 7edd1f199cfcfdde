"""Run-folder safety: the folder's name, the kit's ownership marker, one run at a time, and deleting only the
kit's own files.

Why: `--fresh` used to `rmtree` whatever `output_dir/run_name` pointed at (an absolute path, '..', the whole
output_dir for an empty name, a user's own folder that happened to share the recipe's name), and two runs in
one folder mixed their per-sample logs. Now the kit only deletes inside folders that hold its marker, only the
paths it writes itself, and a lock names the run that holds a folder.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import shutil
import socket
import sys
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

from kit.errors import KitError
from kit.recipe.load import SAVED_NAME

MARKER = ".kit-run.json"  # written by the kit when it makes (or adopts) a run folder
LOCK = ".kit-lock"  # flock'ed for the whole run; holds the holder's pid, host, start time and command
RESOLVED = SAVED_NAME  # the recipe a run saves in its folder (kit/recipe/load.py names it)
MANIFESTS = "manifests"
# top-level names a kit run folder can hold (a folder made by an older kit, before the marker, is adopted
# only when it holds nothing else)
KIT_NAMES = {MARKER, LOCK, RESOLVED, MANIFESTS, "data", "arms", "eval", "probe", "report.md", "report.html",
             "plots", "analysis.json"}
DISK_ERRNOS = {errno.ENOSPC: "the disk is full: free some space",
               errno.EDQUOT: "the disk quota is exceeded: free some space",
               errno.EACCES: "permission denied: make it writable",
               errno.EPERM: "permission denied: make it writable",
               errno.EROFS: "the file system is read-only",
               errno.ENOTDIR: "a part of that path is a file, not a folder"}
FULL = ("No space left on device", "os error 28", "StorageFull")  # how torch and safetensors say ENOSPC


def check_segment(value: Any, key: str) -> str:
    """A run folder name must be one plain path segment: it is joined under output_dir and may be deleted."""
    text = value if isinstance(value, str) else ""
    bad = (not text or text in (".", "..") or "/" in text or "\\" in text or os.path.isabs(text)
           or any(ord(c) < 32 or ord(c) == 127 for c in text) or text != text.strip())
    if bad:
        raise KitError(f"'{key}' is {value!r}; it must be one plain folder name (no '/', '\\', '.', '..', "
                       f"empty, surrounding spaces or control characters), e.g. {key}=my-run")
    return text


def run_folder_name(recipe) -> str:
    """The checked folder name of a recipe's run (run_name, else name)."""
    if recipe.run_name is not None:
        return check_segment(recipe.run_name, "run_name")
    return check_segment(recipe.name, "name")


def claim(run_dir: Path) -> None:
    """Make the run folder (with the kit's marker), or accept it when it already holds the marker. A folder
    without the marker is adopted only when it holds nothing but kit-named entries and a `manifests/` folder
    (a run made before the marker existed) or nothing at all; anything else is the user's and is refused."""
    marker = run_dir / MARKER
    if marker.is_file():
        return
    if run_dir.exists() and not run_dir.is_dir():
        raise KitError(f"run folder '{run_dir}' is a file; choose another run_name or output_dir")
    if run_dir.is_dir():
        # the marker's temp file and the lock: another run claiming this new folder at the same moment
        entries = sorted(p.name for p in run_dir.iterdir() if not p.name.startswith((MARKER, LOCK)))
        foreign = [e for e in entries if e not in KIT_NAMES]
        if (foreign or (entries and not (run_dir / MANIFESTS).is_dir())) and not marker.is_file():
            shown = ", ".join((foreign or entries)[:5])
            raise KitError(f"run folder '{run_dir}' already exists and was not made by the kit (it holds {shown}); "
                           f"choose another run_name=<name> or output_dir=<dir>, or move that folder away")
    run_dir.mkdir(parents=True, exist_ok=True)
    tmp = run_dir / f"{MARKER}.{os.getpid()}.tmp"  # two runs may claim a new folder at once
    tmp.write_text(json.dumps({"made_by": "kit", "at": time.time(), "note": "the kit's run folder: --fresh "
                                                                           "removes only the files the kit writes"}))
    os.replace(tmp, marker)


def _holder() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname(), "since": time.time(),
            "since_utc": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()), "command": " ".join(sys.argv)}


def _describe(info: str, lock_path: Path) -> str:
    try:
        h = json.loads(info)
        who = f"pid {h['pid']} on host {h['host']} since {h['since_utc']} (command: {h['command']})"
    except (ValueError, KeyError, TypeError):
        return f"another process (its details in {lock_path} are unreadable)"
    if h["host"] == socket.gethostname() and not _alive(h["pid"]):
        who += f"; that process has ended but one it started still holds {lock_path}: end it"
    return who


def _alive(pid: Any) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (OSError, ValueError, TypeError):
        return True  # exists but not ours, or unknowable: say nothing
    return True


@contextlib.contextmanager
def locked(run_dir: Path) -> Iterator[None]:
    """Hold the run folder's lock for the duration; a second run in the same folder is refused with the
    holder's pid, host, start time and command. The lock is released when the process ends, however it ends."""
    import fcntl

    path = run_dir / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)  # no truncation before the lock is ours
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            info = os.pread(fd, 4096, 0).decode(errors="replace")
            raise KitError(f"run folder '{run_dir}' is in use by {_describe(info, path)}; wait for it to finish, "
                           f"or use run_name=<other name>") from None
        except OSError as exc:  # a file system without flock (some network mounts): run, but say so
            print(f"warning: cannot lock '{path}' ({exc.strerror}); make sure no other run uses this folder",
                  file=sys.stderr)
        data = json.dumps(_holder()).encode()
        os.ftruncate(fd, 0)
        os.pwrite(fd, data, 0)
        yield
    finally:
        os.close(fd)  # releases the flock


def remove_kit_paths(run_dir: Path, rels: Iterable[str]) -> None:
    """Delete the given kit-written paths under a marked run folder, nothing else."""
    if not (run_dir / MARKER).is_file():
        raise KitError(f"'{run_dir}' has no {MARKER} marker, so the kit did not make it; not deleting anything "
                       f"there (choose another run_name or output_dir)")
    root = run_dir.resolve()
    for rel in rels:
        p = run_dir / rel
        if p.is_symlink():
            p.unlink()  # the link only, never what it points to
        elif root not in p.resolve().parents:
            continue  # reached through a linked folder: outside the run folder
        elif p.is_file():
            p.unlink()
        elif p.is_dir():
            shutil.rmtree(p)


@contextlib.contextmanager
def disk_errors(run_dir: Path) -> Iterator[None]:
    """A full disk, a read-only or unwritable folder: one line naming the path and what to do, not a
    traceback (torch and safetensors report a full disk in their own exception types: matched by message)."""
    try:
        yield
    except OSError as exc:
        if exc.errno not in DISK_ERRNOS:
            raise
        where = exc.filename or run_dir
        raise KitError(f"cannot write '{where}': {DISK_ERRNOS[exc.errno]} (or use output_dir=<another dir>), "
                       f"then rerun the same command to continue") from None
    except KitError:
        raise
    except Exception as exc:  # noqa: BLE001  (torch: RuntimeError, safetensors: SafetensorError; others re-raised)
        if not any(s in str(exc) for s in FULL):
            raise
        raise KitError(f"cannot write under '{run_dir}': the disk is full: free some space (or use "
                       f"output_dir=<another dir>), then rerun the same command to continue") from None
