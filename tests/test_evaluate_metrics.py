"""The `evaluate` metric modules load by path offline and agree with kit.measure."""

import importlib.util
import math
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_EVALUATE_OFFLINE", "1")

from kit.measure.ti import ti_v2  # noqa: E402
from tests.test_ti import BASE_OF, COLS, GROUPS, PAIRS, ROWS  # noqa: E402

METRICS = Path(__file__).resolve().parents[1] / "metrics"


@pytest.fixture(scope="module")
def evaluate():
    # a declared dependency (pyproject.toml): a missing `evaluate` is a broken install, so it fails here, never skips
    import evaluate

    return evaluate


@pytest.fixture(scope="module")
def ti_metric(evaluate):
    return evaluate.load(str(METRICS / "transferability_index"))


def _embedded():
    spec = importlib.util.spec_from_file_location("ti_metric_file", METRICS / "transferability_index" / "transferability_index.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod.embedded_ti_v2


@pytest.mark.parametrize("base,model", PAIRS)
def test_ti_metric_agrees_with_kit(ti_metric, base, model):
    groups = [GROUPS[c] for c in COLS]
    want = ti_v2(dict(zip(COLS, ROWS[base])), dict(zip(COLS, ROWS[model])), GROUPS)
    for use_kit in (True, False):
        got = ti_metric.compute(predictions=ROWS[model], references=ROWS[base], groups=groups, benchmarks=COLS, use_kit=use_kit)
        assert got["implementation"] == ("kit" if use_kit else "embedded")
        assert got["TI_other"] == pytest.approx(want["TI_other"], rel=1e-9)
        assert got["TI_non"] == pytest.approx(want["TI_non"], rel=1e-9)
        assert got["DI_math"] == pytest.approx(want["DI"]["math"], rel=1e-9)
        assert got["base_avg_other"] == pytest.approx(want["base_avg"]["other"])


def test_ti_metric_analyst_value_and_degenerate(ti_metric):
    groups = [GROUPS[c] for c in COLS]
    got = ti_metric.compute(predictions=ROWS["UniReason-RL"], references=ROWS[BASE_OF["UniReason-RL"]], groups=groups)
    assert round(got["TI_other"], 1) == 71.0 and round(got["TI_non"], 1) == 84.1
    base = ROWS["Qwen3-14B-Base"]
    emb = _embedded()
    b = dict(zip(COLS, base))
    for use_kit in (True, False):
        got = ti_metric.compute(predictions=base, references=base, groups=groups, benchmarks=COLS, use_kit=use_kit)
        assert math.isnan(got["TI_other"]) and "di_math_zero" in got["flags"]
    # degenerate rules identical in the embedded copy and the kit
    m = dict(b)
    for k in ("GPQA", "LCB2", "ACP", "HeadQA"):
        m[k] = b[k] + 2.0
    m["AIME24"] += 10.0
    e, k = emb(b, m, GROUPS), ti_v2(b, m, GROUPS)
    assert sorted(e["flags"]) == sorted(k["flags"]) and e["TI_other"] == k["TI_other"] == 0.0
    assert e["TI_non"] == pytest.approx(k["TI_non"], nan_ok=True)
    with pytest.raises(ValueError):
        ti_metric.compute(predictions=[1.0], references=[2.0], groups=["code"])


def test_math_accuracy_metric(evaluate):
    acc = evaluate.load(str(METRICS / "math_accuracy"))
    preds = [
        "so the answer is \\boxed{0.5}",
        "The answer is 204.",
        "\\boxed{C}",
        "We get \\boxed{(3, \\frac{\\pi}{2})}",
        "\\boxed{6}",
        "no idea",
    ]
    refs = ["\\frac{1}{2}", "204", "\\text{(C)}", "\\left( 3, \\frac{\\pi}{2} \\right)", "5", "7"]
    r = acc.compute(predictions=preds, references=refs)
    assert r["scores"] == [1, 1, 1, 1, 0, 0]
    assert r["accuracy"] == pytest.approx(4 / 6) and r["n"] == 6 and r["n_correct"] == 4


def test_math_accuracy_scores_golds_with_escaped_dollars(evaluate):
    # #10 item 9: MATH-500 has money answers such as "\$18.90"; the metric treated the escaped "$" as a
    # math delimiter and never parsed the gold, so a gold scored as its own prediction was wrong
    acc = evaluate.load(str(METRICS / "math_accuracy"))
    golds = ["\\$18.90", "\\$32,\\!348", "\\$1.17", "\\frac{1}{2}", "$2^{1009}$"]
    r = acc.compute(predictions=["\\boxed{" + g.strip("$") + "}" for g in golds], references=golds)
    assert r["scores"] == [1, 1, 1, 1, 1]
    r = acc.compute(predictions=["The total is $\\$18.90$."], references=["\\$18.90"])
    assert r["scores"] == [1]
    r = acc.compute(predictions=["\\boxed{\\$18.80}"], references=["\\$18.90"])
    assert r["scores"] == [0]
