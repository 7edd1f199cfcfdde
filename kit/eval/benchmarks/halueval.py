"""HaluEval (non-reasoning group): the model judges whether a QA answer, a dialogue response or a summary
contains hallucinated information, answering Yes or No. Three tasks (configs `qa_samples`,
`dialogue_samples`, `summarization_samples` of `pminervini/HaluEval`, split `data`, 10k rows each); the
paper averages the three task accuracies (paper.md §1.3, §3.1).

Prompts: the judge instruction ("I want you act as an answer judge. ...") followed by the fields, in the
layout of the paper's lm-eval fork: `#Knowledge: ...` (QA and dialogue only), `#Question#:`/`#Answer#:`,
`#Dialogue History#:`/`#Response#:`, or `#Document#:`/`#Summary#:`, then `#Your Judgement#:`. The
instruction wording and its one worked example are the kit's own (written for the kit, not copied); the
fork's instructions carry a one-shot example from the HaluEval repository instead, so prompt text differs
(the effect on scores is UNCONFIRMED).

Columns (per task and averaged over the tasks present):
- `paper`: the paper's rule (`kit.eval.scoring.text.paper_yes_no`) on the raw output, with no think
  stripping: the first line must contain exactly one of the substrings "Yes"/"No" and it must equal the
  `hallucination` label. The fork generated with lm-eval's default stop "\\n\\n"; the kit generates the
  whole output (so `fixed` can read past the reasoning) and emulates that stop by cutting the output at its
  first "\\n\\n" before parsing (this only matters when the output starts with a blank line).
- `fixed`: `kit.eval.scoring.text.find_yes_no` on the answer after the last `</think>` (empty when the
  reasoning never finished): a leading Yes/No, else the last labelled verdict, else the last standalone
  yes/no word.

Items: id `<task>-<row index>`, each its own cluster (the bootstrap requires a cluster to lie inside one
stratum). The tasks are strata (`stratum`), and `aggregate` is the mean of the per-task accuracies, so a
seeded subset (`select_items` draws items across the 30k rows) has roughly, not exactly, n/3 items per
task; a task absent from a tiny subset is left out of the mean.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from kit.eval.benchmarks import register
from kit.eval.benchmarks.base import (Benchmark, Decode, HubSource, Item, fixture_rows, hub_rows,
                                      mean_of_task_means)
from kit.eval.scoring.text import find_yes_no, paper_yes_no

TASKS = ("qa", "dialogue", "summarization")
CONFIGS = {"qa": "qa_samples", "dialogue": "dialogue_samples", "summarization": "summarization_samples"}

_CLOSING = (
    "Decide whether the item below contains non-factual or hallucinated information, using the hallucination "
    'types above. Your answer MUST be "Yes" or "No".'
)

QA_INSTRUCTION = (
    "I want you act as an answer judge. Given a question and an answer, your objective is to determine if the "
    "provided answer contains non-factual or hallucinated information. Base your judgement on the knowledge "
    "provided, on world knowledge and on these hallucination types: the answer misreads what the question "
    "asks; the answer states something that contradicts the facts; the answer is too general or too specific "
    "for the question; the answer cannot be inferred from the knowledge.\n\n"
    "Example:\n"
    "#Question#: Which river flows through both Vienna and Budapest?\n"
    "#Answer#: The Danube\n"
    "#Your Judgement#: No\n\n" + _CLOSING
)

DIALOGUE_INSTRUCTION = (
    "I want you act as a response judge. Given a dialogue history and a response, your objective is to "
    "determine if the provided response contains non-factual or hallucinated information. Base your judgement "
    "on the knowledge provided, on world knowledge and on these hallucination types: a true entity in the "
    "response is swapped for a similar one, for an unrelated one, or for one of a different kind.\n\n"
    "Example:\n"
    "#Dialogue History#: [Human]: Can you suggest a novel like Dune? [Assistant]: Hyperion is a popular "
    "choice. [Human]: Who wrote Hyperion?\n"
    "#Response#: Dan Simmons wrote it; he also wrote The Terror.\n"
    "#Your Judgement#: No\n\n" + _CLOSING
)

SUMMARIZATION_INSTRUCTION = (
    "I want you act as a summary judge. Given a document and a summary, your objective is to determine if the "
    "provided summary contains non-factual or hallucinated information. Base your judgement on the document, "
    "on world knowledge and on these hallucination types: the summary adds details that cannot be inferred "
    "from the document; the summary contains incorrect information; the summary contradicts the document.\n\n"
    "Example:\n"
    "#Document#: The town council voted on Tuesday to close the old library on Mill Street next spring and move "
    "its collection to the new community centre.\n"
    "#Summary#: The Mill Street library will close next spring after a council vote.\n"
    "#Your Judgement#: No\n\n" + _CLOSING
)


def paper_verdict(output: str) -> str | None:
    """The paper's parse, with lm-eval's default "\\n\\n" stop emulated."""
    return paper_yes_no(output.split("\n\n", 1)[0])


@register
class HaluEval(Benchmark):
    name = "halueval"
    group = "non"
    full_size = 30000
    paper_position = 12
    source = HubSource(
        path="pminervini/HaluEval", revision="main", split="data", name="qa_samples",
        note="unpinned (branch main; the Hub was unreachable when this was written, so no commit sha); "
             "three configs qa_samples, dialogue_samples, summarization_samples are loaded and concatenated "
             "by HaluEval.load (`name` here is only the first)",
    )
    decode = Decode(temperature=0.0)
    primary = "fixed"
    paper_column = "paper"

    def load(self, use_fixtures: bool) -> list[dict[str, Any]]:
        if use_fixtures:
            return fixture_rows(self)
        rows: list[dict[str, Any]] = []
        for task in TASKS:
            src = dataclasses.replace(self.source, name=CONFIGS[task])
            rows += [{**r, "task": task} for r in hub_rows(self, src)]
        return rows

    def items(self, rows: list[dict[str, Any]]) -> list[Item]:
        counters = dict.fromkeys(TASKS, 0)
        out = []
        for row in rows:
            task = row.get("task")
            if task not in counters:
                continue
            i = counters[task]
            counters[task] += 1
            if task == "qa":
                fields = {"knowledge": row["knowledge"], "question": row["question"], "answer": row["answer"]}
            elif task == "dialogue":
                fields = {"knowledge": row["knowledge"], "dialogue_history": row["dialogue_history"],
                          "response": row["response"]}
            else:
                fields = {"document": row["document"], "summary": row["summary"]}
            doc = {"task": task, "label": str(row["hallucination"]).strip().lower(), **fields}
            out.append(Item(id=f"{task}-{i}", doc=doc))
        return out

    def prompt(self, item: Item, variant: str = "") -> str:
        d = item.doc
        if d["task"] == "qa":
            return (f"{QA_INSTRUCTION}\n\n#Knowledge: {d['knowledge']}\n#Question#: {d['question']}"
                    f"\n#Answer#: {d['answer']}\n#Your Judgement#:")
        if d["task"] == "dialogue":
            return (f"{DIALOGUE_INSTRUCTION}\n\n#Knowledge: {d['knowledge']}\n#Dialogue History#: "
                    f"{d['dialogue_history']}\n#Response#: {d['response']}\n#Your Judgement#:")
        return (f"{SUMMARIZATION_INSTRUCTION}\n\n#Document#: {d['document']}\n#Summary#: {d['summary']}"
                f"\n#Your Judgement#:")

    def score(self, item: Item, answer: str, output: str, variant: str = "") -> dict[str, float]:
        label = item.doc["label"]
        return {
            "paper": float(paper_verdict(output) == label),
            "fixed": float(find_yes_no(answer) == label),
            "_task": float(TASKS.index(item.doc["task"])),
        }

    def stratum(self, item: Item) -> str | None:
        return item.doc["task"]

    def aggregate(self, item_scores: list[dict[str, float]]) -> dict[str, float]:
        """Mean over the tasks present of each task's accuracy; per-task columns `paper_<task>`, `fixed_<task>`."""
        return mean_of_task_means(item_scores, TASKS)
