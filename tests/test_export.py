"""`python -m kit.export`: the verl, LLaMA-Factory and TRL exports round-trip (their files load the way those
trainers read them and hold the kit's own problems, prompts and answers), bad input is one line with nothing
written, and `compare:` evaluates a checkpoint trained elsewhere (a local folder) beside the base."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from tests.conftest import ROOT

SMOKE = str(ROOT / "recipes" / "smoke.yaml")
# the paper's RL user turn (train/to_parquet.py, paper.md §5.3), written out here rather than imported
PAPER_SUFFIX = " Let's think step by step and output the final answer in the \\boxed{}."


@pytest.fixture(scope="module")
def smoke_run(kit_cache, tmp_path_factory) -> Path:
    """A smoke run folder whose data stage is done (the run-folder input of the exporters)."""
    from kit.run import main

    out = tmp_path_factory.mktemp("runs")
    assert main([SMOKE, f"output_dir={out}", "--stages", "data"]) == 0
    return out / "smoke"


@pytest.fixture(scope="module")
def verl_export(smoke_run, tmp_path_factory) -> Path:
    from kit.export.__main__ import main

    out = tmp_path_factory.mktemp("verl") / "verl"
    assert main(["verl", str(smoke_run), "--out", str(out)]) == 0
    return out


def _jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def test_verl_round_trip(verl_export, smoke_run, tokenizer):
    """The verl export round-trips: read as verl's RLHFDataset reads it (datasets' parquet loader, the chat template
    applied to `prompt`), every row is the kit's problem, the paper's prompt and a ground truth the kit's verifier
    accepts when boxed."""
    import datasets

    from kit.eval.scoring.math import verify_correct
    from kit.export.verl import DATA_SOURCE, check
    from kit.train.rewards import math_equal

    kit_rows = _jsonl(smoke_run / "data" / "rl.jsonl")
    # verl/utils/dataset/rl_dataset.py:158 reads each file this way
    ds = datasets.load_dataset("parquet", data_files=str(verl_export / "train.parquet"))["train"]
    assert check(verl_export / "train.parquet") == len(ds) == len(kit_rows) == 8
    for i, (row, kit) in enumerate(zip(ds, kit_rows)):
        assert row["data_source"] == DATA_SOURCE and row["ability"] == "math"
        assert row["prompt"] == [{"role": "user", "content": kit["question"] + PAPER_SUFFIX}]
        # rl_dataset.py:247: apply_chat_template(doc["prompt"], add_generation_prompt=True, **kwargs), with the
        # enable_thinking=False run_dapo.sh passes: the exact prompt the kit's GRPO arm trained on
        templated = tokenizer.apply_chat_template(row["prompt"], add_generation_prompt=True, tokenize=False,
                                                  enable_thinking=False)
        assert templated == kit["prompt"]
        gt = row["reward_model"]["ground_truth"]
        assert row["reward_model"]["style"] == "rule" and gt == kit["answer"]
        assert row["extra_info"]["index"] == i and row["extra_info"]["split"] == "train"
        assert verify_correct(f"The answer is \\boxed{{{gt}}}.", gt) and math_equal(gt, gt)
        assert not verify_correct("The answer is \\boxed{123456789}.", gt)  # the verifier is not vacuous
    val = datasets.load_dataset("parquet", data_files=str(verl_export / "val.parquet"))["train"]
    assert len(val) >= 1 and all(r["extra_info"]["split"] == "test" for r in val)
    assert all(r["prompt"][0]["content"].endswith(PAPER_SUFFIX) for r in val)


def test_verl_script_has_the_papers_settings(verl_export):
    import subprocess

    script = (verl_export / "run_dapo.sh").read_text()
    assert subprocess.run(["bash", "-n", str(verl_export / "run_dapo.sh")]).returncode == 0
    for setting in ("data.train_batch_size=8 ", "actor_rollout_ref.rollout.n=16 ", "ppo_mini_batch_size=8 ",
                    "optim.lr=1e-6 ", "lr_warmup_steps=10 ", "weight_decay=0.1 ", "clip_ratio_low=0.2 ",
                    "clip_ratio_high=0.28 ", "data.max_prompt_length=2048 ", "data.max_response_length=20480 ",
                    "overlong_buffer.len=4096 ", "overlong_buffer.penalty_factor=1.0 ", "filter_groups.metric=acc ",
                    "max_num_gen_batches=10 ", "kl_coef=0.0 ", "entropy_coeff=0 ", "rollout.temperature=1.0 ",
                    "rollout.top_p=1.0 ", "GEN_TP:-4}", "gpu_memory_utilization=0.7 ", "total_epochs=1 ",
                    "save_freq=5 ", "loss_agg_mode=token-mean ", "enable_thinking=False ", "data.gen_batch_size=24 ",
                    "reward_model.reward_manager=dapo ", 'val_files="${HERE}/val.parquet"'):
        assert setting in script, setting


def test_verl_settings_scale_with_the_set():
    from kit.export.verl import settings

    assert settings(48_000)["train_prompt_bsz"] == 512 and settings(48_000)["train_prompt_mini_bsz"] == 32
    assert settings(100)["train_prompt_bsz"] == 100 and settings(100)["gen_prompt_bsz"] == 300
    assert settings(10)["train_prompt_mini_bsz"] == 10


def test_verl_check_fails_on_broken_files(verl_export, tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    from kit.errors import KitError
    from kit.export.verl import check

    table = pq.read_table(verl_export / "train.parquet")
    pq.write_table(table.drop_columns(["reward_model"]), tmp_path / "missing.parquet")
    with pytest.raises(KitError, match="column 'reward_model' is missing"):
        check(tmp_path / "missing.parquet")
    rows = table.to_pylist()
    for r in rows:
        r["prompt"] = r["prompt"][0]["content"]  # a plain string, not chat messages
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "string_prompt.parquet")
    with pytest.raises(KitError, match="column 'prompt' is string"):
        check(tmp_path / "string_prompt.parquet")
    (tmp_path / "junk.parquet").write_text("not parquet")
    with pytest.raises(KitError, match="not a readable parquet"):
        check(tmp_path / "junk.parquet")


def test_recipe_input_matches_the_run_folder(verl_export, tmp_path):
    """A recipe is exported through the data stage's own build: the same rows as the run folder's."""
    import pyarrow.parquet as pq

    from kit.export.__main__ import main

    assert main(["verl", SMOKE, "--out", str(tmp_path / "v"), "--val", "none"]) == 0
    assert sorted(p.name for p in (tmp_path / "v").iterdir()) == ["run_dapo.sh", "train.parquet"]
    assert pq.read_table(tmp_path / "v" / "train.parquet").to_pylist() == \
        pq.read_table(verl_export / "train.parquet").to_pylist()
    assert 'val_files="${HERE}/train.parquet"' in (tmp_path / "v" / "run_dapo.sh").read_text()


def test_bad_input_is_one_line_and_writes_nothing(smoke_run, tmp_path, capsys):
    from kit.export.__main__ import main
    from kit.rundir import MARKER, RESOLVED

    out = tmp_path / "out"
    cases = [(["verl", str(tmp_path)], "is not a kit run folder"),
             (["verl", str(tmp_path / "nowhere")], "does not exist"),
             (["sft", str(smoke_run), "--format", "axolotl"], "unknown SFT format"),
             (["verl", str(ROOT / "recipes" / "audit-unireason-14b.yaml")], "trains no arm"),
             # fails after train.parquet was staged: nothing may reach --out
             (["verl", str(smoke_run), "--val", "coqa"], "not a benchmark with one gold answer")]
    half = tmp_path / "half"  # a run folder whose data stage never finished
    half.mkdir()
    (half / MARKER).write_text("{}")
    (half / RESOLVED).write_text((smoke_run / RESOLVED).read_text())
    cases.append((["verl", str(half)], "data stage of"))
    for argv, message in cases:
        assert main([*argv, "--out", str(out)]) == 2, argv
        err = capsys.readouterr().err.strip()
        assert err.startswith("error: ") and message in err and "\n" not in err, err
        assert not out.exists(), argv
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".out.")]  # staging folders removed


def test_llamafactory_export(smoke_run, tmp_path):
    import yaml

    from kit.errors import KitError
    from kit.export.__main__ import main
    from kit.export.sft import check_llamafactory

    out = tmp_path / "lf"
    assert main(["sft", str(smoke_run), "--format", "llamafactory", "--out", str(out)]) == 0
    kit_rows = _jsonl(smoke_run / "data" / "sft.jsonl")
    info = json.loads((out / "dataset_info.json").read_text())
    config = yaml.safe_load((out / "llamafactory_sft.yaml").read_text())
    entry = info[config["dataset"]]
    rows = json.loads((out / entry["file_name"]).read_text())
    assert check_llamafactory(out) == len(rows) == len(kit_rows)
    column = entry["columns"]["messages"]
    for row, kit in zip(rows, kit_rows):
        human, gpt = row[column]
        assert human == {"from": "human", "value": kit["question"]}
        assert gpt["from"] == "gpt" and kit["completion"] == gpt["value"] + "<|im_end|>"
    assert Path(config["dataset_dir"]) == out.resolve() and config["template"] == "qwen3"
    assert config["enable_thinking"] is False and config["finetuning_type"] == "full"
    assert (config["learning_rate"], config["lr_scheduler_type"], config["warmup_ratio"]) == (5e-5, "cosine", 0.1)
    assert config["per_device_train_batch_size"] * config["gradient_accumulation_steps"] * 64 == 512
    assert config["num_train_epochs"] == 1.5 and config["cutoff_len"] == 16384
    rows[0][column] = rows[0][column][:1]  # the teacher's turn lost
    (out / entry["file_name"]).write_text(json.dumps(rows))
    with pytest.raises(KitError, match="row 0"):
        check_llamafactory(out)


def test_trl_export_loads_with_trl(smoke_run, tmp_path, tokenizer):
    """The TRL export as `trl sft --config` reads it (TrlParser, then trl.get_dataset on its `datasets:`), rendered
    by TRL's own template step into the kit's SFT prompt."""
    from trl import ModelConfig, ScriptArguments, SFTConfig, TrlParser
    from trl.data_utils import apply_chat_template, is_conversational
    from trl.scripts.utils import DatasetMixtureConfig, get_dataset

    from kit.errors import KitError
    from kit.export.__main__ import main
    from kit.export.sft import check_trl

    out = tmp_path / "trl"
    assert main(["sft", str(smoke_run), "--format", "trl", "--out", str(out)]) == 0
    parser = TrlParser((ScriptArguments, SFTConfig, ModelConfig, DatasetMixtureConfig))
    _, training, model, mixture = parser.parse_args_and_config(
        ["--config", str(out / "trl_sft.yaml"), "--bf16", "false", "--output_dir", str(tmp_path / "saves")])
    assert training.learning_rate == 5e-5 and training.num_train_epochs == 1.5 and training.max_length == 16384
    ds = get_dataset(mixture)["train"]
    kit_rows = _jsonl(smoke_run / "data" / "sft.jsonl")
    assert check_trl(out) == len(ds) == len(kit_rows)
    for row, kit in zip(ds, kit_rows):
        assert is_conversational(row)
        rendered = apply_chat_template(row, tokenizer)
        assert rendered["prompt"] == kit["prompt"]
        assert rendered["completion"].rstrip("\n") == kit["completion"]  # the kit's SFT target, token for token
    (out / "train.jsonl").write_text(json.dumps({"prompt": "a plain string", "completion": "x"}) + "\n")
    with pytest.raises(KitError, match="row 0"):
        check_trl(out)


def _actor_folder(root: Path) -> Path:
    """What verl's FSDP checkpoint manager leaves (fsdp_checkpoint_manager.py:135, 256-273, 289 @ b178a3c)."""
    actor = root / "global_step_5" / "actor"
    (actor / "huggingface").mkdir(parents=True)
    (actor / "model_world_size_2_rank_0.pt").write_bytes(b"")
    (actor / "huggingface" / "config.json").write_text("{}")
    return actor


