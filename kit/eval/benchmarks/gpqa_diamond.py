"""GPQA-Diamond: 198 four-option science questions (`Idavidrein/gpqa`, config `gpqa_diamond`, gated).

Paper setup (EvalChemy): user message
`Return your final response within \\boxed{} and only include the letter choice (A, B, C, or D) as your`
` final response.\\nProblem: {Question}\\nOptions: A) ..., B) ..., C) ..., D) ...\\nAnswer:`
3 samples (T=0.6 / top-p 0.95 as the paper states; the code used T=0.7, top-p 1.0).

The paper's option order is broken: for every question it shuffles `[correct, wrong1, wrong2, wrong3]`
with a fresh `random.Random(42)`, which is always the same permutation, so the correct answer is always
option D. Two prompt variants are therefore generated for every item:

- `paper`: that fixed order, scored with the paper's extraction (last standalone A-D in the upper-cased
  answer) -> column `paper`; the kit's strict extraction on the same generations -> `paper_strict`.
- `fixed`: options shuffled per question with a seed derived from the question's Record ID (sha256, stable
  across runs and machines), scored with the kit's strict extraction (explicit `\\boxed{X}` / "answer is X"
  first, else the last standalone capital letter) -> column `fixed` (primary); the paper's extraction on
  the same generations -> `fixed_paper_rule`.

An unfinished generation (length cap hit) earns the strict columns (`fixed`, `paper_strict`) only through an
explicit marker: the lone-letter fallback would read any stray capital of a cut-off answer. The paper-rule
columns keep the paper's behaviour (any last standalone letter counts, finished or not).

Extraction reads the text after the last `</think>` (the paper's code read the whole output; with a closed
think block the difference is only when the final part holds no letter at all). Empty answer -> 0.

The dataset's authors ask that examples never be shown in plain text online: the shipped fixture rows are
invented look-alikes with the real column schema, and real rows must stay out of git.
"""

from __future__ import annotations

import hashlib
import random
from typing import Any

from kit.errors import KitError
from kit.eval.benchmarks import register
from kit.eval.benchmarks.base import Benchmark, Decode, HubSource, Item
from kit.eval.scoring.choice import gpqa_paper_letter, strict_letter

# EvalChemy's template, "...\\boxed{{}}...\nProblem: {problem}\nOptions: {options}\nAnswer:" after .format(),
# assembled by concatenation here so that braces in questions cannot interfere.
GPQA_INSTRUCTION = (
    "Return your final response within \\boxed{} and only include the letter choice (A, B, C, or D) as your "
    "final response."
)
LETTERS = ("A", "B", "C", "D")
PAPER_SEED = 42


def paper_order(choices: list[str]) -> list[str]:
    """The paper's option order: a fresh `random.Random(42)` shuffle of [correct, wrong1, wrong2, wrong3]."""
    order = list(choices)
    random.Random(PAPER_SEED).shuffle(order)
    return order


def question_seed(question_id: str) -> int:
    """A per-question seed that does not depend on Python's randomised `hash()`."""
    return int.from_bytes(hashlib.sha256(f"gpqa:{question_id}".encode()).digest()[:8], "big")


def fixed_order(choices: list[str], question_id: str) -> list[str]:
    order = list(choices)
    random.Random(question_seed(question_id)).shuffle(order)
    return order


def correct_letter(order: list[str], correct: str) -> str:
    """First option whose text equals the correct answer (as the paper's code picks it)."""
    return next(letter for letter, text in zip(LETTERS, order) if text == correct)


@register
class GPQADiamond(Benchmark):
    name = "gpqa_diamond"
    group = "other"
    full_size = 198
    paper_position = 5
    primary = "fixed"
    paper_column = "paper"
    variants = ("fixed", "paper")
    source = HubSource(
        path="Idavidrein/gpqa",
        name="gpqa_diamond",
        # Seen in several public hub-cache snapshot paths for this repo; not verified offline.
        revision="633f5ee89ab8ad4522a9f850766b73f62147ffdd",
        split="train",
        gated=True,
        note="CC-BY-4.0, gated: accept the terms on the dataset page and log in. Do not commit real rows.",
    )
    decode = Decode(temperature=0.6, top_p=0.95, n_samples=3, max_new_tokens=32768)

    def items(self, rows: list[dict[str, Any]]) -> list[Item]:
        out = []
        seen: set[str] = set()
        for i, row in enumerate(rows):
            try:
                correct = str(row["Correct Answer"])
                choices = [correct] + [str(row[f"Incorrect Answer {k}"]) for k in (1, 2, 3)]
                question = str(row["Question"])
            except KeyError as exc:
                raise KitError(f"benchmark '{self.name}': row {i} lacks column {exc}") from exc
            qid = str(row.get("Record ID") or f"row{i}")
            if qid in seen:
                qid = f"{qid}#{i}"
            seen.add(qid)
            p_order, f_order = paper_order(choices), fixed_order(choices, qid)
            doc = {
                "question": question,
                "choices": choices,  # correct answer first, as in the dataset
                "order_paper": p_order,
                "answer_paper": correct_letter(p_order, correct),
                "order_fixed": f_order,
                "answer_fixed": correct_letter(f_order, correct),
                "subdomain": row.get("Subdomain"),
                "domain": row.get("High-level domain"),
            }
            out.append(Item(id=qid, doc=doc))
        return out

    def _variant(self, variant: str) -> str:
        if variant not in self.variants:
            raise KitError(f"benchmark '{self.name}': unknown variant '{variant}' (known: {', '.join(self.variants)})")
        return variant

    def prompt(self, item: Item, variant: str = "fixed") -> str:
        v = self._variant(variant or "fixed")
        order = item.doc[f"order_{v}"]
        options = ", ".join(f"{letter}) {text}" for letter, text in zip(LETTERS, order))
        return f"{GPQA_INSTRUCTION}\nProblem: {item.doc['question']}\nOptions: {options}\nAnswer:"

    uses_finished = True

    def score(self, item: Item, answer: str, output: str, variant: str = "fixed",
              finished: bool = True) -> dict[str, float]:
        v = self._variant(variant or "fixed")
        gold = item.doc[f"answer_{v}"]
        if not answer or not answer.strip():
            paper_rule = strict_rule = 0.0
        else:
            paper_rule = float(gpqa_paper_letter(answer) == gold)
            strict_rule = float(strict_letter(answer, fallback=finished) == gold)
        if v == "paper":
            return {"paper": paper_rule, "paper_strict": strict_rule}
        return {"fixed": strict_rule, "fixed_paper_rule": paper_rule}
