"""The code sandbox: hostile programs are contained and scored as failures; correct programs pass."""

from __future__ import annotations

import os
import platform
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from kit.eval.code_tests import outputs_match, run_tests
from kit.eval.sandbox import Limits, run_python

ROOT = Path(__file__).resolve().parents[1]
FAST = Limits(wall_s=1.0, cpu_s=1.0, memory_mb=512, stdout_kb=64, startup_s=1.0)
FAILED = {"runtime_error", "killed", "memory", "timeout", "wrong_answer"}

if not sys.platform.startswith("linux"):
    pytest.skip("the sandbox is Linux-only", allow_module_level=True)

ISOLATION = run_python("print(1)", limits=FAST).isolation
X86_64 = platform.machine() in ("x86_64", "AMD64")
# seccomp is only built for x86-64; namespaces need root or unprivileged user namespaces
needs_seccomp = pytest.mark.skipif(not X86_64, reason="the seccomp filter is x86-64 only")
needs_ns = pytest.mark.skipif(os.geteuid() != 0 and not ISOLATION.startswith("ns+"),
                              reason=f"no namespaces for this user ({ISOLATION})")


def test_layers_reported():
    layers = ISOLATION.split("+")
    assert layers[-1] == "rlimits"
    if X86_64:
        assert "seccomp" in layers  # a silently missing filter must fail here, not skip the hostile tests
    if os.geteuid() == 0:
        assert layers[0] == "ns" and "nocaps" in layers


# -- correct programs ---------------------------------------------------------------------------------

def test_correct_stdin_program_passes():
    src = "import sys\nnums = list(map(int, sys.stdin.read().split()))\nprint(sum(nums[1:]), max(nums[1:]))\n"
    v = run_tests(src, [{"input": "3\n4 -2 7\n", "output": "9 7\n", "testtype": "stdin"},
                        {"input": "1\n5\n", "output": "5 5", "testtype": "stdin"}], timeout_s=2)
    assert v.passed and v.status == "ok" and v.n_passed == 2


def test_correct_functional_program_passes_and_prints_are_ignored():
    src = ("class Solution:\n    def twoSum(self, nums: List[int], target: int) -> List[int]:\n"
           "        print('debug noise')\n"
           "        seen = {}\n        for i, x in enumerate(nums):\n"
           "            if target - x in seen:\n                return (seen[target - x], i)\n"
           "            seen[x] = i\n")
    tests = [{"input": "[2, 7, 11, 15]\n9", "output": "[0, 1]", "testtype": "functional"},
             {"input": "[3, 3]\n6", "output": "[0, 1]", "testtype": "functional"}]
    v = run_tests(src, tests, fn_name="twoSum", timeout_s=2)
    assert v.passed, v
    wrong = run_tests(src.replace("seen[target - x], i", "i, seen[target - x]"), tests, fn_name="twoSum", timeout_s=2)
    assert not wrong.passed and wrong.status == "wrong_answer"


def test_threads_and_deep_recursion_allowed():
    src = ("import sys, threading\nsys.setrecursionlimit(10**6)\nthreading.stack_size(1 << 26)\n"
           "def f(n):\n    return 0 if n == 0 else 1 + f(n - 1)\n"
           "t = threading.Thread(target=lambda: print(f(50000)))\nt.start(); t.join()\n")
    r = run_python(src, limits=Limits(wall_s=3, cpu_s=3))
    assert r.status == "ok" and r.stdout.strip() == "50000", r


def test_working_directory_is_writable_and_fresh():
    r = run_python("import os\nopen('scratch.txt','w').write('hi')\nprint(open('scratch.txt').read(), sorted(os.listdir('.')))",
                   limits=FAST)
    assert r.status == "ok" and r.stdout.strip() == "hi ['scratch.txt']"


def test_wrong_answer_and_runtime_error():
    assert run_tests("print(41)", [{"input": "", "output": "42", "testtype": "stdin"}]).status == "wrong_answer"
    v = run_tests("raise ValueError('boom')", [{"input": "", "output": "42", "testtype": "stdin"}])
    assert v.status == "runtime_error" and not v.passed and "boom" in v.detail


# -- hostile programs: each contained, scored as failed, the test process survives ---------------------

