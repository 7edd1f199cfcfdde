"""The recipe schema, in one place: loading YAML, dotted CLI overrides, validation with one-line errors.

Every value that changes results is a field here with an explicit default, so a run never depends on a
library default that drifts between trl/unsloth versions. `resolve()` turns the scale knob into numbers
(see kit/plan.py); the resolved recipe is saved in the run folder.
"""

from __future__ import annotations

import dataclasses
import difflib
import hashlib
import json
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

import yaml

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
    id: str = knob("tiny-random-qwen3", help="Hub id (e.g. Qwen/Qwen3-0.6B-Base), tiny-random-qwen3 or toy-qwen3")
    revision: str = knob("main", help="Hub revision (commit sha) to pin")
    backend: str = knob("auto", choices=("auto", "hf", "unsloth"))
    dtype: str = knob("auto", choices=("auto", "float32", "bfloat16", "float16"))
    load_in_4bit: bool = knob(False)
    max_seq_length: int = knob(1024, lo=32)
    gpu_memory_utilization: float = knob(0.6, lo=0.05, hi=0.98, help="vLLM share of GPU memory")
    tiny: TinyCfg = knob(factory=TinyCfg)
    toy_quick: bool = knob(False, help="model.id=toy-qwen3: the quicker, weaker toy base (CI)")


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
    source: str = knob("fixtures", choices=("fixtures", "hub", "toy"))
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
class TrainCfg:
    report_to: str = knob("none", choices=("none", "tensorboard", "wandb"))
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
class Recipe:
    name: str = knob("run")
    run_name: Optional[str] = knob(None, help="folder under output_dir; default = name")
    output_dir: str = knob("outputs")
    seed: int = knob(0, lo=0, hi=SEED_MAX)
    scale: float = knob(1.0, lo=1e-6, hi=1.0, help="share of the full study: data, eval items")
    arms: list[str] = knob(factory=lambda: ["sft", "grpo"])
    compare: dict[str, ModelRef] = knob(factory=dict, help="published full models to audit beside the base")
    model: ModelCfg = knob(factory=ModelCfg)
    lora: LoraCfg = knob(factory=LoraCfg)
    chat: ChatCfg = knob(factory=ChatCfg)
    data: DataCfg = knob(factory=DataCfg)
    train: TrainCfg = knob(factory=TrainCfg)
    sft: SFTCfg = knob(factory=SFTCfg)
    grpo: GRPOCfg = knob(factory=GRPOCfg)
    onpolicy: OnPolicyCfg = knob(factory=OnPolicyCfg)
    eval: EvalCfg = knob(factory=EvalCfg)
    probe: ProbeCfg = knob(factory=ProbeCfg)
    report: ReportCfg = knob(factory=ReportCfg)

    @property
    def run_dir(self) -> Path:
        return Path(self.output_dir) / (self.run_name or self.name)

    def section(self, name: str) -> Any:
        return getattr(self, name)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def hash_of(self, *sections: str) -> str:
        payload = {s: _jsonable(getattr(self, s)) for s in sections}
        return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def _jsonable(v: Any) -> Any:
    return dataclasses.asdict(v) if dataclasses.is_dataclass(v) else v


# ---------------------------------------------------------------------------------------------------------
# loading and validation


