"""The toy recipe's learning-rate rule: validation problems outside every other split, best math accuracy wins."""

from __future__ import annotations

import json

import pytest

from kit.toy.benchmarks import EVAL_ROWS
from kit.toy.select_lr import choose, validation_problems
from kit.toy.world import make_split, part_of, tasks_in


def test_validation_problems_are_held_out_from_eval_rows_training_and_pretraining():
    val = validation_problems(50)
    assert len(val) == 50 * len(tasks_in("math"))
    evaluated = {p.question for t in tasks_in("math") for p in make_split(t, EVAL_ROWS, seed=0, part="eval")}
    assert not evaluated & {p.question for p in val}
    assert all(part_of(p.task, p.question) == "eval" for p in val)  # never pretraining or training rows


def test_choose_takes_the_best_and_the_smaller_rate_on_a_tie():
    assert choose({1e-4: 0.5, 3e-4: 0.7, 1e-3: 0.6}) == 3e-4
    assert choose({1e-4: 0.7, 3e-4: 0.7, 1e-3: 0.6}) == 1e-4


def test_the_runs_use_a_development_seed_never_a_confirmatory_one():
    import pytest

    from kit.errors import KitError
    from kit.recipe.schema import StudyCfg
    from kit.toy.select_lr import dev_seed

    study = StudyCfg(seeds=[0, 1, 2, 3, 4], dev_seeds=[100, 101])
    assert dev_seed(study, None) == 100 and dev_seed(study, 7) == 7
    with pytest.raises(KitError, match="--seed 2 is a confirmatory seed"):
        dev_seed(study, 2)
    with pytest.raises(KitError, match="no development seed"):
        dev_seed(StudyCfg(seeds=[0]), None)


def test_overrides_may_follow_the_options(monkeypatch):
    """`select_lr RECIPE --arms sft output_dir=X` once failed with 'unrecognized arguments' after a long wait."""

    from kit.toy import select_lr

    seen = {}

    def stop(recipe, overrides):
        seen["overrides"] = overrides
        raise select_lr.KitError("stop here")

    monkeypatch.setattr("kit.compose.load_recipe", stop)
    assert select_lr.main(["recipes/toy.yaml", "--arms", "sft", "output_dir=/tmp/x", "--grid", "1e-3"]) == 2
    assert seen["overrides"] == ["output_dir=/tmp/x"]


def test_another_knob_is_tuned_for_one_arm_and_trained_at_each_value(monkeypatch, tmp_path, capsys):
    """`--key grpo.temperature`: each grid value is the run's setting of that knob (not its learning rate), the
    runs and the table are named after the knob, and the same rule picks the value."""
    from kit.toy import select_lr

    trained: list[list[str]] = []
    monkeypatch.setattr("kit.run.main", lambda argv: trained.append(argv) or 0)
    monkeypatch.setattr(select_lr, "math_accuracy", lambda base, adapter, problems: {
        None: 0.5, "0.6": 0.66, "0.7": 0.68, "1": 0.61}[None if adapter is None else adapter.parts[-4].split("-")[-1]])
    monkeypatch.setattr("kit.models.resolve_path", lambda model, cache: tmp_path / "base")
    rc = select_lr.main(["recipes/toy.yaml", f"output_dir={tmp_path}", "--arms", "grpo", "--key", "grpo.temperature",
                         "--grid", "1.0,0.6,0.7", "--per-task", "2"])
    assert rc == 0
    assert [[a for a in argv if a.startswith(("grpo.", "run_name="))] for argv in trained] == [
        ["grpo.temperature=0.6", "run_name=grpo-temperature-0.6"],
        ["grpo.temperature=0.7", "run_name=grpo-temperature-0.7"],
        ["grpo.temperature=1.0", "run_name=grpo-temperature-1"]]
    table = json.loads((tmp_path / "toy-lr" / "selection-temperature.json").read_text())
    assert table["key"] == "grpo.temperature" and table["arms"]["grpo"]["chosen"] == 0.7
    assert "grpo: chosen grpo.temperature 0.7" in capsys.readouterr().out


@pytest.mark.parametrize("argv, says", [
    (["--arms", "sft,grpo", "--key", "grpo.temperature"], "give one arm"),
    (["--arms", "sft", "--key", "grpo.temperature"], "a knob of its section"),
    (["--arms", "grpo", "--key", "grpo.temperatur"], "temperatur"),
])
def test_a_key_for_the_wrong_arm_or_no_such_knob_is_one_line(argv, says, capsys):
    from kit.toy import select_lr

    assert select_lr.main(["recipes/toy.yaml", *argv, "--grid", "0.7"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and says in err and len(err.strip().splitlines()) == 1
