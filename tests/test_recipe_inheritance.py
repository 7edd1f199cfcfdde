"""Recipes as deltas: `base:` inheritance, its one-line errors, and the proof that the rewritten qwen3 recipes load to
exactly the recipes they were before (frozen in tests/fixtures/recipes_resolved/, dumped before the rewrite)."""

from __future__ import annotations

import json

import pytest
import yaml

from kit import recipe as R
from kit.errors import KitError
from tests.conftest import ROOT, run_kit

FROZEN = ROOT / "tests" / "fixtures" / "recipes_resolved"
REWRITTEN = ["qwen3-0.6b", "qwen3-1.7b", "qwen3-4b", "qwen3-8b", "qwen3-14b", "qwen3-0.6b-t4"]
QWEN3_BASE = ROOT / "recipes" / "bases" / "qwen3.yaml"


@pytest.mark.parametrize("name", REWRITTEN)
def test_rewritten_recipe_loads_to_the_frozen_recipe(name):
    """Every field of the loaded recipe equals the one the self-contained file gave before it became a delta."""
    frozen = json.loads((FROZEN / f"{name}.json").read_text())
    loaded = R.load(ROOT / "recipes" / f"{name}.yaml").to_dict()
    assert _known_to(frozen, loaded, R.Recipe().to_dict()) == frozen


def _known_to(frozen: dict, loaded: dict, default: dict, path: str = "") -> dict:
    """`loaded` without the knobs added to the schema after the fixtures were frozen, each checked to hold its
    schema default (a new knob may not change what an existing recipe means)."""
    out = {}
    for key, value in loaded.items():
        if key not in frozen:
            assert value == default.get(key), f"new knob {path}{key} = {value!r} is not its default"
        elif isinstance(value, dict) and isinstance(frozen[key], dict) and isinstance(default.get(key), dict):
            out[key] = _known_to(frozen[key], value, default[key], f"{path}{key}.")
        else:
            out[key] = value
    return out


@pytest.mark.parametrize("name", REWRITTEN)
def test_rewritten_recipe_is_a_delta_over_the_shared_base(name):
    text = (ROOT / "recipes" / f"{name}.yaml").read_text()
    assert yaml.safe_load(text)["base"] == "bases/qwen3.yaml"
    settings = [ln for ln in text.splitlines() if ln.strip() and not ln.lstrip().startswith("#")]
    assert len(settings) < 60  # the shared values live in the base, not restated here (header comments aside)


def test_frozen_fixtures_cover_every_rewritten_recipe():
    assert sorted(p.stem for p in FROZEN.glob("*.json")) == sorted(REWRITTEN)


def _write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_child_merges_over_base_mappings_by_key_lists_and_scalars_replace(tmp_path):
    _write(tmp_path / "b.yaml", "name: b\nseed: 3\narms: [sft, grpo]\nsft: {batch_size: 4, grad_accum: 4}\n"
                                "grpo: {reward_weights: {correctness: 1.0, format: 0.5}, health: {action: warn}}\n"
                                "eval: {benchmarks: [math500, ifeval], items: 7}\n")
    child = _write(tmp_path / "c.yaml", "base: b.yaml\nname: c\narms: [grpo]\nsft: {grad_accum: 8}\n"
                                        "grpo: {reward_weights: {format: 0.0}}\neval: {benchmarks: [ifeval], items: null}\n")
    r = R.load(child)
    assert r.name == "c" and r.seed == 3
    assert r.arms == ["grpo"]  # a list replaces
    assert (r.sft.batch_size, r.sft.grad_accum) == (4, 8)  # a section merges key by key
    assert r.grpo.reward_weights == {"correctness": 1.0, "format": 0.0}
    assert r.grpo.health.action == "warn"
    assert r.eval.benchmarks == ["ifeval"] and r.eval.items is None  # null replaces too


