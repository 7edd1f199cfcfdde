"""PCA-shift texts built the way the paper's analyse_PCA_Shift.py builds them (`probe.pca_texts=paper`).

The paper does not feed the benchmark prompts: per benchmark it takes a list of dataset columns, keeps those
the dataset has, and joins each row's non-None values (``str()`` of each, so lists and dicts appear as
Python reprs) with TWO spaces, solutions and answers included (paper.md §6.1). Then it seeds ``random``
with 42, shuffles the whole list and keeps the first K. OlympiadBench is the exception: ``random.sample`` of
K rows, then question, solution and final answer joined by ONE space.

Deviations that remain (listed in the report's settings table): the rows are the kit's configured benchmark
sources, so where the paper's PCA script read a different source (LiveCodeBench release_v5 instead of v2;
ACPBench's `acp_app_bool` instead of the 7 MCQ configs; HaluEval's `qa` config, approximated by the kit's
qa_samples rows; CoQA from stanfordnlp/coqa, AIME24 from math-ai/aime24) the texts differ in content, not
in construction.
"""

from __future__ import annotations

import random
from typing import Any

from kit.errors import KitError

SEP = "  "  # the paper joins columns with two spaces

# kit benchmark name -> the columns the paper's DATASET_CFG lists for it (analyse_PCA_Shift.py).
PAPER_COLUMNS: dict[str, tuple[str, ...]] = {
    "aime24": ("problem", "solution"),
    "aime25": ("problem", "answer"),
    "math500": ("problem", "solution", "answer"),
    "gpqa_diamond": ("Pre-Revision Question", "Pre-Revision Correct Answer", "Pre-Revision Incorrect Answer 1",
                     "Pre-Revision Incorrect Answer 2", "Pre-Revision Incorrect Answer 3", "Pre-Revision Explanation"),
    "livecodebench": ("question_content", "public_test_cases"),
    "acpbench": ("context", "question", "answer"),
    "ifeval": ("prompt",),
    "halueval": ("knowledge", "dialogue_history", "right_response", "hallucinated_response"),
    "coqa": ("story", "questions", "answers"),
    "headqa": ("qtext", "ra", "answers"),
    "mc_taco": ("question", "answer"),
}
OLYMPIAD = "olympiadbench"  # read from a local jsonl and sampled with random.sample in the paper


def _rows_for(name: str, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """HaluEval: the paper loads only the `qa` config; the kit concatenates three tasks tagged by `task`."""
    if name == "halueval" and rows and "task" in rows[0]:
        return [r for r in rows if r.get("task") == "qa"]
    return rows


def join_row(row: dict[str, Any], columns: tuple[str, ...] | list[str]) -> str:
    """One row's text: the given columns' non-None values, ``str()``-ed, joined with two spaces."""
    return SEP.join(str(row[c]) for c in columns if row.get(c) is not None)


def paper_texts(name: str, rows: list[dict[str, Any]], k: int, seed: int = 42) -> list[str]:
    """The K texts the paper's script would feed for benchmark `name`, from rows in the Hub schema."""
    if name == OLYMPIAD:
        picked = random.Random(seed).sample(rows, min(k, len(rows)))
        return [f"{r.get('question', '')} {r.get('solution', '')} {r.get('final_answer', '')}" for r in picked]
    if name not in PAPER_COLUMNS:
        raise KitError(f"probe.pca_texts=paper: no paper column list for benchmark '{name}' "
                       f"(known: {', '.join(sorted([*PAPER_COLUMNS, OLYMPIAD]))}); use probe.pca_texts=kit")
    rows = _rows_for(name, rows)
    present = set().union(*(r.keys() for r in rows)) if rows else set()
    columns = [c for c in PAPER_COLUMNS[name] if c in present]
    if not columns:
        raise KitError(f"probe.pca_texts=paper: benchmark '{name}' rows have none of the paper's columns "
                       f"{list(PAPER_COLUMNS[name])}; they have {sorted(present)}")
    texts = [join_row(r, columns) for r in rows]
    random.Random(seed).shuffle(texts)
    return texts[:k]
