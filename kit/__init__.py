"""Replication kit for "Does Math Reasoning Improve General LLM Capabilities?" (arXiv 2507.00432)."""

import os

__version__ = "0.1.0"

# OpenMP threads that spin while waiting make torch's many tiny CPU ops crawl whenever another process
# shares the cores (measured here: 2 threads, tiny Qwen3 generate, 31.7 s spinning vs 1.4 s passive on a
# 2-core machine with one other busy process). Must be set before torch is imported; users may override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
