"""On-policy RL arm: GRPO with a LoRA adapter and a math-verify correctness reward (TRL GRPOTrainer).

Every value that changes results comes from the recipe (TRL changed beta, loss_type and scale_rewards
defaults several times); the GRPO health monitor watches for runs that cannot learn.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any, Callable

from kit.data.train_sets import read_jsonl
from kit.errors import KitError
from kit.hardware import choose_backend
from kit.train.common import JsonlLog, checkpoint_state, common_args, last_checkpoint, save_adapter, steps_for
from kit.train.health import HealthMonitor
from kit.train.rewards import build_rewards


# -- rollouts: how completions are generated ----------------------------------------------------------------
# One registry entry per generation path; `generation_mode` picks one from the recipe and the machine.


def _vllm_unsloth(recipe) -> dict[str, Any]:
    """unsloth's fast_inference engine, shared with training. unsloth's compiled trainer sets use_vllm=True and
    vllm_mode='colocate' itself when the model has a vllm_engine (unsloth/models/rl.py:4158-4178) and reuses
    model.vllm_engine instead of building TRL's LLM (rl.py:4221-4222, 4821); the kit states both explicitly, and
    the memory share the engine was started with (kit/models.py vllm_spec)."""
    return dict(use_vllm=True, vllm_mode="colocate", vllm_enable_sleep_mode=False,
                vllm_gpu_memory_utilization=recipe.model.gpu_memory_utilization)


def _vllm_trl(recipe) -> dict[str, Any]:
    """TRL's colocated vLLM (trl/generation/vllm_generation.py:347-364), synced with merged weights every step."""
    return dict(use_vllm=True, vllm_mode="colocate", vllm_enable_sleep_mode=False,
                vllm_gpu_memory_utilization=recipe.model.gpu_memory_utilization,
                vllm_max_model_length=recipe.data.max_prompt_tokens + recipe.grpo.max_completion_length,
                vllm_tensor_parallel_size=1)


def _continuous(recipe) -> dict[str, Any]:
    """transformers' continuous batching (trl grpo_trainer.py:771-786, 1742-1760): a paged KV cache within a memory
    budget, so a large rollout batch never needs one cache for every sequence at once."""
    return dict(use_vllm=False, use_transformers_continuous_batching=True,
                transformers_continuous_batching_config={"max_memory_percent": 0.5})


def _generate(recipe) -> dict[str, Any]:
    """Plain `generate`, split into `generation_chunk`-sized calls by `chunk_generate`. TRL passes its own
    GenerationConfig with disable_compile=True (grpo_trainer.py:1131), so a static cache would only preallocate the
    whole length without the compiled decode that makes it fast: the dynamic cache stays (explicit None)."""
    return dict(use_vllm=False, use_transformers_continuous_batching=False, cache_implementation=None)


GENERATION: dict[str, Callable[[Any], dict[str, Any]]] = {
    "vllm_unsloth": _vllm_unsloth, "vllm_trl": _vllm_trl, "continuous": _continuous, "generate": _generate,
}


def _backend(recipe, hw, check_installed: bool) -> str:
    """The training backend; when planning for another machine, 'auto' on a GPU counts as unsloth (as there)."""
    if not hw.cuda:
        return "hf"
    if recipe.model.backend == "auto" and not check_installed:
        return "unsloth"
    return choose_backend(recipe.model.backend, hw)


