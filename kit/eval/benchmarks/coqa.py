"""CoQA (non-reasoning group), as lm-eval's `coqa` task that the paper ran (paper.md §1.3, eval-anchors §1.2).

One item per story: predict the answer to the story's LAST question from the story and the earlier
question/answer turns. The prompt is `{story}\\n\\nQ: {q1}\\n\\nA: {a1}\\n\\n...Q: {qn}\\n\\nA:`; greedy
decoding stops at "\\nQ:". Metrics are SQuAD-normalised EM and token F1 with CoQA's multi-reference rule
(`kit.eval.scoring.text.coqa_scores`) over the last turn's answer plus its additional answers (duplicates,
compared case-insensitively, dropped).

Columns:
- `paper`, `paper_em`: the paper's parse of the raw output: strip, cut everything up to the last
  `</think>` (the fork's `re.sub(r".*?</think>(\\n)*", "", ...)`), strip, keep the first line. The paper
  prints one CoQA number; whether it is F1 or EM is UNCONFIRMED (paper.md §1.3). `paper` is F1.
- `fixed`, `fixed_em`: the kit's parse of the answer after the reasoning (`answer`, i.e. the text after the
  last `</think>`, empty when thinking never finished): its first non-empty line, with a leading "A:",
  "Answer:" or "Final answer:" label removed. A truncated thinking output therefore scores 0 instead of
  being judged on its reasoning's first line.
Cluster = story id, so subsets keep whole stories.
"""

from __future__ import annotations

from itertools import zip_longest
from typing import Any

from kit.eval.benchmarks import register
from kit.eval.benchmarks.base import Benchmark, Decode, HubSource, Item
from kit.eval.scoring.text import after_last_think, coqa_scores, first_line, first_nonempty_line, strip_answer_label


def last_turn_golds(row: dict[str, Any]) -> list[str]:
    """The last turn's reference answer and its distinct additional answers (lm-eval's doc_to_target)."""
    answers = list(row["answers"]["input_text"])
    turn = len(row["questions"]["input_text"])
    golds = [answers[turn - 1]]
    extra = row.get("additional_answers") or {}
    for key in sorted(extra, key=str):
        alt = (extra[key] or {}).get("input_text") or []
        if len(alt) >= turn and alt[turn - 1] and alt[turn - 1].lower() not in {g.lower() for g in golds}:
            golds.append(alt[turn - 1])
    return golds


@register
class CoQA(Benchmark):
    name = "coqa"
    group = "non"
    full_size = 500
    paper_position = 9
    source = HubSource(
        path="EleutherAI/coqa", revision="main", split="validation",
        note="unpinned (branch main; the Hub was unreachable when this was written, so no commit sha); "
             "parquet since the loading script was deleted (HF commit page shows 'Delete coqa.py', 82e11af, "
             "unverified); 500 validation stories",
    )
    decode = Decode(temperature=0.0, stop=("\nQ:",))
    primary = "fixed"
    paper_column = "paper"

    def items(self, rows: list[dict[str, Any]]) -> list[Item]:
        out = []
        for i, row in enumerate(rows):
            sid = str(row.get("id") or f"story-{i}")
            doc = {
                "story": row["story"],
                "questions": list(row["questions"]["input_text"]),
                "answers": list(row["answers"]["input_text"]),
                "golds": last_turn_golds(row),
                "source": row.get("source", ""),
            }
            out.append(Item(id=sid, doc=doc, cluster=sid))
        return out

    def prompt(self, item: Item, variant: str = "") -> str:
        d = item.doc
        text = d["story"] + "\n\n"
        for q, a in zip_longest(d["questions"], d["answers"][:-1]):
            text += f"Q: {q}\n\n" + (f"A: {a}\n\n" if a is not None else "A:")
        return text

    def score(self, item: Item, answer: str, output: str, variant: str = "") -> dict[str, float]:
        golds = item.doc["golds"]
        paper_pred = first_line(after_last_think(output.strip()))
        fixed_pred = strip_answer_label(first_nonempty_line(answer))
        p, f = coqa_scores(golds, paper_pred), coqa_scores(golds, fixed_pred)
        # `paper` is F1: the paper prints one CoQA number and whether it is F1 or EM is UNCONFIRMED
        return {"paper": p["f1"], "paper_em": p["em"], "fixed": f["f1"], "fixed_em": f["em"]}
