"""The recipe schema: every knob of a study as a dataclass field with an explicit default and its allowed range.

Every value that changes results is a field here, so a run never depends on a library default that drifts between
trl/unsloth versions. Loading, overrides and validation live in kit/recipe/load.py.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from kit.errors import KitError

# numpy's legacy seeding (np.random.seed, reached through transformers' set_seed) takes 0 <= seed < 2**32
SEED_MAX = 2**32 - 1


def knob(default: Any = dataclasses.MISSING, *, lo: float | None = None, hi: float | None = None,
         choices: tuple[Any, ...] | None = None, factory: Any = None, help: str = "") -> Any:
    """A recipe field with its allowed range or choices (checked by `validate`)."""
    meta = {"lo": lo, "hi": hi, "choices": choices, "help": help}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass
class TinyCfg:
    """Shape of the random-weight Qwen3 used when model.id is 'tiny-random-qwen3' (CPU tests, smoke runs)."""

    hidden_size: int = knob(64, lo=16)
    intermediate_size: int = knob(128, lo=16)
    num_hidden_layers: int = knob(2, lo=1)
    num_attention_heads: int = knob(4, lo=1)
    num_key_value_heads: int = knob(2, lo=1)
    head_dim: int = knob(16, lo=4)
    seed: int = knob(0, lo=0, hi=SEED_MAX)


@dataclass
class ModelCfg:
    id: str = knob("tiny-random-qwen3", help="Hub id (e.g. Qwen/Qwen3-0.6B-Base) or a model the kit builds "
                                            "(kit.registry.MODEL_PROVIDERS: tiny-random-qwen3, plug-ins' bases)")
    revision: str = knob("main", help="Hub revision (commit sha) to pin")
    backend: str = knob("auto", choices=("auto", "hf", "unsloth"))
    dtype: str = knob("auto", choices=("auto", "float32", "bfloat16", "float16"))
    load_in_4bit: bool = knob(False)
    max_seq_length: int = knob(1024, lo=32)
    gpu_memory_utilization: float = knob(0.6, lo=0.05, hi=0.98, help="vLLM share of GPU memory")
    tiny: TinyCfg = knob(factory=TinyCfg)
    toy_quick: bool = knob(False, help="the CPU mini-world's base model: its quicker, weaker build (CI)")


@dataclass
class ModelRef:
    """A full fine-tuned model evaluated beside the base with no training (the paper's model audit)."""

    id: str = knob("", help="Hub id or local folder")
    revision: str = knob("main")


@dataclass
class LoraCfg:
    r: int = knob(8, lo=1)
    alpha: int = knob(16, lo=1)
    dropout: float = knob(0.0, lo=0.0, hi=0.9)
    target_modules: list[str] = knob(factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj",
                                                      "gate_proj", "up_proj", "down_proj"])
    init_seed: int = knob(3407, lo=0, hi=SEED_MAX)


@dataclass
class ChatCfg:
    enable_thinking: bool = knob(False, help="Qwen3 thinking mode for training prompts and evaluation")
    system: Optional[str] = knob(None)


@dataclass
class DataCfg:
    source: str = knob("fixtures", help="a name in kit.registry.DATA_SOURCES (hub, fixtures, plug-ins' sources), "
                                           "checked by kit.compose.load_recipe")
    rl_dataset: str = knob("ReasoningTransferability/math_rl_48k")
    rl_revision: str = knob("main")
    sft_dataset: str = knob("ReasoningTransferability/math_sft_40K")
    sft_revision: str = knob("main")
    sft_target: str = knob("no_think", choices=("no_think", "think"))
    num_problems: Optional[int] = knob(None, lo=1, help="training problems; None = scale x dataset size")
    max_prompt_tokens: int = knob(512, lo=8)
    rl_suffix: bool = knob(True, help="append the paper's instruction to RL prompts (its train/to_parquet.py); "
                                      "off where the base has never seen that sentence (the toy world)")
    rl_problems: str = knob("shared", choices=("shared", "all"),
                            help="RL problems: 'shared' = the same problems as SFT (both released sets); 'all' = the "
                                 "whole math_rl_48k (the paper's RL set), SFT keeps the shared ones")
    sft_column: Optional[str] = knob(None, help="SFT response column of sft_dataset; None = no_think_response or "
                                                "think_response by sft_target (the think column is unconfirmed)")
    seed: int = knob(0, lo=0, hi=SEED_MAX)


