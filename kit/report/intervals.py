"""Numbers with intervals as a student reads them (the study report, kit/study.py): an estimate printed at the
precision of its interval, zero printed as 0 (never -0.0 or -4.74e-15), a zero-width interval said in words."""

from __future__ import annotations

import math
from typing import Any

_SUP = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")


def finite(*vs: Any) -> bool:
    return all(isinstance(v, (int, float)) and math.isfinite(v) for v in vs)


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


def num(v: float, d: int, exp: int = 0, signed: bool = False) -> str:
    """`v` at `d` decimals (in units of 10**exp); what rounds to zero prints as 0, never -0.0 or -4.74e-15."""
    if not finite(v):
        return "–"
    text = f"{v / 10 ** exp:.{d}f}"
    if float(text) == 0:
        return f"{0:.{d}f}"
    return ("+" + text) if signed and not text.startswith("-") else text


def estimate(v: float, lo: float, hi: float, signed: bool = False, flat: str = "interval of zero width",
             unit: bool = True, least: int = 0) -> str:
    """"+12.3 [8.1, 16.5]" at the interval's precision; a zero-width interval is said in words, not printed
    as "[0.0, 0.0]" beside an estimate it does not contain. `unit`: append a power of ten where one is used;
    `least`: decimals at least (points keep the run report's one decimal, so -0.5 never prints as 0)."""
    d, exp = precision((hi - lo) / 2 if finite(lo, hi) else math.nan, [v, lo, hi])
    d = max(d, least) if not exp else d
    power = f"×10{str(exp).translate(_SUP)}" if exp and unit else ""
    if not finite(lo, hi):
        return num(v, d, exp, signed) + power
    if num(lo, d, exp) == num(hi, d, exp):
        return f"{num(v, d, exp, signed)}{power} ({flat})"
    return f"{num(v, d, exp, signed)} [{num(lo, d, exp)}, {num(hi, d, exp)}]{power}"