def test_study_seeds_and_dev_seeds_set_in_different_files_are_checked_merged(tmp_path):
    """A child may set only dev seeds over a base's confirmatory ones: only the merged lists must be disjoint."""
    _write(tmp_path / "b.yaml", "name: b\narms: [sft]\neval: {benchmarks: [ifeval]}\nstudy: {seeds: [10, 11, 12]}\n")
    ok = _write(tmp_path / "ok.yaml", "base: b.yaml\nname: ok\nstudy: {dev_seeds: [0]}\n")
    assert (R.load(ok).study.seeds, R.load(ok).study.dev_seeds) == ([10, 11, 12], [0])
    clash = _write(tmp_path / "clash.yaml", "base: b.yaml\nname: clash\nstudy: {dev_seeds: [11]}\n")
    with pytest.raises(KitError, match=r"shares seed\(s\) \[11\]"):
        R.load(clash)


def test_base_chain_is_followed_and_paths_are_relative_to_each_file(tmp_path):
    _write(tmp_path / "shared" / "root.yaml", "abstract: true\nseed: 5\nsft: {batch_size: 3}\n")
    _write(tmp_path / "shared" / "mid.yaml", "abstract: true\nbase: root.yaml\nsft: {grad_accum: 6}\n")
    child = _write(tmp_path / "runs" / "c.yaml", "base: ../shared/mid.yaml\nname: c\n")
    r = R.load(child)
    assert (r.seed, r.sft.batch_size, r.sft.grad_accum, r.name) == (5, 3, 6, "c")


def test_overrides_apply_after_the_merge(tmp_path):
    _write(tmp_path / "b.yaml", "sft: {batch_size: 4, grad_accum: 4}\n")
    child = _write(tmp_path / "c.yaml", "base: b.yaml\nsft: {grad_accum: 8}\n")
    r = R.load(child, ["sft.batch_size=2", "sft.grad_accum=16"])
    assert (r.sft.batch_size, r.sft.grad_accum) == (2, 16)


def test_resolved_dump_is_the_whole_merged_recipe_and_reloads_without_base(tmp_path):
    r = R.load(ROOT / "recipes" / "qwen3-8b.yaml")
    out = tmp_path / "recipe.resolved.yaml"
    R.dump(r, out)
    raw = yaml.safe_load(out.read_text())
    assert "base" not in raw and "abstract" not in raw
    assert raw["lora"]["r"] == 32 and raw["grpo"]["num_generations"] == 16  # from the base and from the delta
    assert R.load(out).to_dict() == r.to_dict()


@pytest.mark.parametrize("files, start, fragment", [
    ({"c.yaml": "base: nope.yaml\nname: c\n"}, "c.yaml", "base recipe file not found"),
    ({"c.yaml": "base: c.yaml\nname: c\n"}, "c.yaml", "makes a cycle"),
    ({"a.yaml": "base: b.yaml\n", "b.yaml": "base: a.yaml\nseed: 1\n"}, "a.yaml", "makes a cycle"),
    ({"c.yaml": "base: [b.yaml]\n"}, "c.yaml", "'base' must be the path of another recipe file"),
    ({"c.yaml": "base: b.yaml\n", "b.yaml": "- seed\n- 1\n"}, "c.yaml", "b.yaml: not a recipe"),
    ({"c.yaml": "base: b.yaml\n", "b.yaml": "seed: [\n"}, "c.yaml", "b.yaml: not valid YAML"),
    ({"c.yaml": "base: b.yaml\n", "b.yaml": ""}, "c.yaml", "b.yaml: the recipe is empty"),
    ({"c.yaml": "base: b.yaml\nabstract: 1\n", "b.yaml": "seed: 1\n"}, "c.yaml", "'abstract' must be true or false"),
])
def test_inheritance_mistakes_are_one_line_errors(tmp_path, files, start, fragment):
    for name, text in files.items():
        _write(tmp_path / name, text)
    with pytest.raises(KitError) as exc:
        R.load(tmp_path / start)
    assert fragment in str(exc.value) and "\n" not in str(exc.value)