@dataclass
class SFTCfg:
    learning_rate: float = knob(5e-5, lo=0.0, hi=1.0)
    epochs: float = knob(1.5, lo=0.0)
    max_steps: Optional[int] = knob(None, lo=1, help="overrides epochs when set")
    batch_size: int = knob(4, lo=1)
    grad_accum: int = knob(1, lo=1)
    max_length: int = knob(1024, lo=16)
    lr_scheduler: str = knob("cosine", choices=("cosine", "linear", "constant", "constant_with_warmup"))
    warmup_ratio: float = knob(0.1, lo=0.0, hi=0.99, help="share of steps spent warming up")
    weight_decay: float = knob(0.0, lo=0.0)
    max_grad_norm: float = knob(1.0, lo=0.0)
    optim: str = knob("adamw_torch", choices=("adamw_torch", "adamw_8bit", "paged_adamw_8bit"))
    save_steps: int = knob(50, lo=1)
    logging_steps: int = knob(1, lo=1)


@dataclass
class HealthCfg:
    """GRPO health checks (kit/train/health.py): counted over consecutive logged steps."""

    zero_std_frac: float = knob(0.9, lo=0.0, hi=1.0, help="frac_reward_zero_std at or above this is a bad step")
    clipped_frac: float = knob(0.8, lo=0.0, hi=1.0, help="share of completions at the length cap")
    warn_after: int = knob(5, lo=1)
    stop_after: int = knob(20, lo=1)
    action: str = knob("stop", choices=("stop", "warn"))


@dataclass
class GRPOCfg:
    learning_rate: float = knob(1e-5, lo=0.0, hi=1.0)
    epochs: float = knob(1.5, lo=0.0)
    max_steps: Optional[int] = knob(None, lo=1)
    prompts_per_step: int = knob(1, lo=1)
    num_generations: int = knob(4, lo=2)
    grad_accum: int = knob(1, lo=1)
    steps_per_generation: Optional[int] = knob(
        None, lo=1, help="micro-batches per rollout (generation) batch, TRL's steps_per_generation; None = grad_accum: "
                         "one rollout batch per optimizer step (policy ratio 1, clipping inert unless num_iterations > 1)")
    num_iterations: int = knob(1, lo=1, help="optimisation passes over each rollout batch (TRL's num_iterations, mu)")
    disable_dropout: bool = knob(True, help="dropout off in the policy (and reference): rollout and update see the "
                                            "same network, so the policy ratio is 1 on the first pass (TRL: False)")
    generation_chunk: Optional[int] = knob(
        None, lo=1, help="completions per `generate` call in rollouts without vLLM (TRL makes one call for the whole "
                         "rollout batch, kit/train/grpo.py splits it); None = one optimizer step's completions "
                         "(prompts_per_step x num_generations x grad_accum), TRL's call size when steps_per_generation "
                         "= grad_accum")
    continuous_batching: bool = knob(
        False, help="rollouts without vLLM through transformers' continuous batching (TRL's "
                    "use_transformers_continuous_batching, paged KV cache); hf backend only; not yet run on a GPU")
    overlong_buffer: int = knob(
        0, lo=0, help="DAPO soft overlong penalty (TRL's get_soft_overlong_punishment): over the last N tokens before "
                      "max_completion_length a reward ramps from 0 to -1; 0 = off; paper's script: 4096 of a 20480 cap")
    overlong_penalty: float = knob(1.0, lo=0.0, help="weight of the overlong reward (paper's script: penalty_factor 1.0)")
    dynamic_sampling: bool = knob(
        False, choices=(False,), help="DAPO dynamic sampling (paper's script: filter_groups, regenerating until every "
                                      "group has mixed rewards); TRL 1.15 has no hook for it, so only false is accepted")
    max_completion_length: int = knob(1024, lo=4)
    temperature: float = knob(1.0, lo=0.0, hi=2.0)
    top_p: float = knob(1.0, lo=0.0, hi=1.0)
    top_k: int = knob(0, lo=0)
    loss_type: str = knob("dapo", choices=("grpo", "dapo", "dr_grpo", "bnpo"))
    beta: float = knob(0.0, lo=0.0)
    epsilon: float = knob(0.2, lo=0.0, hi=1.0)
    epsilon_high: float = knob(0.28, lo=0.0, hi=1.0)
    scale_rewards: str = knob("group", choices=("group", "batch", "none"))
    mask_truncated_completions: bool = knob(False)
    reward_weights: dict[str, float] = knob(factory=lambda: {"correctness": 1.0, "format": 0.0})
    lr_scheduler: str = knob("constant", choices=("cosine", "linear", "constant", "constant_with_warmup"))
    warmup_ratio: float = knob(0.0, lo=0.0, hi=0.99, help="share of steps spent warming up (ignored when warmup_steps is set)")
    warmup_steps: Optional[int] = knob(None, lo=0, help="warmup in optimizer steps, overrides warmup_ratio; paper's "
                                                        "script: lr_warmup_steps=10")
    weight_decay: float = knob(0.0, lo=0.0, help="AdamW weight decay; paper's script: 0.1")
    max_grad_norm: float = knob(1.0, lo=0.0)
    optim: str = knob("adamw_torch", choices=("adamw_torch", "adamw_8bit", "paged_adamw_8bit"))
    use_vllm: bool = knob(False, help="vLLM rollouts (GPU only): the unsloth backend loads with fast_inference and "
                                      "shares its engine with training; hf uses TRL's colocated vLLM (16-bit base only)")
    save_steps: int = knob(50, lo=1)
    logging_steps: int = knob(1, lo=1)
    health: HealthCfg = knob(factory=HealthCfg)


