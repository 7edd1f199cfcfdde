"""Stand-ins for GPU-only packages (vllm, unsloth's fast_inference) so the kit's GPU path runs in CPU tests.

Each fake keeps the names, argument names and return shapes the kit relies on, copied from the pinned sources
(unsloth 2026.10.9, unsloth_zoo 2026.10.9, trl 1.15.0 in /work/src; file:line at each item). vLLM itself is
not installed here: its API is taken from how unsloth_zoo and TRL call it. They are put on sys.path (vllm) or
into sys.modules (unsloth) only by the fixtures in tests/test_gpu_path.py, never globally.
"""