def test_compare_refuses_a_verl_actor_folder(tmp_path):
    from kit.compose import load_recipe
    from kit.errors import KitError
    from kit.hardware import detect
    from kit.models import load_reference
    from kit.recipe.schema import ModelRef

    recipe = load_recipe(SMOKE)
    actor = _actor_folder(tmp_path)
    for given in (actor, actor / "huggingface", actor.parent):
        with pytest.raises(KitError, match="verl FSDP checkpoint") as err:
            load_reference(recipe, ModelRef(id=str(given)), detect())
        assert f"python -m verl.model_merger merge --backend fsdp --local_dir {actor} " in str(err.value)
        assert "\n" not in str(err.value)


@pytest.mark.slow
def test_compare_with_a_checkpoint_trained_elsewhere(kit_cache, tmp_path):
    """A full model in a local folder (here a random Qwen3 of another seed, standing in for a checkpoint trained by
    verl or LLaMA-Factory) evaluated beside the base through `compare:` in an audit run."""
    from kit.models import build_tiny
    from kit.recipe import ModelCfg
    from kit.run import main

    cfg = ModelCfg()
    elsewhere = build_tiny(dataclasses.replace(cfg, tiny=dataclasses.replace(cfg.tiny, seed=cfg.tiny.seed + 1)),
                           tmp_path / "trained-elsewhere")
    out = tmp_path / "runs"
    assert main([SMOKE, f"output_dir={out}", "arms=[]", f"compare={{elsewhere: {{id: '{elsewhere}'}}}}",
                 "eval.benchmarks=[math500]", "eval.items=2", "probe.enabled=false",
                 "--stages", "eval,report"]) == 0
    scores = json.loads((out / "smoke" / "eval" / "scores.json").read_text())
    assert set(scores) == {"base", "elsewhere"} and "math500" in scores["elsewhere"]
    outputs = {m: [r["output"] for r in _jsonl(out / "smoke" / "eval" / "samples" / m / "math500.jsonl")]
               for m in scores}
    assert outputs["elsewhere"] != outputs["base"]  # the folder's own weights generated them
    assert "elsewhere" in (out / "smoke" / "report.md").read_text()
