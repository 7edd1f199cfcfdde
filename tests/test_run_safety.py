"""Run-folder safety and integrity (#10): `--fresh` deletes only what the kit made, one run per folder, a
folder never mixes settings, and bad state is one line with exit 2.

The CLI runs in-process (`kit.run.main`) with every stage's work replaced by a stub that writes its outputs:
what is tested is the runner's bookkeeping, not training (tests/test_pipeline.py runs the real thing).
"""

from __future__ import annotations

import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from kit import recipe as R
from kit.run import build_stages, main
from kit.rundir import LOCK, MARKER, claim
from kit.stages import Ledger, stage_hash
from tests.conftest import ROOT

SMOKE = str(ROOT / "recipes" / "smoke.yaml")
ARMS = R.load(SMOKE).arms
ALL = ["data"] + [f"train_{a}" for a in ARMS] + ["eval", "probe", "report"]


@pytest.fixture
def stub_stages(monkeypatch):
    """Each stage writes a file into its outputs and records that it ran; no model, no tokenizer."""
    import kit.data.train_sets
    import kit.eval.stage
    import kit.probe.stage
    import kit.report.build
    import kit.train
    from kit.run import Context

    ran: list[str] = []

    def writer(name, rel):
        def run(ctx, *_):
            p = ctx.run_dir / rel
            p.mkdir(parents=True, exist_ok=True)
            (p / "out.txt").write_text(name)
            ran.append(name)
            return {}
        return run

    monkeypatch.setattr(Context, "tokenizer", lambda self: None)
    monkeypatch.setattr(kit.data.train_sets, "build", lambda recipe, tok, n, out: writer("data", "data")(
        type("C", (), {"run_dir": out.parent})()))
    import dataclasses

    from kit.registry import ARMS as REGISTRY

    for arm in ARMS:
        fake = dataclasses.replace(REGISTRY.get(arm), trainer=lambda ctx, out, arm=arm: writer(f"train_{arm}", f"arms/{arm}")(ctx))
        monkeypatch.setitem(REGISTRY._entries, arm, fake)
    monkeypatch.setattr(kit.eval.stage, "run", writer("eval", "eval"))
    monkeypatch.setattr(kit.probe.stage, "run", writer("probe", "probe"))

    def report(run_dir):
        (run_dir / "report.md").write_text("report")
        ran.append("report")
        return {}

    monkeypatch.setattr(kit.report.build, "build", report)
    return ran


def kit_run(capsys, out: Path, *args: str) -> tuple[int, str, str]:
    rc = main([SMOKE, f"output_dir={out}", *args])
    cap = capsys.readouterr()
    return rc, cap.out, cap.err


def one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    return lines[0]


def sizes_of(recipe) -> dict:
    """The plan's scale-derived sizes, as the run hashes them into the data and eval stages."""
    from kit.hardware import detect
    from kit.plan import make_plan
    from kit.run import _available, resolved_sizes

    return resolved_sizes(make_plan(recipe, detect(), "float32", available_problems=_available(recipe)))


def done_run(out: Path, *overrides: str) -> Path:
    """A finished run folder made by the kit, without running anything: marker, manifests, outputs."""
    recipe = R.load(SMOKE, [f"output_dir={out}", *overrides])
    stages = build_stages(recipe, sizes_of(recipe))
    claim(recipe.run_dir)
    ledger = Ledger(recipe.run_dir)
    for name, st in stages.items():
        ledger.mark_done(recipe, st, stage_hash(recipe, st, stages), time.time(), {}, {})
        for rel in st.outputs:
            p = recipe.run_dir / rel
            if "." in rel:
                p.write_text(name)
            else:
                p.mkdir(parents=True, exist_ok=True)
                (p / "out.txt").write_text(name)
    R.dump(recipe, recipe.run_dir / "recipe.resolved.yaml")
    return recipe.run_dir


# ------------------------------------------------------------------------------------------------------
# 1. --fresh deletes only what the kit made


