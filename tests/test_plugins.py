"""Model providers and data sources are registries (#11): a provider or source registered in a test is used by
kit.models and kit.data with no other edit, and the core's modules never name the CPU mini-world (kit/toy
registers itself from kit/builtin.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kit import recipe as R
from kit.errors import KitError
from kit.registry import DATA_SOURCES, MODEL_PROVIDERS, DataSource, ModelProvider
from tests.conftest import ROOT

BUILT: list[tuple[object, Path]] = []


def _build_dummy(model_cfg, cache_root: Path) -> Path:
    BUILT.append((model_cfg.id, cache_root))
    return cache_root / "dummy-model"


def test_a_registered_model_provider_is_built_and_fingerprinted(tmp_path):
    from kit import models

    cfg = R.load(ROOT / "recipes" / "smoke.yaml", ["model.id=dummy-built"]).model
    assert "dummy-built" not in models.BUILT_IDS
    assert models.resolve_path(cfg, tmp_path) == "dummy-built"  # not built: a Hub id, passed through
    assert models.build_fingerprint(cfg) is None
    MODEL_PROVIDERS.register("dummy-built", ModelProvider(id="dummy-built", build=_build_dummy,
                                                          fingerprint=lambda c: f"dummy-{c.revision}"))
    try:
        assert "dummy-built" in models.BUILT_IDS and "dummy-built" in list(models.BUILT_IDS)
        assert models.resolve_path(cfg, tmp_path) == str(tmp_path / "dummy-model")
        assert BUILT[-1] == ("dummy-built", tmp_path)
        assert models.build_fingerprint(cfg) == "dummy-main"
        # a built model loads without a Hub revision
        assert models.unsloth_kwargs(cfg, "p", "float32", None)["revision"] is None
        assert models.pinned_snapshot(cfg, "p") == "p"
    finally:
        MODEL_PROVIDERS.unregister("dummy-built")
    assert "dummy-built" not in models.BUILT_IDS
    assert models.unsloth_kwargs(cfg, "p", "float32", None)["revision"] == "main"


def test_the_bundled_models_are_registered_with_their_fingerprints():
    from kit import models

    assert {"tiny-random-qwen3", "toy-qwen3"} <= set(models.BUILT_IDS)
    toy = R.load(ROOT / "recipes" / "toy.yaml").model
    assert re.fullmatch(r"toy-qwen3-[0-9a-f]+", models.build_fingerprint(toy) or "")
    quick = R.load(ROOT / "recipes" / "toy.yaml", ["model.toy_quick=true"]).model
    assert models.build_fingerprint(quick) != models.build_fingerprint(toy)
    assert models.build_fingerprint(R.load(ROOT / "recipes" / "smoke.yaml").model) is None


def _dummy_problems(data_cfg):
    from kit.data.train_sets import Problem

    return [Problem(f"What is {i} + {data_cfg.seed}?", str(i + data_cfg.seed), f"It is {i + data_cfg.seed}.",
                    "dummy") for i in range(5)]


def _dummy_pool(data_cfg):
    from kit.data.train_sets import Problem

    return [*_dummy_problems(data_cfg), *(Problem(f"What is {i} - 1?", str(i - 1), "", "dummy") for i in range(3))]


def _dummy_check(data_cfg):
    if data_cfg.max_prompt_tokens > 4096:
        raise KitError("data.source=dummy: prompts are short; set data.max_prompt_tokens <= 4096")


@pytest.fixture
def dummy_source():
    DATA_SOURCES.register("dummy", DataSource(name="dummy", problems=_dummy_problems, rl_pool=_dummy_pool,
                                              check=_dummy_check))
    try:
        yield "dummy"
    finally:
        DATA_SOURCES.unregister("dummy")


class _Tok:
    """One token per word: enough for the data stage's length filters."""

    def __call__(self, text: str):
        return {"input_ids": text.split()}