def generation_mode(recipe, hw, check_installed: bool = True) -> str:
    """The rollout path for this recipe on this machine, or a KitError naming the key. `check_installed=False`
    plans for a machine other than this one (the planner's --gpu presets)."""
    g = recipe.grpo
    backend = _backend(recipe, hw, check_installed)
    if g.use_vllm:
        if not hw.cuda:
            raise KitError("grpo.use_vllm=true needs a CUDA GPU (vLLM); set grpo.use_vllm=false on CPU")
        if g.continuous_batching:
            raise KitError("grpo.continuous_batching is for rollouts without vLLM; set one of grpo.use_vllm and "
                           "grpo.continuous_batching to false")
        if check_installed and importlib.util.find_spec("vllm") is None:
            raise KitError("grpo.use_vllm=true but vllm is not installed; install vllm or set grpo.use_vllm=false")
        if backend == "hf" and recipe.model.load_in_4bit:
            raise KitError("grpo.use_vllm=true with model.backend=hf and model.load_in_4bit=true: TRL's vLLM would "
                           "get the LoRA merged into the NF4 base every step (lossy requantization, "
                           "trl/generation/vllm_generation.py:448); use model.backend=unsloth (auto on a GPU) or "
                           "model.load_in_4bit=false")
        return "vllm_unsloth" if backend == "unsloth" else "vllm_trl"
    if g.continuous_batching:
        if backend == "unsloth":
            raise KitError("grpo.continuous_batching has not been run through unsloth's patched model; set "
                           "model.backend=hf or grpo.continuous_batching=false")
        return "continuous"
    return "generate"


def generation_chunk(recipe) -> int:
    """Completions per `generate` call without vLLM: the recipe's, else one optimizer step's worth (what TRL
    generates at once with steps_per_generation = grad_accum), so reusing rollouts over more steps costs no
    more generation memory than before."""
    g = recipe.grpo
    return g.generation_chunk or g.prompts_per_step * g.num_generations * g.grad_accum


def clip_can_act(grad_accum: int, steps_per_generation: int, num_iterations: int) -> bool:
    """Whether the PPO ratio can differ from 1. TRL keeps old log-probs only when generation and optimizer steps
    are misaligned, `grad_accum % (steps_per_generation * num_iterations) != 0` (grpo_trainer.py:2568-2583); else
    every micro-batch is scored by the policy that generated it, the ratio is exactly 1 and epsilon /
    epsilon_high clip nothing. unsloth's trainer uses the same test (unsloth/models/rl_replacements.py:1703-1712)."""
    return grad_accum % (steps_per_generation * num_iterations) != 0


def clip_note(recipe) -> str | None:
    """Why grpo.epsilon / epsilon_high cannot act for this recipe, or None when they can."""
    g = recipe.grpo
    spg = g.steps_per_generation or g.grad_accum
    if clip_can_act(g.grad_accum, spg, g.num_iterations):
        return None
    return (f"grpo.epsilon/epsilon_high cannot act: each rollout batch ({spg} micro-batches x {g.num_iterations} "
            f"pass) fits in one optimizer step of grad_accum={g.grad_accum}, so the policy ratio is always 1; set "
            "grpo.steps_per_generation to a multiple of grpo.grad_accum (the paper: 16 updates per 512-prompt "
            "rollout) or grpo.num_iterations > 1")


def _check_dapo(recipe) -> None:
    g = recipe.grpo
    if g.dynamic_sampling:  # also refused at load (choices); kept for recipes built in code
        raise KitError("grpo.dynamic_sampling=true: TRL 1.15's GRPOTrainer has no hook to drop zero-variance groups "
                       "and regenerate (DAPO's filter_groups); set it to false")
    if g.overlong_buffer >= g.max_completion_length:
        raise KitError(f"grpo.overlong_buffer ({g.overlong_buffer}) must be below grpo.max_completion_length "
                       f"({g.max_completion_length}); the paper's script: 4096 of 20480")


