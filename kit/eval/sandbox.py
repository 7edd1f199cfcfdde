"""Run untrusted Python programs (LiveCodeBench candidates) in a contained child process.

Layers, strongest first. Each run reports the layers it got in `RunResult.isolation`:

1. **Namespaces** ("ns"): a Linux mount, network, PID, IPC and UTS namespace (plus a user namespace when
   the caller is not root). Inside it:
   - every inherited mount is remounted read-only; the working directory is a fresh size-capped tmpfs,
     `/dev/shm` a fresh tmpfs, `/proc` a fresh read-only proc of the new PID namespace, `/sys` an empty
     read-only tmpfs; so the program can write only to its own working directory, which vanishes with it;
   - the network namespace has only a loopback device that is down: no network at all;
   - the program is PID 2 of its own PID namespace, under a small init (PID 1, kit code) that reports its
     exit status: it cannot see or address any process outside (`os.getppid()` is 1), and when the init
     dies (it is killed with the launcher on timeout) the kernel kills everything left in the namespace.
2. **seccomp** ("seccomp", x86-64 only): a BPF filter that makes `fork`/`vfork`/process-`clone`
   (threads are allowed; `clone3` returns ENOSYS so glibc falls back to `clone`), every `socket`,
   `kill`/`tgkill` of anything but itself (also its process group and -1), `tkill`, pidfd signalling,
   `setsid`/`setpgid`, `ptrace`, `process_vm_*`, the `mount` family, `unshare`/`setns`/`chroot`,
   `io_uring`, `bpf`, `perf_event_open`, keyrings, module loading, `reboot`, `prlimit64` on other
   processes and a few other administrative calls fail with EPERM; another ABI (x32, i386) kills the
   process. So `os.system`/`subprocess` fail too. This holds without namespaces and without privileges.
3. **Capabilities** ("nocaps"): when the program would run as uid 0 it loses every capability (bounding
   set, effective, permitted; `no_new_privs`; `SECBIT_NOROOT`), so it cannot undo 1 or raise hard limits.
4. **Always** ("rlimits"): CPU seconds, address space, file size, open files, process count
   (RLIMIT_NPROC; the kernel does not enforce it for uid 0, where layer 2 stops forks instead), no core
   files; a wall-clock deadline after which the whole process group is SIGKILLed; a cap on captured
   stdout; a scrubbed environment (only PATH, LANG, HOME and TMPDIR, the last two pointing at the
   working directory); `python -I` (no user site, no PYTHON* variables); a fresh temporary directory
   deleted afterwards; and a Python-level guard that replaces `socket.socket` (and, without namespaces,
   refuses `open()`/`os.open()` for writing outside the working directory).

What is NOT guaranteed:
- Without namespaces (no root and no unprivileged user namespaces), the filesystem is protected only by
  ordinary permissions and a Python-level `open()` guard that ctypes can bypass, and the program can read
  other processes of the same user in /proc.
- Without seccomp (not x86-64), fork bombs are bounded only by RLIMIT_NPROC (not enforced for root) and the
  wall-clock kill; a child that calls `setsid()` escapes the process-group kill unless namespaces are on.
- Memory is capped per process (RLIMIT_AS) and the working-directory tmpfs by `Limits.tmpfs_mb`; there is
  no cgroup, so CPU shares and page cache are not controlled. It is not a defence against kernel exploits.
- Files the caller's uid can read stay readable (read-only), except the credential locations in
  `MASKED_HOME_PATHS` under the caller's home, which are hidden in namespace mode only. Reading is harmless
  for scoring (no network, stdout is only compared), but a secret could end up in a saved stderr excerpt.
- A program that runs in the same process as the functional-test harness can, with effort, forge the
  harness's output; the harness only frames results with a random nonce.

`run_python` never raises for a bad program; it raises `SandboxError` only when the sandbox itself cannot
start (for example the interpreter is missing).

This file is also the child-side entry point: the parent runs `python -I sandbox.py --launch CONFIG`,
which sets up the layers and then executes `python -I sandbox.py --exec ...` for the program. That
child side uses only the standard library.
"""

from __future__ import annotations