def test_a_registered_data_source_feeds_the_data_stage(dummy_source, tmp_path):
    from kit.compose import load_recipe
    from kit.data import train_sets

    smoke = str(ROOT / "recipes" / "smoke.yaml")
    with pytest.raises(KitError, match="unknown data source 'dummy2'; known: .*dummy"):
        load_recipe(smoke, ["data.source=dummy2"])
    r = load_recipe(smoke, [f"output_dir={tmp_path}", "data.source=dummy", "data.seed=7"])
    assert [p.answer for p in train_sets.load_problems(r.data)] == ["7", "8", "9", "10", "11"]
    summary = train_sets.build(r, _Tok(), 3, tmp_path / "data")
    assert summary["used"] == 3
    sft = train_sets.read_jsonl(tmp_path / "data" / "sft.jsonl")
    assert [row["answer"] for row in sft] == ["7", "8", "9"] and "It is 7." in sft[0]["completion"]
    # rl_problems=all tops the RL set up from the source's pool, after the shared problems
    r_all = load_recipe(smoke, [f"output_dir={tmp_path}", "data.source=dummy", "data.seed=7", "data.rl_problems=all",
                                "data.num_problems=3"])
    summary = train_sets.build(r_all, _Tok(), 3, tmp_path / "all")
    rl = [json.loads(ln)["answer"] for ln in (tmp_path / "all" / "rl.jsonl").read_text().splitlines()]
    assert rl[:3] == ["7", "8", "9"] and summary["rl_available"] == 8 and len(rl) == summary["rl_used"] > 3
    # the source's own rule, at load and at build
    with pytest.raises(KitError, match="data.source=dummy: prompts are short"):
        load_recipe(smoke, ["data.source=dummy", "data.max_prompt_tokens=5000"])
    bad = R.load(smoke, [f"output_dir={tmp_path}", "data.source=dummy", "data.max_prompt_tokens=5000"])
    with pytest.raises(KitError, match="data.source=dummy: prompts are short"):
        train_sets.build(bad, _Tok(), 3, tmp_path / "bad")


def test_a_source_without_an_rl_pool_refuses_rl_problems_all(tmp_path):
    from kit.data import train_sets

    DATA_SOURCES.register("onlyone", DataSource(name="onlyone", problems=_dummy_problems))
    try:
        r = R.load(ROOT / "recipes" / "smoke.yaml", [f"output_dir={tmp_path}", "data.source=onlyone",
                                                      "data.rl_problems=all"])
        with pytest.raises(KitError, match="data.rl_problems=all needs the released sets .*data.source=onlyone "
                                           "has one problem set"):
            train_sets.build(r, _Tok(), 3, tmp_path / "data")
    finally:
        DATA_SOURCES.unregister("onlyone")


CORE = ["kit/models.py", "kit/stages.py", "kit/data/*.py", "kit/eval/**/*.py", "kit/recipe/*.py"]


def _core_files() -> list[Path]:
    files = sorted({f for pattern in CORE for f in ROOT.glob(pattern)})
    assert len(files) > 15 and ROOT / "kit" / "models.py" in files
    return files


@pytest.mark.parametrize("needle", ["kit.toy", "toy-qwen3", '"toy"', "'toy'"])
def test_the_core_never_names_the_toy(needle):
    hits = [str(f.relative_to(ROOT)) for f in _core_files() if needle in f.read_text(encoding="utf-8")]
    assert hits == [], f"{needle} named in {hits}"


def test_the_recipe_layer_imports_neither_eval_nor_report():
    for f in ROOT.glob("kit/recipe/*.py"):
        text = f.read_text(encoding="utf-8")
        assert not re.search(r"(from|import)\s+kit\.(eval|report)\b|from kit import (eval|report)\b", text), f


def test_the_toy_registers_itself_from_the_bundled_list():
    from kit import builtin
    from kit.eval import benchmarks

    assert "kit.toy.plugin" in builtin.MODULES
    assert "toy" in DATA_SOURCES and "toy-qwen3" in MODEL_PROVIDERS
    assert [n for n in benchmarks.names() if n.startswith("toy_")]
    assert not (ROOT / "kit" / "eval" / "benchmarks" / "toy.py").exists()


def test_a_plugin_that_fails_to_load_is_one_line_and_the_next_lookup_retries(monkeypatch):
    """Never a silently partial registry: the failure names the module; once it imports, lookups work again."""
    import sys

    import kit.registry as reg
    from kit.registry import ARMS

    ARMS.names()  # loaded once, as in a run
    monkeypatch.setattr(reg, "_PLUGINS", "unloaded")
    monkeypatch.delitem(sys.modules, "kit.builtin")
    sources = sys.modules["kit.data.sources"]
    monkeypatch.setitem(sys.modules, "kit.data.sources", None)  # an import that fails
    with pytest.raises(KitError, match=r"^plug-in kit\.builtin failed to load: ModuleNotFoundError") as exc:
        ARMS.get("sft")
    assert "\n" not in str(exc.value)
    monkeypatch.setitem(sys.modules, "kit.data.sources", sources)  # the import works again
    assert ARMS.get("sft").role == "sft" and "hub" in DATA_SOURCES


def test_an_audit_recipe_is_not_held_to_data_rules_it_never_uses():
    """An audit (compare only) builds no training data, so its data section's rules are not checked."""
    from kit.compose import load_recipe

    recipe = load_recipe(ROOT / "recipes" / "audit-unireason-14b.yaml", ["data.source=toy", "data.sft_target=think"])
    assert recipe.arms == []
    with pytest.raises(KitError, match="no-think"):
        load_recipe(ROOT / "recipes" / "smoke.yaml", ["data.source=toy", "data.sft_target=think"])
