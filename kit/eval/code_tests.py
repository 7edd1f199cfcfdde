"""Running a candidate program against a code benchmark's tests, each test in its own sandboxed process
(kit/eval/sandbox/): stdin/stdout problems compare printed output; functional (LeetCode-style) problems
call the named function through a small harness and compare its JSON result."""

from __future__ import annotations

import json
import secrets
from decimal import Decimal, InvalidOperation
from typing import Any

from kit.eval.sandbox import ALLOW_WEAK_ENV, Limits, Verdict, isolation_level, run_python

# Score column recording the sandbox's isolation per sample: 1.0 = namespaces (private read-only filesystem,
# no network, own PID namespace), 0.0 = the weak mode (allowed only by KIT_SANDBOX_ALLOW_WEAK=1). Averaged,
# it is the share of samples scored with namespaces.
SANDBOX_COLUMN = "sandbox_ns"


def sandbox_ns(isolation: str = "") -> float:
    """1.0 when `isolation` (default: what this process gets) starts with the namespace layer, else 0.0."""
    iso = isolation or isolation_level()
    return 1.0 if iso.split("+")[0] == "ns" else 0.0


def sandbox_report_lines(scores: dict[str, Any]) -> list[str]:
    """One report line on the code sandbox's isolation, from scores.json's `sandbox_ns` columns."""
    cells = [(m, b, float(v["scores"][SANDBOX_COLUMN])) for m, per in scores.items() for b, v in per.items()
             if SANDBOX_COLUMN in v.get("scores", {})]
    if not cells:
        return []
    weak = [f"{m}/{b} {100 * (1 - x):.0f}%" for m, b, x in cells if x < 1.0]
    if not weak:
        return ["", "Code sandbox: every candidate program ran with namespace isolation (private read-only "
                    "filesystem, no network, own PID namespace)."]
    return ["", "Code sandbox: WEAK mode (no namespaces; Landlock + seccomp only; allowed by "
                f"{ALLOW_WEAK_ENV}=1) for share of samples: " + ", ".join(weak) + "."]

def outputs_match(got: str, expected: str) -> bool:
    """Compare program stdout with the expected stdout: line by line after trimming surrounding whitespace;
    a line that differs as text still matches when it has the same number of whitespace-separated tokens
    and each pair is textually equal or numerically equal as decimals (so "1.0" equals "1")."""
    g_lines = got.strip().splitlines()
    e_lines = expected.strip().splitlines()
    if len(g_lines) != len(e_lines):
        return False
    for g, e in zip(g_lines, e_lines):
        g, e = g.strip(), e.strip()
        if g == e:
            continue
        gt, et = g.split(), e.split()
        if len(gt) != len(et):
            return False
        for a, b in zip(gt, et):
            if a == b:
                continue
            try:
                if Decimal(a) != Decimal(b):
                    return False
            except (InvalidOperation, ValueError):
                return False
    return True


# Standard imports made available to LeetCode-style solutions (their starter code assumes `List` etc.).
_PRELUDE = (
    "from typing import *\n"
    "import collections, heapq, bisect, itertools, math, functools, string, re, sys, random, operator\n"
    "from collections import *\nfrom heapq import *\nfrom bisect import *\nfrom itertools import *\n"
    "from math import *\nfrom functools import *\n"
)

# Functional harness: defines the candidate, calls Solution().<fn>(*args) (or a top-level <fn>), prints the
# JSON of the return value after a nonce marker on the real stdout. Arguments arrive on stdin, one JSON
# value per line; argv = [nonce, fn_name]. The comparison happens in the parent.
_HARNESS = r'''
import io as _kit_io, json as _kit_json, os as _kit_os, sys as _kit_sys, contextlib as _kit_ctx
_kit_nonce, _kit_fn = _kit_sys.argv[1], _kit_sys.argv[2]
_kit_args = [_kit_json.loads(l) for l in _kit_sys.stdin.read().split("\n") if l.strip()]
_kit_out = _kit_os.dup(1)
with _kit_ctx.redirect_stdout(_kit_io.StringIO()):
    exec(compile(__KIT_SOURCE__, "solution.py", "exec"), globals())
    if "Solution" in globals() and hasattr(globals()["Solution"], _kit_fn):
        _kit_target = getattr(globals()["Solution"](), _kit_fn)
    else:
        _kit_target = globals()[_kit_fn]
    _kit_result = _kit_target(*_kit_args)
try:
    _kit_text = _kit_json.dumps(_kit_result)
except (TypeError, ValueError):
    _kit_text = _kit_json.dumps(repr(_kit_result))
_kit_os.write(_kit_out, ("\n" + _kit_nonce + _kit_text + "\n").encode())
'''


def _functional_source(candidate: str) -> str:
    return _HARNESS.replace("__KIT_SOURCE__", repr(_PRELUDE + candidate))


def run_tests(
    source: str,
    tests: list[dict[str, Any]],
    *,
    fn_name: str | None = None,
    timeout_s: float = 6.0,
    limits: Limits | None = None,
) -> Verdict:
    """Run `source` against every test ({"input", "output", "testtype": "stdin"|"functional"}), one contained
    process per test, stopping at the first failure. `passed` means all tests passed (pass@1 semantics)."""
    lim = limits or Limits(wall_s=timeout_s, cpu_s=timeout_s)
    if not tests:
        return Verdict(False, "runtime_error", 0, 0, "problem has no tests")
    n_ok, iso = 0, ""
    for i, t in enumerate(tests):
        functional = t.get("testtype") == "functional"
        if functional:
            if not fn_name:
                return Verdict(False, "runtime_error", n_ok, len(tests), "functional test without a function name")
            nonce = "@@kit:" + secrets.token_hex(8) + "@@"
            r = run_python(_functional_source(source), t.get("input", ""), lim, argv=(nonce, fn_name))
        else:
            r = run_python(source, t.get("input", ""), lim)
        iso = r.isolation
        if r.status != "ok":
            return Verdict(False, r.status, n_ok, len(tests), f"test {i}: {r.detail}; {r.stderr[-300:]}".strip(), iso)
        if functional:
            marker = r.stdout.rfind(nonce)
            ok = False
            if marker >= 0:
                try:
                    got = json.loads(r.stdout[marker + len(nonce):].strip().splitlines()[0])
                    ok = got == json.loads(t["output"])
                except (ValueError, IndexError):
                    ok = False
        else:
            ok = outputs_match(r.stdout, t.get("output", ""))
        if not ok:
            return Verdict(False, "wrong_answer", n_ok, len(tests), f"test {i}: wrong output", iso)
        n_ok += 1
    return Verdict(True, "ok", n_ok, len(tests), "", iso)


