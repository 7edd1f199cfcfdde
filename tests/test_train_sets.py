"""The training sets: shared problems for both arms, the paper's whole math_rl_48k for RL on request, and the
SFT response column (the think column's name is unconfirmed, so a missing column must fail clearly)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kit import recipe as R
from kit.data import train_sets
from kit.data.train_sets import build, load_problems, read_jsonl, rl_problem_count
from kit.errors import KitError

SHARED = [(f"What is {i} + {i}?", str(2 * i)) for i in range(1, 7)]
RL_ONLY = [(f"What is {i} times 3?", str(3 * i)) for i in range(1, 6)]


def _write(folder: Path, name: str, rows: list[dict]) -> None:
    (folder / f"{name}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


@pytest.fixture
def sets(tmp_path, monkeypatch) -> Path:
    """Look-alike fixtures in the released schemas: math_rl_48k (question, golden_answer, data_source) and
    math_sft_40K with only the columns confirmed for it (question, no_think_response)."""
    folder = tmp_path / "train"
    folder.mkdir()
    _write(folder, "math_rl_48k", [{"question": q, "golden_answer": a, "data_source": "deepscaler"}
                                   for q, a in SHARED + RL_ONLY])
    _write(folder, "math_sft_40K", [{"question": q, "no_think_response": f"So it is $\\boxed{{{a}}}$."}
                                    for q, a in SHARED])
    monkeypatch.setattr(train_sets, "FIXTURES", folder)
    return folder


def _recipe(tmp_path, *overrides: str):
    raw: dict = {"output_dir": str(tmp_path), "data": {"source": "fixtures"}}
    for ov in overrides:
        R._apply_override(raw, ov)
    return R.from_dict(raw)


def test_shared_default_gives_both_arms_the_same_problems(sets, tmp_path, tokenizer):
    r = _recipe(tmp_path)
    assert r.data.rl_problems == "shared"
    summary = build(r, tokenizer, 100, tmp_path / "data")
    sft, rl = read_jsonl(tmp_path / "data" / "sft.jsonl"), read_jsonl(tmp_path / "data" / "rl.jsonl")
    assert [x["question"] for x in sft] == [x["question"] for x in rl]
    assert {x["question"] for x in rl} == {q for q, _ in SHARED}
    assert summary["used"] == len(SHARED) and "rl_used" not in summary


def test_rl_all_trains_rl_on_the_whole_rl_set_and_sft_on_the_shared(sets, tmp_path, tokenizer):
    r = _recipe(tmp_path, "data.rl_problems=all")
    summary = build(r, tokenizer, 100, tmp_path / "data")
    sft, rl = read_jsonl(tmp_path / "data" / "sft.jsonl"), read_jsonl(tmp_path / "data" / "rl.jsonl")
    assert {x["question"] for x in sft} == {q for q, _ in SHARED}
    assert {x["question"] for x in rl} == {q for q, _ in SHARED + RL_ONLY}  # every RL row, none twice
    assert len(rl) == len(SHARED) + len(RL_ONLY)
    # the SFT problems open the RL file in the same order, then RL-only problems with their answers
    assert [x["question"] for x in rl[:len(sft)]] == [x["question"] for x in sft]
    answers = dict(SHARED + RL_ONLY)
    assert all(x["answer"] == answers[x["question"]] for x in rl)
    assert summary["rl_used"] == len(rl) and summary["used"] == len(SHARED) and summary["rl_available"] == 11


def test_rl_all_respects_the_scaled_count(sets, tmp_path, tokenizer):
    r = _recipe(tmp_path, "data.rl_problems=all")
    build(r, tokenizer, 5, tmp_path / "data")
    sft, rl = read_jsonl(tmp_path / "data" / "sft.jsonl"), read_jsonl(tmp_path / "data" / "rl.jsonl")
    assert len(sft) == 5 and len(rl) == rl_problem_count(r, 5) == 6  # round(5 * 48.8 / 39.9) = round(6.1)
    assert [x["question"] for x in rl[:5]] == [x["question"] for x in sft]


def test_rl_problem_count():
    shared = R.from_dict({})
    full = R.from_dict({"data": {"rl_problems": "all"}})
    assert rl_problem_count(shared, 39_900) == 39_900
    assert rl_problem_count(full, 39_900) == 48_800  # scale 1: the paper's whole RL set
    assert rl_problem_count(full, 399) == 488
    assert rl_problem_count(full, 1) >= 1


def test_rl_all_is_refused_for_the_toy_world(tmp_path, tokenizer):
    r = _recipe(tmp_path, "data.source=toy", "data.rl_problems=all")
    with pytest.raises(KitError, match="data.rl_problems=all needs the released sets"):
        build(r, tokenizer, 4, tmp_path / "data")


def test_think_target_on_the_confirmed_schema_fails_in_one_line_naming_the_columns(sets, tmp_path):
    r = _recipe(tmp_path, "data.sft_target=think")
    with pytest.raises(KitError) as err:
        load_problems(r.data)
    msg = str(err.value)
    assert "\n" not in msg
    assert "['think_response']" in msg and "['no_think_response', 'question']" in msg
    assert "data.sft_column" in msg


def test_sft_column_override_reads_the_named_column(sets, tmp_path):
    rows = [{"question": q, "no_think_response": "short", "qwen3_32b_thinking": f"<think>\nhm\n</think>\n\n{a}"}
            for q, a in SHARED]
    _write(sets, "math_sft_40K", rows)
    r = _recipe(tmp_path, "data.sft_target=think", "data.sft_column=qwen3_32b_thinking")
    problems = load_problems(r.data)
    assert len(problems) == len(SHARED) and all(p.response.startswith("<think>") for p in problems)


def test_rl_all_on_the_shipped_fixtures_adds_the_rl_only_row(tmp_path, tokenizer):
    r = _recipe(tmp_path, "data.rl_problems=all")
    build(r, tokenizer, 100, tmp_path / "data")
    sft, rl = read_jsonl(tmp_path / "data" / "sft.jsonl"), read_jsonl(tmp_path / "data" / "rl.jsonl")
    shipped = read_jsonl(train_sets.FIXTURES / "math_rl_48k.jsonl")
    assert len(rl) == len(shipped) == len(sft) + 1
    only_rl = {x["question"] for x in rl} - {x["question"] for x in sft}
    assert only_rl == {"What is $10 - 3$?"}
