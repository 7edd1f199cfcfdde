"""Training data (the paper's released math sets) and the shipped fixtures."""

from kit.stages import Stage

# the data stage: the problems both arms train on, at the plan's scale-derived sizes
STAGE = Stage("data", "kit.data:run_stage",
              keys=("seed", "scale", "model.id", "model.revision", "model.tiny", "model.toy_quick", "data", "chat",
                    "sft.max_length", "resolved.problems", "resolved.rl_problems"),
              writes=("data",))


def run_stage(ctx):
    from kit.data.train_sets import build

    return build(ctx.recipe, ctx.tokenizer(), ctx.plan.problems, ctx.run_dir / "data")
