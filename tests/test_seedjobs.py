"""A study's seeds run side by side (kit/seedjobs.py, `python -m kit.study --jobs N`): real child processes, each an
ordinary kit.run, and the same numbers as one at a time."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from kit.errors import KitError
from kit.seedjobs import log_path, run_seeds

SMOKE = str(Path(__file__).resolve().parents[1] / "recipes" / "smoke.yaml")


def _names(seeds: list[int]) -> dict[int, str]:
    return {s: f"smoke-seed{s}" for s in seeds}


def test_children_run_each_seed_into_its_own_log(tmp_path, capsys):
    rc = run_seeds(SMOKE, [f"output_dir={tmp_path}", "--dry-run"], [3, 4], _names([3, 4]), tmp_path, jobs=2,
                   cpu_threads=1)
    assert rc == 0
    for s in (3, 4):
        log = log_path(tmp_path, f"smoke-seed{s}").read_text()
        assert f"seed {s})" in log and f"seed {7 - s})" not in log  # each child wrote its own file
    out = capsys.readouterr().out
    assert "seed 3: finished" in out and "seed 4: finished" in out


def test_a_failing_seed_is_named_and_the_others_still_finish(tmp_path, capsys):
    foreign = tmp_path / "smoke-seed5"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("the user's")  # kit.rundir refuses a folder it did not make
    rc = run_seeds(SMOKE, [f"output_dir={tmp_path}", "--stages", "data"], [5, 6], _names([5, 6]), tmp_path, jobs=2,
                   cpu_threads=1)
    assert rc == 2
    out = capsys.readouterr().out
    assert "seed 5: failed (exit code 2)" in out and "seed 6: finished" in out
    assert "was not made by the kit" in log_path(tmp_path, "smoke-seed5").read_text()
    assert (tmp_path / "smoke-seed6" / "manifests" / "data.json").is_file()
    assert (foreign / "notes.txt").read_text() == "the user's"


def test_jobs_below_one_is_refused(tmp_path):
    with pytest.raises(KitError, match="at least 1"):
        run_seeds(SMOKE, [], [0], _names([0]), tmp_path, jobs=0)


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_seed_trained_beside_another_equals_the_same_seed_trained_alone(tmp_path, kit_cache):
    """With cpu_threads fixed, running two seeds at once changes no number: the adapters are byte-identical."""
    common = ["cpu_threads=1", "arms=[sft]", "--stages", "data,train_sft"]
    side = tmp_path / "side"
    alone = tmp_path / "alone"
    assert run_seeds(SMOKE, [f"output_dir={side}", *common], [0, 1], _names([0, 1]), side, jobs=2, cpu_threads=1) == 0
    assert run_seeds(SMOKE, [f"output_dir={alone}", *common], [1], _names([1]), alone, jobs=1, cpu_threads=1) == 0
    adapter = Path("arms") / "sft" / "adapter" / "adapter_model.safetensors"
    assert _digest(side / "smoke-seed1" / adapter) == _digest(alone / "smoke-seed1" / adapter)
    assert _digest(side / "smoke-seed0" / adapter) != _digest(side / "smoke-seed1" / adapter)  # seeds differ


def test_the_recipes_cpu_threads_is_what_the_stages_run_with_and_record(tmp_path, kit_cache):
    import json

    import torch

    import kit.run

    before = torch.get_num_threads()
    try:
        assert kit.run.main([SMOKE, f"output_dir={tmp_path}", "cpu_threads=3", "--stages", "data"]) == 0
        assert torch.get_num_threads() == 3
    finally:
        torch.set_num_threads(before)
    manifest = json.loads((tmp_path / "smoke" / "manifests" / "data.json").read_text())
    assert manifest["torch_threads"] == 3


def test_cpu_threads_below_one_is_refused():
    from kit.compose import load_recipe

    with pytest.raises(KitError, match="cpu_threads"):
        load_recipe(SMOKE, ["cpu_threads=0"])


def test_a_terminated_study_stops_its_seeds_and_says_how_to_continue(tmp_path):
    """SIGTERM to `kit.study --jobs 2` (a scheduler's stop) stops the children too, each like Ctrl-C, not orphaned."""
    import signal
    import subprocess
    import sys
    import time

    from tests.conftest import ROOT

    study = subprocess.Popen([sys.executable, "-m", "kit.study", SMOKE, f"output_dir={tmp_path}", "cpu_threads=1",
                              "--seeds", "0,1", "--jobs", "2"], cwd=ROOT, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    logs = [log_path(tmp_path, f"smoke-seed{s}") for s in (0, 1)]
    deadline = time.time() + 300
    while not all(p.exists() and "[data] done" in p.read_text() for p in logs):  # both children are training
        assert study.poll() is None and time.time() < deadline, study.communicate()
        time.sleep(1)
    study.send_signal(signal.SIGTERM)
    out, err = study.communicate(timeout=120)
    assert study.returncode == 130, out + err
    assert "interrupted: rerun the same command" in err
    for p in logs:  # each child got the stop and said so itself
        assert "interrupted: rerun the same command" in p.read_text(), p.read_text()[-2000:]
