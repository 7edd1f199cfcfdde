"""The settings table of every report: the paper's value | this run's value | why they differ.

Read from the run's saved recipe (recipe.resolved.yaml as a dict) only, so the report stays a pure function
of the run folder. Keys added after a run was made (or not yet in the kit) are read with defaults: a setting
the saved recipe does not have shows "not offered". Paper values cite the kit's reference notes
(/work/shared/reference/paper.md, "§" = its sections; "P2 A.3.x" = the paper's appendix; "script" = the
authors' released training script, which the paper text does not always match).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

ABSENT = object()
NOT_OFFERED = "not offered"
SAME = "matches the paper"


@dataclass(frozen=True)
class Setting:
    name: str
    paper: str
    source: str
    run: Callable[[dict[str, Any]], str]
    same: Callable[[dict[str, Any]], bool | None]
    why: str  # shown when the run differs


def get(recipe: dict[str, Any], dotted: str, default: Any = ABSENT) -> Any:
    """`recipe["a"]["b"]` for "a.b"; `default` (ABSENT unless given) where a level is missing."""
    node: Any = recipe
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return default
        node = node[part]
    return node


def _n(x: Any) -> str:
    return f"{x:g}" if isinstance(x, (int, float)) and not isinstance(x, bool) else str(x)


def _lr_ratio(r: dict[str, Any]) -> float | None:
    s, g = get(r, "sft.learning_rate", None), get(r, "grpo.learning_rate", None)
    return s / g if s and g else None


def _lora(r: dict[str, Any]) -> str:
    rank, alpha = get(r, "lora.r", None), get(r, "lora.alpha", None)
    if not rank or alpha is None:
        return NOT_OFFERED
    return (f"LoRA r={rank}, alpha={alpha} (update scale alpha/r = {alpha / rank:g}), "
            f"{len(get(r, 'lora.target_modules', []) or [])} target modules")


def _precision(r: dict[str, Any]) -> str:
    dtype = get(r, "model.dtype", "auto")
    return f"4-bit NF4 base (QLoRA), compute {dtype}" if get(r, "model.load_in_4bit", False) else f"{dtype} weights"


def _problems(r: dict[str, Any]) -> str:
    rl = get(r, "data.rl_problems", ABSENT)
    rl_text = NOT_OFFERED + " (RL = shared)" if rl is ABSENT else (
        "whole math_rl_48k" if rl == "all" else "shared with SFT")
    count = get(r, "data.num_problems", None)
    size = f"{count} shared problems" if count else f"scale {_n(get(r, 'scale', 1.0))} of the 39.9K shared"
    return f"{get(r, 'data.source', '?')}; SFT: shared; RL: {rl_text}; {size}"


def _sft_target(r: dict[str, Any]) -> str:
    target = get(r, "data.sft_target", "?")
    column = get(r, "data.sft_column", None) or {"think": "think_response", "no_think": "no_think_response"}.get(target)
    return f"{target} (column {column})"


def _overlong(r: dict[str, Any]) -> str:
    buf = get(r, "grpo.overlong_buffer")
    if buf is ABSENT:
        return NOT_OFFERED
    return "off" if not buf else f"buffer {buf} tokens, factor {_n(get(r, 'grpo.overlong_penalty', 1.0))}"


def _dynamic(r: dict[str, Any]) -> str:
    on = get(r, "grpo.dynamic_sampling")
    return NOT_OFFERED if on is ABSENT else ("on" if on else "off")


def _warmup(r: dict[str, Any]) -> str:
    steps = get(r, "grpo.warmup_steps", None)
    sched = get(r, "grpo.lr_scheduler", "?")
    return f"{sched}, {steps} warmup steps" if steps is not None else \
        f"{sched}, warmup ratio {_n(get(r, 'grpo.warmup_ratio', 0.0))}"


def _length(r: dict[str, Any], section: str) -> str:
    steps = get(r, f"{section}.max_steps", None)
    return f"{steps} steps" if steps else f"{_n(get(r, f'{section}.epochs', '?'))} epochs"


def _pca_texts(r: dict[str, Any]) -> str:
    mode = get(r, "probe.pca_texts")
    if mode is ABSENT:
        return f"benchmark prompts (paper mode {NOT_OFFERED})"
    if mode == "paper":
        return "paper: the script's columns and joins, rows from the kit's benchmark sources (LCB v2, ACP MCQ)"
    return "kit: the benchmark prompts"


def _arms(r: dict[str, Any]) -> str:
    """The recipe's arms as the arm registry describes them (label and role), so a plug-in's arm is listed with
    no edit here; the paper compares an off-policy SFT arm with an on-policy RL arm."""
    from kit.registry import ARMS

    arms = get(r, "arms", None) or []
    out = [f"{ARMS.get(a).label} ({a}, {ARMS.get(a).role})" if a in ARMS else f"{a} (not a registered arm)"
           for a in arms]
    compare = get(r, "compare", None) or {}
    if compare:
        out.append(f"audited: {', '.join(compare)}")
    return "; ".join(out) or "none"


def _paper_pair(r: dict[str, Any]) -> bool:
    """Both sides of the paper's comparison are trained: an arm with role "rl" and one with role "sft"."""
    from kit.registry import arm_of_role

    arms = list(get(r, "arms", None) or [])
    return arm_of_role("rl", arms) is not None and arm_of_role("sft", arms) is not None


