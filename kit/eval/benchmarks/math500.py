"""MATH500: 500 MATH test problems (HuggingFaceH4/MATH-500), scored on the last \\boxed{} answer.

Paper setup (EvalChemy, final code state @1dff9d8): zero-shot user message
`"\\n{problem}\\n\\nPlease reason step by step, and put your final answer within \\\\boxed.\\n"`
(the earlier revision used `Problem: {problem}\\nMark your solution with \\\\boxed\\nAnswer:`).
Decode as the paper states (A.3.5): T=0.6, top-p 0.95, 3 samples averaged. The released code sampled
at T=0.7/top-p 0.8/top-k 20 with 1 sample; recipes may override.

Columns: `paper` = hendrycks string match of the last boxed answer in the whole output, reasoning included
(what EvalChemy computed); `fixed` = math-verify on the answer after `</think>` (primary); an unfinished
generation earns `fixed` only with a complete box (`kit.eval.scoring.math`). The same class, with other data, serves AIME24 and AIME25.
"""

from __future__ import annotations

from typing import Any, ClassVar

from kit.errors import KitError
from kit.eval.benchmarks import register
from kit.eval.benchmarks.base import Benchmark, Decode, HubSource, Item
from kit.eval.scoring.math import score_math

# The user message of the paper's EvalChemy MATH500/AIME tasks (a Python triple-quoted string there:
# it starts and ends with a newline). `\\boxed` is a literal backslash + "boxed", with no braces.
EVALCHEMY_MATH_PROMPT = "\n{problem}\n\nPlease reason step by step, and put your final answer within \\boxed.\n"


class BoxedMathBenchmark(Benchmark):
    """Shared logic for MATH500 / AIME: one problem, one gold answer string, boxed-answer scoring."""

    group = "math"
    primary = "fixed"
    problem_field: ClassVar[str] = "problem"
    answer_field: ClassVar[str] = "answer"
    id_field: ClassVar[str | None] = "id"

    def _item_id(self, row: dict[str, Any], index: int) -> str:
        if self.id_field and row.get(self.id_field) not in (None, ""):
            return str(row[self.id_field])
        return str(index)

    def items(self, rows: list[dict[str, Any]]) -> list[Item]:
        out = []
        for i, row in enumerate(rows):
            for key in (self.problem_field, self.answer_field):
                if key not in row:
                    raise KitError(f"benchmark '{self.name}': row {i} has no '{key}' column; got {sorted(row)}")
            doc = {"problem": str(row[self.problem_field]), "answer": str(row[self.answer_field])}
            out.append(Item(id=self._item_id(row, i), doc=doc))
        return out

    def prompt(self, item: Item, variant: str = "") -> str:
        return EVALCHEMY_MATH_PROMPT.format(problem=item.doc["problem"])

    uses_finished = True

    def score(self, item: Item, answer: str, output: str, variant: str = "",
              finished: bool = True) -> dict[str, float]:
        """`paper` on the whole output (as EvalChemy), `fixed` on the answer; see `score_math`."""
        return score_math(answer, item.doc["answer"], output=output, finished=finished)


@register
class Math500(BoxedMathBenchmark):
    name = "math500"
    full_size = 500
    paper_position = 3
    source = HubSource(
        path="HuggingFaceH4/MATH-500",
        # Not fetched here (no Hub access); the same sha is pinned by several independent public projects,
        # one of them through a datasets cache path, i.e. a commit that resolved.
        revision="6e4ed1a2a79af7d8630a6b768ec859cb5af4d3be",
        split="test",
        note="MIT (prm800k); 500 rows: problem, solution, answer, subject, level, unique_id. "
        "Revision taken from public pins, not verified offline.",
    )
    decode = Decode(temperature=0.6, top_p=0.95, n_samples=3, max_new_tokens=32768)
    id_field = "unique_id"
