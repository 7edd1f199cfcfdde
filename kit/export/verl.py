"""The RL set as verl reads it: train.parquet (the kit's RL problems) and val.parquet (AIME-2024, the paper's
validation set), plus run_dapo.sh with the paper's DAPO settings.

Checked against volcengine/verl @ b178a3cd56f58b2d502255daba591e92833930a7 (the commit named in
training-anchors.md) and its recipe submodule verl-project/verl-recipe @ 21892b9276936efab5375c3f6b8415e472ef7118:
- verl/utils/dataset/rl_dataset.py:106 `prompt_key` defaults to "prompt"; :153-162 each file is read with
  `datasets.load_dataset("parquet", ...)`; :247 the prompt length check applies
  `tokenizer.apply_chat_template(doc[prompt_key], add_generation_prompt=True, **apply_chat_template_kwargs)`, so
  `prompt` is a list of chat messages; :350-359 `extra_info.index` is read when present.
- verl/workers/reward_manager/dapo.py:87-101 scores with `reward_model.ground_truth`, `data_source` and
  `extra_info`; :105-112 a plain number becomes both the score and the "acc" metric filter_groups reads.
- verl/utils/reward_score/__init__.py:44-107 `default_compute_score` dispatches on `data_source`: "lighteval/MATH"
  (:48-51) is math_reward.compute_score (math_reward.py:16-28: last \\boxed{} of the response, is_equiv against
  the ground truth, 1.0 / 0.0), which fits the paper's "output the final answer in the \\boxed{}" prompt. The
  paper's own to_parquet.py wrote data_source "math_rl_48k", which this commit does not dispatch (:107 raises
  NotImplementedError), and "math_dapo"/"aime*" (:59-61) read an "Answer:" line, not a box; so the kit writes
  "lighteval/MATH" by default (`--data-source` changes it, e.g. for a custom reward function).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from kit.errors import KitError
from kit.export.source import TrainingFiles, model_path

DATA_SOURCE = "lighteval/MATH"  # see the module docstring: verl's default scorer for boxed answers
VERL_COMMIT = "b178a3cd56f58b2d502255daba591e92833930a7"
RECIPE_COMMIT = "21892b9276936efab5375c3f6b8415e472ef7118"
# the paper's released DAPO script (paper.md §5.3, REPO train/README.md); scale-dependent values are derived below
PAPER = {"train_prompt_bsz": 512, "n_resp_per_prompt": 16, "train_prompt_mini_bsz": 32, "lr": "1e-6",
         "lr_warmup_steps": 10, "weight_decay": 0.1, "grad_clip": 1.0, "clip_ratio_low": 0.2, "clip_ratio_high": 0.28,
         "max_prompt_length": 2048, "max_response_length": 20480, "overlong_buffer_len": 4096,
         "overlong_penalty_factor": 1.0, "max_num_gen_batches": 10, "gen_tp": 4, "gpu_memory_utilization": 0.7,
         "sp_size": 8, "nnodes": 16, "n_gpus_per_node": 8, "total_epochs": 1, "save_freq": 5, "test_freq": 5}


def user_content(question: str, recipe) -> str:
    """The user turn of the paper's train/to_parquet.py: question + " Let's think step by step and output the final
    answer in the \\boxed{}." (the kit's RL_SUFFIX; `data.rl_suffix=false` leaves the question bare)."""
    from kit.data.train_sets import RL_SUFFIX

    return question + (RL_SUFFIX if recipe.data.rl_suffix else "")


def record(question: str, answer: str, index: int, split: str, recipe, data_source: str) -> dict[str, Any]:
    """One row in verl's RL schema (the columns of the paper's to_parquet.py)."""
    return {"data_source": data_source,
            "prompt": [{"role": "user", "content": user_content(question, recipe)}],
            "ability": "math",
            "reward_model": {"style": "rule", "ground_truth": str(answer)},
            "extra_info": {"split": split, "index": index, "question": question, "answer": str(answer)}}


