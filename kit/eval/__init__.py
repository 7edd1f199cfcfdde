"""Evaluation: benchmark registry, generation engines, scoring, transfer index."""

from kit.stages import COMMON_KEYS, Stage

# the eval stage: every arm's adapter (and the compared models) on the benchmarks, at the plan's item counts
STAGE = Stage("eval", "kit.eval.stage:run",
              keys=COMMON_KEYS + ("scale", "eval", "arms", "compare", "resolved.eval_items"),
              reads=("arms/*/adapter",), writes=("eval",))
