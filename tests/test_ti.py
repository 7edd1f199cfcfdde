"""TI v2 / v1 against the paper's own tables, an independent re-implementation, and degenerate cases."""

import json
import math
import statistics

import pytest

from kit.errors import KitError
from kit.measure.ti import group_averages, ti_both, ti_v1, ti_v2

COLS = ["AIME24", "AIME25", "MATH500", "Olympiad", "GPQA", "LCB2", "ACP", "HeadQA", "CoQA", "MC-TACO", "IFEval", "HaluEval"]
GROUPS = dict(zip(COLS, ["math"] * 4 + ["other"] * 4 + ["non"] * 4))

# paper.md §5.4 (Table 1) and §4 (Tables 9-11), in the column order above
ROWS = {
    "Qwen3-14B-Base": [13.0, 9.3, 60.4, 27.9, 42.6, 29.7, 10.7, 37.6, 10.0, 67.7, 69.2, 35.7],
    "UniReason-think-SFT": [52.0, 37.0, 85.0, 25.0, 55.9, 21.9, 68.6, 34.8, 1.7, 38.2, 42.3, 2.3],
    "UniReason-no-think-SFT": [16.0, 13.0, 77.2, 22.7, 48.7, 23.5, 69.3, 35.0, 5.3, 66.1, 41.4, 3.3],
    "UniReason-RL": [55.7, 38.0, 87.8, 33.8, 57.7, 40.6, 65.4, 40.2, 28.2, 74.0, 70.0, 40.7],
    "Qwen3-14B-think": [79.0, 67.7, 92.0, 44.7, 65.0, 81.0, 85.7, 35.2, 2.6, 66.1, 42.9, 5.5],
    "Qwen3-14B-no-think": [27.3, 21.3, 82.2, 36.1, 50.8, 51.8, 64.3, 36.3, 44.1, 74.9, 90.5, 70.7],
    "General-Reasoner-SFT": [35.0, 22.6, 78.4, 30.6, 43.9, 19.7, 64.3, 39.9, 1.4, 49.4, 31.7, 10.8],
    "General-Reasoner-RL": [24.4, 19.2, 83.0, 33.5, 56.1, 32.9, 75.0, 44.0, 4.8, 51.19, 72.0, 55.7],
    "Qwen2.5-7B-Instruct": [12.0, 9.7, 72.8, 29.6, 23.4, 32.9, 57.5, 33.7, 8.1, 74.6, 80.0, 64.6],
    "s1.1-7B": [23.3, 13.3, 75.8, 28.7, 41.4, 10.7, 36.7, 31.4, 1.1, 70.0, 40.2, 14.3],
    "Qwen2.5-7B-Base": [3.3, 1.6, 59.1, 11.6, 37.5, 7.8, 26.8, 38.4, 0.9, 61.7, 47.4, 17.2],
    "SimpleRL-7B": [15.7, 7.6, 69.8, 24.1, 29.3, 14.7, 35.4, 34.1, 1.2, 59.7, 48.4, 28.9],
}
PAIRS = [
    ("Qwen3-14B-Base", "UniReason-think-SFT"),
    ("Qwen3-14B-Base", "UniReason-no-think-SFT"),
    ("Qwen3-14B-Base", "UniReason-RL"),
    ("Qwen3-14B-Base", "Qwen3-14B-think"),
    ("Qwen3-14B-Base", "Qwen3-14B-no-think"),
    ("Qwen3-14B-Base", "General-Reasoner-SFT"),
    ("Qwen3-14B-Base", "General-Reasoner-RL"),
    ("Qwen2.5-7B-Instruct", "s1.1-7B"),
    ("Qwen2.5-7B-Base", "SimpleRL-7B"),
]

# paper.md §2.3: analyst's recomputation (v2 formula, v1 formula), TI_other / TI_non
ANALYST = {
    "UniReason-think-SFT": ((42.9, -148.5), (85.7, -41.2)),
    "UniReason-no-think-SFT": ((96.7, -239.6), (741.5, -250.3)),
    "UniReason-RL": ((71.0, 84.1), (83.9, 29.3)),
    "s1.1-7B": ((-36.3, -113.3), (-25.3, -166.4)),
    "General-Reasoner-RL": ((67.3, 0.3), (262.5, -6.5)),
}
BASE_OF = dict((m, b) for b, m in PAIRS)


def scores(name):
    return dict(zip(COLS, ROWS[name]))


