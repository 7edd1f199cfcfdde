"""Numbers, flags and tokens as a student reads them in the report, and the machine a run was made on.

Every number is printed at the precision of its estimate: an interval's bounds at the estimate's decimals, and
anything that rounds to 0 there prints as 0 (no -0.0, no 1e-15 from float noise). The bootstrap's inconclusive
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

ZERO = 1e-9  # a statistic of order 1 computed in float64 that is this close to 0 is rounding noise: it is 0
REASONS = {  # kit.measure.bootstrap's inconclusive flags, in words
    "math_gain_ci_includes_0": "the math gain's interval includes 0",
    "di_math_ci_includes_0": "the math index's interval includes 0",
    "math_rel_gain_ci_includes_0": "the relative math gain's interval includes 0",
    "ti_point_undefined": "TI is undefined (no math gain to divide by)"}


def finite(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def fixed(x: Any, places: int) -> str:
    """x at `places` decimals; '–' when missing, and '0' for anything that rounds to 0 there (no -0.0, no 1e-15)."""
    if not finite(x):
        return "–"
    s = f"{x:.{places}f}"
    return "0" if float(s) == 0 else s


def decimals(x: Any, sig: int) -> int | None:
    """Decimals that show x to `sig` significant figures; None when that needs more than 6 (use 1.2e-07)."""
    if not finite(x) or abs(x) < ZERO:
        return 0
    places = max(0, sig - 1 - math.floor(math.log10(abs(x))))
    return places if places <= 6 else None


def num(x: Any, sig: int = 3) -> str:
    """A statistic to `sig` significant figures, so a student sees its size without exponent noise."""
    places = decimals(x, sig)
    return f"{x:.{sig - 1}e}" if places is None else fixed(x, places)


def est(x: Any, lo_hi: list[float] | None, sig: int = 2) -> str:
    """An estimate and its interval at the estimate's precision (the bounds at the same decimals)."""
    ref = x if finite(x) and abs(x) >= ZERO else max((abs(v) for v in lo_hi or [] if finite(v)), default=0.0)
    places = decimals(ref, sig)
    if places is None:
        fmt = lambda v: "–" if not finite(v) else ("0" if abs(v) < ZERO else f"{v:.{sig - 1}e}")  # noqa: E731
    else:
        fmt = lambda v: fixed(v, places)  # noqa: E731
    ok = lo_hi and len(lo_hi) == 2 and all(finite(v) for v in lo_hi)
    return fmt(x) + (f" [{fmt(lo_hi[0])}, {fmt(lo_hi[1])}]" if ok else "")


def pct(x: float | None, digits: int = 1) -> str:
    return fixed(x, digits)


def ci(lo_hi: list[float] | None) -> str:
    if not lo_hi or any(not finite(v) for v in lo_hi):
        return ""
    return f" [{fixed(lo_hi[0], 1)}, {fixed(lo_hi[1], 1)}]"


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
    return (f"TI v2: other reasoning {pct(v2['TI_other'])}{ci(v2['TI_other_ci'])}, non-reasoning "
            f"{pct(v2['TI_non'])}{ci(v2['TI_non_ci'])} (bootstrap intervals)")


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


def machine(manifests: dict[str, dict[str, Any]]) -> str:
    """The report's machine line: accelerator, CPU model, torch threads and version. Facts the run's manifests
    record (`hardware`, `cpu`, `torch_threads`, `versions`) win; the rest is this machine's, and says so."""
    def first(key: str) -> Any:
        return next((m[key] for m in manifests.values() if m.get(key)), None)

    hw, cpu, threads = first("hardware") or "unknown", first("cpu"), first("torch_threads")
    version = (first("versions") or {}).get("torch")
    here = [k for k, v in (("CPU", cpu), ("threads", threads), ("torch version", version)) if v is None]
    torch = sys.modules.get("torch")  # loaded in the run's process; the report itself never imports it
    cpu = cpu or cpu_model()
    threads = threads or (torch.get_num_threads() if torch else None)
    version = version or _installed("torch")
    note = f" ({', '.join(here)} of the machine that built this report: the run's manifests do not record them)" \
        if here else ""
    return f"{hw}; CPU {cpu}; torch {version}, {threads or 'unknown'} threads{note}"


def _installed(package: str) -> str:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return "not installed"
