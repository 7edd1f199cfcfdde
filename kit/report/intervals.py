"""Numbers with intervals as a student reads them, the one rule of both reports (the run report, kit/report/build.py,
and the study report, kit/study.py): an estimate printed at the precision of its interval, zero printed as 0 (never
-0.0 or -4.74e-15), a zero-width interval said in words, a bound that is not 0 never printed as 0."""

from __future__ import annotations

import math
import statistics
from typing import Any

_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
NOISE = 1e-9  # a bound this small beside the interval's size is float noise (e.g. -4.74e-15): it prints as 0


def finite(*vs: Any) -> bool:
    """Every value a real, finite number (a bool is a flag, not a number)."""
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in vs)


def mean_ci(values: list[float], ci: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided t-interval over the finite values (NaN bounds under two: no interval exists)."""
    from scipy.stats import t

    vals = [v for v in values if finite(v)]
    m = statistics.fmean(vals) if vals else math.nan
    if len(vals) < 2:
        return m, math.nan, math.nan
    half = float(t.ppf(0.5 + ci / 2, len(vals) - 1)) * statistics.stdev(vals) / math.sqrt(len(vals))
    return m, m - half, m + half


def precision(half: float, values: list[float]) -> tuple[int, int]:
    """(decimals, power of ten) that print an estimate at the precision of its interval: two significant digits
    of the half-width; with no spread, three of the largest value. Tiny magnitudes get a power of ten instead of
    a run of zeros."""
    big = max((abs(v) for v in values if finite(v)), default=0.0)
    if finite(half) and half > 0:
        d = 1 - math.floor(math.log10(half))
    elif big > 0:
        d = 2 - math.floor(math.log10(big))
    else:
        return 0, 0
    exp = math.floor(math.log10(big)) if big > 0 and d > 5 else 0
    return max(0, d + exp), exp


def power(exp: int) -> str:
    """"×10⁻⁵" for exp -5; "" for 0."""
    return f"×10{str(exp).translate(_SUP)}" if exp else ""


def num(v: float, d: int, exp: int = 0, signed: bool = False) -> str:
    """`v` at `d` decimals (in units of 10**exp); what rounds to zero prints as 0, never -0.0 or -4.74e-15."""
    if not finite(v):
        return "–"
    text = f"{v / 10 ** exp:.{d}f}"
    if float(text) == 0:
        return f"{0:.{d}f}"
    return ("+" + text) if signed and not text.startswith("-") else text


def bound(b: float, d: int, exp: int, scale: float) -> str:
    """An interval's bound at `d` decimals, except one that is not 0 but rounds to 0 there: it gets the decimals
    that show its first digit (0.04, -0.04), so "[0.0, 24.5]" never stands beside "the interval excludes 0".
    Float noise (|b| under NOISE × the interval's `scale`) stays 0."""
    text = num(b, d, exp)
    if finite(b) and float(text) == 0 and abs(b) > NOISE * scale:
        text = num(b, max(d, -math.floor(math.log10(abs(b) / 10 ** exp))), exp)
    return text


def estimate(v: float, lo: float, hi: float, signed: bool = False, flat: str = "interval of zero width",
             unit: bool = True, least: int = 0, at: tuple[int, int] | None = None) -> str:
    """"+12.3 [8.1, 16.5]" at the interval's precision; a zero-width interval is said in words, not printed
    as "[0.0, 0.0]" beside an estimate it does not contain. `unit`: append a power of ten where one is used;
    `least`: decimals at least (points keep the run report's one decimal, so -0.5 never prints as 0); `at`:
    (decimals, power of ten) already chosen, e.g. for a table row whose cells share them."""
    if at is None:
        d, exp = precision((hi - lo) / 2 if finite(lo, hi) else math.nan, [v, lo, hi])
        d = max(d, least) if not exp else d
    else:
        d, exp = at
    text = num(v, d, exp, signed)
    if not finite(lo, hi):
        return text + (power(exp) if unit else "")
    scale = max(abs(x) for x in (v, lo, hi) if finite(x))
    low, high = bound(lo, d, exp, scale), bound(hi, d, exp, scale)
    if low == high:
        return f"{text}{power(exp) if unit else ''} ({flat})"
    return f"{text} [{low}, {high}]{power(exp) if unit else ''}"