def _fails(src: str, limits: Limits = FAST, expected: str = "ok") -> str:
    v = run_tests(src, [{"input": "", "output": expected, "testtype": "stdin"}], limits=limits)
    assert not v.passed and v.status in FAILED, v
    return v.status


@needs_seccomp
def test_fork_bomb():
    assert _fails("import os\nwhile True:\n    os.fork()\n") == "runtime_error"
    assert _fails("import subprocess\nsubprocess.run(['true'])\nprint('ok')") == "runtime_error"


def test_memory_bomb():
    assert _fails("x = []\nwhile True:\n    x.append(bytearray(10**7))\n",
                  Limits(wall_s=3, cpu_s=3, memory_mb=256)) == "memory"


def test_infinite_loop_hits_cpu_limit():
    r = run_python("while True:\n    pass\n", limits=FAST)
    assert r.status == "timeout"


def test_sleeping_loop_hits_wall_limit():
    r = run_python("import time\nwhile True:\n    time.sleep(0.05)\n", limits=FAST)
    # the deadline (not the CPU limit, which a sleeping loop never reaches) ended it; no wall-clock bound
    # on the test itself, which a loaded machine can break
    assert r.status == "timeout" and r.detail == "wall-clock limit", r


def test_network_is_blocked():
    assert _fails("import socket\nsocket.create_connection(('1.1.1.1', 53), timeout=1)\nprint('ok')") == "runtime_error"
    assert _fails("import _socket\n_socket.socket()\nprint('ok')") == "runtime_error"  # below the Python guard


def test_writing_outside_the_sandbox_is_blocked():
    tag = secrets.token_hex(6)
    targets = [Path(f"/tmp/kit_pwned_{tag}"), ROOT / f"kit_pwned_{tag}"]
    try:
        for t in targets:
            assert _fails(f"open({str(t)!r}, 'w').write('pwned')\nprint('ok')") == "runtime_error"
            assert not t.exists()
    finally:
        for t in targets:
            t.unlink(missing_ok=True)


def test_env_secret_is_not_visible(monkeypatch):
    secret = "kit-secret-" + secrets.token_hex(8)
    monkeypatch.setenv("KIT_TEST_SECRET", secret)
    r = run_python("import os\nprint(os.environ.get('KIT_TEST_SECRET'))\nprint(sorted(os.environ))", limits=FAST)
    assert secret not in r.stdout
    assert r.stdout.splitlines()[0] == "None"
    assert set(eval(r.stdout.splitlines()[1])) <= {"PATH", "LANG", "HOME", "TMPDIR"}
    assert _fails("import os\nprint(os.environ['KIT_TEST_SECRET'])", expected=secret) in FAILED


def test_parent_environ_in_proc_is_not_readable(monkeypatch):
    secret = "kit-secret-" + secrets.token_hex(8)
    monkeypatch.setenv("KIT_TEST_SECRET", secret)
    src = (f"import os\nhits = []\nfor p in [str(os.getppid()), str({os.getpid()})] + os.listdir('/proc'):\n"
           "    try:\n        data = open(f'/proc/{p}/environ', 'rb').read()\n"
           "    except OSError:\n        continue\n"
           "    if b'KIT_TEST_SECRET' in data:\n        hits.append(data.decode(errors='replace'))\n"
           "print(hits)\n")
    r = run_python(src, limits=FAST)
    assert secret not in r.stdout and secret not in r.stderr


def test_killing_the_parent_or_others_fails():
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for target in ("os.getppid()", str(os.getpid()), str(victim.pid), "0", "-1"):
            src = f"import os, signal\nos.kill({target}, signal.SIGKILL)\nprint('ok')"
            r = run_python(src, limits=FAST)
            assert r.status != "ok" or "ok" not in r.stdout, (target, r)
        assert victim.poll() is None  # the bystander survived
    finally:
        victim.kill()
        victim.wait()
    os.kill(os.getpid(), 0)  # and so did we


def test_huge_stdout_is_cut_off():
    r = run_python("while True:\n    print('x' * 10000)\n", limits=FAST)
    assert r.status == "killed" and "stdout" in r.detail
    assert len(r.stdout) <= FAST.stdout_kb * 1024 + 65536


