"""HEAD-QA (English): multiple-choice healthcare exam questions, scored by log-likelihood.

Paper setup (lm-eval `headqa_en`): context `Question: {qtext}\\nAnswer:`, one continuation per option,
`" " + atext` (lm-eval's target delimiter is a space); the prediction is the option with the highest summed
log-probability. Nothing is generated, so thinking mode does not matter (the chat template still wraps the
context).

Columns: `paper` = `acc` (which of acc / acc_norm the paper reported is unconfirmed; `acc` is the
harness's first metric); `acc` (same value) and `acc_norm` = argmax of log-likelihood divided by the
option's length in characters. As in lm-eval, the length is that of the option text without the leading
space; it is recomputed from the item, so the engine's length convention does not matter.
The gold option is the one whose `aid` equals `ra` (lm-eval indexes `ra - 1`, the same when the options
are listed by aid).
"""

from __future__ import annotations

from typing import Any

from kit.errors import KitError
from kit.eval.benchmarks import register
from kit.eval.benchmarks.base import Benchmark, HubSource, Item
from kit.eval.scoring.choice import argmax


@register
class HeadQA(Benchmark):
    name = "headqa"
    group = "other"
    full_size = 2742
    paper_position = 8
    kind = "loglik"
    source = HubSource(
        path="EleutherAI/headqa",
        name="en",
        revision="main",
        split="test",
        note="revision not verified offline; pin after first download. Parquet copy of dvilares/head_qa "
        "(MIT per the original card; the EleutherAI card says 'other'). About 2,742 test questions.",
    )

    def items(self, rows: list[dict[str, Any]]) -> list[Item]:
        out = []
        seen: set[str] = set()
        for i, row in enumerate(rows):
            answers = row.get("answers") or []
            texts = [str(a["atext"]) for a in answers]
            aids = [int(a["aid"]) for a in answers]
            ra = int(row["ra"])
            if ra not in aids:
                raise KitError(f"benchmark '{self.name}': row {i} (qid {row.get('qid')}) has ra={ra} "
                               f"but answer ids {aids}")
            iid = f"{row.get('name', 'exam')}/{row.get('qid', i)}"
            if iid in seen:
                iid = f"{iid}#{i}"
            seen.add(iid)
            doc = {
                "qtext": str(row["qtext"]),
                "choices": texts,
                "gold": aids.index(ra),
                "category": row.get("category"),
            }
            out.append(Item(id=iid, doc=doc))
        return out

    def requests(self, item: Item) -> list[tuple[str, str]]:
        context = f"Question: {item.doc['qtext']}\nAnswer:"
        return [(context, " " + text) for text in item.doc["choices"]]

    def score_loglik(self, item: Item, logliks: list[float], lengths: list[int]) -> dict[str, float]:
        choices = item.doc["choices"]
        if len(logliks) != len(choices):
            raise KitError(f"benchmark '{self.name}': {len(logliks)} log-likelihoods for {len(choices)} options")
        gold = item.doc["gold"]
        acc = float(argmax(logliks) == gold)
        normed = [ll / max(len(text), 1) for ll, text in zip(logliks, choices)]
        acc_norm = float(argmax(normed) == gold)
        return {"paper": acc, "acc": acc, "acc_norm": acc_norm}
