"""On-policy RL arm: GRPO with a LoRA adapter and a math-verify correctness reward (TRL GRPOTrainer).

Every value that changes results comes from the recipe (TRL changed beta, loss_type and scale_rewards
defaults several times); the GRPO health monitor watches for runs that cannot learn.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kit.data.train_sets import read_jsonl
from kit.dist import split_grpo, trainer_processes
from kit.train.console import quiet_console
from kit.train.common import (JsonlLog, ResumeGuard, checkpoint_state, common_args, last_checkpoint, save_adapter,
                              steps_for)
from kit.train.health import HealthMonitor
from kit.train.rewards import build_rewards
from kit.train.rollouts import (GENERATION, check_dapo, chunk_generate, clip_can_act, clip_note,  # noqa: F401
                                generation_chunk, generation_mode)


def grpo_kwargs(recipe, hw, out_dir: Path, n_prompts: int, reward_weights: list[float],
                check_installed: bool = True, processes: int | None = None) -> dict[str, Any]:
    """Every GRPOConfig argument the kit sets (TRL changed beta, loss_type, scale_rewards and vLLM defaults between
    versions), for one of `processes` trainer processes (default: the recipe's, kit.dist.trainer_processes)."""
    g = recipe.grpo
    check_dapo(recipe)
    mode = generation_mode(recipe, hw, check_installed)
    steps = g.max_steps or steps_for(n_prompts, g.epochs, g.prompts_per_step * g.grad_accum)
    # several trainer processes share each step's sequences and the rollout stays the recipe's (kit.dist.split_grpo,
    # the rule the plan uses too)
    batch, accum, spg = split_grpo(g.prompts_per_step * g.num_generations, g.grad_accum, g.steps_per_generation,
                                   processes or trainer_processes(recipe))
    kw = common_args(recipe, g, hw, out_dir, steps, grad_accum=accum)
    if g.warmup_steps is not None:
        kw["warmup_steps"] = g.warmup_steps  # an int >= 1 is steps, a float < 1 a ratio (transformers 5)
    kw.update(
        per_device_train_batch_size=batch,
        # rollout batch = per_device_train_batch_size x steps_per_generation (grpo_config.py:1085-1099); None keeps
        # TRL's default, steps_per_generation = gradient_accumulation_steps, stated explicitly
        steps_per_generation=spg, generation_batch_size=None,
        num_iterations=g.num_iterations,
        num_generations=g.num_generations, max_completion_length=g.max_completion_length,
        temperature=g.temperature, top_p=g.top_p, top_k=g.top_k, loss_type=g.loss_type, beta=g.beta,
        epsilon=g.epsilon, epsilon_high=g.epsilon_high,
        scale_rewards={"none": "none", "group": "group", "batch": "batch"}[g.scale_rewards],
        mask_truncated_completions=g.mask_truncated_completions, reward_weights=reward_weights,
        vllm_importance_sampling_correction=False,
        # disable_dropout: TRL 1.15.0 defaults to False (grpo_config.py:452) and, when set, turns dropout off in the
        # policy and the reference model (grpo_trainer.py:980-983)
        log_completions=False, shuffle_dataset=True, disable_dropout=g.disable_dropout,
    )
    kw.update(GENERATION[mode](recipe))
    return kw


def grpo_config(recipe, hw, out_dir: Path, n_prompts: int, reward_weights: list[float]):
    from trl import GRPOConfig

    return GRPOConfig(**grpo_kwargs(recipe, hw, out_dir, n_prompts, reward_weights))


def rollout_shape(recipe, hw, check_installed: bool = False) -> dict[str, Any]:
    """How TRL will batch this recipe's rollouts, read off the real GRPOConfig the arm builds (for the planner).

    Precision flags are left out of the config built here: TrainingArguments refuses bf16 on a machine without
    such a GPU (transformers/training_args.py:1744-1750), and they do not change the rollout shape.
    """
    from trl import GRPOConfig

    n_rewards = max(1, sum(1 for w in recipe.grpo.reward_weights.values() if w != 0) + bool(recipe.grpo.overlong_buffer))
    # built for one process holding the whole global batch: TRL derives the generation batch from the world size
    # (grpo_config.py:1083-1099), which is 1 here; n trainer processes split the same batches (kit.dist.split_grpo)
    kw = grpo_kwargs(recipe, hw, Path(recipe.output_dir) / ".rollout_shape", 1, [1.0] * n_rewards, check_installed,
                     processes=1)
    kw.update(bf16=False, fp16=False)
    cfg = GRPOConfig(**kw)
    mode = generation_mode(recipe, hw, check_installed)
    return {
        "mode": mode, "use_vllm": cfg.use_vllm, "vllm_mode": cfg.vllm_mode if cfg.use_vllm else None,
        "continuous_batching": cfg.use_transformers_continuous_batching,
        "per_device_train_batch_size": cfg.per_device_train_batch_size,
        "gradient_accumulation_steps": cfg.gradient_accumulation_steps,
        "steps_per_generation": cfg.steps_per_generation, "generation_batch_size": cfg.generation_batch_size,
        "num_iterations": cfg.num_iterations, "num_generations": cfg.num_generations,
        "prompts_per_rollout": cfg.generation_batch_size // cfg.num_generations,
        "optimizer_steps_per_rollout": cfg.steps_per_generation * cfg.num_iterations / cfg.gradient_accumulation_steps,
        "generate_chunk": generation_chunk(recipe) if mode == "generate" else None,
        "clip_active": clip_can_act(cfg.gradient_accumulation_steps, cfg.steps_per_generation, cfg.num_iterations),
        "clip_note": clip_note(recipe),
        "trainer_processes": trainer_processes(recipe),
    }


def _trainable_model(ctx):
    """The LoRA-wrapped base; with vLLM rollouts on unsloth, loaded with its fast_inference engine (LoRA slots
    for the recipe's rank) so the trainer generates through model.vllm_engine."""
    if generation_mode(ctx.recipe, ctx.hw) != "vllm_unsloth":
        return ctx.trainable_model()
    from kit.models import add_lora, load_base, vllm_spec

    model, tok, backend = load_base(ctx.recipe, ctx.hw, ctx.cache_root, for_training=True, vllm=vllm_spec(ctx.recipe))
    return add_lora(model, ctx.recipe, backend), tok


def _with_overlong(recipe, funcs: list, weights: list[float]) -> tuple[list, list[float]]:
    """DAPO's soft overlong penalty as one more weighted reward (trl/rewards/other_rewards.py:83-138)."""
    g = recipe.grpo
    if not g.overlong_buffer:
        return funcs, weights
    from trl.rewards import get_soft_overlong_punishment

    return [*funcs, get_soft_overlong_punishment(g.max_completion_length, g.overlong_buffer)], [*weights, g.overlong_penalty]


def _prepare_rollouts(recipe, hw, model) -> None:
    """Chunked generate on the plain path; say once why the clip range is inert when it is."""
    import sys

    if generation_mode(recipe, hw) == "generate":
        chunk_generate(model, generation_chunk(recipe))
    note = clip_note(recipe)
    if note:
        print(f"warning: {note}", file=sys.stderr, flush=True)


def run(ctx, out_dir: Path) -> dict[str, Any]:
    recipe = ctx.recipe
    model, tok = _trainable_model(ctx)  # first: the unsloth backend must patch trl before trl is imported
    import datasets
    from trl import GRPOTrainer

    from kit.compat import patch_trl_for_cpu

    patch_trl_for_cpu()
    rows = read_jsonl(ctx.run_dir / "data" / "rl.jsonl")
    ds = datasets.Dataset.from_list([{"prompt": r["prompt"], "answer": r["answer"]} for r in rows])
    eos = {i for i in (tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id, tok.pad_token_id) if i is not None}
    funcs, weights = build_rewards(recipe.grpo.reward_weights, recipe.chat.enable_thinking,
                                   recipe.grpo.max_completion_length, eos)
    funcs, weights = _with_overlong(recipe, funcs, weights)
    args = grpo_config(recipe, ctx.hw, out_dir, len(rows), weights)
    _prepare_rollouts(recipe, ctx.hw, model)
    monitor = HealthMonitor(recipe.grpo.health, out_dir / "health.jsonl")
    trainer = GRPOTrainer(model=model, reward_funcs=funcs, args=args, train_dataset=ds, processing_class=tok,
                          callbacks=[JsonlLog(out_dir / "train_log.jsonl"), monitor])
    quiet_console(trainer, f"train {out_dir.name}")
    resume = last_checkpoint(out_dir)
    state = checkpoint_state(resume) if resume else {"log_history": [], "global_step": 0}
    monitor.restore(state["log_history"], state["global_step"])  # streaks and warnings survive a resume
    monitor.raise_if_stopped()
    guard = ResumeGuard(resume)  # a checkpoint that still fails to load: one line naming it, not a traceback
    trainer.add_callback(guard)
    guard.train(trainer)
    monitor.raise_if_stopped()
    summary = {"examples": len(rows), "steps": args.max_steps, "resumed_from": resume,
               "health_warnings": monitor.warnings}
    save_adapter(trainer.model, tok, out_dir, recipe, out_dir.name, summary, trainer=trainer)
    return summary