def train_records(files: TrainingFiles, data_source: str) -> list[dict[str, Any]]:
    """The data stage's RL rows, each checked against the prompt the kit itself trained on (kit/chat.py
    render_prompt of the same user turn): a run folder made with other chat or suffix settings is refused."""
    from kit.chat import render_prompt

    recipe = files.recipe
    out = []
    for i, row in enumerate(files.rl):
        rec = record(row["question"], row["answer"], i, "train", recipe, data_source)
        if render_prompt(rec["prompt"][0]["content"], recipe.chat.enable_thinking) != row["prompt"]:
            raise KitError(f"{files.origin}: data/rl.jsonl row {i} was not built with this recipe's chat/data "
                           f"settings (its prompt differs); rerun its data stage or export from the recipe")
        out.append(rec)
    if not out:
        raise KitError(f"{files.origin}: the RL set is empty")
    return out


def val_records(recipe, benchmark: str, data_source: str) -> list[dict[str, Any]]:
    """The paper's validation set (AIME-2024, test_freq=5), from the recipe's eval source, in the same prompt."""
    from kit.eval import benchmarks
    from kit.eval.benchmarks.base import load_rows

    bench = benchmarks.get(benchmark)
    items = bench.items(load_rows(bench, recipe.eval.source == "fixtures"))
    if not items or "answer" not in items[0].doc:
        raise KitError(f"--val {benchmark}: not a benchmark with one gold answer per problem; use --val aime24 or none")
    return [record(it.doc["problem"], it.doc["answer"], i, "test", recipe, data_source) for i, it in enumerate(items)]


def _schema():
    import pyarrow as pa

    s = pa.string()
    return pa.schema([("data_source", s), ("prompt", pa.list_(pa.struct([("role", s), ("content", s)]))),
                      ("ability", s), ("reward_model", pa.struct([("style", s), ("ground_truth", s)])),
                      ("extra_info", pa.struct([("split", s), ("index", pa.int64()), ("question", s), ("answer", s)]))])


def write_parquet(rows: list[dict[str, Any]], path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows, schema=_schema()), path)


def check(path: Path) -> int:
    """Rows of a verl RL parquet, after checking what verl reads: every column present with the type verl and the
    paper's to_parquet.py use, and every row a non-empty user prompt with a ground truth. One-line KitError."""
    import pyarrow.parquet as pq

    try:
        table = pq.read_table(path)
    except Exception as exc:  # not a parquet file, truncated
        raise KitError(f"{path}: not a readable parquet file ({str(exc).splitlines()[0]})") from exc
    want = _schema()
    for field in want:
        if field.name not in table.schema.names:
            raise KitError(f"{path}: column '{field.name}' is missing; verl's reader needs {want.names}")
        got = table.schema.field(field.name).type
        if got != field.type:
            raise KitError(f"{path}: column '{field.name}' is {got}, expected {field.type}")
    for i, row in enumerate(table.to_pylist()):
        if not row["prompt"] or row["prompt"][0]["role"] != "user" or not row["prompt"][0]["content"]:
            raise KitError(f"{path}: row {i} has no user prompt")
        if not row["reward_model"]["ground_truth"] or row["reward_model"]["style"] != "rule":
            raise KitError(f"{path}: row {i} has no rule-style ground truth")
        if row["extra_info"]["index"] is None:
            raise KitError(f"{path}: row {i} has no extra_info.index")
    return table.num_rows


def check_dir(out_dir: Path) -> int:
    """An export folder: train.parquet (and val.parquet when present) checked, run_dapo.sh present."""
    if not (out_dir / "run_dapo.sh").is_file():
        raise KitError(f"{out_dir}: run_dapo.sh is missing")
    if (out_dir / "val.parquet").exists():
        check(out_dir / "val.parquet")
    return check(out_dir / "train.parquet")


def settings(n_train: int) -> dict[str, Any]:
    """The paper's values, with the batch sizes capped at the exported set (a set smaller than one 512-prompt batch,
    at a small scale, would give verl no step: its train dataloader drops the last partial batch)."""
    s = dict(PAPER)
    s["train_prompt_bsz"] = min(PAPER["train_prompt_bsz"], n_train)
    s["train_prompt_mini_bsz"] = min(PAPER["train_prompt_mini_bsz"], s["train_prompt_bsz"])
    s["gen_prompt_bsz"] = 3 * s["train_prompt_bsz"]
    return s


