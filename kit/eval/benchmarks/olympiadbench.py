"""OlympiadBench, English text-only open-ended competition maths (`OE_TO_maths_en_COMP`).

Data: `Hothan/OlympiadBench`, config `OE_TO_maths_en_COMP`, split `train` (the only split). The paper's
lm-eval task read a local `test.jsonl` of 675 rows with the same fields (the file Qwen2.5-Math ships);
public notes on the Hub copy report 674 rows, so expect one item fewer.

Prompt (lm-eval fork, task `olympiad`), greedy, stop at "Problem:":
`Solve the following math problem. Present the final answer in the format: Final Answer: \\boxed{your_answer}.`
`\\nProblem: {question}\\nAnswer:`

Columns: `paper` = the task's `exact_match`: last boxed answer (also `\\fbox{}`) of the whole output,
reasoning included, vs `final_answer[0]` with the hendrycks normaliser plus leading-zero / trailing-".0"
stripping. Gold answers wrapped in `$...$` (about 39% of them) can never match there, see
`kit.eval.scoring.math`. `fixed` = math-verify on the answer after `</think>` (primary); an unfinished
generation earns `fixed` only with a complete box.
"""

from __future__ import annotations

from typing import Any

from kit.errors import KitError
from kit.eval.benchmarks import register
from kit.eval.benchmarks.base import Benchmark, Decode, HubSource, Item
from kit.eval.scoring.math import score_math

OLYMPIAD_PROMPT = (
    "Solve the following math problem. Present the final answer in the format: "
    "Final Answer: \\boxed{your_answer}.\nProblem: {question}\nAnswer:"
)


@register
class OlympiadBench(Benchmark):
    name = "olympiadbench"
    group = "math"
    full_size = 675
    paper_position = 4
    primary = "fixed"
    source = HubSource(
        path="Hothan/OlympiadBench",
        name="OE_TO_maths_en_COMP",
        revision="91184b52131e7fc9455fef848035173aea8cc01a",
        split="train",
        note="Apache-2.0. Revision taken from several public pins, not verified offline.",
    )
    decode = Decode(temperature=0.0, n_samples=1, max_new_tokens=32768, stop=("Problem:",))

    def items(self, rows: list[dict[str, Any]]) -> list[Item]:
        out = []
        for i, row in enumerate(rows):
            golds = row.get("final_answer")
            if isinstance(golds, str):
                golds = [golds]
            if not golds:
                raise KitError(f"benchmark '{self.name}': row {i} has no final_answer")
            doc = {
                "question": str(row["question"]),
                "answer": str(golds[0]),
                "answer_type": row.get("answer_type"),
                "is_multiple_answer": bool(row.get("is_multiple_answer") or False),
                "unit": row.get("unit"),
            }
            rid = row.get("id")
            out.append(Item(id=str(rid) if rid not in (None, "") else str(i), doc=doc))
        return out

    def prompt(self, item: Item, variant: str = "") -> str:
        # str.replace, not str.format: the template itself contains braces
        return OLYMPIAD_PROMPT.replace("{question}", item.doc["question"])

    uses_finished = True

    def score(self, item: Item, answer: str, output: str, variant: str = "",
              finished: bool = True) -> dict[str, float]:
        """`paper` on the whole output (as the fork's task), `fixed` on the answer; see `score_math`."""
        return score_math(answer, item.doc["answer"], olympiad=True, output=output, finished=finished)
