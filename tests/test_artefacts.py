"""The records of kit/artefacts.py: the files stages pass to each other are written whole or not at all, read back
as written, and a cut-off or foreign file is one line naming the stage to redo. The eval stage's rows are Samples."""

from __future__ import annotations

import json

import pytest

from kit.artefacts import (ANALYSIS, PROBE_RESULTS, SCORES, Analysis, EvalResults, ProbeResults, Sample,
                           append_samples, read_samples, samples_path)
from kit.errors import KitError
from kit.eval.stage import evaluate_one
from tests.test_bench_stage import SamplingEngine, _math500, _recipe


def test_stage_results_round_trip(tmp_path):
    ev = EvalResults({"base": {"math500": {"primary": "fixed", "scores": {"fixed": 0.5}}}},
                     {"base": {"math500": {"i1": {"cluster": "i1", "fixed": 1.0}}}})
    ev.write(tmp_path)
    assert EvalResults.read(tmp_path) == ev and ev.models == ["base"]
    pr = ProbeResults({"sft": {"cka": {"one_minus_cka": [0.1]}}}, {"texts": 4})
    pr.write(tmp_path)
    assert ProbeResults.read(tmp_path) == pr
    assert json.loads((tmp_path / PROBE_RESULTS).read_text()) == {"texts": 4, "arms": pr.arms}
    an = Analysis({"sft": {"ti_v2": {"TI_non": 0.2}}})
    an.write(tmp_path)
    assert Analysis.read(tmp_path) == an
    assert not list(tmp_path.rglob("*.tmp"))  # written by rename: nothing half-written left


def test_absent_results_read_as_none(tmp_path):
    assert EvalResults.read(tmp_path) is None and ProbeResults.read(tmp_path) is None and Analysis.read(tmp_path) is None


@pytest.mark.parametrize("rel,reader,stage", [(SCORES, EvalResults, "eval"), (PROBE_RESULTS, ProbeResults, "probe"),
                                              (ANALYSIS, Analysis, "report")])
@pytest.mark.parametrize("content", ['{"base": {"math', "[1, 2]", "\x00\x01garbage"])
def test_a_cut_or_foreign_file_is_one_line_naming_the_stage(tmp_path, rel, reader, stage, content):
    EvalResults({"base": {}}, {"base": {}}).write(tmp_path)  # the eval pair complete, then one file spoilt
    (tmp_path / rel).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / rel).write_text(content)
    with pytest.raises(KitError) as exc:
        reader.read(tmp_path)
    msg = str(exc.value)
    assert "\n" not in msg and f"--stages {stage}" in msg and rel.split("/")[-1] in msg


def test_samples_append_and_read_back_dropping_a_torn_line(tmp_path):
    path = samples_path(tmp_path, "sft", "math500")
    a = Sample("sft", "math500", "i1", "i1", 0, "", "p", "o", "a", False, {"fixed": 1.0}, False, finished=True,
               output_ids=[1, 2])
    b = Sample("sft", "math500", "i2", "i2", 0, "", "p", "", "", False, {"acc": 0.0}, False, logliks=[-1.0])
    append_samples(path, [a, b])
    with open(path, "a") as f:
        f.write('{"model": "sft", "item_')  # killed mid-write
    rows = read_samples(path)
    assert [Sample(**r) for r in rows] == [a, b]
    assert "logliks" not in rows[0] and "finished" not in rows[1]  # absent fields are not written as null


def test_every_row_the_eval_stage_writes_is_a_sample(tmp_path):
    bench, items = _math500()
    log = tmp_path / "base.jsonl"
    evaluate_one(SamplingEngine(), "base", bench, items[:3], _recipe(), log)
    rows = read_samples(log)
    assert len(rows) == 3 * bench.decode.n_samples
    for r in rows:
        s = Sample(**r)  # a writer adding a key the record does not declare fails here
        assert s.benchmark == "math500" and s.finished is not None and s.decode is not None


def test_a_training_log_cut_by_a_kill_resumes_on_a_line_of_its_own(tmp_path):
    """kill -9 mid-write leaves a cut line; the resumed run's logger ends it first, so its rows are not glued to
    the fragment, and the reader skips the fragment (the step was logged again)."""
    from types import SimpleNamespace

    from kit.runlog import read_log
    from kit.train.common import JsonlLog

    log = tmp_path / "train_log.jsonl"
    log.write_text('{"step": 1, "loss": 0.9}\n{"step": 2, "lo')
    JsonlLog(log).on_log(None, SimpleNamespace(global_step=2, is_world_process_zero=True), None, logs={"loss": 0.5})
    assert read_log(log) == [{"step": 1, "loss": 0.9}, {"step": 2, "loss": 0.5}]
