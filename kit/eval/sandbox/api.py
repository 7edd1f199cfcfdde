"""Parent side of the code sandbox (see the package docstring for the layers): start the launcher
(`child.py`), feed stdin, capture output under caps, enforce the wall clock, classify the outcome.
Expected outputs never reach the program: the caller compares outputs here, in the parent."""

from __future__ import annotations

import json
import math
import os
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.errors import KitError

STATUSES = ("ok", "wrong_answer", "timeout", "memory", "runtime_error", "killed")


class SandboxError(KitError):
    """The sandbox itself failed (not the program): a one-line error naming what, like every KitError."""


class WeakSandboxRefused(SandboxError):
    """No namespaces here and the weak mode was not allowed: no candidate program was run."""


@dataclass(frozen=True)
class Limits:
    wall_s: float = 6.0  # wall-clock seconds for the program (interpreter start-up gets `startup_s` more)
    cpu_s: float = 6.0  # CPU seconds (RLIMIT_CPU, rounded up)
    memory_mb: int = 2048  # address space (RLIMIT_AS)
    fsize_mb: int = 16  # largest file the program may write (RLIMIT_FSIZE)
    nofile: int = 64  # open file descriptors (RLIMIT_NOFILE)
    nproc: int = 32  # extra processes/threads over what the user already runs (RLIMIT_NPROC)
    stdout_kb: int = 8192  # captured stdout above this kills the program
    stderr_kb: int = 64  # captured stderr is cut (not killed) above this
    tmpfs_mb: int = 64  # size of the working-directory tmpfs (namespace mode)
    startup_s: float = 1.0  # allowance for namespace set-up and interpreter start-up


@dataclass
class RunResult:
    status: str  # ok | timeout | memory | runtime_error | killed
    returncode: int | None
    signal: int | None
    stdout: str
    stderr: str
    wall_s: float
    isolation: str  # e.g. "ns+seccomp+nocaps+rlimits"
    detail: str = ""


@dataclass
class Verdict:
    passed: bool
    status: str  # one of STATUSES
    n_passed: int
    n_tests: int
    detail: str = ""
    isolation: str = ""


# ---------------------------------------------------------------------------------------------------------
# Parent side
# ---------------------------------------------------------------------------------------------------------

_SELF = os.path.join(os.path.dirname(os.path.abspath(__file__)), "child.py")
ALLOW_WEAK_ENV = "KIT_SANDBOX_ALLOW_WEAK"  # "1": run programs in the weak mode when namespaces are unavailable
FORCE_WEAK_ENV = "KIT_SANDBOX_FORCE_WEAK"  # "1": never use namespaces (to test the weak mode where they work)
HIDE_ENV = "KIT_SANDBOX_HIDE"  # extra paths (os.pathsep-separated) to hide from programs
_KIT_ROOT = Path(__file__).resolve().parents[2]  # the `kit` package

# Credential locations under the caller's home that are hidden inside the namespace (an empty read-only
# tmpfs over a directory, /dev/null over a file): the program runs with the caller's uid and could read them.
MASKED_HOME_PATHS = (
    ".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".netrc", ".git-credentials", ".pypirc",
    ".npmrc", ".kaggle", ".huggingface", ".cache/huggingface", ".config/gcloud", ".config/gh",
    ".config/huggingface", ".config/git/credentials", ".bash_history", ".python_history",
)