@pytest.mark.parametrize("override", ["run_name=..", "run_name=.", "run_name=a/b", "run_name='a\\b'",
                                      "run_name=' x'", "run_name='a\tb'", "name=''", "run_name=''", "ABS"])
def test_unsafe_run_names_are_refused_and_nothing_is_deleted(tmp_path, capsys, stub_stages, override):
    out = tmp_path / "out"
    victim = tmp_path / "victim"
    for d in (out, victim, out / "a"):
        d.mkdir(parents=True, exist_ok=True)
        (d / "sentinel.txt").write_text("keep me")
    (out / ".cache").mkdir()
    (out / ".cache" / "sentinel.txt").write_text("keep me")
    if override == "ABS":
        override = f"run_name={victim}"
    rc, _, err = kit_run(capsys, out, override, "--fresh")
    assert rc == 2
    line = one_line(err)
    assert "'run_name'" in line or "'name'" in line
    for p in (out, victim, out / "a", out / ".cache"):
        assert (p / "sentinel.txt").read_text() == "keep me"
    assert stub_stages == []


def test_fresh_refuses_a_folder_the_kit_did_not_make(tmp_path, capsys, stub_stages):
    users = tmp_path / "smoke"  # the user's own folder, which happens to share the recipe's name
    users.mkdir()
    (users / "notes.md").write_text("my notes")
    for args in (["--fresh"], ["--fresh", "--stages", "eval"], []):
        rc, _, err = kit_run(capsys, tmp_path, *args)
        assert rc == 2
        assert "was not made by the kit" in one_line(err) and "notes.md" in err
    assert sorted(p.name for p in users.iterdir()) == ["notes.md"]
    assert (users / "notes.md").read_text() == "my notes" and stub_stages == []


def test_fresh_removes_only_the_kits_own_files(tmp_path, capsys, stub_stages):
    run_dir = done_run(tmp_path)
    (run_dir / "notes.md").write_text("my notes")
    (run_dir / "mine").mkdir()
    (run_dir / "mine" / "data.csv").write_text("1,2")
    rc, out, err = kit_run(capsys, tmp_path, "--fresh")
    assert rc == 0, err
    assert stub_stages == ALL  # everything was redone
    assert (run_dir / "notes.md").read_text() == "my notes"
    assert (run_dir / "mine" / "data.csv").read_text() == "1,2"
    assert (run_dir / MARKER).is_file()


def test_a_run_folder_from_before_the_marker_is_adopted(tmp_path, capsys, stub_stages):
    run_dir = done_run(tmp_path)
    (run_dir / MARKER).unlink()  # as an older kit left it: kit-named entries only
    rc, out, err = kit_run(capsys, tmp_path)
    assert rc == 0, err
    assert (run_dir / MARKER).is_file() and stub_stages == []  # all done earlier
    assert "[report] done earlier, skipped" in out


# ------------------------------------------------------------------------------------------------------
# 2. one run per folder; a shared model cache written atomically

HOLD = """
import sys, time
from pathlib import Path
from kit.rundir import locked
with locked(Path(sys.argv[1])):
    print("locked", flush=True)
    time.sleep(120)
"""


def test_a_second_run_in_the_same_folder_is_refused_naming_the_holder(tmp_path, capsys, stub_stages):
    run_dir = done_run(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(run_dir)], cwd=ROOT, stdout=subprocess.PIPE,
                              text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        before = (run_dir / "recipe.resolved.yaml").read_bytes()
        rc, _, err = kit_run(capsys, tmp_path, "--fresh")
        assert rc == 2
        line = one_line(err)
        assert f"pid {holder.pid}" in line and f"host {socket.gethostname()}" in line
        assert "since 20" in line and "UTC" in line and f"(command: -c {run_dir})" in line
        assert "has ended" not in line
        assert (run_dir / "recipe.resolved.yaml").read_bytes() == before  # refused: nothing touched
        assert (run_dir / "manifests" / "report.json").exists() and stub_stages == []
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait(timeout=30)
    rc, out, err = kit_run(capsys, tmp_path)  # the holder is gone (even killed): the lock went with it
    assert rc == 0, err
    holder_info = json.loads((run_dir / LOCK).read_text())
    assert holder_info["pid"] == os.getpid()