def load(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe file, apply `key.sub=value` overrides, validate. Raises KitError with one line."""
    p = Path(path)
    raw = read_yaml(p)
    for ov in overrides or []:
        _apply_override(raw, ov)
    return from_dict(raw, origin=str(p))


EXAMPLE = "see recipes/smoke.yaml for an example"


def read_yaml(p: Path) -> dict[str, Any]:
    """The recipe file as a non-empty mapping; every way a file can be unusable is one KitError line."""
    if not p.exists():
        raise KitError(f"recipe file not found: {p}")
    if p.is_dir():
        raise KitError(f"{p} is a folder; give the path of a recipe .yaml file ({EXAMPLE})")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KitError(f"{p}: not a text file (binary or not UTF-8); give a recipe .yaml file ({EXAMPLE})") from None
    except OSError as exc:
        raise KitError(f"{p}: cannot read it ({exc.strerror or exc}); check the path and its permissions") from None
    if "\x00" in text:
        raise KitError(f"{p}: not a text file (it holds NUL bytes); give a recipe .yaml file ({EXAMPLE})")
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as exc:
        raise KitError(f"{p}: {exc}; keep one of them") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise KitError(f"{p}: not valid YAML{where} ({what}); fix the file ({EXAMPLE})") from None
    if raw is None or raw == {}:
        raise KitError(f"{p}: the recipe is empty; an empty recipe would run a default study. Write the study's "
                       f"keys into it ({EXAMPLE})")
    if not isinstance(raw, dict):
        raise KitError(f"{p}: not a recipe: the file holds a YAML {type(raw).__name__}, where a recipe is a "
                       f"mapping of `key: value` lines ({EXAMPLE})")
    return raw


class _DuplicateKey(yaml.YAMLError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently), at any depth."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *anchor` merges are overridden by design
                try:
                    key = self.construct_object(key_node, deep=True)
                    hash(key)
                except (TypeError, yaml.YAMLError):
                    continue  # unhashable keys: SafeLoader's own error below says so
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _DuplicateKey(f"key '{key}' appears twice in one section (lines {seen[key]} and {line})")
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def from_dict(raw: dict[str, Any], origin: str = "recipe") -> Recipe:
    recipe = _build(Recipe, raw, prefix="", origin=origin)
    validate(recipe, origin)
    return recipe


def _apply_override(raw: dict[str, Any], override: str) -> None:
    if "=" not in override:
        raise KitError(f"override '{override}' must look like key.sub=value")
    key, _, text = override.partition("=")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise KitError(f"override '{key}': '{part}' is not a section")
        node = nxt
    node[parts[-1]] = value


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _build(cls: type, raw: Any, prefix: str, origin: str) -> Any:
    if not isinstance(raw, dict):
        raise KitError(f"{origin}: '{prefix.rstrip('.')}' must be a section (a mapping)")
    fields = _fields(cls)
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else f"; known keys: {', '.join(fields)}"
            raise KitError(f"{origin}: unknown key '{prefix}{key}'{hint}")
        kwargs[key] = _coerce(hints[key], value, f"{prefix}{key}", origin)
    return cls(**kwargs)


def _coerce(tp: Any, value: Any, key: str, origin: str) -> Any:
    origin_tp = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin_tp in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, key, origin)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key + ".", origin)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise KitError(f"{origin}: '{key}' must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise KitError(f"{origin}: '{key}' must be an integer, got {value!r}")
    if tp is float:
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)  # YAML 1.1 reads 5e-5 as a string
            except ValueError:
                pass
        if number is None:
            raise KitError(f"{origin}: '{key}' must be a number, got {value!r}")
        if not math.isfinite(number):  # NaN slips through every range check (nan < lo is False)
            raise KitError(f"{origin}: '{key}' is {value!r}; it must be a finite number")
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        raise KitError(f"{origin}: '{key}' must be a string, got {value!r}")
    if origin_tp is list:
        if not isinstance(value, list):
            raise KitError(f"{origin}: '{key}' must be a list, got {value!r}")
        return [_coerce(args[0], v, f"{key}[{i}]", origin) for i, v in enumerate(value)]
    if origin_tp is dict:
        if not isinstance(value, dict):
            raise KitError(f"{origin}: '{key}' must be a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}", origin) for k, v in value.items()}
    return value


def validate(recipe: Recipe, origin: str = "recipe") -> None:
    """Ranges, choices and cross-field rules. Names of arms and benchmarks are checked against registries."""
    _check_ranges(recipe, "", origin)
    from kit.train import ARMS  # late import: registries live with their code

    for arm in recipe.arms:
        if arm not in ARMS:
            close = difflib.get_close_matches(arm, list(ARMS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known arms: {', '.join(ARMS)}"
            raise KitError(f"{origin}: unknown arm '{arm}' in 'arms'{hint}")
    if len(set(recipe.arms)) != len(recipe.arms):
        raise KitError(f"{origin}: 'arms' lists an arm twice")
    clash = set(recipe.compare) & (set(recipe.arms) | {"base"})
    if clash:
        raise KitError(f"{origin}: 'compare' reuses the name(s) {sorted(clash)}; pick other names")
    for name, ref in recipe.compare.items():
        if not ref.id:
            raise KitError(f"{origin}: 'compare.{name}.id' is empty; give a Hub id or a local folder")
    if not recipe.arms and not recipe.compare:
        raise KitError(f"{origin}: nothing to compare with the base: list 'arms' to train or 'compare' models to audit")
    from kit.report.paper_numbers import PAPER_ROWS

    for name, row in recipe.report.paper_rows.items():
        if row not in PAPER_ROWS:
            close = difflib.get_close_matches(row, list(PAPER_ROWS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known: {', '.join(PAPER_ROWS)}"
            raise KitError(f"{origin}: 'report.paper_rows.{name}' names an unknown row '{row}'{hint}")
    from kit.eval import benchmarks

    if not recipe.eval.benchmarks:
        raise KitError(f"{origin}: 'eval.benchmarks' is empty; list at least one benchmark to evaluate on "
                       f"(e.g. [math500, gpqa_diamond, ifeval])")
    for name in recipe.eval.benchmarks:
        try:
            benchmarks.get(name)
        except KitError as exc:
            raise KitError(f"{origin}: eval.benchmarks: {exc}") from None
    g = recipe.grpo
    if g.epsilon_high < g.epsilon:
        raise KitError(f"{origin}: 'grpo.epsilon_high' ({g.epsilon_high}) must be >= 'grpo.epsilon' ({g.epsilon})")
    unknown_rewards = set(g.reward_weights) - {"correctness", "format"}
    if unknown_rewards:
        raise KitError(f"{origin}: 'grpo.reward_weights' has unknown reward(s) {sorted(unknown_rewards)}; "
                       "known: correctness, format")


def _check_ranges(obj: Any, prefix: str, origin: str) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(value):
            _check_ranges(value, key + ".", origin)
            continue
        meta = f.metadata
        if value is None:
            continue
        if meta.get("choices") is not None and value not in meta["choices"]:
            close = difflib.get_close_matches(str(value), [str(c) for c in meta["choices"]], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise KitError(f"{origin}: '{key}' is {value!r}; choose one of {', '.join(map(str, meta['choices']))}{hint}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                raise KitError(f"{origin}: '{key}' is {value}; it must be a finite number")
            lo, hi = meta.get("lo"), meta.get("hi")
            if lo is not None and value < lo:
                raise KitError(f"{origin}: '{key}' is {value}; it must be >= {lo}")
            if hi is not None and value > hi:
                raise KitError(f"{origin}: '{key}' is {value}; it must be <= {hi}")


def dump(recipe: Recipe, path: Path) -> None:
    path.write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))


def diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two recipe dicts."""
    out: list[str] = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}")
    return out
