"""Recipe loading, overrides and the one-line errors a user sees for bad input."""

from __future__ import annotations

import pytest

from kit import recipe as R
from kit.errors import KitError
from tests.conftest import ROOT

SMOKE = ROOT / "recipes" / "smoke.yaml"


def test_smoke_recipe_loads_with_explicit_values():
    r = R.load(SMOKE)
    assert r.name == "smoke" and r.arms == ["sft", "grpo", "onpolicy_sft"]
    assert r.grpo.beta == 0.0 and r.grpo.loss_type == "dapo" and r.grpo.num_generations == 4
    assert r.sft.learning_rate == pytest.approx(2e-4)


def test_overrides_by_dotted_key_are_typed():
    r = R.load(SMOKE, ["sft.learning_rate=1e-3", "grpo.health.action=stop", "eval.items=5", "arms=[grpo]"])
    assert r.sft.learning_rate == pytest.approx(1e-3)
    assert r.grpo.health.action == "stop"
    assert r.eval.items == 5 and r.arms == ["grpo"]


@pytest.mark.parametrize("override, fragment", [
    ("sft.learnig_rate=1", "unknown key 'sft.learnig_rate'; did you mean 'sft.learning_rate'?"),
    ("grpo.num_generations=two", "'grpo.num_generations' must be an integer"),
    ("grpo.num_generations=1", "'grpo.num_generations' is 1; it must be >= 2"),
    ("grpo.loss_type=dapoo", "choose one of grpo, dapo, dr_grpo, bnpo (did you mean 'dapo'?)"),
    ("arms=[sft, rl]", "unknown arm 'rl'"),
    ("chat.enable_thinking=maybe", "'chat.enable_thinking' must be true or false"),
    ("grpo.epsilon_high=0.1", "'grpo.epsilon_high' (0.1) must be >= 'grpo.epsilon' (0.2)"),
    ("grpo.reward_weights.length=1", "unknown reward(s) ['length']"),
])
def test_bad_values_name_the_key(override, fragment):
    with pytest.raises(KitError) as exc:
        R.load(SMOKE, [override])
    assert fragment in str(exc.value)


def test_missing_recipe_file():
    with pytest.raises(KitError, match="recipe file not found"):
        R.load(ROOT / "recipes" / "nope.yaml")


def test_unknown_top_level_key_in_file(tmp_path):
    p = tmp_path / "r.yaml"
    p.write_text("name: x\nsede: 3\n")
    with pytest.raises(KitError, match="unknown key 'sede'; did you mean 'seed'"):
        R.load(p)


def test_diff_lists_changed_dotted_keys():
    a = R.load(SMOKE).to_dict()
    b = R.load(SMOKE, ["sft.learning_rate=1", "seed=3"]).to_dict()
    assert R.diff(a, b) == ["seed", "sft.learning_rate"]


@pytest.mark.parametrize("args, fragment", [
    (["sft.learnig_rate=1"], "did you mean 'sft.learning_rate'?"),
    (["grpo.use_vllm=true"], "grpo.use_vllm=true needs a CUDA GPU"),
    (["model.backend=unsloth"], "model.backend=unsloth needs a CUDA GPU"),
    (["sft.optim=adamw_8bit"], "needs a CUDA GPU"),
    (["--stages", "train"], "unknown stage(s) ['train']"),
])
def test_cli_errors_are_one_line_without_traceback(args, fragment, tmp_path, capsys):
    """In-process: kit.run.main returns 2 and prints one `error:` line, no traceback."""
    from kit.run import main

    rc = main([str(SMOKE), f"output_dir={tmp_path}", *args])
    err = capsys.readouterr().err
    assert rc == 2
    assert "Traceback" not in err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err


def test_cli_missing_recipe_file(tmp_path, capsys):
    from kit.run import main

    rc = main([str(tmp_path / "missing.yaml")])
    err = capsys.readouterr().err
    assert rc == 2 and "recipe file not found" in err and "Traceback" not in err


# --- validation holes (#10 item 5) and unusable recipe files (#10 item 4) --------------------------------