@needs_seccomp
def test_rm_rf_of_a_canary_outside_fails(tmp_path):
    canary = tmp_path / "canary"
    canary.mkdir()
    (canary / "keep.txt").write_text("still here")
    _fails(f"import os\nrc = os.system('rm -rf {canary}')\nprint('ok' if rc == 0 else rc)")
    _fails(f"import shutil\nshutil.rmtree({str(canary)!r})\nprint('ok')")
    assert (canary / "keep.txt").read_text() == "still here"


@needs_seccomp
def test_escaping_the_process_group_fails():
    assert _fails("import os\nos.setsid()\nprint('ok')") == "runtime_error"


@needs_ns
def test_credential_files_in_home_are_masked(tmp_path, monkeypatch):
    home = tmp_path / "home"
    (home / ".cache" / "huggingface").mkdir(parents=True)
    secret = "hf_" + secrets.token_hex(12)
    (home / ".cache" / "huggingface" / "token").write_text(secret)
    (home / ".netrc").write_text(f"machine example.org password {secret}")
    monkeypatch.setenv("HOME", str(home))
    src = (f"import os\nfor p in ['{home}/.cache/huggingface/token', '{home}/.netrc']:\n"
           "    try:\n        print(open(p).read())\n    except OSError as e:\n        print('denied', e.errno)\n")
    r = run_python(src, limits=FAST)
    assert r.status == "ok" and secret not in r.stdout, r.stdout
    assert (home / ".netrc").read_text().endswith(secret)  # untouched outside


@needs_ns
def test_namespace_view_is_private():
    r = run_python("import os\nprint(os.getppid(), sorted(p for p in os.listdir('/proc') if p.isdigit()))", limits=FAST)
    assert r.status == "ok"
    ppid, pids = r.stdout.split(" ", 1)
    assert ppid == "1" and eval(pids) == ["1", "2"]


def test_temp_directory_is_removed(tmp_path, monkeypatch):
    import tempfile

    private = tmp_path / "tmp"
    private.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(private))
    r = run_python("import os\nopen('junk', 'w').write('x' * 1000)\nprint(os.getcwd())", limits=FAST)
    assert r.status == "ok" and r.stdout.startswith(str(private))
    assert list(private.iterdir()) == []
    r = run_python("while True:\n    pass\n", limits=FAST)  # also after a kill
    assert r.status == "timeout" and list(private.iterdir()) == []


# -- fallback layers (no namespaces): still contained ------------------------------------------------

@needs_seccomp
def test_fallback_without_namespaces():
    tag = secrets.token_hex(6)
    target = Path(f"/tmp/kit_pwned_{tag}")
    try:
        r = run_python(f"open({str(target)!r}, 'w').write('x')", limits=FAST, namespaces=False, allow_weak=True)
        assert r.status == "runtime_error" and not target.exists()
        assert "ns" not in r.isolation.split("+")
        assert run_python("import os\nos.fork()", limits=FAST, namespaces=False, allow_weak=True).status == "runtime_error"
        assert run_python("print(6 * 7)", limits=FAST, namespaces=False, allow_weak=True).stdout.strip() == "42"
    finally:
        target.unlink(missing_ok=True)


# -- output comparison ------------------------------------------------------------------------------

@pytest.mark.parametrize("got, expected, ok", [
    ("9 7\n", "9 7", True),
    ("9  7 \r\n", "9 7\n", True),
    ("1.0\n", "1", True),
    ("0.5000", "0.5", True),
    ("9 8", "9 7", False),
    ("9\n7", "9 7", False),
    ("", "", True),
    ("Yes\nNo\n", "Yes\nNo", True),
    ("yes", "Yes", False),
    ("1e3", "1000", True),
    ("abc 1", "abc 1.00", True),
    ("abc", "abd", False),
])
def test_outputs_match(got, expected, ok):
    assert outputs_match(got, expected) is ok


# -- weak mode (no namespaces): refused by default; when allowed, no filesystem changes at all ------------

from kit.eval.sandbox import ALLOW_WEAK_ENV, FORCE_WEAK_ENV, WeakSandboxRefused  # noqa: E402
from kit.errors import KitError  # noqa: E402

MODES = ["ns", "weak"]


def _run(mode: str, src: str, limits: Limits = FAST, **kw):
    if mode == "ns" and os.geteuid() != 0 and not ISOLATION.startswith("ns+"):
        pytest.skip(f"no namespaces for this user ({ISOLATION})")
    r = run_python(src, limits=limits, namespaces=mode == "ns", allow_weak=mode == "weak", **kw)
    assert (r.isolation.split("+")[0] == "ns") == (mode == "ns"), r
    return r