@dataclass
class OnPolicyCfg:
    """On-policy SFT (the paper's ablation): the model samples answers to the training problems, keeps the
    correct ones and is fine-tuned on them, round after round. Trainer values come from `sft`."""

    rounds: int = knob(2, lo=1, help="problems are split into this many batches, one generate-filter-train round each")
    samples_per_problem: int = knob(4, lo=1)
    temperature: float = knob(1.0, lo=0.0, hi=2.0, help="sampling as in the RL arm")
    top_p: float = knob(1.0, lo=0.0, hi=1.0)
    max_completion_length: int = knob(1024, lo=4)
    epochs_per_round: float = knob(1.0, lo=0.0)
    batch_size: int = knob(8, lo=1, help="generation batch")


@dataclass
class DistributedCfg:
    """Several processes (one per GPU) for one run. The train stages run under `accelerate launch` (DDP, or
    DeepSpeed ZeRO-2/3 / FSDP from the config files shipped in kit/configs/accelerate), with the recipe's batch
    kept global: each process takes its share. The eval stage shards its chunks over the processes (identical
    samples to one process); data, probe, report, manifests and logs stay with the main process."""

    processes: int = knob(1, lo=1, hi=1024, help="processes, one per GPU (`--gpus N` sets it); 1 = no launcher")
    strategy: str = knob("ddp", choices=("ddp", "zero2", "zero3", "fsdp"),
                         help="how the train stages spread over the processes (accelerate config)")
    rollout_gpus: int = knob(0, lo=0, hi=1024, help="GRPO: GPUs given to `trl vllm-serve` (TRL's server mode) for "
                                                    "rollouts; the trainer runs on the other processes - rollout_gpus")
    rollout_tensor_parallel: int = knob(1, lo=1, hi=1024, help="tensor-parallel size of the rollout server")
    main_port: int = knob(29500, lo=1024, hi=65535, help="torch.distributed rendezvous port")
    server_port: int = knob(8000, lo=1024, hi=65535, help="port of the rollout server (trl vllm-serve)")