@pytest.mark.parametrize("override, fragment", [
    ("sft.learning_rate=.nan", "'sft.learning_rate' is nan; it must be a finite number"),
    ("sft.learning_rate=nan", "'sft.learning_rate' is 'nan'; it must be a finite number"),
    ("grpo.temperature=.inf", "'grpo.temperature' is inf; it must be a finite number"),
    ("sft.epochs=inf", "'sft.epochs' is 'inf'; it must be a finite number"),
    ("scale=-.inf", "'scale' is -inf; it must be a finite number"),
    ("grpo.reward_weights.format=.nan", "'grpo.reward_weights.format' is nan; it must be a finite number"),
])
def test_nan_and_inf_are_refused(override, fragment):
    with pytest.raises(KitError) as exc:
        R.load(SMOKE, [override])
    assert fragment in str(exc.value)


@pytest.mark.parametrize("key", ["seed", "data.seed", "eval.seed", "probe.seed", "lora.init_seed",
                                 "model.tiny.seed"])
def test_seeds_must_fit_numpy_and_torch(key):
    assert R.load(SMOKE, [f"{key}={2**32 - 1}"])  # the largest seed numpy takes
    for big in (2**32, 2**64, 10**30):
        with pytest.raises(KitError, match=f"'{key}' is {big}; it must be <= {2**32 - 1}"):
            R.load(SMOKE, [f"{key}={big}"])


def test_seed_bound_is_what_numpy_accepts():
    import numpy as np

    np.random.seed(R.SEED_MAX)
    with pytest.raises(ValueError):
        np.random.seed(R.SEED_MAX + 1)


@pytest.mark.parametrize("text", ["", "\n# only a comment\n", "{}\n", "---\n"])
def test_empty_recipe_is_refused(tmp_path, text):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    with pytest.raises(KitError, match="the recipe is empty"):
        R.load(p)


@pytest.mark.parametrize("text, key, lines", [
    ("name: x\nseed: 1\nseed: 2\n", "seed", "lines 2 and 3"),
    ("name: x\nsft:\n  learning_rate: 1.0e-4\n  batch_size: 2\n  learning_rate: 1.0e-3\n", "learning_rate",
     "lines 3 and 5"),
    ("name: x\ngrpo:\n  health:\n    warn_after: 2\n    warn_after: 3\n", "warn_after", "lines 4 and 5"),
    ("name: x\nsft: {batch_size: 2}\nsft: {max_length: 64}\n", "sft", "lines 2 and 3"),
    ("name: x\ngrpo:\n  reward_weights: {correctness: 1.0, correctness: 0.5}\n", "correctness", "lines 3 and 3"),
])
def test_duplicate_keys_in_the_file_are_refused_at_any_depth(tmp_path, text, key, lines):
    p = tmp_path / "r.yaml"
    p.write_text(text)
    with pytest.raises(KitError) as exc:
        R.load(p)
    msg = str(exc.value)
    assert f"key '{key}' appears twice" in msg and lines in msg and str(p) in msg


def test_overrides_replace_file_values_and_merge_keys_still_work(tmp_path):
    """Only a key written twice inside the file is an error: overrides replace by design, and a YAML merge
    (`<<: *anchor`) followed by a local value of the same key is YAML's documented override."""
    import yaml

    p = tmp_path / "r.yaml"
    p.write_text("name: x\nsft:\n  batch_size: 2\n")
    assert R.load(p, ["sft.batch_size=5", "sft.batch_size=6"]).sft.batch_size == 6
    doc = yaml.load("a: &a {x: 1, y: 2}\nb:\n  <<: *a\n  x: 5\n", Loader=R._UniqueKeyLoader)
    assert doc["b"] == {"x": 5, "y": 2}


def test_empty_benchmark_list_is_refused():
    with pytest.raises(KitError, match="'eval.benchmarks' is empty; list at least one benchmark"):
        R.load(SMOKE, ["eval.benchmarks=[]"])


def _write(tmp_path, data: bytes | str):
    p = tmp_path / "r.yaml"
    p.write_bytes(data if isinstance(data, bytes) else data.encode())
    return p


