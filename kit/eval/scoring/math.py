"""Math answer scoring: the paper's string match (`paper`) and math-verify (`fixed`).

`paper` reproduces what the paper's harnesses computed (EvalChemy for MATH500/AIME, the lm-eval fork's
`olympiad` task for OlympiadBench): take the content of the last `\\boxed{...}` in the output and compare
it with the gold answer after the hendrycks-MATH string normalisation. There is no symbolic equivalence:
`0.5` equals `\\frac{1}{2}` only because the normaliser special-cases that one string, and `2/4` does not.
This is an independent implementation written from the published description of that normaliser
(see `strip_string`), not a copy of any harness's code.

`fixed` uses math-verify (`parse` + `verify`, gold first), which extracts the last boxed/LaTeX answer and
compares symbolically (fractions vs decimals, percentages, intervals, sets, equations `k=1` vs `1`).

Known weakness of `paper` on OlympiadBench: 266 of the 675 `final_answer` strings are wrapped in `$...$`
(e.g. `$2^{1009}$`). The normaliser removes only escaped `\\$`, so those items can never match a plain
boxed answer; `paper` caps OlympiadBench at about 61%. `fixed` parses the dollars as LaTeX delimiters.

What each column reads (`score_math`):
- `paper` reads the *whole* generation (`output`), reasoning included, exactly as the paper's harnesses did
  (EvalChemy's MATH500/AIME and the fork's `olympiad` task call `last_boxed_only_string` on the raw
  generation; neither strips a think block nor knows whether generation hit the length cap). A box inside
  unfinished reasoning therefore counts in `paper`, and an output without a complete box scores 0.
- `fixed` reads the answer after the last `</think>` (empty when thinking never closed: 0). An *unfinished*
  generation (cut by the length cap, `Generation.finished` False) is credited only for an explicit, complete
  `\\boxed{...}`/`\\fbox{...}`: math-verify's fallback (the first parseable number or expression in the
  text) would otherwise score stray text of a truncated answer ("... so x = 15 and then" for gold 15).
  Finished answers keep the fallback ("The answer is 15." counts).

Remaining differences between `paper` and the paper's code (nothing else differs):
- `\\boxed\\frac12`-style unbraced boxes: EvalChemy's `remove_boxed` assertion fails (answer "") and the
  OlympiadBench task's slices garbage ("rac{1"); here there is no answer. The verdict is 0 in all three;
- the OlympiadBench task raised an AssertionError (aborting the run) when the last boxed string contained
  `\\fbox{` (e.g. `\\boxed{\\fbox{5}}`); here the item is scored on the extracted `\\fbox{5}` (a miss);
- the harness's extraction ran on lm-eval/vLLM output; the kit's engines drop special tokens the same way
  (`<think>`/`</think>` are not special in Qwen3 and stay in the text).

Thread safety and noise (math-verify 0.9.0): its timeouts are `signal.alarm` (math_verify/utils.py:50-67),
which only works in the main thread; with a timeout set, `parse`/`verify` raise ValueError off the main
thread (parser.py:708-712, grader.py:855-859), and with the timeout off they can hang. On every timeout it
logs the whole input at WARNING (parser.py:729 "Timeout during parsing: {pred}", grader.py:879), and the
first call without a timeout logs a warning too (parser.py:693-698, grader.py:819-824); with no logging
configured Python prints WARNINGs to stderr. So: in the main thread math-verify runs here with its own
timeouts; from any other thread the call goes to one helper process (whose main thread can use
the alarms), with a wall-clock deadline after which the helper is killed and the item counts as wrong.
math-verify's logger is set to ERROR, so nothing is printed.
"""

from __future__ import annotations

import atexit
import json
import logging
import os
import re
import select
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any, Callable

from kit.eval.scoring.boxed import last_boxed

__all__ = [
    "paper_last_boxed",
    "strip_string",
    "is_equiv",
    "paper_correct",
    "verify_correct",
    "score_math",
    "has_complete_box",
    "VerifyProcess",
]

_BOXED = "\\boxed"
_FBOX = "\\fbox"


