"""The SFT set for LLaMA-Factory (the paper's SFT stack) and for TRL's `trl sft` CLI, with configs holding the
paper's SFT values (paper.md §5.2: LR 5e-5 cosine with 10% warmup, global batch 512, 1.5 epochs, full fine-tune).

LLaMA-Factory's formats were checked against hiyouga/LLaMA-Factory @ ff6d4d12eeb035d6ce06805a5733dd7b29f2ac30:
data/README.md:168-217 (sharegpt: a `conversations` list of {"from", "value"} turns, human at odd and gpt at even
positions, :176; the dataset_info.json entry with `formatting: sharegpt` and `columns.messages`), :55 (a reasoning
trace goes into the response as `<think>cot</think>output`) and :92 (`enable_thinking` false puts the empty think
block in the prompt, as the kit's no-think prompts have it); examples/train_full/qwen3_full_sft.yaml (the YAML
layout); src/llamafactory/hparams/data_args.py:124 (`enable_thinking`). TRL's against the installed trl (1.15):
conversational prompt/completion rows (`trl.data_utils.is_conversational`), `trl sft --config FILE`
(trl/scripts/sft.py: the YAML's `datasets:` list is loaded with `trl.get_dataset`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from kit.errors import KitError
from kit.export.source import TrainingFiles, assistant_text, model_path

LF_COMMIT = "ff6d4d12eeb035d6ce06805a5733dd7b29f2ac30"
DATA_FILE = "sft.json"
# the paper's SFT values (paper.md §5.2); global batch 512 = 1 per device x 8 accumulation x 64 GPUs
PAPER = {"learning_rate": 5.0e-5, "lr_scheduler_type": "cosine", "warmup_ratio": 0.1, "num_train_epochs": 1.5,
         "per_device_train_batch_size": 1, "gradient_accumulation_steps": 8, "cutoff_len": 16384, "bf16": True,
         "save_steps": 50}


def pairs(files: TrainingFiles) -> list[tuple[str, str]]:
    """(user turn, teacher turn) per SFT row: the bare question (the kit's SFT prompt has no suffix) and the
    teacher's response as the data stage kept it (a think target keeps its `<think>…</think>` block)."""
    out = [(row["question"], assistant_text(row["completion"])) for row in files.sft]
    if not out:
        raise KitError(f"{files.origin}: the SFT set is empty")
    return out


def thinking(files: TrainingFiles) -> bool:
    """The template mode the kit trained with: think targets train in thinking mode (kit/data/train_sets.py
    sft_example), no-think targets in the recipe's `chat.enable_thinking`."""
    return files.recipe.data.sft_target == "think" or bool(files.recipe.chat.enable_thinking)


def dataset_name(files: TrainingFiles) -> str:
    return f"kit_{files.recipe.run_name or files.recipe.name}_sft".replace("-", "_")


def write_llamafactory(files: TrainingFiles, out_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
    """sft.json (sharegpt), dataset_info.json (its entry) and llamafactory_sft.yaml into `out_dir` (staged)."""
    rows = [{"conversations": [{"from": "human", "value": q}, {"from": "gpt", "value": a}]} for q, a in pairs(files)]
    (out_dir / DATA_FILE).write_text(json.dumps(rows, ensure_ascii=False, indent=1))
    name = dataset_name(files)
    info = {name: {"file_name": DATA_FILE, "formatting": "sharegpt", "columns": {"messages": "conversations"},
                   "tags": {"role_tag": "from", "content_tag": "value", "user_tag": "human", "assistant_tag": "gpt"}}}
    (out_dir / "dataset_info.json").write_text(json.dumps(info, indent=2))
    final_dir = Path(options.get("final_dir", out_dir)).resolve()
    (out_dir / "llamafactory_sft.yaml").write_text(llamafactory_yaml(files, name, final_dir))
    return {"rows": len(rows), "dataset": name, "files": [DATA_FILE, "dataset_info.json", "llamafactory_sft.yaml"]}


def llamafactory_yaml(files: TrainingFiles, name: str, dataset_dir: Path) -> str:
    """The paper's released LLaMA-Factory config (paper.md §5.2) on this set; run from a LLaMA-Factory checkout."""
    p, think = PAPER, thinking(files)
    return f"""# The paper's SFT run (arXiv 2507.00432, UniReason-Qwen3-14B SFT) on the kit's SFT set, written by
# `python -m kit.export sft --format llamafactory` from {files.origin}.
# Values: the paper's released LLaMA-Factory config (REPO train/README.md; paper.md §5.2), except
# num_train_epochs: the paper's text says 1.5 ("to align with our RL settings"), the released YAML 2.0.
# Global batch 512 = per_device 1 x accumulation 8 x 64 GPUs; on fewer GPUs raise gradient_accumulation_steps.
# Checked against LLaMA-Factory {LF_COMMIT[:9]}. Run: llamafactory-cli train {dataset_dir}/llamafactory_sft.yaml
### model
model_name_or_path: {model_path(files.recipe)}
trust_remote_code: true

### method
stage: sft
do_train: true
finetuning_type: full
deepspeed: examples/deepspeed/ds_z3_config.json

### dataset
dataset: {name}
dataset_dir: {dataset_dir}
template: qwen3
enable_thinking: {str(think).lower()}
cutoff_len: {p["cutoff_len"]}
overwrite_cache: true
preprocessing_num_workers: 16

### output
output_dir: saves/{name}
logging_steps: 10
save_steps: {p["save_steps"]}
plot_loss: true
overwrite_output_dir: true
report_to: none

### train
per_device_train_batch_size: {p["per_device_train_batch_size"]}
gradient_accumulation_steps: {p["gradient_accumulation_steps"]}
learning_rate: {p["learning_rate"]:.1e}
num_train_epochs: {p["num_train_epochs"]}
lr_scheduler_type: {p["lr_scheduler_type"]}
warmup_ratio: {p["warmup_ratio"]}
bf16: {str(p["bf16"]).lower()}
ddp_timeout: 180000000
"""


def write_trl(files: TrainingFiles, out_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
    """train.jsonl (conversational prompt/completion) and trl_sft.yaml (for `trl sft --config`) into `out_dir`.

    Each row carries `chat_template_kwargs` (enable_thinking): TRL's SFTTrainer passes a row's own template
    arguments to `apply_chat_template` (trl/trainer/sft_trainer.py:1315-1318, trl 1.15), so the prompts render in
    the mode the kit trained with, not the template's default."""
    from kit.chat import THINK_CLOSE, THINK_OPEN

    think = thinking(files)
    kwargs = {"enable_thinking": think}
    # TRL takes the prompt as the common prefix of the prompt alone and prompt + completion (trl/data_utils.py
    # apply_chat_template); a no-think prompt ends in an empty think block, so the teacher's turn starts with it
    empty = "" if think else f"{THINK_OPEN}\n\n{THINK_CLOSE}\n\n"
    with open(out_dir / "train.jsonl", "w") as f:
        for q, a in pairs(files):
            a = empty + a
            f.write(json.dumps({"prompt": [{"role": "user", "content": q}],
                                "completion": [{"role": "assistant", "content": a}],
                                "chat_template_kwargs": kwargs}, ensure_ascii=False) + "\n")
    final_dir = Path(options.get("final_dir", out_dir)).resolve()
    p = PAPER
    # `datasets:` is TRL's DatasetMixtureConfig (trl/scripts/utils.py DatasetConfig: load_dataset's arguments)
    config = {"model_name_or_path": model_path(files.recipe),
              "datasets": [{"path": "json", "data_files": str(final_dir / "train.jsonl"), "split": "train"}],
              "learning_rate": p["learning_rate"], "lr_scheduler_type": p["lr_scheduler_type"],
              "warmup_steps": p["warmup_ratio"], "num_train_epochs": p["num_train_epochs"],
              "per_device_train_batch_size": p["per_device_train_batch_size"],
              "gradient_accumulation_steps": p["gradient_accumulation_steps"], "max_length": p["cutoff_len"],
              "bf16": p["bf16"], "save_steps": p["save_steps"], "output_dir": f"saves/{dataset_name(files)}",
              "report_to": "none"}
    header = (f"# The paper's SFT values (paper.md §5.2) for TRL, written by `python -m kit.export sft --format trl` "
              f"from {files.origin}.\n# warmup_steps < 1 is a ratio (transformers 5); global batch 512 = 1 x 8 "
              f"accumulation x 64 GPUs.\n# Run: trl sft --config {final_dir}/trl_sft.yaml\n")
    (out_dir / "trl_sft.yaml").write_text(header + yaml.safe_dump(config, sort_keys=False))
    return {"rows": len(files.sft), "files": ["train.jsonl", "trl_sft.yaml"]}


def _turns_ok(turns: Any, roles: tuple[str, str], role_key: str, content_key: str) -> bool:
    return (isinstance(turns, list) and len(turns) >= 2 and len(turns) % 2 == 0
            and all(isinstance(t, dict) and t.get(role_key) == roles[i % 2] and isinstance(t.get(content_key), str)
                    and t[content_key] for i, t in enumerate(turns)))


def check_llamafactory(out_dir: Path) -> int:
    """Rows of a LLaMA-Factory export, after checking that every dataset_info.json entry names a file here whose
    rows hold its `messages` column as alternating human/gpt turns (data/README.md:176), and that the YAML trains
    on an entry of it. One-line KitError."""
    try:
        info = json.loads((out_dir / "dataset_info.json").read_text())
        config = yaml.safe_load((out_dir / "llamafactory_sft.yaml").read_text())
    except (OSError, ValueError, yaml.YAMLError) as exc:
        raise KitError(f"{out_dir}: dataset_info.json or llamafactory_sft.yaml unreadable ({exc})") from exc
    if config.get("dataset") not in info:
        raise KitError(f"{out_dir}: llamafactory_sft.yaml trains on '{config.get('dataset')}', not in dataset_info.json")
    total = 0
    for name, entry in info.items():
        column = entry.get("columns", {}).get("messages", "conversations")
        tags = entry.get("tags", {})
        roles = (tags.get("user_tag", "human"), tags.get("assistant_tag", "gpt"))
        try:
            rows = json.loads((out_dir / entry["file_name"]).read_text())
        except (OSError, ValueError, KeyError) as exc:
            raise KitError(f"{out_dir}: dataset '{name}': its file is missing or not JSON ({exc})") from exc
        if entry.get("formatting") != "sharegpt" or not isinstance(rows, list) or not rows:
            raise KitError(f"{out_dir}: dataset '{name}' is not a non-empty sharegpt list")
        for i, row in enumerate(rows):
            if not _turns_ok(row.get(column), roles, tags.get("role_tag", "from"), tags.get("content_tag", "value")):
                raise KitError(f"{out_dir}: dataset '{name}' row {i}: column '{column}' is not alternating "
                               f"{roles[0]}/{roles[1]} turns")
        total += len(rows)
    return total


def check_trl(out_dir: Path) -> int:
    """Rows of train.jsonl, after checking each is a conversational prompt/completion pair (user, then assistant)."""
    path = out_dir / "train.jsonl"
    try:
        rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    except (OSError, ValueError) as exc:
        raise KitError(f"{path}: missing or not JSON lines ({exc})") from exc
    if not rows:
        raise KitError(f"{path}: no rows")
    for i, row in enumerate(rows):
        if not isinstance(row, dict) or not {"prompt", "completion"} <= set(row) \
                or not set(row) <= {"prompt", "completion", "chat_template_kwargs"}:
            raise KitError(f"{path}: row {i} must have the columns prompt and completion (and chat_template_kwargs)")
        if not _turns_ok(row["prompt"] + row["completion"], ("user", "assistant"), "role", "content") \
                or len(row["completion"]) != 1:
            raise KitError(f"{path}: row {i} is not one user turn and one assistant turn")
    return len(rows)