@dataclass
class TrainCfg:
    """Where training curves and the report's results go, and where adapters are pushed (kit/tracking.py)."""

    report_to: str = knob("none", choices=("none", "tensorboard", "wandb", "trackio"),
                          help="tracker of the training runs; the report stage logs eval scores, TI and shift to the "
                               "same runs; its package must be installed (checked at run start)")
    project: str = knob("reasoning-transfer", help="W&B / Trackio project (TensorBoard: the run folder is the project)")
    run_name: Optional[str] = knob(None, help="tracker run name prefix ('-<arm>' is appended); None = the run "
                                              "folder's name")
    tags: list[str] = knob(factory=list, help="extra tags for the tracker runs and the adapters' model cards")
    push_to_hub: Optional[str] = knob(None, help="Hub repo prefix; each adapter is pushed as <prefix>-<arm> (private)")


@dataclass
class EvalCfg:
    benchmarks: list[str] = knob(factory=lambda: ["math500", "gpqa_diamond", "ifeval"])
    source: str = knob("fixtures", choices=("fixtures", "hub"))
    items: Optional[int] = knob(None, lo=1, help="items per benchmark; None = scale x benchmark size")
    min_items: int = knob(50, lo=1, help="floor on items per benchmark when scaling down")
    samples: Optional[int] = knob(None, lo=1, help="samples per item for sampled benchmarks; None = paper's")
    max_new_tokens: int = knob(32768, lo=1, help="cap on every benchmark's generation length")
    temperature: Optional[float] = knob(None, lo=0.0, hi=2.0, help="override every sampled benchmark")
    top_p: Optional[float] = knob(None, lo=0.0, hi=1.0)
    batch_size: int = knob(8, lo=1)
    engine: str = knob("auto", choices=("auto", "hf", "vllm"))
    seed: int = knob(0, lo=0, hi=SEED_MAX)


@dataclass
class ProbeCfg:
    enabled: bool = knob(True)
    texts_per_benchmark: int = knob(100, lo=2, help="the paper's K (seed 42)")
    max_length: int = knob(128, lo=8, help="the paper truncates to 128 tokens")
    batch_size: int = knob(16, lo=1)
    token_samples: int = knob(100, lo=1, help="generations per benchmark for token shift (paper: 100)")
    bootstrap: int = knob(200, lo=0, help="resamples of texts for the shift intervals (0 = none)")
    pca_texts: str = knob("kit", choices=("kit", "paper"),
                          help="PCA-shift texts: 'kit' = the benchmark prompts; 'paper' = dataset columns joined as "
                               "the paper's analyse_PCA_Shift.py does (solutions and answers included)")
    seed: int = knob(42, lo=0, hi=SEED_MAX)


@dataclass
class ReportCfg:
    bootstrap: int = knob(1000, lo=10)
    ci: float = knob(0.95, lo=0.5, hi=0.999)
    paper_rows: dict[str, str] = knob(factory=dict, help="model in this run -> row of the paper's tables, "
                                                           "to print the published scores beside ours")


@dataclass
class CriteriaCfg:
    """The verdict rule of the multi-seed study (kit/study.py), applied to each claim's per-seed differences RL - SFT:
    *reproduced* = the paper's sign in every seed and the t-interval over seeds excludes 0; *weakly reproduced* = the
    paper's sign in more than `weak_share` of the seeds; *reversed* = the opposite sign in every seed and the interval
    excludes 0; otherwise *not reproduced* (fewer than 2 seeds with a value: undetermined)."""

    ci: float = knob(0.95, lo=0.5, hi=0.999, help="level of the t-interval over seeds")
    weak_share: float = knob(0.5, lo=0.0, hi=0.99, help="'weakly reproduced': the paper's sign in more than this "
                                                        "share of the seeds")


