"""Measurements on evaluation results: Transferability Index (ti) and paired bootstrap statistics (bootstrap)."""

from kit.measure.bootstrap import BenchmarkItems, align_items, bootstrap_ti, mcnemar_exact, paired_test, wilson_ci
from kit.measure.ti import GROUPS, group_averages, ti_both, ti_v1, ti_v2

__all__ = [
    "GROUPS",
    "BenchmarkItems",
    "align_items",
    "bootstrap_ti",
    "group_averages",
    "mcnemar_exact",
    "paired_test",
    "ti_both",
    "ti_v1",
    "ti_v2",
    "wilson_ci",
]