# ---------- an independent implementation, written from paper.md §2.1/§2.2 without the kit's helpers ----------
def indep_v2(base_row, model_row):
    di = []
    for g in range(3):
        b = base_row[4 * g : 4 * g + 4]
        m = model_row[4 * g : 4 * g + 4]
        dr = [y - x for x, y in zip(b, m)]
        sd = statistics.stdev(dr)  # sample std
        terms = []
        hw = [100 - x for x in b]
        for d, h in zip(dr, hw):
            z = d / sd
            terms.append(h / sum(hw) * (1 if z > 0 else -1 if z < 0 else 0) * abs(z) ** 0.5)
        di.append(sum(terms))
    return di[1] / di[0] * 100, di[2] / di[0] * 100, di


def indep_v1(base_row, model_row):
    g = [
        sum((model_row[i] - base_row[i]) / base_row[i] for i in range(4 * k, 4 * k + 4)) / 4 for k in range(3)
    ]
    return g[1] / g[0] * 100, g[2] / g[0] * 100


@pytest.mark.parametrize("base,model", PAIRS)
def test_v2_matches_independent_implementation(base, model):
    r = ti_v2(scores(base), scores(model), GROUPS)
    o, n, di = indep_v2(ROWS[base], ROWS[model])
    assert r["TI_other"] == pytest.approx(o, rel=1e-10, abs=1e-10)
    assert r["TI_non"] == pytest.approx(n, rel=1e-10, abs=1e-10)
    assert [r["DI"][g] for g in ("math", "other", "non")] == pytest.approx(di, rel=1e-10)
    assert r["flags"] == []
    assert r["ddof"] == 1


@pytest.mark.parametrize("base,model", PAIRS)
def test_v1_matches_independent_implementation(base, model):
    r = ti_v1(scores(base), scores(model), GROUPS)
    o, n = indep_v1(ROWS[base], ROWS[model])
    assert r["TI_other"] == pytest.approx(o, rel=1e-10)
    assert r["TI_non"] == pytest.approx(n, rel=1e-10)


@pytest.mark.parametrize("model", sorted(ANALYST))
def test_analyst_recomputed_values(model):
    (o2, n2), (o1, n1) = ANALYST[model]
    base = scores(BASE_OF[model])
    r2 = ti_v2(base, scores(model), GROUPS)
    r1 = ti_v1(base, scores(model), GROUPS)
    assert round(r2["TI_other"], 1) == pytest.approx(o2, abs=0.051)
    assert round(r2["TI_non"], 1) == pytest.approx(n2, abs=0.051)
    assert round(r1["TI_other"], 1) == pytest.approx(o1, abs=0.051)
    assert round(r1["TI_non"], 1) == pytest.approx(n1, abs=0.051)


def test_published_values_are_not_reproduced():
    """paper.md §2.3: the printed TIs (52.2 / -104.1 for think SFT) do not follow from the printed scores."""
    r = ti_v2(scores("Qwen3-14B-Base"), scores("UniReason-think-SFT"), GROUPS)
    assert abs(r["TI_other"] - 52.2) > 5 and abs(r["TI_non"] + 104.1) > 5


def test_group_averages_match_table_1():
    # Table 1 averages (ICML-corrected Other avg): base 27.7/30.2/45.7, RL 53.8/51.0/53.2, no-think 32.3/44.1/29.0
    for name, want in [
        ("Qwen3-14B-Base", (27.7, 30.2, 45.7)),
        ("UniReason-RL", (53.8, 51.0, 53.2)),
        ("UniReason-no-think-SFT", (32.3, 44.1, 29.0)),
        ("UniReason-think-SFT", (49.8, 45.3, 21.1)),
    ]:
        avg = group_averages(scores(name), GROUPS)
        for g, w in zip(("math", "other", "non"), want):
            assert avg[g] == pytest.approx(w, abs=0.1), (name, g)  # printed averages use unrounded scores
    r = ti_v2(scores("Qwen3-14B-Base"), scores("UniReason-RL"), GROUPS)
    assert r["base_avg"]["math"] == pytest.approx(27.65)
    assert r["model_avg"]["other"] == pytest.approx(51.0, abs=0.051)
    assert r["gain_avg"]["non"] == pytest.approx(r["model_avg"]["non"] - r["base_avg"]["non"])


def test_ddof_invariance_equal_group_sizes_only():
    b, m = scores("Qwen3-14B-Base"), scores("UniReason-RL")
    r0, r1 = ti_v2(b, m, GROUPS, ddof=0), ti_v2(b, m, GROUPS, ddof=1)
    assert r0["TI_other"] == pytest.approx(r1["TI_other"], rel=1e-12)
    assert r0["TI_non"] == pytest.approx(r1["TI_non"], rel=1e-12)
    # DI itself scales by (n/(n-1))**(1/4)
    assert r0["DI"]["math"] / r1["DI"]["math"] == pytest.approx((4 / 3) ** 0.25)
    # with unequal group sizes the choice matters
    b3 = {k: v for k, v in b.items() if k != "HaluEval"}
    m3 = {k: v for k, v in m.items() if k != "HaluEval"}
    assert ti_v2(b3, m3, GROUPS, ddof=0)["TI_non"] != pytest.approx(ti_v2(b3, m3, GROUPS, ddof=1)["TI_non"], rel=1e-6)