import ctypes
import errno
import json
import math
import os
import platform
import selectors
import shutil
import signal
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from typing import Any

STATUSES = ("ok", "wrong_answer", "timeout", "memory", "runtime_error", "killed")


class SandboxError(RuntimeError):
    """The sandbox itself failed (not the program)."""


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

_SELF = os.path.abspath(__file__)

# Credential locations under the caller's home that are hidden inside the namespace (an empty read-only
# tmpfs over a directory, /dev/null over a file): the program runs with the caller's uid and could read them.
MASKED_HOME_PATHS = (
    ".ssh", ".gnupg", ".aws", ".azure", ".kube", ".docker", ".netrc", ".git-credentials", ".pypirc",
    ".npmrc", ".kaggle", ".huggingface", ".cache/huggingface", ".config/gcloud", ".config/gh",
    ".config/huggingface", ".config/git/credentials", ".bash_history", ".python_history",
)


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
) -> RunResult:
    """Run `source` as `__main__` in a contained child; feed `stdin`; capture stdout/stderr.

    `argv` goes to the program after its name (the functional-test harness uses it). `namespaces=False`
    skips layer 1 (tests use it to exercise the fallback layers)."""
    python = python or sys.executable
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
            "mask": [os.path.join(os.path.expanduser("~"), p) for p in MASKED_HOME_PATHS],
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


# ---------------------------------------------------------------------------------------------------------
# Child side (stdlib only): `python -I sandbox.py --launch CONFIG` and `--exec PROG [ARGS...]`
# ---------------------------------------------------------------------------------------------------------

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 24, 28, 38, 22
SECCOMP_MODE_FILTER = 2
AUDIT_ARCH_X86_64 = 0xC000003E
CLONE_THREAD = 0x00010000


def _libc():
    return ctypes.CDLL(None, use_errno=True)


def _prctl(libc, option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    fn = libc.prctl
    fn.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    fn.restype = ctypes.c_int
    return fn(option, a2, a3, a4, a5)


def _check(ret: int, what: str) -> None:
    if ret != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")


def _mount(libc, src, target, fstype, flags, data=None) -> None:
    enc = lambda s: s.encode() if isinstance(s, str) else s  # noqa: E731
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    _check(libc.mount(enc(src), enc(target), enc(fstype), flags, enc(data)), f"mount {target}")


def _unescape_mount(path: str) -> str:
    return path.replace("\\040", " ").replace("\\011", "\t").replace("\\012", "\n").replace("\\134", "\\")


def _setup_mounts(libc, work: str, tmpfs_mb: int, mask: list[str]) -> list[str]:
    """Inside a fresh mount namespace: everything read-only, private scratch spaces. Returns problems."""
    problems: list[str] = []
    _mount(libc, None, "/", None, MS_REC | MS_PRIVATE)
    with open("/proc/self/mounts", encoding="utf-8") as f:
        mounts = [line.split() for line in f if line.strip()]
    atime = {"noatime": MS_NOATIME, "nodiratime": MS_NODIRATIME, "relatime": MS_RELATIME, "strictatime": MS_STRICTATIME}
    locked = {"nosuid": MS_NOSUID, "nodev": MS_NODEV, "noexec": MS_NOEXEC, **atime}
    for m in mounts:
        target, opts = _unescape_mount(m[1]), m[3].split(",")
        if "rw" not in opts:
            continue
        flags = MS_BIND | MS_REMOUNT | MS_RDONLY
        for o in opts:
            flags |= locked.get(o, 0)
        try:
            _mount(libc, None, target, None, flags)
        except OSError as exc:
            if target == "/":
                raise
            problems.append(f"{target}: {exc.strerror}")
    _mount(libc, "tmpfs", work, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmpfs_mb}m,mode=1777")
    for target, fs, flags, data in (
        ("/dev/shm", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC, "size=16m,mode=1777"),
        ("/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, None),
        ("/sys", "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k,mode=0555"),
    ):
        if os.path.isdir(target):
            try:
                _mount(libc, fs, target, fs, flags, data)
            except OSError as exc:
                problems.append(f"{target}: {exc.strerror}")
    for path in mask:
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV | MS_NOEXEC | MS_RDONLY, "size=4k,mode=0555")
            elif os.path.isfile(path) and not os.path.islink(path):
                _mount(libc, "/dev/null", path, None, MS_BIND)
        except OSError as exc:
            problems.append(f"{path}: {exc.strerror}")
    return problems


def _drop_caps(libc) -> bool:
    """Drop every capability for good (bounding set, securebits, capset, no_new_privs)."""
    ok = True
    for cap in range(64):
        if _prctl(libc, PR_CAPBSET_DROP, cap) != 0 and ctypes.get_errno() == errno.EINVAL:
            break
    # SECBIT_NOROOT | _LOCKED | SECBIT_NO_SETUID_FIXUP | _LOCKED | SECBIT_KEEP_CAPS_LOCKED
    _prctl(libc, PR_SET_SECUREBITS, 0x01 | 0x02 | 0x04 | 0x08 | 0x20)

    class Header(ctypes.Structure):
        _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]

    class Data(ctypes.Structure):
        _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]

    hdr = Header(0x20080522, 0)
    data = (Data * 2)()
    if hasattr(libc, "capset") and libc.capset(ctypes.byref(hdr), data) != 0:
        ok = False
    _check(_prctl(libc, PR_SET_NO_NEW_PRIVS, 1), "no_new_privs")
    return ok


