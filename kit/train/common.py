"""What the SFT and GRPO arms share: trainer arguments every run states explicitly, checkpoint discovery
for resume, a crash-safe training log, and saving the adapter with a model card."""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from kit import dist
from kit.errors import KitError
from kit.hardware import Hardware, choose_dtype
from kit.runlog import read_log  # noqa: F401  (its home is the base layer: the report reads logs too)
from kit.tracking import KIT_TAGS, finish_training_run, trainer_args


def steps_for(n_examples: int, epochs: float, per_step: int) -> int:
    """Optimizer steps for `epochs` passes over `n_examples` at `per_step` examples per step (at least 1)."""
    return max(1, math.ceil(n_examples * epochs / per_step))


def common_args(recipe, cfg, hw: Hardware, out_dir: Path, max_steps: int, grad_accum: int | None = None) -> dict[str, Any]:
    """Trainer arguments both arms pass, all explicit (TRL/transformers defaults drift between versions).
    `grad_accum`: this process's share of the recipe's accumulation (kit.dist.split_batch), when it was split."""
    dtype = choose_dtype(recipe.model.dtype, hw)
    return dict(**_ddp_args(recipe, hw), **trainer_args(recipe, out_dir),  # report_to, run_name, project (+ env)
        output_dir=str(out_dir / "checkpoints"), learning_rate=cfg.learning_rate, max_steps=max_steps,
        gradient_accumulation_steps=cfg.grad_accum if grad_accum is None else grad_accum, lr_scheduler_type=cfg.lr_scheduler,
        warmup_steps=float(cfg.warmup_ratio), weight_decay=cfg.weight_decay, max_grad_norm=cfg.max_grad_norm,
        optim=cfg.optim, logging_steps=cfg.logging_steps, save_strategy="steps", save_steps=cfg.save_steps,
        save_total_limit=2, seed=recipe.seed, data_seed=recipe.seed,
        use_cpu=not hw.cuda, bf16=(dtype == "bfloat16"), fp16=(dtype == "float16"),
        dataloader_num_workers=0, gradient_checkpointing=hw.cuda, disable_tqdm=False,
    )


def _ddp_args(recipe, hw: Hardware) -> dict[str, Any]:
    """With several trainer processes: gloo on CPU, NCCL on GPUs, and no search for unused parameters (LoRA leaves
    the base frozen by design; the search would cost a graph walk per step and fails with checkpointing)."""
    if dist.world() == 1:  # the runner and the planner build configs in one process; the launched trainers set these
        return {}
    return dict(ddp_backend="nccl" if hw.cuda else "gloo", ddp_find_unused_parameters=False)


def last_checkpoint(out_dir: Path) -> str | None:
    """The newest intact `checkpoint-N` folder, for resume. A broken one (killed mid-save, truncated or garbage
    trainer_state.json, weights missing or cut short) is skipped with a printed note naming it, so the run
    falls back to the next newest instead of dying in Trainer with a traceback; none intact = start over."""
    ckpts = []
    for p in (out_dir / "checkpoints").glob("checkpoint-*"):
        m = re.fullmatch(r"checkpoint-(\d+)", p.name)
        if m and p.is_dir():
            ckpts.append((int(m.group(1)), p))
    for _, p in sorted(ckpts, reverse=True):
        problem = checkpoint_problem(p)
        if problem is None:
            return str(p)
        _say(f"[resume] skipping broken checkpoint {p}: {problem}; resuming from the newest intact one "
              f"instead (delete {p} to silence this note)")
    if ckpts:
        _say(f"[resume] no intact checkpoint in {out_dir / 'checkpoints'}: training starts over")
    return None


def _say(message: str) -> None:
    if dist.is_main():  # every trainer process looks at the same folder; one says so
        print(message, flush=True)


# What Trainer reads on resume (transformers trainer.py: _load_from_checkpoint :3462-3517 needs one of these
# weight files; trainer_state.json is read by TrainerState.load_from_json :1639 and written last by
# _save_checkpoint :3269, so a folder without it was cut short while saving).
WEIGHT_FILES = ("adapter_model.safetensors", "adapter_model.bin", "model.safetensors", "pytorch_model.bin",
                "model.safetensors.index.json", "pytorch_model.bin.index.json")
TORCH_FILES = ("optimizer.pt", "optimizer.bin", "scheduler.pt", "scaler.pt", "rng_state.pth",
               "adapter_model.bin", "pytorch_model.bin")