@pytest.mark.parametrize("base_text, child_text, bad_file, fragment", [
    ("sft:\n  batch_size: 2\n  batch_size: 4\n", "base: b.yaml\n", "b.yaml", "key 'batch_size' appears twice"),
    ("seed: 1\n", "base: b.yaml\nsft:\n  grad_accum: 2\n  grad_accum: 4\n", "c.yaml", "key 'grad_accum' appears twice"),
    ("sft: {learnig_rate: 1}\n", "base: b.yaml\n", "b.yaml", "did you mean 'sft.learning_rate'"),
    ("seed: 1\n", "base: b.yaml\nsft: {learnig_rate: 1}\n", "c.yaml", "did you mean 'sft.learning_rate'"),
    ("grpo: {num_generations: 1}\n", "base: b.yaml\n", "b.yaml", "'grpo.num_generations' is 1; it must be >= 2"),
    ("seed: 1\n", "base: b.yaml\ngrpo: {num_generations: 1}\n", "c.yaml", "'grpo.num_generations' is 1"),
    ("lora: 5\n", "base: b.yaml\n", "b.yaml", "'lora' must be a section"),
    ("seed: 1\n", "base: b.yaml\nchat: {enable_thinking: maybe}\n", "c.yaml", "must be true or false"),
])
def test_errors_name_the_file_that_holds_the_mistake(tmp_path, base_text, child_text, bad_file, fragment):
    _write(tmp_path / "b.yaml", base_text)
    child = _write(tmp_path / "c.yaml", child_text)
    with pytest.raises(KitError) as exc:
        R.load(child)
    msg = str(exc.value)
    assert msg.startswith(str(tmp_path / bad_file) + ":"), msg
    assert fragment in msg


def test_a_base_value_the_child_overrides_away_is_still_checked_in_the_base(tmp_path):
    """A base is a file people edit: a mistake in it is reported even when every recipe overrides that key."""
    _write(tmp_path / "b.yaml", "grpo: {epsilon: 5.0}\n")
    child = _write(tmp_path / "c.yaml", "base: b.yaml\ngrpo: {epsilon: 0.2}\n")
    with pytest.raises(KitError, match=r"b\.yaml: 'grpo.epsilon' is 5.0"):
        R.load(child)


def test_cross_field_rules_run_on_the_merged_recipe(tmp_path):
    """epsilon_high >= epsilon holds in each file alone but not once merged: the merged recipe is refused."""
    _write(tmp_path / "b.yaml", "grpo: {epsilon: 0.1, epsilon_high: 0.15}\n")
    child = _write(tmp_path / "c.yaml", "base: b.yaml\ngrpo: {epsilon: 0.2}\n")
    with pytest.raises(KitError, match=r"c\.yaml: 'grpo.epsilon_high' \(0.15\) must be >= 'grpo.epsilon' \(0.2\)"):
        R.load(child)


def test_the_shared_qwen3_base_is_refused_as_a_recipe_to_run():
    with pytest.raises(KitError, match=r"a base recipe \(abstract: true\), meant only to be named by `base:`"):
        R.load(QWEN3_BASE)


def test_abstract_is_not_inherited(tmp_path):
    _write(tmp_path / "b.yaml", "abstract: true\nseed: 2\n")
    assert R.load(_write(tmp_path / "c.yaml", "base: b.yaml\n")).seed == 2


def test_kit_run_refuses_an_abstract_base_in_one_line(tmp_path):
    res = run_kit(str(QWEN3_BASE), f"output_dir={tmp_path}", "--dry-run")
    assert res.returncode != 0
    assert "abstract: true" in res.stderr and "Traceback" not in res.stderr
    assert not any(tmp_path.iterdir())


def test_runnable_recipe_listing_does_not_include_bases():
    """tests that dry-run every recipes/*.yaml must not pick up the abstract bases: they live in recipes/bases/."""
    top = {p.name for p in (ROOT / "recipes").glob("*.yaml")}
    assert "qwen3.yaml" not in top
    for p in (ROOT / "recipes").glob("*.yaml"):
        assert not yaml.safe_load(p.read_text()).get("abstract", False), p


def test_a_recipe_without_base_is_checked_after_its_overrides_as_before(tmp_path):
    """Inheritance adds per-file checks only to files in a base chain: a standalone file's bad value can still be
    fixed from the command line."""
    p = _write(tmp_path / "r.yaml", "name: r\ngrpo: {num_generations: 1}\n")
    assert R.load(p, ["grpo.num_generations=4"]).grpo.num_generations == 4
