"""Measurements on evaluation results: Transferability Index (ti) and paired bootstrap statistics (bootstrap)."""

from kit.measure.ti import GROUPS, group_averages, ti_both, ti_v1, ti_v2

__all__ = ["GROUPS", "group_averages", "ti_both", "ti_v1", "ti_v2"]
