"""Replication kit for "Does Math Reasoning Improve General LLM Capabilities?" (arXiv 2507.00432)."""

import os

__version__ = "0.1.0"

# OpenMP threads that spin while waiting make torch's many tiny CPU ops crawl whenever another process
# shares the cores (measured here: 2 threads, tiny Qwen3 generate, 31.7 s spinning vs 1.4 s passive on a
# 2-core machine with one other busy process). Must be set before torch is imported; users may override.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Known-harmless library messages, filtered where they are logged (not silenced wholesale). bitsandbytes logs on
# every import on a CPU with AVX512-BF16 that its optional `kernels` package is missing
# (bitsandbytes/backends/cpu/ops.py:250-255); without it bitsandbytes keeps its own CPU path, which the kit's
# CPU runs (fp32, mostly unquantized) are fine with.
import logging as _logging


class _KnownHarmless(_logging.Filter):
    def filter(self, record: _logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Failed to load CPU gemm_4bit_forward from kernels-community")


_logging.getLogger("bitsandbytes.backends.cpu.ops").addFilter(_KnownHarmless())
