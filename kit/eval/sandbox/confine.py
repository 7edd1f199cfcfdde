"""Kernel-level confinement of the program process (stdlib only; imported by the child side).

`seccomp_program` builds the BPF syscall filter; `landlock_readonly` restricts which files can be read at
all. In the weak mode (no mount namespace) these are what keeps the program away from the filesystem: the
filter refuses every syscall that creates, writes, deletes, renames or re-permissions a file (the kernel
sees the call, so `_io.FileIO`, `posix.open` or ctypes cannot go around it), and Landlock hides every file
outside the interpreter and system directories (the kit's fixtures, the dataset cache) from reading."""

from __future__ import annotations

import ctypes
import errno
import os
import platform
import struct

AUDIT_ARCH_X86_64 = 0xC000003E
CLONE_THREAD = 0x00010000

# Denied in every mode (EPERM): processes, sockets, signalling others, tracing, mounts, namespaces, io_uring,
# bpf, perf, keyrings, modules, reboot/swap/clock/hostname administration, memfd_create (an uncapped file).
DENY_ALWAYS = [57, 58, 41, 200, 434, 424, 438, 101, 310, 311, 112, 109, 272, 308, 165, 166, 155, 161, 175,
               313, 176, 169, 246, 320, 321, 298, 250, 248, 249, 323, 425, 426, 427, 428, 429, 430, 431,
               432, 433, 442, 167, 168, 163, 179, 164, 227, 159, 170, 171, 319, 467]
# Denied in the weak mode only (EPERM): every syscall that changes the filesystem by path or handle:
# truncate/ftruncate, rename*, mkdir*, rmdir, creat, link*, unlink*, symlink*, chmod*/fchmod*, chown*,
# utime*, mknod*, xattr writes, fallocate, *_by_handle_at, openat2 (its flags are out of the filter's sight).
DENY_WEAK = [76, 77, 82, 83, 84, 85, 86, 87, 88, 90, 91, 92, 93, 94, 132, 133, 188, 189, 190, 197, 198, 199,
             235, 258, 259, 260, 261, 263, 264, 265, 266, 268, 280, 285, 303, 304, 316, 437, 452, 463, 466, 469]
# open(2)/openat(2) with any of O_WRONLY | O_RDWR | O_CREAT | O_TRUNC | O_APPEND: EPERM in the weak mode.
OPEN_WRITE_FLAGS = 0x1 | 0x2 | 0x40 | 0x200 | 0x400


def seccomp_program(self_pid: int, weak: bool = False) -> bytes | None:
    """A BPF filter (x86-64 only) as raw bytes; None where the architecture is not supported."""
    if platform.machine() not in ("x86_64", "AMD64"):
        return None
    ld, jeq, jset, ret = 0x20, 0x15, 0x45, 0x06
    allow, kill = 0x7FFF0000, 0x80000000
    eperm, enosys = 0x00050000 | errno.EPERM, 0x00050000 | errno.ENOSYS
    arg0, arg1, arg2 = 16, 24, 32  # offsetof(struct seccomp_data, args[i]) (low 32 bits, little-endian)
    deny = DENY_ALWAYS + (DENY_WEAK if weak else [])
    # (syscall, label) rules that inspect an argument
    rules = [
        (56, "clone"),  # allow only thread clones
        (435, "clone3"),  # ENOSYS so glibc falls back to clone(2), which is inspectable
        (62, "self"),  # kill: only itself (not its process group, not -1)
        (234, "self"),  # tgkill
        (302, "zero"),  # prlimit64 on itself only
    ]
    if weak:
        rules += [(2, "open"), (257, "openat")]
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
    for nr in deny:
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
    if weak:
        labels["open"] = len(prog)
        emit(ld, 0, 0, arg1)
        jump(jset, OPEN_WRITE_FLAGS, "EPERM", "ALLOW")
        labels["openat"] = len(prog)
        emit(ld, 0, 0, arg2)
        jump(jset, OPEN_WRITE_FLAGS, "EPERM", "ALLOW")
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
    return b"".join(struct.pack("<HBBI", *ins) for ins in prog)


def install_seccomp(libc, prctl, program: bytes) -> None:
    """Load `program` (needs no_new_privs or CAP_SYS_ADMIN); raises OSError on failure."""

    class Prog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    buf = ctypes.create_string_buffer(program, len(program))
    fprog = Prog(len(program) // 8, ctypes.cast(buf, ctypes.c_void_p))
    if prctl(libc, 22, 2, ctypes.addressof(fprog)) != 0:  # PR_SET_SECCOMP, SECCOMP_MODE_FILTER
        e = ctypes.get_errno()
        raise OSError(e, f"seccomp: {os.strerror(e)}")


# Landlock (x86-64 syscall numbers; the same on arm64 as generic numbers 444-446)
_LL_CREATE, _LL_ADD, _LL_RESTRICT = 444, 445, 446
_LL_READ = 0x1 | 0x4 | 0x8  # EXECUTE | READ_FILE | READ_DIR
_LL_FILE_RIGHTS = 0x1 | 0x2 | 0x4 | 0x4000 | 0x8000  # rights a rule on a non-directory may carry


def _ll_handled(abi: int) -> int:
    bits = 0x1FFF  # ABI 1: execute .. make_sym
    if abi >= 2:
        bits |= 0x2000  # refer
    if abi >= 3:
        bits |= 0x4000  # truncate
    if abi >= 5:
        bits |= 0x8000  # ioctl_dev
    return bits


def landlock_readonly(libc, readable: list[str]) -> str:
    """Allow only reading (and executing) beneath `readable`; nothing may be written, made or removed
    anywhere. Returns "" on success, else why not (old kernel, Landlock off). Needs no_new_privs first."""
    sc = libc.syscall
    sc.restype = ctypes.c_long
    abi = sc(ctypes.c_long(_LL_CREATE), None, ctypes.c_size_t(0), ctypes.c_uint32(1))
    if abi < 1:
        return f"no landlock ({os.strerror(ctypes.get_errno())})"
    handled = _ll_handled(int(abi))
    attr = struct.pack("<Q", handled)
    abuf = ctypes.create_string_buffer(attr, len(attr))
    fd = sc(ctypes.c_long(_LL_CREATE), abuf, ctypes.c_size_t(len(attr)), ctypes.c_uint32(0))
    if fd < 0:
        return f"no landlock ruleset ({os.strerror(ctypes.get_errno())})"
    try:
        for path in readable:
            try:
                pfd = os.open(path, os.O_PATH | os.O_CLOEXEC)
            except OSError:
                continue
            try:
                rights = _LL_READ if os.path.isdir(path) else _LL_READ & _LL_FILE_RIGHTS
                rule = struct.pack("<Qi", rights & handled, pfd)
                rbuf = ctypes.create_string_buffer(rule, len(rule))
                if sc(ctypes.c_long(_LL_ADD), ctypes.c_int(fd), ctypes.c_int(1), rbuf, ctypes.c_uint32(0)) != 0:
                    return f"landlock rule for {path} failed ({os.strerror(ctypes.get_errno())})"
            finally:
                os.close(pfd)
        if sc(ctypes.c_long(_LL_RESTRICT), ctypes.c_int(fd), ctypes.c_uint32(0)) != 0:
            return f"landlock restrict failed ({os.strerror(ctypes.get_errno())})"
    finally:
        os.close(fd)
    return ""