def checkpoint_problem(ckpt: Path) -> str | None:
    """Why Trainer could not resume from this folder, or None when it looks intact (cheap checks only: JSON
    parses, each safetensors file is as long as its header says, each torch file's zip directory reads)."""
    state = ckpt / "trainer_state.json"
    if not state.exists():
        return "no trainer_state.json (the run was stopped while saving it)"
    try:
        st = json.loads(state.read_text())
    except (ValueError, UnicodeDecodeError):
        return "trainer_state.json is truncated or not JSON"
    if not isinstance(st, dict) or not isinstance(st.get("global_step"), int) \
            or not isinstance(st.get("log_history"), list):
        return "trainer_state.json lacks global_step/log_history"
    weights = [ckpt / n for n in WEIGHT_FILES if (ckpt / n).is_file()]
    if not weights:
        return f"no weights (none of {', '.join(WEIGHT_FILES[:2])} …)"
    if (ckpt / "adapter_model.safetensors").is_file() or (ckpt / "adapter_model.bin").is_file():
        try:
            json.loads((ckpt / "adapter_config.json").read_text())
        except (OSError, ValueError, UnicodeDecodeError):
            return "adapter_config.json is missing or not JSON"
    for w in weights:
        if w.suffix == ".safetensors" and not _safetensors_whole(w):
            return f"{w.name} is truncated or not a safetensors file"
    for name in TORCH_FILES:
        f = ckpt / name
        if f.is_file() and not _zip_whole(f):
            return f"{name} is truncated or not a torch save file"
    return None


def _safetensors_whole(path: Path) -> bool:
    """A safetensors file is an 8-byte header length, a JSON header, then the tensors' bytes."""
    try:
        with open(path, "rb") as f:
            n = int.from_bytes(f.read(8), "little")
            if n <= 0 or n > 100_000_000:
                return False
            header = json.loads(f.read(n))
        ends = [v["data_offsets"][1] for k, v in header.items() if k != "__metadata__"]
        return path.stat().st_size >= 8 + n + max(ends, default=0)
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
        return False


def _zip_whole(path: Path) -> bool:
    """torch.save writes a zip archive; its central directory sits at the end, so a cut-off file has none."""
    import zipfile

    try:
        with zipfile.ZipFile(path) as z:
            return bool(z.namelist())
    except (OSError, zipfile.BadZipFile, ValueError):
        return False


class ResumeGuard(TrainerCallback):
    """Turns a checkpoint that passed `checkpoint_problem` but still fails to load into one KitError line.

    Trainer loads the weights (trainer.py:1508) and the optimizer/scheduler (_prepare_for_training, :1559)
    before on_train_begin (:1595) and the RNG state after it (_load_rng_state, :1785), all before the first step;
    so only errors before the first on_step_begin are blamed on the checkpoint (and never out-of-memory)."""

    def __init__(self, resume: str | None):
        self.resume = resume
        self.began = False

    def on_step_begin(self, args, state, control, **kwargs):
        self.began = True

    def train(self, trainer) -> Any:
        import pickle
        import zipfile

        import torch

        from kit.compat import accept_indexed_cpu_locations

        accept_indexed_cpu_locations()  # a multi-process CPU checkpoint's RNG states are tagged "cpu:0"
        try:
            return trainer.train(resume_from_checkpoint=self.resume)
        except torch.OutOfMemoryError:
            raise
        except (ValueError, RuntimeError, OSError, KeyError, EOFError, pickle.UnpicklingError,
                zipfile.BadZipFile) as exc:
            if self.resume is None or self.began:
                raise
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
            raise KitError(f"cannot resume from checkpoint {self.resume} ({type(exc).__name__}: {first}); delete "
                           "that folder and rerun: training resumes from an older checkpoint or starts over") from exc


def checkpoint_state(ckpt: str | Path) -> dict[str, Any]:
    """The trainer_state.json of a checkpoint that `last_checkpoint` accepted."""
    return json.loads((Path(ckpt) / "trainer_state.json").read_text())


def whole_run_loss(session_loss: float, global_step: int, resumed_state: dict[str, Any] | None) -> float:
    """Mean training loss over every step of the run, also when it was resumed.

    On resume Trainer restarts its loss sum at zero but still divides by the whole global_step
    (transformers trainer.py:1590 and :1931-1933), so its train_loss counts only the resumed steps. The steps
    before the checkpoint come from the checkpoint's log_history, each logged `loss` being the mean over the
    steps since the previous log (trainer.py:2180). `resumed_state` is the checkpoint's trainer state, read
    before training: checkpoint rotation (save_total_limit) may delete that folder while the run goes on."""
    if resumed_state is None:
        return session_loss
    state = resumed_state
    start = int(state["global_step"])
    total, covered, prev = session_loss * global_step, global_step - start, 0
    for row in state["log_history"]:
        if "loss" in row and prev < row.get("step", 0) <= start:
            total += float(row["loss"]) * (row["step"] - prev)
            covered += row["step"] - prev
            prev = row["step"]
    return total / covered if covered else session_loss



