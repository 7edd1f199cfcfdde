"""IFEval (non-reasoning group): 541 prompts of `google/IFEval` (train split) with 834 verifiable
instructions, scored by Google's instruction checkers (`kit.eval.scoring.ifeval`, via `if-verifiable`).

Generation: the raw prompt, greedy (the paper's lm-eval run passed max_gen_toks=32768).
The response scored is the paper's fork's: the text after the last `</think>` (all of it when there is
none), stripped. That equals the `answer` the kit passes except for truncated thinking outputs, where the
fork (and so `paper`) checks the unfinished reasoning text.

Columns:
- `paper`: instruction-level strict accuracy (`inst_level_strict_acc`, the metric the paper reports,
  paper.md §3.1). Aggregated over instructions, not prompts: `aggregate` divides the total number of
  strictly followed instructions by the total number of instructions. The per-item value is the fraction
  of that prompt's instructions followed (`weight` = its number of instructions, for the bootstrap).
- `prompt_strict`, `prompt_loose`: prompt-level accuracy (all instructions followed).
- `inst_loose`: instruction-level loose accuracy (aggregated over instructions).
Hidden per-item counts `_n_inst`, `_inst_strict`, `_inst_loose` carry the instruction-level totals.
The data is Apache-2.0, so the fixture holds real rows.
"""

from __future__ import annotations

from typing import Any

from kit.chat import IM_END
from kit.eval.benchmarks import register
from kit.eval.benchmarks.base import Benchmark, Decode, HubSource, Item
from kit.eval.scoring.ifeval import check_instructions
from kit.eval.scoring.text import after_last_think


def paper_response(output: str) -> str:
    return after_last_think(output.replace(IM_END, "").replace("<|endoftext|>", "")).strip()


@register
class IFEval(Benchmark):
    name = "ifeval"
    group = "non"
    full_size = 541
    paper_position = 11
    source = HubSource(
        path="google/IFEval", revision="main", split="train",
        note="unpinned (branch main; the Hub was unreachable when this was written, so no commit sha); "
             "541 prompts, Apache-2.0",
    )
    decode = Decode(temperature=0.0)
    primary = "paper"
    paper_column = "paper"

    def items(self, rows: list[dict[str, Any]]) -> list[Item]:
        out = []
        for row in rows:
            kwargs = [{k: v for k, v in (kw or {}).items() if v is not None} for kw in row["kwargs"]]
            doc = {"key": row["key"], "prompt": row["prompt"],
                   "instruction_id_list": list(row["instruction_id_list"]), "kwargs": kwargs}
            out.append(Item(id=str(row["key"]), doc=doc))
        return out

    def prompt(self, item: Item, variant: str = "") -> str:
        return item.doc["prompt"]

    def score(self, item: Item, answer: str, output: str, variant: str = "") -> dict[str, float]:
        d = item.doc
        res = check_instructions(d["prompt"], d["instruction_id_list"], d["kwargs"], paper_response(output))
        n = len(res.strict)
        s, lo = sum(res.strict), sum(res.loose)
        return {
            "paper": s / n if n else 0.0,
            "prompt_strict": float(n > 0 and all(res.strict)),
            "prompt_loose": float(n > 0 and all(res.loose)),
            "inst_loose": lo / n if n else 0.0,
            "_n_inst": float(n),
            "_inst_strict": float(s),
            "_inst_loose": float(lo),
        }

    def weight(self, item: Item) -> float:
        return float(len(item.doc["instruction_id_list"]))

    def aggregate(self, item_scores: list[dict[str, float]]) -> dict[str, float]:
        if not item_scores:
            return {}
        n = sum(s["_n_inst"] for s in item_scores)
        k = len(item_scores)
        return {
            "paper": sum(s["_inst_strict"] for s in item_scores) / n if n else 0.0,
            "prompt_strict": sum(s["prompt_strict"] for s in item_scores) / k,
            "prompt_loose": sum(s["prompt_loose"] for s in item_scores) / k,
            "inst_loose": sum(s["_inst_loose"] for s in item_scores) / n if n else 0.0,
        }
