"""Recipe loading, overrides and the one-line errors a user sees for bad input."""

from __future__ import annotations

import pytest

from kit import recipe as R
from kit.errors import KitError
from tests.conftest import ROOT, run_kit

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
def test_cli_errors_are_one_line_without_traceback(args, fragment, tmp_path):
    res = run_kit(str(SMOKE), f"output_dir={tmp_path}", *args)
    assert res.returncode == 2
    assert "Traceback" not in res.stderr
    lines = [ln for ln in res.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and fragment in lines[0], res.stderr


def test_cli_missing_recipe_file(tmp_path):
    res = run_kit(str(tmp_path / "missing.yaml"))
    assert res.returncode == 2 and "recipe file not found" in res.stderr and "Traceback" not in res.stderr