def test_weak_mode_is_refused_by_default(monkeypatch):
    monkeypatch.delenv(ALLOW_WEAK_ENV, raising=False)
    with pytest.raises(WeakSandboxRefused) as exc:
        run_python("print('ran')", limits=FAST, namespaces=False)
    msg = str(exc.value)
    assert isinstance(exc.value, KitError) and "\n" not in msg and f"{ALLOW_WEAK_ENV}=1" in msg
    monkeypatch.setenv(FORCE_WEAK_ENV, "1")  # the env var forces the weak mode where namespaces work
    with pytest.raises(WeakSandboxRefused):
        run_tests("print('ran')", [{"input": "", "output": "ran", "testtype": "stdin"}], limits=FAST)
    monkeypatch.setenv(ALLOW_WEAK_ENV, "1")  # the opt-in
    r = run_python("print('ran')", limits=FAST)
    assert r.status == "ok" and r.stdout == "ran\n" and "ns" not in r.isolation.split("+")
    if X86_64:
        assert "nofswrite" in r.isolation.split("+")


ATTACKS = {
    "open": "open(T, 'w').write('pwned')",
    "open_new": "open(N, 'w').write('pwned')",
    "io_fileio": "import _io\n_io.FileIO(T, 'w').write(b'pwned')",
    "posix_open": "import posix\nfd = posix.open(T, posix.O_WRONLY | posix.O_TRUNC)\nposix.write(fd, b'pwned')",
    "os_open_create": "import os\nfd = os.open(N, os.O_WRONLY | os.O_CREAT)\nos.write(fd, b'pwned')",
    "ctypes_open": ("import ctypes, os\nlibc = ctypes.CDLL(None, use_errno=True)\n"
                    "fd = libc.open(T.encode(), os.O_WRONLY | os.O_TRUNC)\nassert fd >= 0\n"
                    "assert libc.write(fd, b'pwned', 5) == 5"),
    "unlink": "import posix\nposix.unlink(T)",
    "rename": "import posix\nposix.rename(T, N)",
    "chmod": "import posix\nposix.chmod(T, 0o777)",
    "chmod_dir": "import os\nos.chmod(D, 0o777)",
    "mkdir": "import os\nos.mkdir(N)",
    "symlink": "import os\nos.symlink('/etc/passwd', N)",
    "truncate": "import os\nos.truncate(T, 0)",
    "utime": "import os\nos.utime(T, (0, 0))",
}


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("attack", sorted(ATTACKS))
def test_filesystem_attacks_outside_the_folder_fail(tmp_path, mode, attack):
    canary = tmp_path / "canary"
    canary.mkdir(mode=0o755)
    keep = canary / "keep.txt"
    keep.write_text("still here")
    keep.chmod(0o644)
    before = (keep.stat().st_mode, keep.stat().st_mtime_ns, canary.stat().st_mode)
    src = (f"T, N, D = {str(keep)!r}, {str(canary / 'new')!r}, {str(canary)!r}\n" + ATTACKS[attack]
           + "\nprint('escaped')\n")
    r = _run(mode, src)
    assert r.status == "runtime_error" and "escaped" not in r.stdout, r
    assert sorted(p.name for p in canary.iterdir()) == ["keep.txt"]
    assert keep.read_text() == "still here"
    assert (keep.stat().st_mode, keep.stat().st_mtime_ns, canary.stat().st_mode) == before


@pytest.mark.parametrize("mode", MODES)
def test_write_flood_is_capped(mode):
    lim = Limits(wall_s=3.0, cpu_s=3.0, memory_mb=512, tmpfs_mb=8)
    src = ("import os\nchunk, total = b'x' * (1 << 20), 0\n"
           "for d in ('.', '/dev/shm', '/tmp'):\n"
           "    for i in range(48):\n"
           "        try:\n"
           "            with open(os.path.join(d, f'flood{i}'), 'wb', buffering=0) as f:\n"
           "                f.write(chunk)\n"
           "            total += 1\n"
           "        except OSError:\n"
           "            break\n"
           "print(total)\n")
    r = _run(mode, src, lim)
    assert r.status == "ok", r
    written_mb = int(r.stdout.strip())
    if mode == "weak":
        assert written_mb == 0  # the weak mode writes nothing, not even in its own folder
    else:
        assert written_mb <= lim.tmpfs_mb + 16  # its tmpfs plus the 16 MB /dev/shm; /tmp is read-only