class JsonlLog(TrainerCallback):
    """Appends every logged dict (loss, reward, lengths, grad norm …) to train_log.jsonl as it happens."""

    def __init__(self, path: Path):
        self.path = path
        if dist.is_main() and path.exists() and path.stat().st_size:  # a kill mid-write left a cut line: end it, so the resumed run's
            with open(path, "rb+") as f:          # rows start on lines of their own (kit.runlog skips the cut one)
                f.seek(-1, 2)
                if f.read(1) != b"\n":
                    f.write(b"\n")

    def on_log(self, args, state, control, logs=None, **kwargs):
        if logs and state.is_world_process_zero:  # every process logs the same gathered values; one writes
            with open(self.path, "a") as f:
                f.write(json.dumps({"step": state.global_step, **{k: _num(v) for k, v in logs.items()}}) + "\n")


def _num(v: Any) -> Any:
    return float(v) if hasattr(v, "__float__") and not isinstance(v, (str, bool)) else v


def save_adapter(model, tokenizer, out_dir: Path, recipe, arm: str, summary: dict[str, Any], trainer=None) -> Path:
    """PEFT adapter + tokenizer + a model card that keeps PEFT's Hub front matter and adds the kit's (base model,
    tags, datasets, license) and the recipe values; ends the arm's tracker run (kit.tracking).

    With several trainer processes every one of them calls the trainer's save_model, which gathers sharded LoRA
    weights (ZeRO-3, FSDP full state dict: transformers/trainer.py:3951-3969, a collective all ranks join) and
    writes from the main process; the tokenizer, card and push are the main process's alone."""
    path = out_dir / "adapter"
    if trainer is not None and dist.world() > 1:
        trainer.save_model(str(path))
        if not dist.is_main():
            return path
        (path / "training_args.bin").unlink(missing_ok=True)  # Trainer._save's pickle: not part of an adapter
    elif not dist.is_main():
        return path
    else:
        model.save_pretrained(str(path))  # PeftModel.save_pretrained writes PEFT's README.md (model card)
    tokenizer.save_pretrained(str(path))
    write_card(path, recipe, arm, summary)
    finish_training_run(recipe)
    if recipe.train.push_to_hub:
        push_adapter(path, f"{recipe.train.push_to_hub}-{arm}")
    return path


# The base model's license by Hub id prefix, as its own card states it (Qwen3: apache-2.0 on every Qwen/Qwen3-*
# card); a base not listed gets no license line rather than a guessed one.
BASE_LICENSES = (("Qwen/Qwen3-", "apache-2.0"),)
# the tag each trainer module's arms get besides their name (TRL trainer family)
TRAINER_TAGS = {"kit.train.sft": "sft", "kit.train.onpolicy_sft": "sft", "kit.train.grpo": "grpo"}


def hub_base(model_id: str) -> str | None:
    """The Hub id of the base model, or None for a model the kit builds or a local folder (no Hub link)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    from kit.models import BUILT_IDS

    if model_id in BUILT_IDS or Path(model_id).exists():
        return None
    try:
        validate_repo_id(model_id)
    except HFValidationError:
        return None
    return model_id


def card_metadata(recipe, arm: str) -> dict[str, Any]:
    """The front matter the kit adds to PEFT's: base_model, library_name, tags, datasets, license (when known)."""
    from kit.registry import ARMS

    entry = ARMS.get(arm) if arm in ARMS else None
    trainer = entry.trainer.split(":")[0] if entry and isinstance(entry.trainer, str) else ""
    arm_tags = [t for t in ("trl", TRAINER_TAGS.get(trainer), "lora", arm) if t]
    if recipe.model.load_in_4bit:
        arm_tags.append("qlora")
    base = hub_base(recipe.model.id)
    datasets = []
    if recipe.data.source == "hub":
        needs = entry.needs if entry else ("sft", "rl")
        datasets = [d for n, d in (("sft", recipe.data.sft_dataset), ("rl", recipe.data.rl_dataset)) if n in needs]
    lic = next((lic for prefix, lic in BASE_LICENSES if recipe.model.id.startswith(prefix)), None)
    return {"base_model": base, "library_name": "peft", "datasets": datasets or None, "license": lic,
            "tags": [*KIT_TAGS, *arm_tags, *recipe.train.tags]}


