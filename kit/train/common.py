"""What the SFT and GRPO arms share: trainer arguments every run states explicitly, checkpoint discovery
for resume, a crash-safe training log, and saving the adapter with a model card."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from kit.hardware import Hardware, choose_dtype


def steps_for(n_examples: int, epochs: float, per_step: int) -> int:
    """Optimizer steps for `epochs` passes over `n_examples` at `per_step` examples per step (at least 1)."""
    return max(1, math.ceil(n_examples * epochs / per_step))


def common_args(recipe, cfg, hw: Hardware, out_dir: Path, max_steps: int) -> dict[str, Any]:
    """Trainer arguments both arms pass, all explicit (TRL/transformers defaults drift between versions)."""
    dtype = choose_dtype(recipe.model.dtype, hw)
    return dict(
        output_dir=str(out_dir / "checkpoints"), learning_rate=cfg.learning_rate, max_steps=max_steps,
        gradient_accumulation_steps=cfg.grad_accum, lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=float(cfg.warmup_ratio), weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm,
        optim=cfg.optim, logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=2, seed=recipe.seed, data_seed=recipe.seed, report_to=recipe.train.report_to,
        use_cpu=not hw.cuda, bf16=(dtype == "bfloat16"), fp16=(dtype == "float16"),
        dataloader_num_workers=0, gradient_checkpointing=hw.cuda, disable_tqdm=False,
    )


def last_checkpoint(out_dir: Path) -> str | None:
    """The newest complete `checkpoint-N` folder (one holding trainer_state.json), for resume."""
    ckpts = []
    for p in (out_dir / "checkpoints").glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and (p / "trainer_state.json").exists():
            ckpts.append((int(m.group(1)), p))
    return str(max(ckpts)[1]) if ckpts else None


class JsonlLog(TrainerCallback):
    """Appends every logged dict (loss, reward, lengths, grad norm …) to train_log.jsonl as it happens."""

    def __init__(self, path: Path):
        self.path = path

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs:
            with open(self.path, "a") as f:
                f.write(json.dumps({"step": state.global_step, **{k: _num(v) for k, v in logs.items()}}) + "\n")


def _num(v: Any) -> Any:
    return float(v) if hasattr(v, "__float__") and not isinstance(v, (str, bool)) else v


def read_log(path: Path) -> list[dict[str, Any]]:
    """Training log rows, the last row per (step, keys) kept: a resumed run re-logs the steps after its checkpoint."""
    if not path.exists():
        return []
    rows: dict[tuple[int, tuple[str, ...]], dict[str, Any]] = {}
    for line in path.read_text().splitlines():
        if line.strip():
            r = json.loads(line)
            rows[(r["step"], tuple(sorted(r)))] = r
    return sorted(rows.values(), key=lambda r: r["step"])


def save_adapter(model, tokenizer, out_dir: Path, recipe, arm: str, summary: dict[str, Any]) -> Path:
    """PEFT adapter + tokenizer + a model card naming the base, the data and the recipe values."""
    path = out_dir / "adapter"
    model.save_pretrained(str(path))
    tokenizer.save_pretrained(str(path))
    card = [
        f"# {recipe.name} / {arm} adapter",
        "",
        f"LoRA adapter (PEFT) for `{recipe.model.id}` (revision `{recipe.model.revision}`), trained by the",
        "reasoning-transfer replication kit (arXiv 2507.00432).",
        "",
        f"- arm: `{arm}`; LoRA r={recipe.lora.r}, alpha={recipe.lora.alpha}, targets {', '.join(recipe.lora.target_modules)}",
        f"- data: `{recipe.data.rl_dataset}` / `{recipe.data.sft_dataset}` ({recipe.data.source}), "
        f"{summary.get('examples', '?')} problems",
        f"- steps: {summary.get('steps', '?')}; seed {recipe.seed}; thinking={recipe.chat.enable_thinking}",
        "- scores: see the run's report.md",
    ]
    (path / "README.md").write_text("\n".join(card) + "\n")
    if recipe.train.push_to_hub:
        push_adapter(path, f"{recipe.train.push_to_hub}-{arm}")
    return path


def push_adapter(path: Path, repo_id: str) -> None:
    """Upload a saved adapter folder (weights, tokenizer, model card) to a private Hub repo."""
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, private=True, exist_ok=True)
    api.upload_folder(folder_path=str(path), repo_id=repo_id, commit_message="kit: trained adapter")
