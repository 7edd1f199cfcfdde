"""Transferability Index (TI v2, arXiv 2507.00432 §2.1) as a Hugging Face `evaluate` metric.

Load it by path (works offline): evaluate.load("<repo>/metrics/transferability_index").

Inputs (one entry per benchmark, all in %):
    predictions: the fine-tuned model's scores
    references:  its base model's scores
    groups:      (keyword) the group of each benchmark, one of "math", "other", "non"
    benchmarks:  (keyword, optional) benchmark names (default b0, b1, ...)
    ddof:        (keyword, optional) std ddof, default 1 (TI does not depend on it when groups have equal sizes)

Output: TI_other, TI_non, DI_math, DI_other, DI_non, base/model group averages, flags, implementation.
The computation is delegated to kit.measure.ti.ti_v2 when the kit is importable; otherwise the embedded copy
below (same formula and degenerate-case rules, tested to agree) is used. `implementation` says which.
"""

import importlib
import math

import datasets
import evaluate

_CITATION = """@article{huan2025math,
  title={Does Math Reasoning Improve General LLM Capabilities? Understanding Transferability of LLM Reasoning},
  author={Huan, Maggie and Li, Yuetai and Zheng, Tuney and Xu, Xiaoyu and Kim, Seungone and Du, Minxin and Poovendran, Radha and Neubig, Graham and Yue, Xiang},
  journal={arXiv preprint arXiv:2507.00432},
  year={2025}
}
"""

_DESCRIPTION = "Transferability Index v2: headroom-weighted signed-sqrt z-scored gains per group, ratio to math."

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of float, the fine-tuned model's per-benchmark scores in %.
    references: list of float, the base model's per-benchmark scores in %.
    groups: list of str, "math" / "other" / "non" per benchmark.
    benchmarks: optional list of str names.
    ddof: optional int, standard deviation ddof (default 1).
Returns:
    TI_other, TI_non (nan if DI_math is 0), DI_math, DI_other, DI_non, base_avg_<g>, model_avg_<g>,
    flags (list of str), implementation ("kit" or "embedded").
Examples:
    >>> ti = evaluate.load("metrics/transferability_index")
    >>> ti.compute(predictions=[60, 50, 40, 30], references=[50, 45, 42, 28], groups=["math", "math", "other", "other"])
"""

GROUPS = ("math", "other", "non")
SIGMA_TOL = 1e-9
DI_TOL = 1e-12


def _std(xs, ddof):
    n = len(xs)
    if n - ddof <= 0:
        return float("nan")
    m = sum(xs) / n
    return math.sqrt(sum((x - m) ** 2 for x in xs) / (n - ddof))


def embedded_ti_v2(base, model, groups, ddof=1):
    """Self-contained TI v2 (dicts benchmark -> score in %, benchmark -> group)."""
    flags = []
    di = {}
    avg_b, avg_m = {}, {}
    for g in GROUPS:
        names = sorted(b for b in base if groups[b] == g)
        if not names:
            di[g] = float("nan")
            avg_b[g] = avg_m[g] = float("nan")
            flags.append("group_missing:" + g)
            continue
        d = [float(model[b]) - float(base[b]) for b in names]
        sigma = _std(d, ddof)
        if not math.isfinite(sigma):
            flags.append("sigma_undefined:" + g)
            z = [0.0] * len(d)
        elif sigma <= SIGMA_TOL:
            flags.append("sigma_zero:" + g)
            z = [0.0] * len(d)
        else:
            z = [x / sigma for x in d]
        s = [math.copysign(math.sqrt(abs(x)), x) if x != 0 else 0.0 for x in z]
        w = [100.0 - float(base[b]) for b in names]
        tot = sum(w)
        if not tot > 0:
            flags.append("zero_headroom:" + g)
            w = [1.0 / len(names)] * len(names)
        else:
            w = [x / tot for x in w]
        di[g] = sum(a * b for a, b in zip(w, s))
        avg_b[g] = sum(float(base[b]) for b in names) / len(names)
        avg_m[g] = sum(float(model[b]) for b in names) / len(names)
    dm = di["math"]
    bad = not math.isfinite(dm) or abs(dm) <= DI_TOL
    if bad and "group_missing:math" not in flags:
        flags.append("di_math_zero")
    ti = {g: (float("nan") if bad else di[g] / dm * 100.0) for g in ("other", "non")}
    return {"TI_other": ti["other"], "TI_non": ti["non"], "DI": di, "base_avg": avg_b, "model_avg": avg_m, "flags": flags}


def _kit_ti_v2():
    try:
        return importlib.import_module("kit.measure.ti").ti_v2
    except ImportError:
        return None


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class TransferabilityIndex(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features(
                {"predictions": datasets.Value("float64"), "references": datasets.Value("float64")}
            ),
            reference_urls=["https://arxiv.org/abs/2507.00432"],
        )

    def _compute(self, predictions, references, groups=None, benchmarks=None, ddof=1, use_kit=True):
        if groups is None or len(groups) != len(predictions):
            raise ValueError("pass groups=[...] with one of 'math'/'other'/'non' per benchmark")
        names = list(benchmarks) if benchmarks is not None else ["b%d" % i for i in range(len(predictions))]
        if len(names) != len(predictions) or len(set(names)) != len(names):
            raise ValueError("benchmarks must be unique names, one per prediction")
        for g in groups:
            if g not in GROUPS:
                raise ValueError("unknown group %r; use one of %s" % (g, GROUPS))
        base = dict(zip(names, [float(x) for x in references]))
        model = dict(zip(names, [float(x) for x in predictions]))
        grp = dict(zip(names, groups))
        fn = _kit_ti_v2() if use_kit else None
        if fn is not None:
            r = fn(base, model, grp, ddof=ddof)
            impl = "kit"
        else:
            r = embedded_ti_v2(base, model, grp, ddof=ddof)
            impl = "embedded"
        out = {"TI_other": r["TI_other"], "TI_non": r["TI_non"]}
        for g in GROUPS:
            out["DI_" + g] = r["DI"][g]
            out["base_avg_" + g] = r["base_avg"][g]
            out["model_avg_" + g] = r["model_avg"][g]
        out["flags"] = list(r["flags"])
        out["implementation"] = impl
        return out