def _env_on(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


def hidden_paths() -> list[str]:
    """Where expected outputs can live, hidden from programs in namespace mode (the weak mode's Landlock
    never grants them): the kit's data (benchmark fixtures), the repository's tests, the Hugging Face and
    datasets caches, plus `KIT_SANDBOX_HIDE`."""
    home = os.path.expanduser("~")
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(home, ".cache")
    paths = [str(_KIT_ROOT / "data"), str(_KIT_ROOT.parent / "tests"), os.path.join(cache, "huggingface"),
             str(_KIT_ROOT.parent / ".git")]  # git objects hold every committed fixture
    paths += [os.environ[k] for k in ("HF_HOME", "HF_DATASETS_CACHE", "HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE")
              if os.environ.get(k)]
    paths += [p for p in os.environ.get(HIDE_ENV, "").split(os.pathsep) if p]
    needed = [tempfile.gettempdir(), os.path.dirname(_SELF), sys.prefix, sys.base_prefix,
              os.path.realpath(sys.executable)]  # never hide what the program needs to start
    out: list[str] = []
    for p in paths:
        rp = os.path.realpath(p)
        if rp in out or rp == "/" or any(os.path.realpath(n) == rp or os.path.realpath(n).startswith(rp + os.sep) for n in needed):
            continue
        out.append(rp)
    return out


def readable_paths(python: str, ctrl: str) -> list[str]:
    """What a program may read in the weak mode (Landlock): system and interpreter directories, its own
    folder; nothing else (no home, no /tmp, no /proc, no repository)."""
    paths = ["/usr", "/lib", "/lib32", "/lib64", "/bin", "/sbin", "/etc", "/dev/null", "/dev/zero",
             "/dev/urandom", "/dev/random", sys.prefix, sys.base_prefix, sys.exec_prefix,
             os.path.dirname(os.path.realpath(python)), os.path.dirname(_SELF), ctrl]
    venv = os.path.dirname(os.path.dirname(os.path.abspath(python)))
    if os.path.isfile(os.path.join(venv, "pyvenv.cfg")):  # a venv interpreter's own prefix
        paths.append(venv)
    return list(dict.fromkeys(p for p in paths if os.path.exists(p)))


def _scrubbed_env(work: str) -> dict[str, str]:
    return {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8", "HOME": work, "TMPDIR": work}


def _rmtree(path: str) -> None:
    def onerror(func, p, _exc):  # make read-only/no-exec dirs removable, then retry once
        try:
            os.chmod(os.path.dirname(p), stat.S_IRWXU)
            os.chmod(p, stat.S_IRWXU)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)


def run_python(
    source: str,
    stdin: str | bytes = b"",
    limits: Limits = Limits(),
    *,
    argv: tuple[str, ...] = (),
    python: str | None = None,
    namespaces: bool = True,
    allow_weak: bool | None = None,
) -> RunResult:
    """Run `source` as `__main__` in a contained child; feed `stdin`; capture stdout/stderr.

    `argv` goes to the program after its name (the functional-test harness uses it). `namespaces=False` (or
    KIT_SANDBOX_FORCE_WEAK=1) skips layer 1 (tests use it to exercise the weak mode). The weak mode runs only
    when `allow_weak` (default: KIT_SANDBOX_ALLOW_WEAK=1); otherwise `WeakSandboxRefused` is raised."""
    python = python or sys.executable
    namespaces = namespaces and not _env_on(FORCE_WEAK_ENV)
    allow_weak = _env_on(ALLOW_WEAK_ENV) if allow_weak is None else allow_weak
    stdin_b = stdin.encode() if isinstance(stdin, str) else stdin
    ctrl = tempfile.mkdtemp(prefix="kit_sb_")
    try:
        os.chmod(ctrl, 0o755)
        work = os.path.join(ctrl, "work")
        os.mkdir(work, 0o777)
        os.chmod(work, 0o777)
        prog = os.path.join(ctrl, "solution.py")
        with open(prog, "w", encoding="utf-8") as f:
            f.write(source)
        os.chmod(prog, 0o644)
        rfd, wfd = os.pipe()
        cfg = {
            "python": python,
            "self": _SELF,
            "prog": prog,
            "work": work,
            "status_fd": wfd,
            "argv": list(argv),
            "cpu_s": limits.cpu_s,
            "memory_mb": limits.memory_mb,
            "fsize_mb": limits.fsize_mb,
            "nofile": limits.nofile,
            "nproc": limits.nproc,
            "tmpfs_mb": limits.tmpfs_mb,
            "namespaces": namespaces,
            "allow_weak": bool(allow_weak),
            "parent_pid": os.getpid(),
            "mask": list(dict.fromkeys([os.path.join(os.path.expanduser("~"), p) for p in MASKED_HOME_PATHS]
                                       + hidden_paths())),
            "readable": readable_paths(python, ctrl),
        }
        t0 = time.monotonic()
        try:
            proc = subprocess.Popen(
                [python, "-I", _SELF, "--launch", json.dumps(cfg)],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                cwd=work, env=_scrubbed_env(work),
                start_new_session=True, pass_fds=(wfd,), close_fds=True,
            )
        except OSError as exc:
            os.close(rfd)
            os.close(wfd)
            raise SandboxError(f"cannot start the sandbox interpreter {python}: {exc}") from exc
        os.close(wfd)
        deadline = t0 + limits.wall_s + limits.startup_s
        out, err, why = _communicate(proc, stdin_b, deadline, limits.stdout_kb * 1024, limits.stderr_kb * 1024)
        if why:
            _kill_group(proc.pid)
        try:
            proc.wait(timeout=max(0.0, deadline - time.monotonic()) + 0.5)
        except Exception:
            why = why or "timeout"
            _kill_group(proc.pid)
            proc.wait()
        _kill_group(proc.pid)  # anything left in the group (fallback mode) goes too
        wall = time.monotonic() - t0
        report = _read_report(rfd)
    finally:
        _rmtree(ctrl)
    return _classify(proc.returncode, report, out, err, why, wall, limits.cpu_s)


def _read_report(fd: int, timeout: float = 2.0) -> str:
    """The launcher's JSON lines; stops at EOF (every writer gone) or after `timeout` seconds."""
    chunks: list[bytes] = []
    end = time.monotonic() + timeout
    with selectors.DefaultSelector() as sel:
        sel.register(fd, selectors.EVENT_READ)
        while time.monotonic() < end:
            if not sel.select(timeout=max(0.0, end - time.monotonic())):
                break
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode("utf-8", "replace")


def _kill_group(pgid: int) -> None:
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def _communicate(proc, data: bytes, deadline: float, out_cap: int, err_cap: int) -> tuple[bytes, bytes, str]:
    sel = selectors.DefaultSelector()
    out, err = bytearray(), bytearray()
    why = ""
    view, off = memoryview(data), 0
    if data:
        os.set_blocking(proc.stdin.fileno(), False)
        sel.register(proc.stdin, selectors.EVENT_WRITE)
    else:
        proc.stdin.close()
    sel.register(proc.stdout, selectors.EVENT_READ)
    sel.register(proc.stderr, selectors.EVENT_READ)
    try:
        while sel.get_map():
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                why = "timeout"
                break
            for key, _ev in sel.select(timeout=min(remaining, 0.25)):
                if key.fileobj is proc.stdin:
                    try:
                        off += os.write(proc.stdin.fileno(), view[off: off + 65536])
                    except (BrokenPipeError, OSError):
                        off = len(data)
                    if off >= len(data):
                        sel.unregister(proc.stdin)
                        proc.stdin.close()
                    continue
                chunk = os.read(key.fileobj.fileno(), 65536)
                if not chunk:
                    sel.unregister(key.fileobj)
                    continue
                if key.fileobj is proc.stdout:
                    out += chunk
                    if len(out) > out_cap:
                        why = "output"
                        break
                elif len(err) < err_cap:
                    err += chunk[: err_cap - len(err)]
            if why:
                break
    finally:
        sel.close()
        for f in (proc.stdin, proc.stdout, proc.stderr):
            try:
                f.close()
            except OSError:
                pass
    return bytes(out), bytes(err), why


def _classify(
    rc: int | None, report: str, out: bytes, err: bytes, why: str, wall: float, cpu_limit: float
) -> RunResult:
    info: dict[str, Any] = {}
    for line in report.splitlines():
        try:
            info.update(json.loads(line))
        except ValueError:
            pass
    if "refused" in info:
        raise WeakSandboxRefused(
            f"the code sandbox cannot isolate programs here ({info['refused']}): they would run in the "
            f"weak mode (Landlock + seccomp, no private filesystem); set {ALLOW_WEAK_ENV}=1 to allow it "
            "(results then record sandbox_ns=0)")
    if "setup_error" in info and not why:
        raise SandboxError(f"sandbox set-up failed: {info['setup_error']} {info.get('notes') or ''}".strip())
    isolation = info.get("isolation", "")
    stdout = out.decode("utf-8", "replace")
    stderr = err.decode("utf-8", "replace")
    sig: int | None = None
    code: int | None = None
    ws = info.get("wait", info.get("outer"))
    if ws is not None:
        ws = int(ws)
        if os.WIFSIGNALED(ws):
            sig = os.WTERMSIG(ws)
        elif os.WIFEXITED(ws):
            code = os.WEXITSTATUS(ws)
    elif rc is not None and rc < 0:
        sig = -rc
    cpu = float(info.get("cpu", 0.0))

    def res(status: str, detail: str = "") -> RunResult:
        return RunResult(status, code, sig, stdout, stderr, wall, isolation, detail)

    memory_hint = any(s in stderr for s in ("MemoryError", "Cannot allocate memory", "std::bad_alloc"))
    if why == "timeout":
        return res("timeout", "wall-clock limit")
    if why == "output":
        return res("killed", "stdout over the cap")
    if sig == signal.SIGXCPU or (sig == signal.SIGKILL and cpu >= math.ceil(cpu_limit) - 0.05):
        return res("timeout", "CPU-time limit")
    if sig == signal.SIGXFSZ:
        return res("killed", "file-size limit")
    if memory_hint:
        return res("memory", "address-space limit")
    if sig is not None:
        return res("killed" if sig in (signal.SIGKILL, signal.SIGSYS) else "runtime_error", f"signal {sig}")
    if code is None:
        return res("killed", "no exit status")
    if code == 0:
        return res("ok")
    return res("runtime_error", f"exit code {code}")


_PROBED: dict[tuple[bool, bool], str] = {}


def isolation_level() -> str:
    """The isolation programs get in this process (one tiny run, cached per opt-in setting); raises
    `WeakSandboxRefused` as `run_python` does."""
    key = (_env_on(FORCE_WEAK_ENV), _env_on(ALLOW_WEAK_ENV))
    if key not in _PROBED:
        _PROBED[key] = run_python("pass", limits=Limits(wall_s=5.0, cpu_s=5.0)).isolation
    return _PROBED[key]