def test_identical_model_is_flagged_not_inf():
    b = scores("Qwen3-14B-Base")
    r = ti_v2(b, dict(b), GROUPS)
    assert math.isnan(r["TI_other"]) and math.isnan(r["TI_non"])
    assert set(r["flags"]) >= {"sigma_zero:math", "sigma_zero:other", "sigma_zero:non", "di_math_zero"}
    assert all(v == 0.0 for v in r["DI"].values())
    r1 = ti_v1(b, dict(b), GROUPS)
    assert math.isnan(r1["TI_other"]) and "math_gain_zero" in r1["flags"]


def test_sigma_zero_in_one_group_gives_zero_delta():
    b = scores("Qwen3-14B-Base")
    m = scores("UniReason-RL")
    for k in ("GPQA", "LCB2", "ACP", "HeadQA"):
        m[k] = b[k] + 3.0  # all other-group gains equal -> sigma_other = 0
    r = ti_v2(b, m, GROUPS)
    assert "sigma_zero:other" in r["flags"]
    assert r["TI_other"] == 0.0 and r["DI"]["other"] == 0.0
    assert math.isfinite(r["TI_non"])


def test_equal_math_gains_make_ti_undefined():
    b = scores("Qwen3-14B-Base")
    m = scores("UniReason-RL")
    for k in ("AIME24", "AIME25", "MATH500", "Olympiad"):
        m[k] = b[k] + 5.0
    r = ti_v2(b, m, GROUPS)
    assert "sigma_zero:math" in r["flags"] and "di_math_zero" in r["flags"]
    assert math.isnan(r["TI_other"]) and math.isnan(r["TI_non"])


def test_missing_group_zero_headroom_single_benchmark():
    b = {"m1": 10.0, "m2": 20.0, "o1": 100.0, "o2": 100.0}
    m = {"m1": 30.0, "m2": 25.0, "o1": 90.0, "o2": 100.0}
    g = {"m1": "math", "m2": "math", "o1": "other", "o2": "other", "unused": "non"}
    r = ti_v2(b, m, g)
    assert "group_missing:non" in r["flags"] and math.isnan(r["TI_non"])
    assert "zero_headroom:other" in r["flags"]
    assert r["weights"]["o1"] == 0.5 and math.isfinite(r["TI_other"])
    r2 = ti_v2({"m1": 10.0, "o1": 5.0}, {"m1": 20.0, "o1": 6.0}, g)
    assert "sigma_undefined:math" in r2["flags"] and math.isnan(r2["TI_other"])


def test_v1_zero_base_is_excluded_and_flagged():
    b = scores("Qwen3-14B-Base")
    m = scores("UniReason-RL")
    b["CoQA"] = 0.0
    r = ti_v1(b, m, GROUPS)
    assert "zero_base:CoQA" in r["flags"]
    want = sum((m[k] - b[k]) / b[k] for k in ("MC-TACO", "IFEval", "HaluEval")) / 3
    assert r["rel_gain"]["non"] == pytest.approx(want)


def test_validation_errors():
    b = scores("Qwen3-14B-Base")
    with pytest.raises(KitError):
        ti_v2(b, {**b, "AIME24": 101.0}, GROUPS)
    with pytest.raises(KitError):
        ti_v2(b, {k: v for k, v in b.items() if k != "IFEval"}, GROUPS)
    with pytest.raises(KitError):
        ti_v2(b, b, {**GROUPS, "IFEval": "coding"})
    with pytest.raises(KitError):
        ti_v2(b, b, {k: v for k, v in GROUPS.items() if k != "IFEval"})


def test_fraction_scores_are_flagged_and_output_is_json():
    b = {k: v / 100 for k, v in scores("Qwen3-14B-Base").items()}
    m = {k: v / 100 for k, v in scores("UniReason-RL").items()}
    assert "scores_look_like_fractions" in ti_v2(b, m, GROUPS)["flags"]
    both = ti_both(scores("Qwen3-14B-Base"), scores("UniReason-RL"), GROUPS)
    json.dumps(both)
    assert both["v2"]["benchmarks"][:4] == sorted(["AIME24", "AIME25", "MATH500", "Olympiad"])
