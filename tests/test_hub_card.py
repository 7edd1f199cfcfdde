"""The adapter's model card keeps PEFT's Hub front matter and adds the kit's (issue 14, item 4), and push_to_hub
uploads a folder whose README.md the Hub can parse, all offline: HfApi's create_repo/upload_folder are replaced
by recorders, and ModelCard.validate (a network call) is never made; the metadata keys are checked instead."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
import yaml

from kit import recipe as R
from kit.errors import KitError
from tests.conftest import ROOT


def _tiny_peft(name_or_path: str):
    """A real PeftModel (2-layer random Qwen3 + LoRA) whose save_pretrained writes PEFT's own card."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import Qwen3Config, Qwen3ForCausalLM

    torch.manual_seed(0)
    cfg = Qwen3Config(vocab_size=128, hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, num_key_value_heads=1, head_dim=16)
    base = Qwen3ForCausalLM(cfg)
    base.config._name_or_path = name_or_path
    base.name_or_path = name_or_path
    return get_peft_model(base, LoraConfig(r=2, lora_alpha=4, target_modules=["q_proj", "v_proj"],
                                                 task_type="CAUSAL_LM"))


class _Tok:
    def save_pretrained(self, path: str) -> None:
        (Path(path) / "tokenizer_config.json").write_text("{}")


def _recipe(**train):
    r = R.load(ROOT / "recipes" / "smoke.yaml")
    model = dataclasses.replace(r.model, id="Qwen/Qwen3-0.6B-Base", revision="c1899de")
    data = dataclasses.replace(r.data, source="hub")
    return dataclasses.replace(r, model=model, data=data, train=dataclasses.replace(r.train, **train))


def _save(tmp_path: Path, recipe, arm: str, name_or_path: str = "/cache/models/qwen3-local") -> Path:
    from kit.train.common import save_adapter

    return save_adapter(_tiny_peft(name_or_path), _Tok(), tmp_path / "arms" / arm, recipe, arm,
                        {"examples": 12, "steps": 3, "train_loss": 1.25})


def test_card_keeps_peft_front_matter_and_adds_the_kits(tmp_path):
    from huggingface_hub import ModelCard

    recipe = _recipe(tags=["my-study"])
    card = ModelCard.load(_save(tmp_path, recipe, "grpo") / "README.md")
    meta = card.data.to_dict()
    assert meta["library_name"] == "peft"
    assert meta["pipeline_tag"] == "text-generation"  # PEFT's, kept
    assert meta["base_model"] == "Qwen/Qwen3-0.6B-Base"  # not PEFT's local path
    assert meta["license"] == "apache-2.0"
    assert meta["datasets"] == ["ReasoningTransferability/math_rl_48k"]  # the GRPO arm reads the RL set only
    tags = meta["tags"]
    for t in ("lora", "transformers", "reasoning-transfer", "arxiv:2507.00432", "trl", "grpo", "my-study"):
        assert t in tags
    assert "sft" not in tags and "base_model:adapter:Qwen/Qwen3-0.6B-Base" in tags
    assert not any("/cache/models" in t for t in tags)
    text = card.text
    assert "# smoke / grpo: LoRA adapter" in text and "revision `c1899de`" in text
    assert "- PEFT " in text  # PEFT's framework versions line survives
    assert "[More Information Needed]" not in text  # PEFT's empty template body does not
    values = yaml.safe_load(text.split("```yaml\n", 1)[1].split("```", 1)[0])
    assert values["grpo"]["loss_type"] == recipe.grpo.loss_type and values["lora"]["r"] == recipe.lora.r


def test_card_of_an_sft_arm_and_an_unknown_license(tmp_path):
    from huggingface_hub import ModelCard

    r = _recipe()
    recipe = dataclasses.replace(r, model=dataclasses.replace(r.model, id="someorg/other-base"))
    meta = ModelCard.load(_save(tmp_path, recipe, "sft_matched_lr") / "README.md").data.to_dict()
    assert meta["datasets"] == ["ReasoningTransferability/math_sft_40K"]
    assert "license" not in meta  # not in the kit's table: left out, not guessed
    assert {"sft", "sft_matched_lr"} <= set(meta["tags"])