def _seccomp_program(self_pid: int) -> bytes | None:
    """A BPF filter (x86-64 only) as raw bytes; None where the architecture is not supported."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    arg0 = 16  # offsetof(struct seccomp_data, args[0]) (low 32 bits, little-endian)
    deny_always = [57, 58, 41, 200, 434, 424, 438, 101, 310, 311, 112, 109, 272, 308, 165, 166, 155, 161, 175,
                   313, 176, 169, 246, 320, 321, 298, 250, 248, 249, 323, 425, 426, 427, 428, 429, 430, 431,
                   432, 433, 442, 167, 168, 163, 179, 164, 227, 159, 170, 171]
    # (syscall, [(k, verdict-if-equal)], verdict-otherwise) rules on args[0]
    rules = [
        (56, "clone"),  # allow only thread clones
        (435, "clone3"),  # ENOSYS so glibc falls back to clone(2), which is inspectable
        (62, "self"),  # kill: only itself (not its process group, not -1)
        (234, "self"),  # tgkill
        (302, "zero"),  # prlimit64 on itself only
    ]
    prog: list[tuple[int, int, int, int]] = []
    labels: dict[str, int] = {}
    fix: list[tuple[int, str, str]] = []  # (index, jt label, jf label)

    def emit(code, jt=0, jf=0, k=0):
        prog.append((code, jt, jf, k))
        return len(prog) - 1

    def jump(code, k, t_label, f_label):
        i = emit(code, 0, 0, k)
        fix.append((i, t_label, f_label))

    emit(ld, 0, 0, 4)  # arch
    jump(jeq, AUDIT_ARCH_X86_64, "", "KILL")
    emit(ld, 0, 0, 0)  # nr
    jump(jset, 0x40000000, "KILL", "")  # x32 ABI
    for nr in deny_always:
        jump(jeq, nr, "EPERM", "")
    for nr, name in rules:
        jump(jeq, nr, name, "")
    emit(ret, 0, 0, allow)
    labels["clone"] = len(prog)
    emit(ld, 0, 0, arg0)
    jump(jset, CLONE_THREAD, "ALLOW", "EPERM")
    labels["clone3"] = len(prog)
    emit(ret, 0, 0, enosys)
    labels["self"] = len(prog)
    emit(ld, 0, 0, arg0)
    jump(jeq, self_pid, "ALLOW", "EPERM")
    labels["zero"] = len(prog)
    emit(ld, 0, 0, arg0)
    jump(jeq, 0, "ALLOW", "EPERM")
    labels["ALLOW"] = emit(ret, 0, 0, allow)
    labels["EPERM"] = emit(ret, 0, 0, eperm)
    labels["KILL"] = emit(ret, 0, 0, kill)
    for i, t, f in fix:
        code, _, _, k = prog[i]
        jt = labels[t] - i - 1 if t else 0
        jf = labels[f] - i - 1 if f else 0
        if not (0 <= jt < 256 and 0 <= jf < 256):
            raise ValueError("seccomp jump out of range")
        prog[i] = (code, jt, jf, k)
    import struct

    return b"".join(struct.pack("<HBBI", *ins) for ins in prog)


def _install_seccomp(libc, program: bytes) -> None:
    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(program, len(program))
    fprog = Prog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _check(_prctl(libc, PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog)), "seccomp")


def _user_process_count(uid: int) -> int:
    n = 0
    try:
        for d in os.listdir("/proc"):
            if d.isdigit():
                try:
                    if os.stat(f"/proc/{d}").st_uid == uid:
                        n += len(os.listdir(f"/proc/{d}/task"))
                except OSError:
                    pass
    except OSError:
        return 0
    return n


def _set_rlimits(cfg: dict[str, Any]) -> None:
    import resource

    cpu = max(1, math.ceil(cfg["cpu_s"]))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    mem = cfg["memory_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_AS, (mem, mem))
    fsz = cfg["fsize_mb"] * 1024 * 1024
    resource.setrlimit(resource.RLIMIT_FSIZE, (fsz, fsz))
    resource.setrlimit(resource.RLIMIT_NOFILE, (cfg["nofile"], cfg["nofile"]))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    nproc = cfg["nproc"] + int(cfg.get("nproc_base", 0))
    resource.setrlimit(resource.RLIMIT_NPROC, (nproc, nproc))


def _write(fd: int, obj: dict[str, Any]) -> None:
    try:
        os.write(fd, (json.dumps(obj) + "\n").encode())
    except OSError:
        pass


def _wait(pid: int) -> tuple[int, float]:
    while True:
        try:
            _, ws, ru = os.wait4(pid, 0)
            return ws, ru.ru_utime + ru.ru_stime
        except InterruptedError:
            continue
        except ChildProcessError:
            return 0, 0.0


def _close_stdio() -> None:
    for fd in (0, 1, 2):
        try:
            os.close(fd)
        except OSError:
            pass


def _become_program(cfg: dict[str, Any], libc, status_fd: int, layers: list[str], notes: list[str], mode: str) -> None:
    """Final set-up in the process that becomes the program: limits, capabilities, seccomp, exec."""
    os.chdir(cfg["work"])
    _set_rlimits(cfg)
    if os.geteuid() == 0:  # real root, or root of our user namespace
        if _drop_caps(libc):
            layers.append("nocaps")
    else:
        _prctl(libc, PR_SET_NO_NEW_PRIVS, 1)
    program = _seccomp_program(os.getpid())
    if program is not None:
        try:
            _install_seccomp(libc, program)
            layers.append("seccomp")
        except OSError as exc:
            notes.append(f"no seccomp ({exc.strerror})")
    layers.append("rlimits")
    _write(status_fd, {"isolation": "+".join(layers), "notes": notes})
    args = [cfg["python"], "-I", cfg["self"], "--exec", cfg["prog"], mode, *cfg["argv"]]
    os.execve(cfg["python"], args, dict(os.environ))


def _launch(cfg: dict[str, Any]) -> None:
    """Launcher. With namespaces: unshare, fork an init (PID 1 of the new PID namespace) that sets up the
    mounts and forks the program (PID 2) and reports its wait status. Without: fork the program directly.
    Every report goes to the status pipe as one JSON object per line."""
    status_fd = int(cfg["status_fd"])
    libc = _libc()
    layers: list[str] = []
    notes: list[str] = []
    ns = False
    uid, gid = os.getuid(), os.getgid()
    cfg["nproc_base"] = _user_process_count(uid) if uid != 0 else 0  # NPROC is not enforced for uid 0
    flags = CLONE_NEWNS | CLONE_NEWNET | CLONE_NEWPID | CLONE_NEWIPC | CLONE_NEWUTS
    libc.unshare.argtypes = [ctypes.c_int]
    try:
        if not cfg.get("namespaces", True):
            raise OSError(errno.EPERM, "disabled by the caller")
        if uid == 0:
            _check(libc.unshare(flags), "unshare")
        else:
            _check(libc.unshare(flags | CLONE_NEWUSER), "unshare(user)")
            for path, text in (("/proc/self/setgroups", "deny"), ("/proc/self/uid_map", f"0 {uid} 1"),
                               ("/proc/self/gid_map", f"0 {gid} 1")):
                with open(path, "w") as f:
                    f.write(text)
        ns = True
    except OSError as exc:
        notes.append(f"no namespaces ({exc.strerror})")

    pid = os.fork()
    if pid == 0:
        try:
            _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
            os.set_inheritable(status_fd, False)  # closed by exec, so the program never sees it
            mode = "plain"
            if ns:
                try:
                    notes += _setup_mounts(libc, cfg["work"], int(cfg["tmpfs_mb"]), list(cfg.get("mask", [])))
                    layers.append("ns")
                    mode = "ns"
                except OSError as exc:
                    notes.append(f"mounts failed ({exc.strerror})")
                    layers.append("ns-net-pid")
                child = os.fork()
                if child != 0:  # init of the PID namespace: wait for the program, report, exit
                    _close_stdio()
                    ws, cpu = _wait(child)
                    _write(status_fd, {"wait": ws, "cpu": cpu})
                    os._exit(0)
                _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
            _become_program(cfg, libc, status_fd, layers, notes, mode)
        except BaseException as exc:  # noqa: BLE001 - report and die; the parent raises SandboxError
            _write(status_fd, {"setup_error": f"{type(exc).__name__}: {exc}", "notes": notes})
            os._exit(121)
    _close_stdio()  # stdio belongs to the program now
    ws, cpu = _wait(pid)
    _write(status_fd, {"outer" if ns else "wait": ws, "cpu": cpu})
    os._exit(0)


def _guard(mode: str) -> None:
    """Python-level guard inside the program: no sockets; outside namespaces, no writes outside cwd."""
    import builtins
    import io
    import socket

    def _blocked(*_a, **_k):
        raise PermissionError("network access is disabled in the kit sandbox")

    class _NoSocket(socket.socket):  # type: ignore[misc]
        def __init__(self, *a, **k):  # noqa: D401
            _blocked()

    socket.socket = _NoSocket  # type: ignore[misc]
    for name in ("create_connection", "create_server", "socketpair", "fromfd", "getaddrinfo"):
        setattr(socket, name, _blocked)
    if mode == "ns":
        return
    root = os.path.realpath(os.getcwd())
    real_open, real_os_open = builtins.open, os.open

    def _allowed(path, writing: bool) -> bool:
        if not writing or isinstance(path, int):
            return True
        p = os.path.realpath(os.fspath(path))
        return p == "/dev/null" or p == root or p.startswith(root + os.sep)

    def guarded_open(file, mode="r", *a, **k):
        if not _allowed(file, any(c in str(mode) for c in "wax+")):
            raise PermissionError(f"writing outside the sandbox directory is disabled: {file}")
        return real_open(file, mode, *a, **k)

    def guarded_os_open(path, flags, *a, **k):
        if not _allowed(path, bool(flags & (os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC))):
            raise PermissionError(f"writing outside the sandbox directory is disabled: {path}")
        return real_os_open(path, flags, *a, **k)

    builtins.open = guarded_open
    io.open = guarded_open
    os.open = guarded_os_open


def _exec_program(prog: str, mode: str, args: list[str]) -> None:
    with open(prog, encoding="utf-8") as f:
        source = f.read()
    _guard(mode)
    sys.argv = ["solution.py", *args]
    sys.path.insert(0, os.getcwd())
    glb = {"__name__": "__main__", "__file__": "solution.py", "__builtins__": __builtins__}
    code = compile(source, "solution.py", "exec")
    exec(code, glb)


def _main(argv: list[str]) -> None:
    if len(argv) >= 2 and argv[0] == "--launch":
        _launch(json.loads(argv[1]))
    elif len(argv) >= 3 and argv[0] == "--exec":
        _exec_program(argv[1], argv[2], argv[3:])
    else:
        sys.stderr.write("usage: sandbox.py --launch CONFIG | --exec PROG MODE [ARGS...]\n")
        sys.exit(2)


if __name__ == "__main__":
    _main(sys.argv[1:])