@pytest.mark.parametrize("data, fragment", [
    (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\xff\xfe", "not a text file (binary or not UTF-8)"),
    (b"name: x\x00\x01\x02\nseed: 1\n", "not a text file (it holds NUL bytes)"),
    (b"name: x\x01\x02\nseed: 1\n", "not valid YAML (unacceptable character #x0001"),
    ("name: x\nseed: 1\n  - oops: [\n", "not valid YAML at line 3"),
    ("name: [unclosed\nseed: 1\n", "not valid YAML"),
    ("- name: x\n- seed: 1\n", "holds a YAML list, where a recipe is a mapping"),
    ("just some words\n", "holds a YAML str, where a recipe is a mapping"),
    ("42\n", "holds a YAML int, where a recipe is a mapping"),
])
def test_garbage_recipe_files_give_one_line(tmp_path, data, fragment):
    p = _write(tmp_path, data)
    with pytest.raises(KitError) as exc:
        R.load(p)
    msg = str(exc.value)
    assert fragment in msg and str(p) in msg and "\n" not in msg


def test_recipe_path_that_is_a_folder(tmp_path):
    with pytest.raises(KitError, match="is a folder; give the path of a recipe .yaml file"):
        R.load(tmp_path)


@pytest.mark.parametrize("content, fragment", [
    (None, "is a folder"),
    (b"\xff\xfe\x00garbage", "not a text file"),
    ("", "the recipe is empty"),
    ("- a\n- b\n", "holds a YAML list"),
    ("seed: 1\nseed: 2\n", "key 'seed' appears twice"),
    ("name: x\nseed: .nan\n", "'seed' must be an integer"),
    ("name: x\nscale: .nan\n", "'scale' is nan; it must be a finite number"),
    ("name: x\nseed: 4294967296\n", "'seed' is 4294967296; it must be <= 4294967295"),
    ("name: x\neval: {benchmarks: []}\n", "'eval.benchmarks' is empty"),
])
def test_cli_bad_recipe_files_exit_2_with_one_line(tmp_path, capsys, content, fragment):
    """In-process: kit.run.main returns 2 and prints one `error:` line (no traceback) for each bad file."""
    from kit.run import main

    if content is None:
        path = tmp_path / "a-folder"
        path.mkdir()
    else:
        path = _write(tmp_path, content)
    rc = main([str(path), f"output_dir={tmp_path / 'out'}", "--dry-run"])
    err = capsys.readouterr().err
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert rc == 2 and len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], err
    assert str(path) in lines[0]


# --- names checked at the composition root (#11): kit.recipe knows no benchmark, paper row or data source --------


@pytest.mark.parametrize("override, fragment", [
    ("eval.benchmarks=[math5000]", "eval.benchmarks: unknown benchmark 'math5000'; did you mean 'math500'?"),
    ("report.paper_rows.rl=Qwen3-14B-Bas", "'report.paper_rows.rl' names an unknown row 'Qwen3-14B-Bas'; did you mean"),
    ("data.source=hubb", "data.source: unknown data source 'hubb'; known: hub, fixtures"),
    ("data.sft_target=think", None),  # smoke's fixtures serve the think target: no error
])
def test_names_are_checked_when_the_composition_root_loads(override, fragment):
    from kit.compose import load_recipe

    r = R.load(SMOKE, [override])  # the recipe layer alone does not look names up...
    if fragment is None:
        assert load_recipe(str(SMOKE), [override]) == r
        return
    with pytest.raises(KitError) as exc:
        load_recipe(str(SMOKE), [override])  # ...the composition root does, in one line naming the file
    msg = str(exc.value)
    assert fragment in msg and str(SMOKE) in msg and "\n" not in msg


def test_a_data_sources_own_rules_are_checked_at_load():
    from kit.compose import load_recipe

    with pytest.raises(KitError, match="data.source=toy has no-think teacher traces only"):
        load_recipe(str(ROOT / "recipes" / "toy.yaml"), ["data.sft_target=think"])
    with pytest.raises(KitError, match="data.rl_problems=all needs the released sets .*hub, fixtures"):
        load_recipe(str(ROOT / "recipes" / "toy.yaml"), ["data.rl_problems=all"])



def test_a_resolved_section_is_a_record_only_in_the_saved_recipe(tmp_path):
    """`resolved:` (the plan's sizes) is skipped in a run folder's recipe.resolved.yaml, an unknown key elsewhere;
    the internal field for arms' sections is never offered as a key."""
    text = (ROOT / "recipes" / "smoke.yaml").read_text() + "\nresolved:\n  problems: 3\n"
    saved, other = tmp_path / "recipe.resolved.yaml", tmp_path / "mine.yaml"
    saved.write_text(text)
    other.write_text(text)
    assert R.load(saved) == R.load(ROOT / "recipes" / "smoke.yaml")
    with pytest.raises(KitError, match="unknown key 'resolved'") as exc:
        R.load(other)
    assert "arm_sections" not in str(exc.value)