def test_two_processes_building_the_tiny_model_at_once_both_get_it(tmp_path, monkeypatch):
    from transformers import Qwen3Config, Qwen3ForCausalLM  # noqa: F401  (transformers' lazy imports race in threads)

    import kit.models as models
    from kit.recipe import ModelCfg, TinyCfg

    cfg = ModelCfg(tiny=TinyCfg(hidden_size=16, intermediate_size=16, num_hidden_layers=1, num_attention_heads=1,
                                num_key_value_heads=1, head_dim=16))
    barrier = threading.Barrier(2)
    real = models.load_tokenizer

    def both_past_the_check(model_cfg, path=None):  # build_tiny loads the tokenizer after its cache check
        barrier.wait(timeout=60)
        return real(model_cfg, path)

    monkeypatch.setattr(models, "load_tokenizer", both_past_the_check)
    results: list[object] = []

    def build():
        try:
            results.append(models.build_tiny(cfg, tmp_path / "cache"))
        except Exception as exc:  # noqa: BLE001  (the test reports it)
            results.append(exc)

    threads = [threading.Thread(target=build) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert len(results) == 2 and all(isinstance(r, Path) for r in results), results
    assert results[0] == results[1]
    assert (results[0] / "model.safetensors").exists() and (results[0] / "tokenizer.json").exists()
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [results[0].name]  # no temp folder left


# ------------------------------------------------------------------------------------------------------
# 3. a folder describes one set of settings; probe depends on eval


def test_a_refused_run_leaves_the_resolved_recipe_alone(tmp_path, capsys, stub_stages):
    run_dir = done_run(tmp_path)
    before = (run_dir / "recipe.resolved.yaml").read_bytes()
    rc, _, err = kit_run(capsys, tmp_path, "report.bootstrap=50")
    assert rc == 2 and "changed: report.bootstrap" in one_line(err)
    assert (run_dir / "recipe.resolved.yaml").read_bytes() == before and stub_stages == []


def test_report_alone_after_a_changed_learning_rate_is_refused(tmp_path, capsys, stub_stages):
    run_dir = done_run(tmp_path)
    before = (run_dir / "recipe.resolved.yaml").read_bytes()
    rc, _, err = kit_run(capsys, tmp_path, "sft.learning_rate=1e-3", "--stages", "report", "--fresh")
    assert rc == 2
    line = one_line(err)
    assert "stage 'train_sft'" in line and "sft.learning_rate" in line and "--fresh --stages train_sft" in line
    assert (run_dir / "recipe.resolved.yaml").read_bytes() == before
    assert (run_dir / "manifests" / "report.json").exists() and (run_dir / "report.md").exists()  # not forgotten
    assert stub_stages == []


def test_a_subset_run_is_refused_when_a_later_stage_has_other_settings(tmp_path, capsys, stub_stages):
    run_dir = done_run(tmp_path)
    rc, _, err = kit_run(capsys, tmp_path, "report.bootstrap=50", "--stages", "eval")
    assert rc == 2 and "stage 'report'" in one_line(err) and "report.bootstrap" in err


def test_fresh_eval_makes_probe_and_report_stale(tmp_path, capsys, stub_stages):
    run_dir = done_run(tmp_path)
    kept = {n: (run_dir / "manifests" / f"{n}.json").read_bytes() for n in ALL if n.startswith(("data", "train"))}
    rc, out, err = kit_run(capsys, tmp_path, "--fresh", "--stages", "eval")
    assert rc == 0, err
    assert stub_stages == ["eval"]
    assert (run_dir / "manifests" / "eval.json").exists()
    for name in ("probe", "report"):
        assert not (run_dir / "manifests" / f"{name}.json").exists()
    assert not (run_dir / "probe").exists() and not (run_dir / "report.md").exists()
    assert not (run_dir / "analysis.json").exists()
    assert all((run_dir / "manifests" / f"{n}.json").read_bytes() == b for n, b in kept.items())


def test_probe_before_eval_is_refused(tmp_path, capsys, stub_stages):
    rc, out, err = kit_run(capsys, tmp_path, "--stages", "data," + ",".join(f"train_{a}" for a in ARMS))
    assert rc == 0, err
    rc, _, err = kit_run(capsys, tmp_path, "--stages", "probe")
    assert rc == 2 and "stage 'probe' needs stage 'eval' to be done first" in one_line(err)


# ------------------------------------------------------------------------------------------------------
# 4. corrupt state, empty stage lists, unwritable folders, a full disk: one line, exit 2


@pytest.mark.parametrize("suffix", [".json", ".started.json"])
@pytest.mark.parametrize("content", [b"", b'{"config_hash": "ab', b"\x00\xff garbage", b"[]", b'{"seed": 0}'])
def test_a_corrupt_manifest_or_started_marker_is_one_line(tmp_path, capsys, stub_stages, suffix, content):
    run_dir = done_run(tmp_path)
    (run_dir / "manifests" / "train_sft.json").unlink()
    bad = run_dir / "manifests" / f"train_sft{suffix}"
    bad.write_bytes(content)
    rc, _, err = kit_run(capsys, tmp_path)
    assert rc == 2
    line = one_line(err)
    assert str(bad) in line and "--fresh --stages train_sft" in line
    rc, _, err = kit_run(capsys, tmp_path, "--fresh", "--stages", "train_sft")  # what the line says to do
    assert rc == 0, err
    assert json.loads((run_dir / "manifests" / "train_sft.json").read_text())["config_hash"]


@pytest.mark.parametrize("stages_arg", [",", " , ", ",,"])
def test_an_empty_stage_list_is_one_line(tmp_path, capsys, stub_stages, stages_arg):
    rc, _, err = kit_run(capsys, tmp_path, "--stages", stages_arg)
    assert rc == 2 and "names no stage" in one_line(err)
    assert not (tmp_path / "smoke").exists()


def test_only_a_disabled_probe_is_one_line(tmp_path, capsys, stub_stages):
    rc, _, err = kit_run(capsys, tmp_path, "probe.enabled=false", "--stages", "probe")
    assert rc == 2 and "probe.enabled=false" in one_line(err)


@pytest.mark.parametrize("code", [errno.EACCES, errno.EROFS])
def test_an_unwritable_output_dir_is_one_line(tmp_path, capsys, stub_stages, monkeypatch, code):
    out = tmp_path / "ro"
    out.mkdir()
    real_mkdir = os.mkdir

    def refuse(path, *a, **k):  # what a read-only (or not-ours) folder does; the tests run as root
        if str(path).startswith(str(out)):
            raise OSError(code, os.strerror(code), str(path))
        return real_mkdir(path, *a, **k)

    monkeypatch.setattr(os, "mkdir", refuse)
    rc, _, err = kit_run(capsys, out)
    assert rc == 2
    line = one_line(err)
    assert str(out / "smoke") in line and ("writable" in line or "read-only" in line)


def test_an_output_dir_that_is_a_file_is_one_line(tmp_path, capsys, stub_stages):
    (tmp_path / "file").write_text("not a folder")
    rc, _, err = kit_run(capsys, tmp_path / "file")
    assert rc == 2 and str(tmp_path / "file") in one_line(err) and "not a folder" in err


def test_a_real_read_only_folder_is_one_line(tmp_path, capsys, stub_stages):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders (covered above with EACCES/EROFS)")
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o555)
    try:
        rc, _, err = kit_run(capsys, out)
    finally:
        out.chmod(0o755)
    assert rc == 2 and "writable" in one_line(err)