def test_card_of_a_built_model_names_no_hub_base(tmp_path):
    from huggingface_hub import ModelCard

    recipe = R.load(ROOT / "recipes" / "smoke.yaml")  # tiny-random-qwen3, fixture data
    meta = ModelCard.load(_save(tmp_path, recipe, "sft") / "README.md").data.to_dict()
    assert "base_model" not in meta and "datasets" not in meta
    assert meta["library_name"] == "peft"
    assert not any(t.startswith("base_model:adapter:") for t in meta["tags"])


@pytest.fixture
def hub_calls(monkeypatch):
    """HfApi.create_repo/upload_folder recorded; the uploaded README.md is copied before the folder goes."""
    from huggingface_hub import HfApi

    calls: list[tuple[str, dict]] = []

    def create_repo(self, repo_id, *, token=None, private=None, repo_type=None, exist_ok=False, **kw):
        calls.append(("create_repo", {"repo_id": repo_id, "private": private, "exist_ok": exist_ok}))

    def upload_folder(self, *, repo_id, folder_path, path_in_repo=None, commit_message=None, **kw):
        readme = (Path(folder_path) / "README.md").read_text()
        files = sorted(p.name for p in Path(folder_path).iterdir())
        calls.append(("upload_folder", {"repo_id": repo_id, "readme": readme, "files": files,
                                        "commit_message": commit_message}))

    monkeypatch.setattr(HfApi, "create_repo", create_repo)
    monkeypatch.setattr(HfApi, "upload_folder", upload_folder)
    return calls


def test_push_to_hub_uploads_a_card_the_hub_parses(tmp_path, hub_calls):
    from huggingface_hub import ModelCard

    _save(tmp_path, _recipe(push_to_hub="me/smoke"), "sft")
    assert [c[0] for c in hub_calls] == ["create_repo", "upload_folder"]
    assert hub_calls[0][1] == {"repo_id": "me/smoke-sft", "private": True, "exist_ok": True}
    up = hub_calls[1][1]
    assert up["repo_id"] == "me/smoke-sft" and {"README.md", "adapter_config.json"} <= set(up["files"])
    (tmp_path / "uploaded.md").write_text(up["readme"])
    meta = ModelCard.load(tmp_path / "uploaded.md").data.to_dict()
    assert meta["base_model"] == "Qwen/Qwen3-0.6B-Base" and meta["library_name"] == "peft"
    assert up["readme"].startswith("---\n")


def test_push_refuses_a_bad_repo_id_before_creating_anything(tmp_path, hub_calls):
    with pytest.raises(KitError, match="not a Hub repo id") as err:
        _save(tmp_path, _recipe(push_to_hub="me/has space"), "sft")
    assert "\n" not in str(err.value) and hub_calls == []


def test_push_refuses_a_card_without_peft_front_matter(tmp_path, hub_calls):
    from kit.train.common import push_adapter

    (tmp_path / "README.md").write_text("# just a title\n")
    with pytest.raises(KitError, match="library_name: peft"):
        push_adapter(tmp_path, "me/x-sft")
    assert hub_calls == []


def test_a_push_prefix_the_hub_refuses_is_refused_when_the_recipe_loads():
    """train.push_to_hub is checked with the arm suffix at load time, before any training (not after hours)."""
    from kit.compose import load_recipe
    from kit.errors import KitError
    from tests.conftest import ROOT

    load_recipe(str(ROOT / "recipes" / "smoke.yaml"), ["train.push_to_hub=me/reasoning-kit"])
    with pytest.raises(KitError, match="'me/bad name-sft', which the Hub refuses"):
        load_recipe(str(ROOT / "recipes" / "smoke.yaml"), ["train.push_to_hub=me/bad name"])
