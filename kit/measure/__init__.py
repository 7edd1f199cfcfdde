"""Measurements on evaluation results: Transferability Index (ti), its bootstrap (bootstrap) and generic paired
statistics (stats)."""

from kit.measure.bootstrap import bootstrap_ti
from kit.measure.stats import BenchmarkItems, align_items, mcnemar_exact, paired_test, wilson_ci
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