@pytest.mark.parametrize("mode", MODES)
def test_killing_the_kit_leaves_no_program_running(tmp_path, mode):
    if mode == "ns" and os.geteuid() != 0 and not ISOLATION.startswith("ns+"):
        pytest.skip(f"no namespaces for this user ({ISOLATION})")
    import signal
    import time

    scratch = tmp_path / "kit_tmp"
    scratch.mkdir()
    kit = subprocess.Popen(
        [sys.executable, "-c", "from kit.eval.sandbox import Limits, run_python\n"
         f"run_python('import time\\ntime.sleep(30)', limits=Limits(wall_s=30, cpu_s=30), "
         f"namespaces={mode == 'ns'}, allow_weak=True)"],
        cwd=ROOT, env={**os.environ, "TMPDIR": str(scratch)})

    def ours() -> list[int]:
        pids = []
        for d in os.listdir("/proc"):
            if d.isdigit() and int(d) != kit.pid:
                try:
                    if str(scratch).encode() in Path(f"/proc/{d}/cmdline").read_bytes():
                        pids.append(int(d))
                except OSError:
                    pass
        return pids

    try:
        end = time.monotonic() + 15
        while not any(b"--exec" in Path(f"/proc/{p}/cmdline").read_bytes() for p in ours() if Path(f"/proc/{p}").exists()):
            assert time.monotonic() < end and kit.poll() is None, "the program never started"
            time.sleep(0.05)
        kit.send_signal(signal.SIGKILL)
        kit.wait()
        end = time.monotonic() + 5
        while ours() and time.monotonic() < end:
            time.sleep(0.05)
        assert ours() == [], "a candidate program outlived the kit"
    finally:
        kit.kill()
        kit.wait()
        for p in ours():  # processes this test started (through the kit): never leave them behind
            try:
                os.kill(p, signal.SIGKILL)
            except OSError:
                pass


# -- expected outputs are out of the program's reach ----------------------------------------------------

FIXTURE = ROOT / "kit" / "data" / "fixtures" / "benchmarks" / "livecodebench.jsonl"
CHEAT = f'''```python
import base64, json, pickle, sys, zlib
inp = sys.stdin.read()
for line in open({str(FIXTURE)!r}):
    row = json.loads(line)
    tests = json.loads(row["public_test_cases"])
    try:
        tests += json.loads(row["private_test_cases"])
    except ValueError:
        tests += json.loads(pickle.loads(zlib.decompress(base64.b64decode(row["private_test_cases"]))))
    for t in tests:
        if t["input"] == inp:
            print(t["output"])
            sys.exit()
```'''


@pytest.mark.parametrize("mode", MODES)
def test_candidate_cannot_read_the_expected_outputs(mode, monkeypatch):
    from kit.eval import benchmarks
    from kit.eval.benchmarks.livecodebench import last_code_block

    b = benchmarks.get("livecodebench")
    item = {it.id: it for it in b.items(b.load(True))}["fx_abc001_a"]
    t = b.tests(item)[0]
    # the cheat works wherever the fixture is readable (here, outside the sandbox) ...
    out = subprocess.run([sys.executable, "-c", last_code_block(CHEAT)], input=t["input"], capture_output=True,
                         text=True, timeout=30).stdout
    assert outputs_match(out, t["output"])
    # ... and scores 0 inside it, in either mode
    if mode == "ns" and os.geteuid() != 0 and not ISOLATION.startswith("ns+"):
        pytest.skip(f"no namespaces for this user ({ISOLATION})")
    monkeypatch.setenv(FORCE_WEAK_ENV, "1" if mode == "weak" else "0")
    monkeypatch.setenv(ALLOW_WEAK_ENV, "1" if mode == "weak" else "0")
    assert b.score(item, CHEAT, CHEAT) == {"paper": 0.0, "sandbox_ns": 1.0 if mode == "ns" else 0.0}