def _eval_sampling(r: dict[str, Any]) -> str:
    t, p, n = get(r, "eval.temperature", None), get(r, "eval.top_p", None), get(r, "eval.samples", None)
    paper = "per benchmark (paper)"
    return (f"T {paper if t is None else _n(t)}, top-p {paper if p is None else _n(p)}, "
            f"samples {paper if n is None else n}")


def _eval_items(r: dict[str, Any]) -> str:
    items = get(r, "eval.items", None)
    if items:
        return f"{items} per benchmark"
    scale = get(r, "scale", 1.0)
    return "all" if scale >= 1 else f"scale {_n(scale)} (at least {get(r, 'eval.min_items', '?')})"


SETTINGS: tuple[Setting, ...] = (
    Setting("base model", "Qwen/Qwen3-14B-Base", "§5.1; P2 §2.2",
            lambda r: f"{get(r, 'model.id', '?')} @ {get(r, 'model.revision', '?')}",
            lambda r: get(r, "model.id") == "Qwen/Qwen3-14B-Base",
            "a smaller Qwen3 base fits one GPU (or the CPU test model); the claim is about the method, so each "
            "size compares its own SFT and RL arms"),
    Setting("arms", "off-policy SFT vs on-policy RL (GRPO) from the same base; ablation: SFT on the model's own "
            "answers", "§5, §7", _arms, _paper_pair,
            "the recipe trains only part of the paper's comparison (no arm with role 'rl' or none with role 'sft'): "
            "the study's transfer and drift claims cannot be checked on it"),
    Setting("precision", "bf16", "§5.2, §6.1", _precision,
            lambda r: not get(r, "model.load_in_4bit", False) and get(r, "model.dtype") == "bfloat16",
            "a 4-bit base fits one card; quantisation shifts hidden states, so base and arms share the precision"),
    Setting("fine-tuning", "full fine-tuning (LLaMA-Factory full / verl FSDP)", "§5.2, §5.3", _lora,
            lambda r: False,
            "one GPU: LoRA adapters on a shared base; a new confound (LoRA needs ~10x the full-FT LR and may "
            "forget less), §10"),
    Setting("training problems", "47K queries; released math_rl_48k 48.8K (RL), math_sft_40K 39.9K (SFT)", "§5.1",
            _problems,
            lambda r: get(r, "data.source") == "hub" and get(r, "data.rl_problems", None) == "all"
            and not get(r, "data.num_problems", None) and get(r, "scale", 1.0) >= 1,
            "default 'shared': both arms see the same problems, so only the method differs; data.rl_problems=all "
            "is the paper's split; scale < 1 for time"),
    Setting("SFT target", "Qwen3-32B traces, think and no-think (one SFT model each)", "§5.1, Table 1", _sft_target,
            lambda r: get(r, "data.sft_target") in ("think", "no_think"),
            "the think column's name is not confirmed by the dataset card; set data.sft_column"),
    Setting("SFT learning rate", "5e-5 (full FT)", "§5.2; P2 A.3.1", lambda r: _n(get(r, "sft.learning_rate", "?")),
            lambda r: get(r, "sft.learning_rate") == 5e-5,
            "LoRA usually needs ~10x the full-FT rate; the recipe's choice, see the ratio row"),
    Setting("RL learning rate", "1e-6 (full FT)", "§5.3; P2 A.3.1", lambda r: _n(get(r, "grpo.learning_rate", "?")),
            lambda r: get(r, "grpo.learning_rate") == 1e-6,
            "LoRA usually needs ~10x the full-FT rate (LoRA Without Regret), §10"),
    Setting("SFT / RL learning-rate ratio", "50x (5e-5 / 1e-6)", "§5.2, §5.3, §8",
            lambda r: "–" if _lr_ratio(r) is None else f"{_lr_ratio(r):g}x",
            lambda r: _lr_ratio(r) is not None and abs(_lr_ratio(r) - 50) < 1e-6,
            "the two LoRA rates are set separately; the paper's 50x gap is itself unablated (reviewer 3)"),
    Setting("SFT length of training", "1.5 epochs (text); 2.0 (released YAML)", "§5.2, §9.2",
            lambda r: _length(r, "sft"),
            lambda r: not get(r, "sft.max_steps", None) and get(r, "sft.epochs") in (1.5, 2.0),
            "shortened for time"),
    Setting("SFT batch", "512 sequences", "§5.2",
            lambda r: f"{get(r, 'sft.batch_size', '?')} x {get(r, 'sft.grad_accum', '?')} = "
                      f"{(get(r, 'sft.batch_size', 0) or 0) * (get(r, 'sft.grad_accum', 0) or 0)}",
            lambda r: (get(r, "sft.batch_size", 0) or 0) * (get(r, "sft.grad_accum", 0) or 0) == 512,
            "one GPU's memory; at scale < 1 a 512 batch would leave too few steps"),
    Setting("SFT schedule", "cosine, warmup ratio 0.1", "§5.2; script",
            lambda r: f"{get(r, 'sft.lr_scheduler', '?')}, warmup ratio {_n(get(r, 'sft.warmup_ratio', '?'))}",
            lambda r: get(r, "sft.lr_scheduler") == "cosine" and get(r, "sft.warmup_ratio") == 0.1,
            "the recipe's choice"),
    Setting("SFT max length", "16384 tokens (cutoff_len)", "§5.2; script",
            lambda r: f"{get(r, 'sft.max_length', '?')} tokens", lambda r: (get(r, "sft.max_length", 0) or 0) >= 16384,
            "memory; longer teacher responses are dropped, not truncated (counted by the data stage)"),
    Setting("RL batch", "512 prompts x 16 rollouts per step", "§5.3; P2 A.3.1",
            lambda r: f"{get(r, 'grpo.prompts_per_step', '?')} x {get(r, 'grpo.grad_accum', '?')} prompts x "
                      f"{get(r, 'grpo.num_generations', '?')} rollouts",
            lambda r: (get(r, "grpo.prompts_per_step", 0) or 0) * (get(r, "grpo.grad_accum", 0) or 0) == 512
            and get(r, "grpo.num_generations") == 16,
            "one GPU's memory and time; keep 16 rollouts where it fits (the group size sets the advantage noise)"),
    Setting("RL updates per rollout batch", "mini-batches of 128 (text); 32 prompts x 16 (script)", "§5.3, §9.2",
            lambda r: f"steps_per_generation {get(r, 'grpo.steps_per_generation', None) or 'grad_accum'}, "
                      f"num_iterations {get(r, 'grpo.num_iterations', NOT_OFFERED)}",
            lambda r: False,
            "TRL's default: one rollout batch per optimizer step, so the policy ratio is 1 and clipping is inert "
            "unless these knobs are raised"),
    Setting("RL clipping", "0.22-0.28 (text); 0.2 / 0.28 (script)", "§5.3",
            lambda r: f"{_n(get(r, 'grpo.epsilon', '?'))} / {_n(get(r, 'grpo.epsilon_high', '?'))}",
            lambda r: (get(r, "grpo.epsilon"), get(r, "grpo.epsilon_high")) in ((0.2, 0.28), (0.22, 0.28)),
            "the recipe's choice"),
    Setting("KL and entropy", "KL 0, entropy 0", "§5.3", lambda r: f"beta {_n(get(r, 'grpo.beta', '?'))}",
            lambda r: get(r, "grpo.beta") == 0, "the recipe's choice (the ablation arm uses KL)"),
    Setting("RL loss aggregation", "token-mean (DAPO recipe in verl)", "§5.3",
            lambda r: str(get(r, "grpo.loss_type", "?")), lambda r: get(r, "grpo.loss_type") == "dapo",
            "the recipe's choice (TRL's 'dapo' loss is the token mean)"),
    Setting("RL lengths", "response 16k (text); 20480 incl. 4096 overlong buffer, prompt 2048 (script)", "§5.3",
            lambda r: f"completion <= {get(r, 'grpo.max_completion_length', '?')}, "
                      f"prompt <= {get(r, 'data.max_prompt_tokens', '?')}",
            lambda r: (get(r, "grpo.max_completion_length", 0) or 0) >= 16384,
            "memory and rollout time on one GPU"),
    Setting("DAPO overlong penalty", "buffer 4096 tokens, penalty factor 1.0", "§5.3; script", _overlong,
            lambda r: get(r, "grpo.overlong_buffer", None) == 4096 and get(r, "grpo.overlong_penalty", 1.0) == 1.0,
            "off by default: with a short completion cap a 4096-token ramp would cover most of it; "
            "set grpo.overlong_buffer (the script's ratio is 1/5 of the cap)"),
    Setting("DAPO dynamic sampling", "on: filter_groups by accuracy, up to 10 generation batches of 3 x 512",
            "§5.3; script", _dynamic, lambda r: get(r, "grpo.dynamic_sampling", None) is True,
            "TRL has no hook to regenerate zero-variance groups; they get zero advantage instead (counted by the "
            "health check)"),
    Setting("RL weight decay", "0.1 (script, not in the text)", "§5.3, §9.2",
            lambda r: _n(get(r, "grpo.weight_decay", NOT_OFFERED)), lambda r: get(r, "grpo.weight_decay") == 0.1,
            "the recipe's choice"),
    Setting("RL warmup", "10 steps (script, not in the text)", "§5.3, §9.2", _warmup,
            lambda r: get(r, "grpo.warmup_steps", None) == 10, "the recipe's choice"),
    Setting("RL gradient clipping", "1.0", "§5.3; script", lambda r: _n(get(r, "grpo.max_grad_norm", "?")),
            lambda r: get(r, "grpo.max_grad_norm") == 1.0, "the recipe's choice"),
    Setting("RL length of training", "140 steps x 512 prompts (~1.5 passes)", "§5.3",
            lambda r: _length(r, "grpo"),
            lambda r: not get(r, "grpo.max_steps", None) and get(r, "grpo.epochs") == 1.5,
            "shortened for time"),
    Setting("rollout sampling", "T 1.0, top-p 1.0, top-k off", "§5.3; script",
            lambda r: f"T {_n(get(r, 'grpo.temperature', '?'))}, top-p {_n(get(r, 'grpo.top_p', '?'))}, "
                      f"top-k {_n(get(r, 'grpo.top_k', '?'))}",
            lambda r: get(r, "grpo.temperature") == 1.0 and get(r, "grpo.top_p") == 1.0
            and get(r, "grpo.top_k") in (0, -1),
            "the recipe's choice"),
    Setting("RL prompt", "question + the step-by-step boxed-answer sentence", "§5.3; to_parquet.py",
            lambda r: "with the sentence" if get(r, "data.rl_suffix", True) else "question only",
            lambda r: bool(get(r, "data.rl_suffix", True)),
            "the toy world's base never saw that sentence"),
    Setting("chat template", "Qwen3 non-thinking template (released generations; SFT YAML enable_thinking false)",
            "§3.2, §5.2", lambda r: f"enable_thinking {get(r, 'chat.enable_thinking', '?')}",
            lambda r: get(r, "chat.enable_thinking") is False, "the recipe's choice"),
    Setting("evaluation sampling", "T 0.6, top-p 0.95 (text; code 0.7 / 0.8 / top-k 20); AIME x10, "
            "MATH500 / GPQA / LCB x3, others greedy", "§3.1, §3.2", _eval_sampling,
            lambda r: get(r, "eval.temperature", None) is None and get(r, "eval.top_p", None) is None
            and get(r, "eval.samples", None) is None,
            "overridden by the recipe (time)"),
    Setting("evaluation length", "32768 tokens", "§3.2",
            lambda r: f"{get(r, 'eval.max_new_tokens', '?')} tokens",
            lambda r: (get(r, "eval.max_new_tokens", 0) or 0) >= 32768, "time; truncations are reported"),
    Setting("evaluation items", "full benchmarks", "§1", _eval_items,
            lambda r: not get(r, "eval.items", None) and get(r, "scale", 1.0) >= 1,
            "fixed-seed subsets for time; intervals show the cost"),
    Setting("PCA texts", "dataset columns joined with two spaces, solutions and answers included",
            "§6.1; analyse_PCA_Shift.py", _pca_texts,
            lambda r: get(r, "probe.pca_texts", None) == "paper",
            "kit default: the prompts the model is evaluated on (no answers leak in); probe.pca_texts=paper "
            "rebuilds the script's texts"),
    Setting("PCA sampling", "K 100, seed 42, 128 tokens, all layers", "§6.1",
            lambda r: f"K {get(r, 'probe.texts_per_benchmark', '?')}, seed {get(r, 'probe.seed', '?')}, "
                      f"{get(r, 'probe.max_length', '?')} tokens",
            lambda r: (get(r, "probe.texts_per_benchmark"), get(r, "probe.seed"), get(r, "probe.max_length"))
            == (100, 42, 128),
            "fewer texts where the benchmark subset is smaller"),
    Setting("token shift", "first 100 generations per benchmark", "§6.2",
            lambda r: f"{get(r, 'probe.token_samples', '?')} generations",
            lambda r: get(r, "probe.token_samples") == 100, "time"),
)


def rows(recipe: dict[str, Any]) -> list[tuple[str, str, str, str, str]]:
    """(setting, paper value [source], this run, same?, why) for every setting."""
    out = []
    for s in SETTINGS:
        same = s.same(recipe)
        out.append((s.name, f"{s.paper} [{s.source}]", s.run(recipe), "yes" if same else "no",
                    SAME if same else s.why))
    return out


def table(recipe: dict[str, Any]) -> list[str]:
    """Markdown lines of the table (cells never contain '|', which would split them in report.html)."""
    lines = ["| setting | paper [source] | this run | same? | why |", "|---|---|---|---|---|"]
    for cells in rows(recipe):
        lines.append("| " + " | ".join(c.replace("|", "/") for c in cells) + " |")
    return lines