# -- the paper's extraction -------------------------------------------------------------------------------
def paper_last_boxed(text: str, allow_fbox: bool = False) -> str | None:
    """Content of the last `\\boxed{...}`, extracted the way the paper's harness did.

    Rules (as the hendrycks MATH extractor behaves):
    - if the form `\\boxed ` (followed by a space) occurs anywhere, the answer is whatever follows its last
      occurrence, up to the next `$`;
    - otherwise the last `\\boxed` (or, failing that, the last `\\fbox`) is read up to its matching brace;
      unbalanced braces give None;
    - `\\fbox{...}` content is returned only with `allow_fbox` (the OlympiadBench task handled it; the
      MATH/AIME code path raised on it and scored the item 0).
    For nested boxes the innermost last one wins: `\\boxed{\\boxed{5}}` -> `5`.
    """
    if text is None:
        return None
    spaced = _BOXED + " "
    if spaced in text:
        return text.rsplit(spaced, 1)[1].split("$", 1)[0]
    start = text.rfind(_BOXED)
    is_fbox = False
    if start < 0:
        start = text.rfind(_FBOX)
        if start < 0:
            return None
        is_fbox = True
    depth = 0
    end = None
    for pos in range(start, len(text)):
        ch = text[pos]
        if ch == "{":
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                end = pos
                break
    if end is None:
        return None
    span = text[start:end + 1]
    head = (_FBOX if is_fbox else _BOXED) + "{"
    if is_fbox and not allow_fbox:
        return None
    if not span.startswith(head):  # e.g. "\boxed\frac{1}{2}": the harness's un-boxing failed -> no answer
        return None
    return span[len(head):-1]


# -- the hendrycks MATH normaliser, reimplemented -------------------------------------------------------
def _brace_fracs(s: str) -> str:
    """`\\frac12` -> `\\frac{1}{2}`, `\\frac1{72}` -> `\\frac{1}{72}`; already-braced fracs are kept.

    Like the original, if some `\\frac` is followed by fewer than two characters the whole string is left
    unchanged, and a `\\frac` at the very end raises (the caller then falls back to raw equality)."""
    parts = s.split("\\frac")
    out = [parts[0]]
    for part in parts[1:]:
        if part[0] == "{":  # IndexError on a trailing "\frac" is intended (see docstring)
            out.append("\\frac" + part)
            continue
        if len(part) < 2:
            return s
        num, den, rest = part[0], part[1], part[2:]
        if den == "{":
            out.append("\\frac{" + num + "}{" + rest)
        else:
            out.append("\\frac{" + num + "}{" + den + "}" + rest)
    return "".join(out)


def _slash_to_frac(s: str) -> str:
    """`3/4` -> `\\frac{3}{4}` when the string is exactly `int/int`.

    Quirk kept on purpose: with exactly one `/` and a side that is not an integer (`(n-1)/2`), the original
    lets `int()` raise, which aborts the whole normalisation and makes `is_equiv` compare raw strings."""
    pieces = s.split("/")
    if len(pieces) != 2:
        return s
    num, den = int(pieces[0]), int(pieces[1])  # ValueError propagates (see docstring)
    if s != f"{num}/{den}":
        return s
    return "\\frac{" + str(num) + "}{" + str(den) + "}"


def _drop_text_units(s: str) -> str:
    """Drop a trailing unit written as `\\text{ unit}` (note the space). More than one such unit raises."""
    marker = "\\text{ "
    if marker not in s:
        return s
    pieces = s.split(marker)
    if len(pieces) != 2:
        raise ValueError("more than one \\text{ unit}")
    return pieces[0]


def _brace_sqrt(s: str) -> str:
    """`\\sqrt3` -> `\\sqrt{3}` (first character only)."""
    if "\\sqrt" not in s:
        return s
    parts = s.split("\\sqrt")
    out = [parts[0]]
    for part in parts[1:]:
        if part[0] != "{":  # IndexError on a trailing "\sqrt" is intended
            out.append("\\sqrt{" + part[0] + "}" + part[1:])
        else:
            out.append("\\sqrt" + part)
    return "".join(out)


