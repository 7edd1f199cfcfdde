"""AIME 2025 (30 problems, AIME I + II), integer answers, scored on the last \\boxed{} answer.

Data: `math-ai/aime25` (split `test`; columns problem, answer, id), the copy lm-eval's `aime25` task and
the paper's PCA script use. The paper's EvalChemy task read its own copy (`aime25.json`, ids I-1 ... II-15).
Same prompt and scorers as MATH500; 10 samples at T=0.6 / top-p 0.95 as the paper states.
"""

from __future__ import annotations

from kit.eval.benchmarks import register
from kit.eval.benchmarks.base import Decode, HubSource
from kit.eval.benchmarks.math500 import BoxedMathBenchmark


@register
class AIME25(BoxedMathBenchmark):
    name = "aime25"
    full_size = 30
    paper_position = 2
    source = HubSource(
        path="math-ai/aime25",
        revision="563bb8404243c5f09de6ec262f2db674fe5bce9b",
        split="test",
        note="30 rows. Revision taken from public pins (one with the file's sha256), not verified offline. "
        "Column types (id/answer as int or str) unverified; items() converts both to str.",
    )
    decode = Decode(temperature=0.6, top_p=0.95, n_samples=10, max_new_tokens=32768)
    id_field = "id"
