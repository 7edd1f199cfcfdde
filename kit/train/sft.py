"""Off-policy SFT arm: LoRA on the teacher's responses, loss on the completion only (TRL SFTTrainer)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from kit.data.train_sets import read_jsonl
from kit.dist import split_batch, trainer_processes
from kit.train.console import quiet_console
from kit.train.common import (JsonlLog, ResumeGuard, checkpoint_state, common_args, last_checkpoint, save_adapter,
                              steps_for, whole_run_loss)


def sft_config(recipe, hw, out_dir: Path, n_examples: int, epochs: float | None = None):
    from trl import SFTConfig

    c = recipe.sft
    steps = c.max_steps or steps_for(n_examples, c.epochs if epochs is None else epochs, c.batch_size * c.grad_accum)
    # several trainer processes share the recipe's global batch (batch_size x grad_accum), so steps stay the same
    batch, accum = split_batch(c.batch_size, c.grad_accum, trainer_processes(recipe), "sft.batch_size/grad_accum")
    return SFTConfig(
        **common_args(recipe, c, hw, out_dir, steps, grad_accum=accum),
        per_device_train_batch_size=batch, max_length=c.max_length,
        completion_only_loss=True, packing=False, loss_type="nll",
        dataset_kwargs={"skip_prepare_dataset": False},
        # tokenizing in worker processes only pays off for big sets: on a GPU machine unsloth's default (one
        # process per core, 8 there) spent 25 s tokenizing 8 examples
        dataset_num_proc=1 if n_examples < 2000 else min(8, os.cpu_count() or 1),
    )


def train_on(recipe, hw, model, tokenizer, rows: list[dict[str, Any]], out_dir: Path,
             epochs: float | None = None, arm: str | None = None) -> dict[str, Any]:
    """Train a LoRA-wrapped model on prompt/completion rows; resumes from the last checkpoint in out_dir.
    The adapter is saved to out_dir/adapter."""
    import datasets
    from trl import SFTTrainer

    from kit.compat import patch_trl_for_cpu

    patch_trl_for_cpu()
    ds = datasets.Dataset.from_list([{"prompt": r["prompt"], "completion": r["completion"]} for r in rows])
    args = sft_config(recipe, hw, out_dir, len(rows), epochs)
    trainer = SFTTrainer(model=model, args=args, train_dataset=ds, processing_class=tokenizer,
                         callbacks=[JsonlLog(out_dir / "train_log.jsonl")])
    quiet_console(trainer, f"train {arm or out_dir.name}")
    resume = last_checkpoint(out_dir)
    resumed_state = checkpoint_state(resume) if resume else None  # before training: rotation may delete it
    guard = ResumeGuard(resume)
    trainer.add_callback(guard)
    result = guard.train(trainer)
    summary = {"examples": len(rows), "steps": args.max_steps, "resumed_from": resume,
               "train_loss": whole_run_loss(float(result.training_loss), result.global_step, resumed_state)}
    save_adapter(trainer.model, tokenizer, out_dir, recipe, arm or out_dir.name, summary, trainer=trainer)
    return summary


def run(ctx, out_dir: Path) -> dict[str, Any]:
    model, tok = ctx.trainable_model()
    return train_on(ctx.recipe, ctx.hw, model, tok, read_jsonl(ctx.run_dir / "data" / "sft.jsonl"), out_dir)


def run_matched_lr(ctx, out_dir: Path) -> dict[str, Any]:
    """Off-policy SFT at the RL arm's learning rate: the control for the paper's 50x learning-rate gap
    (SFT 5e-5 vs RL 1e-6), which reviewers named as a confound."""
    import dataclasses

    recipe = dataclasses.replace(ctx.recipe, sft=dataclasses.replace(ctx.recipe.sft,
                                                                     learning_rate=ctx.recipe.grpo.learning_rate))
    model, tok = ctx.trainable_model()
    summary = train_on(recipe, ctx.hw, model, tok, read_jsonl(ctx.run_dir / "data" / "sft.jsonl"), out_dir,
                       arm="sft_matched_lr")
    return {**summary, "learning_rate": recipe.sft.learning_rate}