@pytest.mark.parametrize("how", ["oserror", "torch", "safetensors"])
def test_a_full_disk_mid_run_is_one_line_and_the_rerun_continues(tmp_path, capsys, stub_stages, monkeypatch,
                                                                   how):
    import kit.eval.stage

    target = tmp_path / "smoke" / "eval" / "samples.jsonl"

    def full(ctx):
        if how == "oserror":
            raise OSError(errno.ENOSPC, "No space left on device", str(target))
        if how == "safetensors":
            from safetensors import SafetensorError

            raise SafetensorError('Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: '
                                  '"No space left on device" })')
        raise RuntimeError("[enforce fail at inline_container.cc:595] . PytorchStreamWriter failed writing "
                           "file data/0: file write failed: No space left on device")

    monkeypatch.setattr(kit.eval.stage, "run", full)
    rc, out, err = kit_run(capsys, tmp_path)
    assert rc == 2
    line = one_line(err)
    assert "disk is full" in line and str(target if how == "oserror" else tmp_path / "smoke") in line
    assert (tmp_path / "smoke" / "manifests" / "eval.started.json").exists()
    monkeypatch.undo()  # space freed; the stubs are gone too, so only check that the lock was released
    from kit.rundir import locked

    with locked(tmp_path / "smoke"):
        pass


