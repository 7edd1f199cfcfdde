"""GRPO rollouts: which generation path a recipe takes on a machine, how TRL will batch it, and whether its
clip range can act. Light on purpose (no transformers/trl import): kit.hardware runs these checks at run start,
before unsloth is imported (it must patch transformers first).
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass
from typing import Any, Callable

from kit.errors import KitError
from kit.hardware import training_backend

# TRL's server mode (distributed.rollout_gpus > 0): `trl vllm-serve` on this machine, reached over loopback only
SERVER_HOST = "127.0.0.1"
SERVER_TIMEOUT_S = 240.0  # the trainer's wait for /health (TRL's default); kit.train.server waited for it already
GROUP_PORT = 51216  # TRL's NCCL weight-transfer port (grpo_config.py:642-648 default), stated explicitly

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


def _vllm_server(recipe) -> dict[str, Any]:
    """TRL's server mode: the main trainer process sends every process's prompts to `trl vllm-serve` (started by
    kit.train.server on GPUs 0..rollout_gpus-1) and pushes the merged weights to it over NCCL before each rollout
    (trl/generation/vllm_generation.py:300-308, 496-512). Memory share, tensor parallelism and context length are
    the server's own arguments (grpo_config.py:651-672: colocate-only here), set by kit.train.server.serve_command."""
    return dict(use_vllm=True, vllm_mode="server", vllm_server_base_url=None, vllm_server_host=SERVER_HOST,
                vllm_server_port=recipe.distributed.server_port, vllm_server_timeout=SERVER_TIMEOUT_S,
                vllm_group_port=GROUP_PORT, vllm_enable_sleep_mode=False)


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
    "vllm_unsloth": _vllm_unsloth, "vllm_trl": _vllm_trl, "vllm_server": _vllm_server, "continuous": _continuous,
    "generate": _generate,
}


def _backend(recipe, hw, check_installed: bool) -> str:
    """The training backend (kit.hardware.training_backend: transformers+peft for several trainer processes); when
    planning one process for another machine, 'auto' on a GPU counts as unsloth (as there)."""
    if not hw.cuda:
        return "hf"
    if recipe.model.backend == "auto" and not check_installed and recipe.distributed.processes == 1:
        return "unsloth"
    return training_backend(recipe, hw)


def check_server_layout(recipe) -> None:
    """The rollout server's GPUs: one vLLM engine, tensor parallel over all of them. `trl vllm-serve` documents
    that data_parallel_size > 1 errors out for dense models (trl/scripts/vllm_serve.py:38-40, 96-102, vLLM PR
    #30739); the kit's Qwen3 models are dense."""
    d = recipe.distributed
    if d.rollout_gpus and d.rollout_gpus != d.rollout_tensor_parallel:
        raise KitError(f"distributed.rollout_gpus={d.rollout_gpus} with distributed.rollout_tensor_parallel="
                       f"{d.rollout_tensor_parallel} is vLLM data parallel {d.rollout_gpus // d.rollout_tensor_parallel}"
                       ", which trl vllm-serve refuses for dense models (vllm_serve.py:38-40); set "
                       f"distributed.rollout_tensor_parallel={d.rollout_gpus}")


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
        server = recipe.distributed.rollout_gpus > 0
        if backend == "hf" and recipe.model.load_in_4bit and (server or recipe.distributed.processes > 1):
            # server mode syncs the same way: merge_adapter, then the base's named_parameters, i.e. the packed NF4
            # tensors of the merged weights, sent to a server that loaded the 16-bit checkpoint
            # (vllm_generation.py:443-469, 496-512)
            raise KitError("grpo.use_vllm=true with several trainer processes (transformers+peft, "
                           "kit.hardware.training_backend) and model.load_in_4bit=true: TRL's vLLM would get the LoRA "
                           "merged into the NF4 base every rollout (lossy requantization, trl/generation/"
                           "vllm_generation.py:448); set model.load_in_4bit=false or grpo.use_vllm=false")
        if backend == "hf" and recipe.model.load_in_4bit:
            raise KitError("grpo.use_vllm=true with model.backend=hf and model.load_in_4bit=true: TRL's vLLM would "
                           "get the LoRA merged into the NF4 base every step (lossy requantization, "
                           "trl/generation/vllm_generation.py:448); use model.backend=unsloth (auto on a GPU) or "
                           "model.load_in_4bit=false")
        if server:
            check_server_layout(recipe)
            return "vllm_server"
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


@dataclass(frozen=True)
class Rollout:
    """TRL's GRPO batching, in sequences (trl/trainer/grpo_config.py:1085-1099, grpo_trainer.py:1496-1503), and
    how the kit generates it (GENERATION above: vllm_unsloth, vllm_trl, vllm_server, continuous, generate)."""

    micro_batch: int  # per_device_train_batch_size: sequences per forward/backward
    grad_accum: int
    steps_per_generation: int  # micro-batches cut from one generation batch
    num_iterations: int  # passes over each generation batch
    num_generations: int
    mode: str = "generate"
    chunk: int | None = None  # sequences per `generate` call on the plain path (chunk_generate below)

    @property
    def generation_batch(self) -> int:
        """Sequences produced per rollout (TRL's generation_batch_size, one process)."""
        return self.micro_batch * self.steps_per_generation

    @property
    def prompts_per_generation(self) -> int:
        return self.generation_batch // self.num_generations

    @property
    def prompts_per_optimizer_step(self) -> int:
        """Prompt groups per optimizer step (the kit's steps_for: prompts_per_step x grad_accum)."""
        return self.micro_batch * self.grad_accum // self.num_generations

    def generations(self, optimizer_steps: int) -> int:
        """Rollouts (generation batches) for `optimizer_steps`: TRL regenerates every S x mu micro-steps."""
        return math.ceil(optimizer_steps * self.grad_accum / (self.steps_per_generation * self.num_iterations))


def derived_rollout(recipe) -> Rollout:
    """The rollout shape derived from the recipe alone, without building a GRPOConfig (the plan's fallback when
    kit.train.grpo cannot say, and its shape for recipes without an RL arm). The generation mode assumes unsloth's
    vLLM engine when grpo.use_vllm, else plain `generate` in calls of `generation_chunk` sequences."""
    g = recipe.grpo
    return Rollout(micro_batch=g.prompts_per_step * g.num_generations, grad_accum=g.grad_accum,
                   steps_per_generation=g.steps_per_generation or g.grad_accum,
                   num_iterations=g.num_iterations, num_generations=g.num_generations,
                   mode="vllm_unsloth" if g.use_vllm else "generate", chunk=generation_chunk(recipe))


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


def check_dapo(recipe) -> None:
    g = recipe.grpo
    if g.dynamic_sampling:  # also refused at load (choices); kept for recipes built in code
        raise KitError("grpo.dynamic_sampling=true: TRL 1.15's GRPOTrainer has no hook to drop zero-variance groups "
                       "and regenerate (DAPO's filter_groups); set it to false")
    if g.overlong_buffer >= g.max_completion_length:
        raise KitError(f"grpo.overlong_buffer ({g.overlong_buffer}) must be below grpo.max_completion_length "
                       f"({g.max_completion_length}); the paper's script: 4096 of 20480")


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
