"""Child side of the sandbox (stdlib only): `python -I child.py --launch CONFIG` sets up the layers described
in `kit.eval.sandbox` and executes `python -I -B child.py --exec PROG MODE [ARGS...]` for the program.

The launcher ties its life to the kit (PR_SET_PDEATHSIG, checked against the parent's pid), so a killed kit
takes the launcher, and with it the program, down. Without namespaces (the weak mode) it refuses to run the
program unless the parent allowed the weak mode; then the program gets Landlock (reads only beneath the
interpreter and system directories) and a seccomp filter that refuses every filesystem change."""

from __future__ import annotations

import ctypes
import errno
import json
import math
import os
import signal
import sys
from typing import Any

if __package__:  # imported as kit.eval.sandbox.child
    from . import confine
else:  # run as a script under `python -I` (which leaves this directory off sys.path)
    sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
    import confine  # type: ignore[no-redef]

    del sys.path[0]

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID, CLONE_NEWNET = 0x10000000, 0x20000000, 0x40000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC = 1, 2, 4, 8
MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 32, 4096, 16384, 1 << 18
MS_NOATIME, MS_NODIRATIME, MS_RELATIME, MS_STRICTATIME = 1024, 2048, 1 << 21, 1 << 24
PR_SET_PDEATHSIG, PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP = 1, 24, 28, 38, 22


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


def _become_program(cfg: dict[str, Any], libc, status_fd: int, layers: list[str], notes: list[str], weak: bool) -> None:
    """Final set-up in the process that becomes the program: limits, capabilities, Landlock, seccomp, exec."""
    os.chdir(cfg["work"])
    _set_rlimits(cfg)
    if os.geteuid() == 0:  # real root, or root of our user namespace
        if _drop_caps(libc):
            layers.append("nocaps")
    else:
        _prctl(libc, PR_SET_NO_NEW_PRIVS, 1)
    if weak:
        why = confine.landlock_readonly(libc, list(cfg.get("readable", [])))
        if why:
            notes.append(why)
        else:
            layers.append("landlock")
    program = confine.seccomp_program(os.getpid(), weak)
    if program is not None:
        try:
            confine.install_seccomp(libc, _prctl, program)
            layers.append("seccomp+nofswrite" if weak else "seccomp")
        except OSError as exc:
            notes.append(f"no seccomp ({exc.strerror})")
    layers.append("rlimits")
    _write(status_fd, {"isolation": "+".join(layers), "notes": notes})
    mode = "weak" if weak else "ns"
    args = [cfg["python"], "-I", "-B", cfg["self"], "--exec", cfg["prog"], mode, *cfg["argv"]]
    os.execve(cfg["python"], args, dict(os.environ))


def _refuse(status_fd: int, notes: list[str]) -> None:
    _write(status_fd, {"refused": "; ".join(notes) or "no namespaces"})
    os._exit(122)


def _launch(cfg: dict[str, Any]) -> None:
    """Launcher. With namespaces: unshare, fork an init (PID 1 of the new PID namespace) that sets up the
    mounts and forks the program (PID 2) and reports its wait status. Without: refuse, or (weak mode
    allowed) fork the program directly. Every report goes to the status pipe as one JSON object per line."""
    status_fd = int(cfg["status_fd"])
    libc = _libc()
    layers: list[str] = []
    notes: list[str] = []
    ns = False
    allow_weak = bool(cfg.get("allow_weak", False))
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
    # Die with the kit (set after unshare, which may reset it); the kit may already be gone.
    _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != int(cfg.get("parent_pid", os.getppid())):
        os._exit(0)
    if not ns and not allow_weak:
        _refuse(status_fd, notes)

    pid = os.fork()
    if pid == 0:
        try:
            _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
            os.set_inheritable(status_fd, False)  # closed by exec, so the program never sees it
            weak = True
            if ns:
                try:
                    notes += _setup_mounts(libc, cfg["work"], int(cfg["tmpfs_mb"]), list(cfg.get("mask", [])))
                    layers.append("ns")
                    weak = False
                except OSError as exc:
                    notes.append(f"mounts failed ({exc.strerror})")
                    if not allow_weak:
                        _refuse(status_fd, notes)
                    layers.append("ns-net-pid")
                child = os.fork()
                if child != 0:  # init of the PID namespace: wait for the program, report, exit
                    _close_stdio()
                    ws, cpu = _wait(child)
                    _write(status_fd, {"wait": ws, "cpu": cpu})
                    os._exit(0)
                _prctl(libc, PR_SET_PDEATHSIG, signal.SIGKILL)
            _become_program(cfg, libc, status_fd, layers, notes, weak)
        except BaseException as exc:  # noqa: BLE001 - report and die; the parent raises SandboxError
            _write(status_fd, {"setup_error": f"{type(exc).__name__}: {exc}", "notes": notes})
            os._exit(121)
    _close_stdio()  # stdio belongs to the program now
    ws, cpu = _wait(pid)
    _write(status_fd, {"outer" if ns else "wait": ws, "cpu": cpu})
    os._exit(0)


def _guard(mode: str) -> None:
    """Python-level guard inside the program (clear messages; the kernel layers are what hold): no sockets;
    in the weak mode, no `open()`/`os.open()` for writing."""
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
    real_open, real_os_open = builtins.open, os.open

    def _deny(path) -> None:
        raise PermissionError(f"writing files is disabled in the kit sandbox's weak mode: {path}")

    def guarded_open(file, mode="r", *a, **k):
        if not isinstance(file, int) and any(c in str(mode) for c in "wax+"):
            _deny(file)
        return real_open(file, mode, *a, **k)

    def guarded_os_open(path, flags, *a, **k):
        if flags & confine.OPEN_WRITE_FLAGS:
            _deny(path)
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
        sys.stderr.write("usage: child.py --launch CONFIG | --exec PROG MODE [ARGS...]\n")
        sys.exit(2)


if __name__ == "__main__":
    _main(sys.argv[1:])