HOLD_IN_CHILD = """
import os, sys, time
from pathlib import Path
from kit.rundir import locked
with locked(Path(sys.argv[1])):
    if os.fork() == 0:  # a child (a data-loader worker, say) shares the lock and outlives its parent
        time.sleep(120)
        os._exit(0)
    print("locked", flush=True)
    os._exit(0)
"""


def test_a_lock_left_to_a_child_of_an_ended_run_says_so(tmp_path, capsys, stub_stages):
    run_dir = done_run(tmp_path)
    holder = subprocess.Popen([sys.executable, "-c", HOLD_IN_CHILD, str(run_dir)], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        holder.wait(timeout=30)
        rc, _, err = kit_run(capsys, tmp_path)
        assert rc == 2
        line = one_line(err)
        assert f"pid {holder.pid}" in line and "has ended but one it started still holds" in line
    finally:
        try:
            os.killpg(holder.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def test_two_runs_claiming_a_new_folder_at_once_both_get_it(tmp_path):
    run_dir = tmp_path / "smoke"
    run_dir.mkdir()
    (run_dir / f"{MARKER}.999.tmp").write_text("{}")  # the other run, between its temp file and its rename
    (run_dir / LOCK).write_text("")
    claim(run_dir)
    assert (run_dir / MARKER).is_file()


def test_an_interrupted_fresh_redoes_rather_than_trusts(tmp_path, capsys, stub_stages, monkeypatch):
    import kit.rundir

    run_dir = done_run(tmp_path)

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(kit.rundir, "remove_kit_paths", interrupted)
    rc, _, _ = kit_run(capsys, tmp_path, "--fresh", "--stages", "eval")
    assert rc == 130
    assert not any((run_dir / "manifests" / f"{n}.json").exists() for n in ("eval", "probe", "report"))


def test_a_sandbox_that_would_refuse_stops_the_run_before_training(tmp_path, capsys, stub_stages, monkeypatch):
    """LiveCodeBench needs the code sandbox: where it would refuse its weak mode (no namespaces, no opt-in), the run
    says so at start, before any stage (hours of training) runs, and leaves no run folder behind."""
    from kit.eval.sandbox import api

    monkeypatch.setenv("KIT_SANDBOX_FORCE_WEAK", "1")
    monkeypatch.delenv("KIT_SANDBOX_ALLOW_WEAK", raising=False)
    monkeypatch.setattr(api, "_PROBED", {})
    rc, _, err = kit_run(capsys, tmp_path / "out")
    assert rc == 2 and "KIT_SANDBOX_ALLOW_WEAK" in one_line(err)
    assert stub_stages == [] and not (tmp_path / "out").exists()
    rc, _, err = kit_run(capsys, tmp_path / "out", "--stages", "data")  # no eval selected: no sandbox needed
    assert rc == 0 and stub_stages == ["data"], err


def test_whole_fresh_also_forgets_stages_the_new_recipe_lacks(tmp_path, capsys, stub_stages):
    """An audit recipe (compare only) has no data stage: a whole-run --fresh in a folder an earlier training recipe
    made must still remove that recipe's data/ and its manifest, not leave them beside the new results."""
    run_dir = done_run(tmp_path)
    assert (run_dir / "data").is_dir() and (run_dir / "manifests" / "data.json").is_file()
    rc, _, err = kit_run(capsys, tmp_path, "arms=[]", "compare.ref.id=some/model", "--fresh")
    assert rc == 0, err
    assert "data" not in stub_stages and not (run_dir / "data").exists()
    assert not (run_dir / "manifests" / "data.json").exists()
    assert not (run_dir / "arms").exists() or not any((run_dir / "arms").iterdir())


# ------------------------------------------------------------------------------------------------------
# 5. order, hashing and invalidation derived from what stages read and write (#11)


def test_a_changed_eval_setting_invalidates_probe_and_report_not_data_or_training(tmp_path, capsys, stub_stages):
    """The issue's 'done when': eval.temperature changed on a finished run folder."""
    run_dir = done_run(tmp_path)
    manifests = run_dir / "manifests"
    kept = {n: (manifests / f"{n}.json").read_bytes() for n in ALL if n.startswith(("data", "train"))}
    for args in ([], ["--stages", "probe,report"], ["--stages", "report"]):
        rc, _, err = kit_run(capsys, tmp_path, "eval.temperature=0.3", *args)
        assert rc == 2 and "stage 'eval'" in one_line(err) and "changed: eval.temperature" in err
    assert stub_stages == [] and (manifests / "probe.json").exists()
    rc, _, err = kit_run(capsys, tmp_path, "eval.temperature=0.3", "--fresh", "--stages", "eval")
    assert rc == 0, err
    assert stub_stages == ["eval"]
    assert not (manifests / "probe.json").exists() and not (manifests / "report.json").exists()
    assert not (run_dir / "probe").exists() and not (run_dir / "report.md").exists()
    assert all((manifests / f"{n}.json").read_bytes() == b for n, b in kept.items())
    rc, out, err = kit_run(capsys, tmp_path, "eval.temperature=0.3")  # the rest: probe and report, nothing else
    assert rc == 0, err
    assert stub_stages == ["eval", "probe", "report"]
    assert all(f"[{n}] done earlier, skipped" in out for n in kept)


def test_a_declared_stage_reading_eval_runs_after_it_and_is_forgotten_with_it(tmp_path, capsys, stub_stages,
                                                                               monkeypatch):
    import kit.run
    from kit.stages import Stage

    def dummy(ctx):
        (ctx.run_dir / "dummy").mkdir(exist_ok=True)
        (ctx.run_dir / "dummy" / "out.txt").write_text("dummy")
        stub_stages.append("dummy")
        return {}

    real = kit.run.declarations
    monkeypatch.setattr(kit.run, "declarations", lambda recipe: [
        Stage("dummy", dummy, keys=("report",), reads=("eval/scores.json",), writes=("dummy",)), *real(recipe)])
    run_dir = done_run(tmp_path)
    assert (run_dir / "manifests" / "dummy.json").exists() and (run_dir / "dummy").is_dir()
    rc, _, err = kit_run(capsys, tmp_path, "--fresh", "--stages", "eval")
    assert rc == 0, err
    assert stub_stages == ["eval"]
    assert not (run_dir / "manifests" / "dummy.json").exists() and not (run_dir / "dummy").exists()
    rc, out, err = kit_run(capsys, tmp_path)
    assert rc == 0, err
    assert stub_stages == ["eval", "dummy", "probe", "report"]  # declared first, run right after eval


def test_the_resolved_recipe_saves_and_hashes_the_scale_derived_sizes(tmp_path, capsys, stub_stages, monkeypatch):
    import yaml

    import kit.run

    rc, _, err = kit_run(capsys, tmp_path)
    assert rc == 0, err
    run_dir = tmp_path / "smoke"
    recipe = R.load(SMOKE, [f"output_dir={tmp_path}"])
    saved = yaml.safe_load((run_dir / "recipe.resolved.yaml").read_text())
    assert saved["resolved"] == sizes_of(recipe) and saved["resolved"]["problems"] > 0
    assert set(saved["resolved"]["eval_items"]) == set(recipe.eval.benchmarks)
    assert json.loads((run_dir / "manifests" / "data.json").read_text())["values"]["resolved.problems"] == \
        saved["resolved"]["problems"]
    bench = recipe.eval.benchmarks[0]
    real = kit.run.resolved_sizes

    def remapped(plan):  # the same recipe, the scale mapped to other item counts (a kit upgrade, say)
        sizes = real(plan)
        return {**sizes, "eval_items": {**sizes["eval_items"], bench: (sizes["eval_items"][bench] or 0) + 1}}

    monkeypatch.setattr(kit.run, "resolved_sizes", remapped)
    rc, _, err = kit_run(capsys, tmp_path)
    assert rc == 2 and "stage 'eval'" in one_line(err) and f"changed: resolved.eval_items.{bench}" in err
    rc, _, err = kit_run(capsys, tmp_path, "--fresh", "--stages", "eval")
    assert rc == 0, err
    assert stub_stages[-1] == "eval" and stub_stages.count("data") == 1  # data and training stayed done


def test_the_saved_recipe_loads_back_as_the_recipe_it_records(tmp_path, capsys, stub_stages):
    """recipe.resolved.yaml carries the plan's derived sizes under `resolved:` (a record, hashed by data and eval);
    it still loads as a recipe, equal to the one that ran, so `python -m kit.run outputs/<run>/recipe.resolved.yaml`
    reruns the study."""
    import yaml

    rc, _, err = kit_run(capsys, tmp_path, "sft.learning_rate=3e-5")
    assert rc == 0, err
    saved = next(tmp_path.glob("*/recipe.resolved.yaml"))
    assert yaml.safe_load(saved.read_text())["resolved"]["problems"] > 0
    assert R.load(saved) == R.load(SMOKE, [f"output_dir={tmp_path}", "sft.learning_rate=3e-5"])


def test_a_folder_made_by_an_older_kit_says_so(tmp_path, capsys, stub_stages):
    """Manifests that lack a key the kit now hashes (older version) are refused with that reason, not as a recipe
    change the user never made."""
    run_dir = done_run(tmp_path)
    m = run_dir / "manifests" / "data.json"
    record = json.loads(m.read_text())
    record["config_hash"] = "0" * 16
    record["values"] = {k: v for k, v in record["values"].items() if not k.startswith("resolved.")}
    m.write_text(json.dumps(record))
    rc, _, err = kit_run(capsys, tmp_path, "--stages", "report")
    assert rc == 2
    assert "made by an older kit version, which did not record resolved." in one_line(err)
    record["values"]["seed"] = 99  # a real difference as well: named as a change
    m.write_text(json.dumps(record))
    rc, _, err = kit_run(capsys, tmp_path, "--stages", "report")
    assert "changed: " in one_line(err) and "older kit" not in err


@pytest.mark.slow
def test_sigterm_stops_a_run_like_ctrl_c(tmp_path, kit_cache):
    """A scheduler's SIGTERM: the runner stops as on Ctrl-C (exit 130, the lock released, rerun continues)."""
    import signal
    import time

    proc = subprocess.Popen([sys.executable, "-m", "kit.run", "smoke", f"output_dir={tmp_path}", "arms=[sft]",
                             "--stages", "data,train_sft"], cwd=ROOT, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    for line in proc.stdout:
        if "[train_sft] running" in line or time.time() > deadline:
            break
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "interrupted: rerun the same command" in err
    from kit.rundir import locked

    with locked(tmp_path / "smoke"):
        pass
