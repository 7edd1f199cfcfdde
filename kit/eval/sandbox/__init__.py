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
   Where expected outputs can live (the kit's fixtures, the repository's tests, the Hugging Face and datasets
   caches: `hidden_paths()`) is hidden like the credential locations, and outputs are compared in the parent.
2. **seccomp** ("seccomp", x86-64 only): a BPF filter that makes `fork`/`vfork`/process-`clone`
   (threads are allowed; `clone3` returns ENOSYS so glibc falls back to `clone`), every `socket`,
   `kill`/`tgkill` of anything but itself (also its process group and -1), `tkill`, pidfd signalling,
   `setsid`/`setpgid`, `ptrace`, `process_vm_*`, the `mount` family, `unshare`/`setns`/`chroot`,
   `io_uring`, `bpf`, `perf_event_open`, `memfd_create`, keyrings, module loading, `reboot`, `prlimit64` on other
   processes and a few other administrative calls fail with EPERM; another ABI (x32, i386) kills the
   process. So `os.system`/`subprocess` fail too. This holds without namespaces and without privileges.
3. **Capabilities** ("nocaps"): when the program would run as uid 0 it loses every capability (bounding
   set, effective, permitted; `no_new_privs`; `SECBIT_NOROOT`), so it cannot undo 1 or raise hard limits.
4. **Always** ("rlimits"): CPU seconds, address space, file size, open files, process count
   (RLIMIT_NPROC; the kernel does not enforce it for uid 0, where layer 2 stops forks instead), no core
   files; a wall-clock deadline after which the whole process group is SIGKILLed; a cap on captured
   stdout; a scrubbed environment (only PATH, LANG, HOME and TMPDIR, the last two pointing at the
   working directory); `python -I` (no user site, no PYTHON* variables); a fresh temporary directory
   deleted afterwards; and a Python-level guard that replaces `socket.socket`; the launcher dies with the kit
   (PR_SET_PDEATHSIG, in its own process group), and with it every program.

**Weak mode** (no namespaces: an unprivileged container without user namespaces, or KIT_SANDBOX_FORCE_WEAK=1)
is refused by default: `run_python` raises `WeakSandboxRefused` (a one-line `KitError`) unless
KIT_SANDBOX_ALLOW_WEAK=1 (or `allow_weak=True`). When allowed, the program gets, instead of layer 1:
- **Landlock** ("landlock", Linux >= 5.13 with Landlock on): it may read and execute only beneath the system
  and interpreter directories and its own folder (`readable_paths()`): not the fixtures, caches or home;
- **no filesystem changes** ("seccomp+nofswrite"): the seccomp filter also refuses `open`/`openat` with any
  write/create/truncate/append flag, `openat2`, `creat`, and every unlink/rename/link/mkdir/rmdir/mknod/
  chmod/chown/utime/xattr/truncate/fallocate call, so the program cannot write even its own folder (total
  disk writes: zero). The isolation string names what it got, e.g. "nocaps+landlock+seccomp+nofswrite+rlimits".

What is NOT guaranteed:
- In the weak mode without Landlock (old kernel) the program can read whatever its uid can read (including
  the fixtures); without seccomp (not x86-64) the weak mode has only a Python-level write guard. Landlock
  cannot carve holes: a kit installed inside the interpreter's prefix (site-packages) leaves its fixtures
  readable in the weak mode (namespace mode hides them anywhere).
- Without seccomp (not x86-64), fork bombs are bounded only by RLIMIT_NPROC (not enforced for root) and the
  wall-clock kill; a child that calls `setsid()` escapes the process-group kill unless namespaces are on.
- Memory is capped per process (RLIMIT_AS) and the working-directory tmpfs by `Limits.tmpfs_mb` (plus 16 MB
  of /dev/shm: the total a program can write in namespace mode); there is
  no cgroup, so CPU shares and page cache are not controlled. It is not a defence against kernel exploits.
- In namespace mode, files the caller's uid can read stay readable (read-only), except the credential
  locations in `MASKED_HOME_PATHS` under the caller's home and `hidden_paths()`. Reading is harmless
  for scoring (no network, stdout is only compared), but a secret could end up in a saved stderr excerpt.
- A program that runs in the same process as the functional-test harness can, with effort, forge the
  harness's output; the harness only frames results with a random nonce.

`run_python` never raises for a bad program; it raises `SandboxError` only when the sandbox itself cannot
start (for example the interpreter is missing), and `WeakSandboxRefused` as above.

Modules: `api` (parent side), `child` (the launcher and program entry point, run as
`python -I child.py --launch CONFIG`), `confine` (seccomp and Landlock); the child side is stdlib only.
"""

from kit.eval.sandbox.api import (
    ALLOW_WEAK_ENV,
    FORCE_WEAK_ENV,
    HIDE_ENV,
    MASKED_HOME_PATHS,
    STATUSES,
    Limits,
    RunResult,
    SandboxError,
    Verdict,
    WeakSandboxRefused,
    hidden_paths,
    isolation_level,
    readable_paths,
    run_python,
)

__all__ = [
    "ALLOW_WEAK_ENV", "FORCE_WEAK_ENV", "HIDE_ENV", "MASKED_HOME_PATHS", "STATUSES", "Limits", "RunResult",
    "SandboxError", "Verdict", "WeakSandboxRefused", "hidden_paths", "isolation_level", "readable_paths",
    "run_python",
]