def strip_string(s: str) -> str:
    """The hendrycks MATH answer normaliser, step by step:

    1. drop newlines and `\\!`; turn `\\\\` into `\\`; `tfrac`/`dfrac` -> `frac`;
    2. drop `\\left`, `\\right`, degree marks `^{\\circ}`/`^\\circ`, escaped dollars `\\$`
       (a bare `$` is NOT removed);
    3. drop a trailing `\\text{ unit}`; drop `\\%` (a bare `%` is NOT removed);
    4. `" ."` -> `" 0."`, `"{."` -> `"{0."`, a leading `.` gets a `0`;
    5. `k = 5` -> `5` when there is exactly one `=` and the left side has at most 2 characters;
    6. `\\sqrt3` -> `\\sqrt{3}`; remove all spaces; `\\frac12` -> `\\frac{1}{2}`;
    7. the string `0.5` becomes `\\frac{1}{2}`; an integer ratio `a/b` becomes `\\frac{a}{b}` (a single `/`
       between non-integers raises, so such answers are compared raw).
    May raise on malformed input; `is_equiv` then compares the raw strings.
    """
    s = s.replace("\n", "").replace("\\!", "")
    s = s.replace("\\\\", "\\")
    s = s.replace("tfrac", "frac").replace("dfrac", "frac")
    s = s.replace("\\left", "").replace("\\right", "")
    s = s.replace("^{\\circ}", "").replace("^\\circ", "")
    s = s.replace("\\$", "")
    s = _drop_text_units(s)
    # only the escaped percent (a bare "%" stays); done twice, as the original does (its two replace
    # calls spell the same string), which also removes a "\\%" formed by the first pass
    s = s.replace("\\%", "").replace("\\%", "")
    s = s.replace(" .", " 0.").replace("{.", "{0.")
    if not s:
        return s
    if s[0] == ".":
        s = "0" + s
    sides = s.split("=")
    if len(sides) == 2 and len(sides[0]) <= 2:
        s = sides[1]
    s = _brace_sqrt(s)
    s = s.replace(" ", "")
    s = _brace_fracs(s)
    if s == "0.5":
        s = "\\frac{1}{2}"
    return _slash_to_frac(s)


def _olympiad_pre(s: str) -> str:
    """The OlympiadBench task's extra step: strip leading zeros, and drop an all-zero fractional part
    (`"12.00"` -> `"12"`)."""
    s = s.lstrip("0")
    if "." in s and s.split(".")[1].rstrip("0") == "":
        s = s.split(".")[0]
    return s


def is_equiv(a: str | None, b: str | None, olympiad: bool = False) -> bool:
    """String equality after `strip_string` (raw equality if normalising raises)."""
    if a is None and b is None:
        return True
    if a is None or b is None:
        return False
    if olympiad:
        a, b = _olympiad_pre(a), _olympiad_pre(b)
    try:
        return strip_string(a) == strip_string(b)
    except Exception:  # the normaliser indexes past the end on malformed strings
        return a == b


def paper_correct(answer: str, gold: str, olympiad: bool = False) -> bool:
    """The paper's verdict: last boxed content of the answer vs gold, after normalisation.
    No boxed answer (or an empty answer) is wrong."""
    if not answer:
        return False
    boxed = paper_last_boxed(answer, allow_fbox=olympiad)
    if boxed is None:
        return False
    return is_equiv(str(gold), boxed, olympiad=olympiad)


# -- math-verify ------------------------------------------------------------------------------------------
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")
TIMEOUT_S = 5  # math-verify's own per-parse / per-comparison limit (its default)
DEADLINE_S = 60.0  # wall-clock limit on one off-main-thread call (helper start-up and import included)


def _gold_for_verify(gold: str) -> str:
    """Gold answers are bare LaTeX (`\\frac{14}{3}`, `\\$18.90`) or, in OlympiadBench, `$...$`-wrapped.
    math-verify needs an anchor to find LaTeX, so bare answers are boxed; `$`-wrapped ones are used as
    they are (an escaped `\\$` is a currency sign, not a delimiter)."""
    gold = str(gold).strip()
    if _UNESCAPED_DOLLAR.search(gold):
        return gold
    return "\\boxed{" + gold + "}"


def _math_verify() -> tuple[Callable[..., Any], Callable[..., Any]]:
    """math-verify's `parse` and `verify`, with its logger quietened (see the module docstring)."""
    from math_verify import parse, verify

    logging.getLogger("math_verify").setLevel(logging.ERROR)
    return parse, verify


def _verify_here(answer: str, gold: str) -> bool:
    """math-verify in the current (main) thread, with its own signal-based timeouts."""
    parse, verify = _math_verify()
    try:
        gold_parsed = parse(_gold_for_verify(gold), parsing_timeout=TIMEOUT_S)
        pred_parsed = parse(answer, parsing_timeout=TIMEOUT_S)
        if not gold_parsed or not pred_parsed:
            return False
        return bool(verify(gold_parsed, pred_parsed, timeout_seconds=TIMEOUT_S))
    except Exception:  # math-verify swallows most errors itself; anything left counts as a miss
        return False


