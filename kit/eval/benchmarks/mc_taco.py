"""MC-TACO: temporal commonsense, one yes/no plausibility judgement per (question, candidate answer) pair.

Paper setup (lm-eval `mc_taco`): context `{sentence}\\nQuestion: {question}\\nAnswer: {answer}\\nPlausible:`,
continuations " no" / " yes" scored by log-likelihood; metrics `acc` and `f1` (F1 of the "yes" class over
all pairs, not the dataset's official per-question exact match). The paper calls its number accuracy, so
`paper` = acc; `aggregate` also reports `f1`.

Items are pairs; `cluster` is the question (sentence + question text), so `select_items` keeps all candidate
answers of a question together (lm-eval's README warns that `--limit` splits them).

Data: `CogComp/mc_taco` still ships a loading script on `main`, which `datasets` 4 cannot run. The kit
reads the Hub's automatic parquet conversion instead: revision `refs/convert/parquet` (a branch holding
only `<config>/<split>/*.parquet` files; the split is inferred from the path). Licence unknown, so the
fixture rows are invented look-alikes in the real schema. Fallback if the branch is missing: the
tab-separated files in github.com/CogComp/MCTACO (`dataset/test_9442.tsv`), same five columns.
"""

from __future__ import annotations

import hashlib
from typing import Any

from kit.errors import KitError
from kit.eval.benchmarks import register
from kit.eval.benchmarks.base import Benchmark, HubSource, Item, mean_columns
from kit.eval.scoring.choice import argmax, binary_f1

CATEGORIES = ("Event Duration", "Event Ordering", "Frequency", "Typical Time", "Stationarity")
LABELS = ("no", "yes")


def _label(value: Any) -> int:
    if isinstance(value, str):
        v = value.strip().lower()
        if v in LABELS:
            return LABELS.index(v)
    elif value in (0, 1):
        return int(value)
    raise KitError(f"benchmark 'mc_taco': label {value!r} is neither 0/1 nor yes/no")


def _category(value: Any) -> str:
    if isinstance(value, int) and 0 <= value < len(CATEGORIES):
        return CATEGORIES[value]
    return str(value)


def question_key(sentence: str, question: str) -> str:
    """Stable cluster id of a question (sha256 of sentence + question)."""
    return "q" + hashlib.sha256(f"{sentence}\n{question}".encode()).hexdigest()[:16]


@register
class MCTACO(Benchmark):
    name = "mc_taco"
    group = "non"
    full_size = 9442
    paper_position = 10
    kind = "loglik"
    source = HubSource(
        path="CogComp/mc_taco",
        revision="refs/convert/parquet",
        split="test",
        note="Hub parquet conversion branch (main has a loading script datasets 4 cannot run); a branch, "
        "not a commit: revision not verified offline; pin after first download. 9,442 test pairs, 1,332 "
        "questions. Licence unknown.",
    )

    def items(self, rows: list[dict[str, Any]]) -> list[Item]:
        out = []
        counts: dict[str, int] = {}
        for row in rows:
            sentence, question = str(row["sentence"]), str(row["question"])
            key = question_key(sentence, question)
            j = counts.get(key, 0)
            counts[key] = j + 1
            doc = {
                "sentence": sentence,
                "question": question,
                "answer": str(row["answer"]),
                "label": _label(row["label"]),
                "category": _category(row.get("category")),
            }
            out.append(Item(id=f"{key}-{j}", doc=doc, cluster=key))
        return out

    def requests(self, item: Item) -> list[tuple[str, str]]:
        d = item.doc
        context = f"{d['sentence']}\nQuestion: {d['question']}\nAnswer: {d['answer']}\nPlausible:"
        return [(context, " " + label) for label in LABELS]

    def score_loglik(self, item: Item, logliks: list[float], lengths: list[int]) -> dict[str, float]:
        if len(logliks) != 2:
            raise KitError(f"benchmark '{self.name}': expected 2 log-likelihoods (no, yes), got {len(logliks)}")
        pred = argmax(logliks)  # a tie goes to "no", as numpy's argmax would
        gold = item.doc["label"]
        return {"paper": float(pred == gold), "_pred_yes": float(pred), "_gold_yes": float(gold)}

    def aggregate(self, item_scores: list[dict[str, float]]) -> dict[str, float]:
        out = mean_columns(item_scores)
        if item_scores and "_pred_yes" in item_scores[0]:
            golds = [int(s["_gold_yes"] >= 0.5) for s in item_scores]
            preds = [int(s["_pred_yes"] >= 0.5) for s in item_scores]
            out["f1"] = binary_f1(golds, preds)
        return out
