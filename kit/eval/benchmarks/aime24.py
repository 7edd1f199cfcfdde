"""AIME 2024 (30 problems, AIME I + II), integer answers, scored on the last \\boxed{} answer.

Data: `HuggingFaceH4/aime_2024` (split `train`; columns id, problem, solution, answer, url, year). Chosen
over `math-ai/aime24` (the id in the paper's PCA script) because it has a plain `answer` column and its
revision is pinned, with file checksums, by several public projects. The paper's EvalChemy task read its
own copy of the same 30 problems (`aime24.json`). Same prompt and scorers as MATH500; the paper averages
10 samples at T=0.6 / top-p 0.95 (the released code: T=0.7, top-p 0.8, top-k 20).
"""

from __future__ import annotations

from kit.eval.benchmarks import register
from kit.eval.benchmarks.base import Decode, HubSource
from kit.eval.benchmarks.math500 import BoxedMathBenchmark


@register
class AIME24(BoxedMathBenchmark):
    name = "aime24"
    full_size = 30
    paper_position = 1
    source = HubSource(
        path="HuggingFaceH4/aime_2024",
        revision="2fe88a2f1091d5048c0f36abc874fb997b3dd99a",
        split="train",
        note="30 rows (AIME 2024 I+II). Revision taken from public pins (incl. a hub cache snapshot path), "
        "not verified offline. Problems (c) MAA; the card declares no licence.",
    )
    decode = Decode(temperature=0.6, top_p=0.95, n_samples=10, max_new_tokens=32768)
    id_field = "id"