def _serve_stdio() -> None:
    """The helper process (`python -m kit.eval.scoring.math`): one JSON `[answer, gold]` per stdin line,
    one `1`/`0` per stdout line, until stdin closes."""
    for line in sys.stdin:
        answer, gold = json.loads(line)
        sys.stdout.write("1\n" if _verify_here(answer, gold) else "0\n")
        sys.stdout.flush()


class VerifyProcess:
    """Runs math-verify for non-main threads in one helper process, one request at a time.

    The helper's main thread can use math-verify's alarms, so slow parses and comparisons time out there
    as they would in the main thread; `deadline_s` is a backstop for anything else: the helper is killed,
    the item counts as wrong, and the next call starts a fresh helper. It is a plain `python -m` child,
    not a multiprocessing one: "fork" is unsafe with threads and CUDA state, and "spawn"/"forkserver"
    re-import the caller's main script (re-running an unguarded one)."""

    def __init__(self, deadline_s: float = DEADLINE_S):
        self.deadline_s = deadline_s
        self._lock = threading.Lock()
        self._proc: subprocess.Popen[str] | None = None

    def _start(self) -> subprocess.Popen[str]:
        root = str(Path(__file__).resolve().parents[3])  # the directory holding the `kit` package
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
        self._proc = subprocess.Popen([sys.executable, "-m", "kit.eval.scoring.math"], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True, env=env)
        return self._proc

    def close(self) -> None:
        """Stop the helper (killed: it may be stuck in sympy)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for f in (self._proc.stdin, self._proc.stdout):
                if f is not None:
                    f.close()
        self._proc = None

    def verify(self, answer: str, gold: str) -> bool:
        with self._lock:
            proc = self._proc if self._proc is not None and self._proc.poll() is None else None
            if proc is None:
                self.close()
                proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(json.dumps([answer, gold]) + "\n")
                proc.stdin.flush()
                ready, _, _ = select.select([proc.stdout], [], [], self.deadline_s)
                if ready:
                    reply = proc.stdout.readline().strip()
                    if reply in ("0", "1"):
                        return reply == "1"
            except (OSError, ValueError):
                pass
            self.close()
            return False


_HELPER = VerifyProcess()
atexit.register(_HELPER.close)


def verify_correct(answer: str, gold: str) -> bool:
    """math-verify: `verify(parse(gold), parse(answer))`. An empty answer is wrong. Safe from any thread
    (off the main thread it runs in a helper process, see the module docstring) and prints nothing.

    math-verify reads the last boxed answer (or, without a box, the first expression it can parse), but
    boxes inside one math expression are read together as a set: `\\boxed{3} then \\boxed{4}` is {3, 4}.
    Its percent leniency is its own (50% matches 50, 62.5% does not match 62.5)."""
    if not answer or not answer.strip():
        return False
    answer = answer.replace("\\fbox{", "\\boxed{")  # math-verify only anchors on \boxed
    if threading.current_thread() is threading.main_thread():
        return _verify_here(answer, str(gold))
    return _HELPER.verify(answer, str(gold))


def has_complete_box(text: str) -> bool:
    """Whether the text holds a `\\boxed{...}`/`\\fbox{...}` whose braces close (an explicit final answer)."""
    return last_boxed(text) is not None


def score_math(answer: str, gold: str, olympiad: bool = False, output: str | None = None,
               finished: bool = True) -> dict[str, float]:
    """`{"paper": 0/1, "fixed": 0/1}` for one sample (see the module docstring for what each reads).

    `answer` is the text after the last `</think>` (empty: thinking never closed); `output` the whole
    generation (None: use `answer`, for callers that only have the answer); `finished` False when the
    generation hit the length cap, which limits `fixed` to an explicit complete box."""
    whole = answer if output is None else output
    paper = float(paper_correct(whole, gold, olympiad=olympiad))
    if not answer or not answer.strip() or (not finished and not has_complete_box(answer)):
        return {"paper": paper, "fixed": 0.0}
    return {"paper": paper, "fixed": float(verify_correct(answer, gold))}


if __name__ == "__main__":
    _serve_stdio()