@pytest.mark.parametrize("mode", MODES)
def test_dataset_caches_are_hidden(tmp_path, monkeypatch, mode):
    secret = "expected-" + secrets.token_hex(8)
    hf = tmp_path / "hf_home"
    (hf / "datasets").mkdir(parents=True)
    (hf / "datasets" / "answers.txt").write_text(secret)
    monkeypatch.setenv("HF_HOME", str(hf))
    r = _run(mode, f"import os\ntry:\n    print(open({str(hf / 'datasets' / 'answers.txt')!r}).read())\n"
                   f"except OSError as e:\n    print('denied', e.errno)\n")
    assert r.status == "ok" and secret not in r.stdout and r.stdout.startswith("denied"), r


def test_isolation_is_recorded_per_lcb_row_and_reported(monkeypatch):
    from kit.eval import benchmarks
    from kit.eval.code_tests import sandbox_report_lines

    b = benchmarks.get("livecodebench")
    item = b.items(b.load(True))[0]
    expected_ns = 1.0 if ISOLATION.startswith("ns+") else 0.0
    assert b.score(item, "no code", "no code") == {"paper": 0.0, "sandbox_ns": expected_ns}
    monkeypatch.setenv(FORCE_WEAK_ENV, "1")
    monkeypatch.setenv(ALLOW_WEAK_ENV, "1")
    assert b.score(item, "no code", "no code")["sandbox_ns"] == 0.0
    assert b.score(item, "```python\nprint(1)\n```", "")["sandbox_ns"] == 0.0
    scores = {"base": {"livecodebench": {"scores": {"paper": 0.5, "sandbox_ns": 1.0}}},
              "arm": {"livecodebench": {"scores": {"paper": 0.5, "sandbox_ns": 0.25}},
                      "ifeval": {"scores": {"paper": 0.5}}}}
    line = "\n".join(sandbox_report_lines(scores))
    assert "WEAK" in line and "arm/livecodebench 75%" in line and ALLOW_WEAK_ENV in line
    assert "WEAK" not in "\n".join(sandbox_report_lines({"base": scores["base"]}))
    assert sandbox_report_lines({"base": {"ifeval": {"scores": {"paper": 1.0}}}}) == []


def test_hidden_paths_never_hide_what_the_program_needs(monkeypatch, tmp_path):
    import tempfile

    from kit.eval.sandbox import HIDE_ENV, hidden_paths

    monkeypatch.setenv("HF_HOME", "/")
    monkeypatch.setenv(HIDE_ENV, os.pathsep.join([tempfile.gettempdir(), str(ROOT / "kit"), str(tmp_path)]))
    hidden = hidden_paths()
    assert "/" not in hidden and tempfile.gettempdir() not in hidden and str(ROOT / "kit") not in hidden
    assert str(tmp_path.resolve()) in hidden and str(ROOT / "kit" / "data") in hidden
    assert run_python("print(6 * 7)", limits=FAST).stdout == "42\n"


def test_weak_mode_reads_only_system_and_interpreter_dirs(tmp_path, monkeypatch):
    secret = "kit-secret-" + secrets.token_hex(8)
    monkeypatch.setenv("KIT_TEST_SECRET", secret)
    (tmp_path / "note.txt").write_text(secret)
    src = (f"import json, os\nout = [json.dumps([1])]\nfor p in [{str(tmp_path / 'note.txt')!r}, "
           f"f'/proc/{{os.getppid()}}/environ', '/proc/self/environ', {str(ROOT / 'README.md')!r}]:\n"
           "    try:\n        out.append(open(p, 'rb').read()[:200].decode(errors='replace'))\n"
           "    except OSError as e:\n        out.append(f'denied {e.errno}')\n"
           "print(out)\n")
    r = _run("weak", src)
    assert r.status == "ok" and secret not in r.stdout, r
    if "landlock" in r.isolation.split("+"):
        assert eval(r.stdout) == ["[1]"] + ["denied 13"] * 4


def test_sandbox_start_failures_are_kit_errors_and_git_objects_are_hidden():
    """A sandbox that cannot start is a one-line KitError (not a traceback); the repository's git objects, which
    hold every committed fixture and so the expected outputs, are hidden like the fixtures themselves."""
    from kit.errors import KitError
    from kit.eval.sandbox import SandboxError, WeakSandboxRefused, hidden_paths

    assert issubclass(SandboxError, KitError) and issubclass(WeakSandboxRefused, SandboxError)
    git = (Path(__file__).resolve().parents[1] / ".git").resolve()
    assert str(git) in hidden_paths()