def launch_script(recipe, n_train: int, has_val: bool, origin: str) -> str:
    """run_dapo.sh: the paper's DAPO run (paper.md §5.3) as Hydra overrides of verl's DAPO entry point."""
    s = settings(n_train)
    thinking = "" if recipe.chat.enable_thinking else \
        "    +data.apply_chat_template_kwargs.enable_thinking=False \\\n"
    val = '"${HERE}/val.parquet"' if has_val else '"${HERE}/train.parquet"'
    scaled = "" if s["train_prompt_bsz"] == PAPER["train_prompt_bsz"] else \
        f"# This set has {n_train} problems: train_prompt_bsz and train_prompt_mini_bsz are capped to fit it.\n"
    return f"""#!/usr/bin/env bash
# The paper's RL run (arXiv 2507.00432, "UniReason-Qwen3-14B (RL)") on the kit's training set, written by
# `python -m kit.export verl` from {origin}.
# Settings: the paper's released verl DAPO script (REPO train/README.md; the kit's notes: paper.md §5.3):
#   GRPO advantages with DAPO's dynamic sampling (filter_groups on acc, max_num_gen_batches 10, 3x generation
#   batch), token-mean loss, overlong buffer 4096 (penalty 1.0), clip 0.2/0.28, lr 1e-6 (warmup 10, weight decay
#   0.1, grad clip 1.0), no KL and no entropy term, 16 rollouts per prompt at temperature 1.0 / top-p 1.0,
#   prompts up to 2048 tokens and responses up to 20480, 1 epoch, a checkpoint every 5 steps.
# The paper reports 140 steps (about 1.5 passes over ~48K problems); its script says total_epochs=1: the script
# is followed here. Its mini-batch is 32 prompts (512 sequences); the paper's text says 128 (paper.md §5.3).
{scaled}# Checked against verl {VERL_COMMIT[:9]} with verl-recipe {RECIPE_COMMIT[:9]} (recipe/dapo/main_dapo.py).
# Run it from a verl checkout (VERL_DIR) on a Ray cluster of NNODES x N_GPUS_PER_NODE GPUs.
set -euo pipefail
HERE="$(cd "$(dirname "${{BASH_SOURCE[0]}}")" && pwd)"
VERL_DIR=${{VERL_DIR:-$PWD}}
MODEL_PATH="${{MODEL_PATH:-{model_path(recipe)}}}"
CKPTS_DIR=${{CKPTS_DIR:-$HERE/checkpoints}}
NNODES=${{NNODES:-{s["nnodes"]}}}
N_GPUS_PER_NODE=${{N_GPUS_PER_NODE:-{s["n_gpus_per_node"]}}}
SP_SIZE=${{SP_SIZE:-{s["sp_size"]}}}
GEN_TP=${{GEN_TP:-{s["gen_tp"]}}}
max_len=$(({s["max_prompt_length"]} + {s["max_response_length"]}))

cd "$VERL_DIR"
python3 -m recipe.dapo.main_dapo \\
    data.train_files="$HERE/train.parquet" \\
    data.val_files={val} \\
    data.prompt_key=prompt \\
    data.truncation=left \\
{thinking}    data.max_prompt_length={s["max_prompt_length"]} \\
    data.max_response_length={s["max_response_length"]} \\
    data.train_batch_size={s["train_prompt_bsz"]} \\
    data.gen_batch_size={s["gen_prompt_bsz"]} \\
    algorithm.adv_estimator=grpo \\
    algorithm.use_kl_in_reward=False \\
    algorithm.kl_ctrl.kl_coef=0.0 \\
    algorithm.filter_groups.enable=True \\
    algorithm.filter_groups.metric=acc \\
    algorithm.filter_groups.max_num_gen_batches={s["max_num_gen_batches"]} \\
    actor_rollout_ref.model.path="$MODEL_PATH" \\
    actor_rollout_ref.model.use_remove_padding=True \\
    actor_rollout_ref.model.enable_gradient_checkpointing=True \\
    actor_rollout_ref.actor.optim.lr={s["lr"]} \\
    actor_rollout_ref.actor.optim.lr_warmup_steps={s["lr_warmup_steps"]} \\
    actor_rollout_ref.actor.optim.weight_decay={s["weight_decay"]} \\
    actor_rollout_ref.actor.grad_clip={s["grad_clip"]} \\
    actor_rollout_ref.actor.ppo_mini_batch_size={s["train_prompt_mini_bsz"]} \\
    actor_rollout_ref.actor.use_kl_loss=False \\
    actor_rollout_ref.actor.kl_loss_coef=0.0 \\
    actor_rollout_ref.actor.entropy_coeff=0 \\
    actor_rollout_ref.actor.clip_ratio_low={s["clip_ratio_low"]} \\
    actor_rollout_ref.actor.clip_ratio_high={s["clip_ratio_high"]} \\
    actor_rollout_ref.actor.clip_ratio_c=10.0 \\
    actor_rollout_ref.actor.loss_agg_mode=token-mean \\
    actor_rollout_ref.actor.use_dynamic_bsz=True \\
    actor_rollout_ref.actor.ppo_max_token_len_per_gpu=$max_len \\
    actor_rollout_ref.actor.ulysses_sequence_parallel_size=$SP_SIZE \\
    actor_rollout_ref.actor.fsdp_config.param_offload=True \\
    actor_rollout_ref.actor.fsdp_config.optimizer_offload=True \\
    actor_rollout_ref.ref.log_prob_use_dynamic_bsz=True \\
    actor_rollout_ref.ref.log_prob_max_token_len_per_gpu=$max_len \\
    actor_rollout_ref.ref.ulysses_sequence_parallel_size=$SP_SIZE \\
    actor_rollout_ref.ref.fsdp_config.param_offload=True \\
    actor_rollout_ref.rollout.name=vllm \\
    actor_rollout_ref.rollout.n={s["n_resp_per_prompt"]} \\
    actor_rollout_ref.rollout.temperature=1.0 \\
    actor_rollout_ref.rollout.top_p=1.0 \\
    actor_rollout_ref.rollout.top_k=-1 \\
    actor_rollout_ref.rollout.val_kwargs.temperature=1.0 \\
    actor_rollout_ref.rollout.val_kwargs.top_p=0.7 \\
    actor_rollout_ref.rollout.val_kwargs.do_sample=True \\
    actor_rollout_ref.rollout.val_kwargs.n=1 \\
    actor_rollout_ref.rollout.gpu_memory_utilization={s["gpu_memory_utilization"]} \\
    actor_rollout_ref.rollout.tensor_model_parallel_size=$GEN_TP \\
    actor_rollout_ref.rollout.log_prob_use_dynamic_bsz=True \\
    actor_rollout_ref.rollout.log_prob_max_token_len_per_gpu=$max_len \\
    actor_rollout_ref.rollout.enable_chunked_prefill=True \\
    actor_rollout_ref.rollout.max_num_batched_tokens=$max_len \\
    reward_model.reward_manager=dapo \\
    reward_model.overlong_buffer.enable=True \\
    reward_model.overlong_buffer.len={s["overlong_buffer_len"]} \\
    reward_model.overlong_buffer.penalty_factor={s["overlong_penalty_factor"]} \\
    trainer.logger='["console"]' \\
    trainer.project_name=kit-export \\
    trainer.experiment_name={recipe.run_name or recipe.name}-dapo \\
    trainer.nnodes=$NNODES \\
    trainer.n_gpus_per_node=$N_GPUS_PER_NODE \\
    trainer.val_before_train=True \\
    trainer.test_freq={s["test_freq"]} \\
    trainer.save_freq={s["save_freq"]} \\
    trainer.total_epochs={s["total_epochs"]} \\
    trainer.default_local_dir="$CKPTS_DIR" \\
    trainer.resume_mode=auto \\
    "$@"
"""


def write(files: TrainingFiles, out_dir: Path, options: dict[str, Any]) -> dict[str, Any]:
    """train.parquet, val.parquet (unless --val none) and run_dapo.sh into `out_dir` (a staged folder)."""
    source = options.get("data_source") or DATA_SOURCE
    train = train_records(files, source)
    write_parquet(train, out_dir / "train.parquet")
    val_name = options.get("val", "aime24")
    val = [] if val_name in (None, "none") else val_records(files.recipe, val_name, source)
    if val:
        write_parquet(val, out_dir / "val.parquet")
    script = out_dir / "run_dapo.sh"
    script.write_text(launch_script(files.recipe, len(train), bool(val), files.origin))
    script.chmod(0o755)
    return {"train_rows": len(train), "val_rows": len(val), "data_source": source,
            "files": ["train.parquet", *(["val.parquet"] if val else []), "run_dapo.sh"]}
