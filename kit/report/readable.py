"""Numbers, flags and tokens as a student reads them in the report, and the machine a run was made on.

Every estimate with an interval is printed by the rule of kit.report.intervals (the study report's too): at the
precision of its interval, 0 without float noise, a zero-width interval in words. The bootstrap's inconclusive
flags (kit.measure.bootstrap, e.g. `di_math_ci_includes_0`) are named in words.
"""

from __future__ import annotations

import importlib.metadata
import math
import platform
import re
import sys
from pathlib import Path
from typing import Any

from kit.report.intervals import estimate, finite, num

ZERO = 1e-9  # a statistic of order 1 computed in float64 that is this close to 0 is rounding noise: it is 0
REASONS = {  # kit.measure.bootstrap's inconclusive flags, in words
    "math_gain_ci_includes_0": "the math gain's interval includes 0",
    "di_math_ci_includes_0": "the math index's interval includes 0",
    "math_rel_gain_ci_includes_0": "the relative math gain's interval includes 0",
    "ti_point_undefined": "TI is undefined (no math gain to divide by)"}


def with_ci(x: Any, lo_hi: list[float] | None, signed: bool = False, least: int = 0) -> str:
    """An estimate and its interval as an artefact stores them ([lo, hi], null or missing), by the one rule
    (kit.report.intervals.estimate); without an interval, the estimate alone."""
    lo, hi = (lo_hi if lo_hi and len(lo_hi) == 2 else (None, None))
    return estimate(x if finite(x) else math.nan, *(v if finite(v) else math.nan for v in (lo, hi)),
                    signed=signed, least=least)


def stat(x: Any) -> str:
    """A statistic without an interval (a probe drop, 1 − CKA, a KL) at three significant figures by the same rule;
    within ZERO of 0 it is the float noise of an order-1 computation (1 − CKA of the base itself): 0."""
    return estimate(0.0 if finite(x) and abs(x) < ZERO else (x if finite(x) else math.nan), math.nan, math.nan)


def pct(x: float | None, digits: int = 1) -> str:
    """A score or TI in % with no interval beside it (the paper's published numbers), at the run report's one
    decimal."""
    return num(x, digits)


def reason(flag: str) -> str:
    """One inconclusive flag of the bootstrap in words (an unknown flag with its underscores as spaces)."""
    if flag in REASONS:
        return REASONS[flag]
    width = re.fullmatch(r"ti_(other|non)_ci_width_(\d+)>(\d+)", flag)
    if width:
        return f"the TI {width[1]}-reasoning interval is {width[2]} points wide (over {width[3]})"
    undefined = re.fullmatch(r"ti_undefined_in_([\d.]+)%_of_replicates", flag)
    if undefined:
        return f"TI is undefined in {undefined[1]}% of the bootstrap resamples"
    return flag.replace("_", " ")


def verdict(a: dict[str, Any]) -> str:
    """The TI v2 verdict of one arm in words."""
    if a.get("inconclusive"):
        return "TI v2 inconclusive: " + "; ".join(reason(r) for r in a.get("inconclusive_reasons", []))
    v2 = a["ti_v2"]
    return (f"TI v2: other reasoning {with_ci(v2['TI_other'], v2['TI_other_ci'])}, non-reasoning "
            f"{with_ci(v2['TI_non'], v2['TI_non_ci'])} (bootstrap intervals)")


def token(tok: Any) -> str:
    """A token as a code span a student can read: spaces as ␣, newlines as \\n, no bar that splits the table."""
    text = str(tok).replace("\\", "\\\\").replace("\n", "\\n").replace("\t", "\\t").replace(" ", "␣")
    return "`" + text.replace("`", "ˋ").replace("|", "\\|") + "`" if text else "(empty)"


def shifted(t: dict[str, Any]) -> str:
    """The tokens the arm ranks first where the base did not (with counts); 'none' when arm and base agree on
    every scored token (the selection in kit.probe.tokens.most_shifted_tokens then finds nothing)."""
    top = t.get("top_shifted") or []
    if top:
        return ", ".join(f"{token(tok)} ×{n}" for tok, n in top[:5])
    frac = (t.get("summary") or {}).get("rank_shift", {}).get("frac_ft_top1_base_not_top1")
    return "none: the base ranks every one first too" if frac in (0, 0.0, None) else "–"


def cpu_model(cpuinfo: Path = Path("/proc/cpuinfo")) -> str:
    """The CPU's marketing name (/proc/cpuinfo "model name"; platform.processor() where there is none)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.lower().startswith("model name") and ":" in line:
                return " ".join(line.split(":", 1)[1].split())
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def torch_threads() -> int | None:
    """torch's thread count where this process has torch loaded (a run's, or the study command's after its runs);
    None where it has not: a report never imports torch to ask."""
    torch = sys.modules.get("torch")
    return torch.get_num_threads() if torch else None


def torch_version() -> str | None:
    """The installed torch's version (read from its metadata, not by importing it); None when not installed."""
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return None


def recorded(manifests: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """What a run's stage manifests (in the order given) record of its machine: the first of each fact that one
    records (`hardware`, `cpu`, `torch_threads`, `versions.torch`), None for the rest."""
    def first(get: Any) -> Any:
        return next((v for m in manifests.values() if (v := get(m))), None)

    return {"hardware": first(lambda m: m.get("hardware")), "cpu": first(lambda m: m.get("cpu")),
            "torch": first(lambda m: (m.get("versions") or {}).get("torch")),
            "torch_threads": first(lambda m: m.get("torch_threads"))}


def machine(manifests: dict[str, dict[str, Any]]) -> str:
    """The report's machine line: accelerator, CPU model, torch threads and version. Facts the run's manifests
    record win; the rest is this machine's, and says so."""
    run = recorded(manifests)
    here = [k for k, v in (("CPU", run["cpu"]), ("threads", run["torch_threads"]), ("torch version", run["torch"]))
            if v is None]
    cpu = run["cpu"] or cpu_model()
    threads = run["torch_threads"] or torch_threads()
    version = run["torch"] or torch_version() or "not installed"
    note = f" ({', '.join(here)} of the machine that built this report: the run's manifests do not record them)" \
        if here else ""
    return f"{run['hardware'] or 'unknown'}; CPU {cpu}; torch {version}, {threads or 'unknown'} threads{note}"
