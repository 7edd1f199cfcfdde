"""On-policy RL arm: GRPO with a LoRA adapter and a math-verify correctness reward (TRL GRPOTrainer).

Every value that changes results comes from the recipe (TRL changed beta, loss_type and scale_rewards
defaults several times); the GRPO health monitor watches for runs that cannot learn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kit.data.train_sets import read_jsonl
from kit.train.common import JsonlLog, common_args, last_checkpoint, save_adapter, steps_for
from kit.train.health import HealthMonitor
from kit.train.rewards import build_rewards


def grpo_config(recipe, hw, out_dir: Path, n_prompts: int, reward_weights: list[float]):
    from trl import GRPOConfig

    g = recipe.grpo
    steps = g.max_steps or steps_for(n_prompts, g.epochs, g.prompts_per_step * g.grad_accum)
    return GRPOConfig(
        **common_args(recipe, g, hw, out_dir, steps),
        per_device_train_batch_size=g.prompts_per_step * g.num_generations,
        num_generations=g.num_generations, max_completion_length=g.max_completion_length,
        temperature=g.temperature, top_p=g.top_p, top_k=g.top_k, loss_type=g.loss_type, beta=g.beta,
        epsilon=g.epsilon, epsilon_high=g.epsilon_high,
        scale_rewards={"none": "none", "group": "group", "batch": "batch"}[g.scale_rewards],
        mask_truncated_completions=g.mask_truncated_completions, reward_weights=reward_weights,
        num_iterations=1, use_vllm=False, vllm_importance_sampling_correction=False,
        log_completions=False, shuffle_dataset=True, disable_dropout=True,
    )


def run(ctx, out_dir: Path) -> dict[str, Any]:
    recipe = ctx.recipe
    model, tok = ctx.trainable_model()  # first: the unsloth backend must patch trl before trl is imported
    import datasets
    from trl import GRPOTrainer

    from kit.compat import patch_trl_for_cpu

    patch_trl_for_cpu()
    rows = read_jsonl(ctx.run_dir / "data" / "rl.jsonl")
    ds = datasets.Dataset.from_list([{"prompt": r["prompt"], "answer": r["answer"]} for r in rows])
    eos = {i for i in (tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id, tok.pad_token_id) if i is not None}
    funcs, weights = build_rewards(recipe.grpo.reward_weights, recipe.chat.enable_thinking,
                                   recipe.grpo.max_completion_length, eos)
    args = grpo_config(recipe, ctx.hw, out_dir, len(rows), weights)
    monitor = HealthMonitor(recipe.grpo.health, out_dir / "health.jsonl")
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=ds, processing_class=tok,
                          callbacks=[JsonlLog(out_dir / "train_log.jsonl"), monitor])
    resume = last_checkpoint(out_dir)
    trainer.train(resume_from_checkpoint=resume)
    monitor.raise_if_stopped()
    summary = {"examples": len(rows), "steps": args.max_steps, "resumed_from": resume,
               "health_warnings": monitor.warnings}
    save_adapter(trainer.model, tok, out_dir, recipe, out_dir.name, summary)
    return summary
