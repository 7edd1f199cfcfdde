"""Generation: decode settings and the engines that run them (transformers' generate, vLLM). Train, eval and
probe sit above it and share it; it knows nothing of benchmarks, arms or stages."""