def write_card(path: Path, recipe, arm: str, summary: dict[str, Any]) -> None:
    """Merge the kit's front matter into the README.md PEFT wrote (its tags and pipeline_tag kept; its base_model,
    a local path for a built model, replaced by the Hub id or dropped) and write the kit's body, keeping PEFT's
    framework versions."""
    import yaml
    from huggingface_hub import ModelCard, ModelCardData

    from kit.registry import ARMS

    readme = path / "README.md"
    card = ModelCard.load(readme) if readme.exists() else ModelCard("---\n---\n")
    data: ModelCardData = card.data
    ours = card_metadata(recipe, arm)
    tags = [t for t in (data.tags or []) if t]
    for t in ours.pop("tags"):
        if t not in tags:
            tags.append(t)
    base = ours["base_model"]
    # PEFT tags base_model:adapter:<the loaded model's name_or_path> (peft_model.py _get_peft_specific_model_tags):
    # a local cache path for a built model, or a mirror's id; the tag follows the Hub id the card names instead
    tags = [t for t in tags if not t.startswith("base_model:adapter:")]
    tags += [f"base_model:adapter:{base}"] if base else []
    for key, value in ours.items():
        data[key] = value
    data.tags = tags
    kept = card.text.splitlines()
    framework = kept[kept.index("### Framework versions"):] if "### Framework versions" in kept else []
    full = recipe.to_dict()
    values = {}
    for key in ("model", "lora", "chat", "data", *(ARMS.get(arm).sections if arm in ARMS else ())):
        top, _, rest = key.partition(".")  # an arm may depend on one key of another section (grpo.learning_rate)
        values[key] = full[top].get(rest) if rest and isinstance(full.get(top), dict) else full.get(top)
    model_ref = f"`{recipe.model.id}` (revision `{recipe.model.revision}`)"
    body = [
        f"# {recipe.name} / {arm}: LoRA adapter", "",
        f"LoRA adapter (PEFT) for {model_ref}, trained by the `{arm}` arm of the reasoning-transfer replication "
        "kit, which re-runs *Does Math Reasoning Improve General LLM Capabilities?* (arXiv 2507.00432).", "",
        "## Training", "",
        f"- recipe: `{recipe.name}` (run folder `{recipe.run_name or recipe.name}`); arm: `{arm}`",
        f"- LoRA r={recipe.lora.r}, alpha={recipe.lora.alpha}, dropout={recipe.lora.dropout}, targets "
        f"{', '.join(recipe.lora.target_modules)}; 4-bit base: {recipe.model.load_in_4bit}",
        f"- data: `{recipe.data.rl_dataset}` / `{recipe.data.sft_dataset}` ({recipe.data.source}), "
        f"{summary.get('examples', '?')} problems",
        f"- steps: {summary.get('steps', '?')}; train loss {summary.get('train_loss', '?')}; seed {recipe.seed}; "
        f"thinking mode {recipe.chat.enable_thinking}",
        "", "Scores: the run's report.md (base and every arm on the same benchmark items, with intervals).", "",
        "## Recipe values", "", "```yaml", yaml.safe_dump(values, sort_keys=False).rstrip(), "```", "",
        "## Use", "", "```python", "from peft import PeftModel", "from transformers import AutoModelForCausalLM", "",
        f"base = AutoModelForCausalLM.from_pretrained({recipe.model.id!r}, revision={recipe.model.revision!r})",
        "model = PeftModel.from_pretrained(base, \"<this repo or folder>\")", "```", "",
    ]
    card.text = "\n".join(body + framework) + "\n"
    card.save(readme)


def push_adapter(path: Path, repo_id: str) -> None:
    """Upload a saved adapter folder (weights, tokenizer, model card) to a private Hub repo. The repo id and the
    card's front matter are checked first, offline, so a bad prefix or a card the Hub cannot link to its base
    fails in one line before anything is created."""
    from huggingface_hub import HfApi, ModelCard
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as exc:
        raise KitError(f"train.push_to_hub: '{repo_id}' is not a Hub repo id ({exc})") from None
    data = ModelCard.load(path / "README.md").data
    if data.library_name != "peft":
        raise KitError(f"{path / 'README.md'} lacks 'library_name: peft'; the Hub would not show it as an adapter")
    api = HfApi()
    api.create_repo(repo_id, private=True, exist_ok=True)
    api.upload_folder(folder_path=str(path), repo_id=repo_id, commit_message="kit: trained adapter")