@dataclass
class StudyCfg:
    """The multi-seed study's pre-registration (`python -m kit.study`): which seeds confirm, which tune, and the rules
    fixed before the confirmatory run. Not a training setting: no stage hashes it (kit/stages.py hashes only the keys
    a stage declares), so writing or changing it never makes a finished run stale."""

    seeds: list[int] = knob(factory=lambda: [0, 1, 2], help="the confirmatory seeds (`python -m kit.study` default)")
    dev_seeds: list[int] = knob(factory=list, help="seeds used for tuning (`--dev`); disjoint from `seeds`")
    premise_min_gain: float = knob(10.0, lo=0.0, help="premise: each compared arm's math gain (points) is at least "
                                                     "this in every seed")
    premise_ci_excludes_0: bool = knob(True, help="premise: and the run report's interval of that gain lies above 0")
    criteria: CriteriaCfg = knob(factory=CriteriaCfg)

    def __post_init__(self) -> None:
        for key in ("seeds", "dev_seeds"):
            values = getattr(self, key)
            bad = [s for s in values if not isinstance(s, int) or isinstance(s, bool) or not 0 <= s <= SEED_MAX]
            if bad:
                raise KitError(f"'study.{key}' holds {bad}: seeds are integers from 0 to {SEED_MAX}")
            if len(set(values)) != len(values):
                raise KitError(f"'study.{key}' lists a seed twice: {values}")
        if not self.seeds:
            raise KitError("'study.seeds' is empty; list the confirmatory seeds (e.g. [0, 1, 2, 3, 4])")
        # dev/confirmatory overlap is a cross-field rule of the merged recipe: kit.recipe.load.validate


@dataclass
class Recipe:
    name: str = knob("run")
    run_name: Optional[str] = knob(None, help="folder under output_dir; default = name")
    output_dir: str = knob("outputs")
    seed: int = knob(0, lo=0, hi=SEED_MAX)
    scale: float = knob(1.0, lo=1e-6, hi=1.0, help="share of the full study: data, eval items")
    cpu_threads: Optional[int] = knob(None, lo=1, help="torch's CPU threads in every stage; None = torch's default "
                                                       "(one per core). A machine fact like the CPU model: recorded "
                                                       "in each manifest, hashed by no stage")
    arms: list[str] = knob(factory=lambda: ["sft", "grpo"])
    compare: dict[str, ModelRef] = knob(factory=dict, help="published full models to audit beside the base")
    model: ModelCfg = knob(factory=ModelCfg)
    lora: LoraCfg = knob(factory=LoraCfg)
    chat: ChatCfg = knob(factory=ChatCfg)
    data: DataCfg = knob(factory=DataCfg)
    train: TrainCfg = knob(factory=TrainCfg)
    distributed: DistributedCfg = knob(factory=DistributedCfg)
    sft: SFTCfg = knob(factory=SFTCfg)
    grpo: GRPOCfg = knob(factory=GRPOCfg)
    onpolicy: OnPolicyCfg = knob(factory=OnPolicyCfg)
    eval: EvalCfg = knob(factory=EvalCfg)
    probe: ProbeCfg = knob(factory=ProbeCfg)
    report: ReportCfg = knob(factory=ReportCfg)
    study: StudyCfg = knob(factory=StudyCfg, help="the multi-seed study's pre-registration (kit/study.py); hashed "
                                                  "by no stage")
    # sections owned by registered arms (Arm.section, schema Arm.config), written at the top level of the file
    # (`dpo:` for a DPO arm) and read as attributes (`recipe.dpo.beta`); filled by kit.recipe.load
    arm_sections: dict[str, Any] = field(default_factory=dict, repr=False, compare=True)

    def __getattr__(self, name: str) -> Any:
        sections = self.__dict__.get("arm_sections") or {}
        if name in sections:
            return sections[name]
        raise AttributeError(f"recipe has no section '{name}'")

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / (self.run_name or self.name)

    def to_dict(self) -> dict[str, Any]:
        out = dataclasses.asdict(self)  # nested dataclasses (model, compare's ModelRefs) become plain mappings
        out.update(out.pop("arm_sections"))  # an arm's section sits at the top level, as in the file
        return out