def grpo_kwargs(recipe, hw, out_dir: Path, n_prompts: int, reward_weights: list[float],
                check_installed: bool = True) -> dict[str, Any]:
    """Every GRPOConfig argument the kit sets (TRL changed beta, loss_type, scale_rewards and vLLM defaults between
    versions)."""
    g = recipe.grpo
    _check_dapo(recipe)
    mode = generation_mode(recipe, hw, check_installed)
    steps = g.max_steps or steps_for(n_prompts, g.epochs, g.prompts_per_step * g.grad_accum)
    kw = common_args(recipe, g, hw, out_dir, steps)
    if g.warmup_steps is not None:
        kw["warmup_steps"] = g.warmup_steps  # an int >= 1 is steps, a float < 1 a ratio (transformers 5)
    kw.update(
        per_device_train_batch_size=g.prompts_per_step * g.num_generations,
        # rollout batch = per_device_train_batch_size x steps_per_generation (grpo_config.py:1085-1099); None keeps
        # TRL's default, steps_per_generation = gradient_accumulation_steps, stated explicitly
        steps_per_generation=g.steps_per_generation or g.grad_accum, generation_batch_size=None,
        num_iterations=g.num_iterations,
        num_generations=g.num_generations, max_completion_length=g.max_completion_length,
        temperature=g.temperature, top_p=g.top_p, top_k=g.top_k, loss_type=g.loss_type, beta=g.beta,
        epsilon=g.epsilon, epsilon_high=g.epsilon_high,
        scale_rewards={"none": "none", "group": "group", "batch": "batch"}[g.scale_rewards],
        mask_truncated_completions=g.mask_truncated_completions, reward_weights=reward_weights,
        vllm_importance_sampling_correction=False,
        log_completions=False, shuffle_dataset=True, disable_dropout=True,
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
    kw = grpo_kwargs(recipe, hw, Path(recipe.output_dir) / ".rollout_shape", 1, [1.0] * n_rewards, check_installed)
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
    }


def chunk_generate(model, chunk: int) -> None:
    """Make `model.generate` run a large batch as consecutive calls of at most `chunk` rows.

    TRL generates a whole rollout batch (per_device_train_batch_size x steps_per_generation sequences) in one
    `unwrapped_model.generate(**inputs, generation_config=...)` call (grpo_trainer.py:1802-1815), so its KV cache
    grows with the rollout batch. Chunks keep the left-padded prompt width, so TRL's `[:, prompt_length:]` slice
    still holds; shorter chunks are right-padded with the pad token, which only follows an EOS (a row without
    EOS ran to max_new_tokens, the longest any chunk can be) and is masked by TRL after the first EOS.
    """
    import torch

    inner = getattr(model.generate, "__kit_inner__", model.generate)

    def generate(*args, **kwargs):
        ids = kwargs.get("input_ids")
        if args or ids is None or ids.shape[0] <= chunk:
            return inner(*args, **kwargs)
        n = ids.shape[0]
        outs = []
        for s in range(0, n, chunk):
            part = {k: v[s:s + chunk] if torch.is_tensor(v) and v.dim() > 0 and v.shape[0] == n else v
                    for k, v in kwargs.items()}
            outs.append(inner(**part))
        cfg = kwargs.get("generation_config") or getattr(model, "generation_config", None)
        pad = getattr(cfg, "pad_token_id", None)
        if pad is None:
            raise ValueError("chunked generation needs a pad_token_id in the generation config")
        width = max(o.shape[1] for o in outs)
        return torch.cat([torch.nn.functional.pad(o, (0, width - o.shape[1]), value=pad) for o in outs])

    generate.__kit_inner__ = inner  # type: ignore[attr-defined]
    generate.__kit_chunk__ = chunk  # type: ignore[attr-defined]
    model.generate = generate


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
    resume = last_checkpoint(out_dir)
    state = checkpoint_state(resume) if resume else {"log_history": [], "global_step": 0}
    monitor.restore(state["log_history"], state["global_step"])  # streaks and warnings survive a resume
    monitor.raise_if_stopped()
    trainer.train(resume_from_checkpoint=resume)
    monitor.raise_if_stopped()
    summary = {"examples": len(rows), "steps": args.max_steps, "resumed_from": resume,
               "health_warnings": monitor.warnings}
    save_adapter(trainer.model, tok, out_dir, recipe, out_dir.name, summary)
    return summary
