"""Evaluation: benchmark registry, generation engines, scoring, transfer index."""
