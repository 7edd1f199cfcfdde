"""Math answer accuracy with math-verify, as a Hugging Face `evaluate` metric.

Load it by path (works offline): evaluate.load("<repo>/metrics/math_accuracy").

predictions: model outputs (free text; math-verify extracts the last boxed / LaTeX / plain answer).
references:  gold answers. A gold without an unescaped "$" or "\\boxed" is wrapped as "$gold$" so LaTeX
             golds such as "\\frac{1}{2}", "\\left( 3, \\frac{\\pi}{2} \\right)" or "\\$18.90" (an escaped
             dollar is a currency sign, not a math delimiter) are parsed as expressions.
verify(gold, prediction) is asymmetric: the gold goes first. math-verify uses signal.alarm for its timeouts,
which only works in the main thread: off the main thread this metric runs without timeouts (a pathological
input could hang; the kit's own scorer, kit.eval.scoring.math, uses a helper process instead). math-verify's
logger is set to ERROR, so its per-timeout warnings (which print whole inputs) stay quiet.
Returns accuracy (in [0, 1]), n, n_correct and scores (0/1 per item, for paired statistics).
"""

import logging
import re
import threading

import datasets
import evaluate
from math_verify import parse
from math_verify import verify

logging.getLogger("math_verify").setLevel(logging.ERROR)
_UNESCAPED_DOLLAR = re.compile(r"(?<!\\)\$")

_CITATION = """@misc{mathverify,
  title={Math-Verify: a robust mathematical expression evaluation system},
  author={Kydlicek, Hynek and Gandenberger, Greg and Lozovskaya, Alina},
  howpublished={https://github.com/huggingface/Math-Verify},
  year={2025}
}
"""

_DESCRIPTION = "Accuracy of math answers checked with math-verify (symbolic equivalence of extracted answers)."

_KWARGS_DESCRIPTION = """
Args:
    predictions: list of str, model outputs.
    references: list of str, gold answers.
Returns:
    accuracy: float in [0, 1]; n: int; n_correct: int; scores: list of int (0/1 per item).
Examples:
    >>> acc = evaluate.load("metrics/math_accuracy")
    >>> acc.compute(predictions=["so the answer is \\\\boxed{0.5}"], references=["\\\\frac{1}{2}"])
"""


def wrap_gold(gold):
    g = str(gold).strip()
    if _UNESCAPED_DOLLAR.search(g) or "\\boxed" in g:
        return g
    return "$" + g + "$"


def score_one(prediction, reference):
    timeout = 5 if threading.current_thread() is threading.main_thread() else None
    try:
        gold = parse(wrap_gold(reference), parsing_timeout=timeout)
        pred = parse(str(prediction), parsing_timeout=timeout)
        return int(bool(gold) and bool(pred) and verify(gold, pred, timeout_seconds=timeout))
    except Exception:  # math-verify can raise on malformed LaTeX or time out: count as wrong
        return 0


@evaluate.utils.file_utils.add_start_docstrings(_DESCRIPTION, _KWARGS_DESCRIPTION)
class MathAccuracy(evaluate.Metric):
    def _info(self):
        return evaluate.MetricInfo(
            description=_DESCRIPTION,
            citation=_CITATION,
            inputs_description=_KWARGS_DESCRIPTION,
            features=datasets.Features({"predictions": datasets.Value("string"), "references": datasets.Value("string")}),
            reference_urls=["https://github.com/huggingface/Math-Verify"],
        )

    def _compute(self, predictions, references):
        scores = [score_one(p, r) for p, r in zip(predictions, references)]
        n = len(scores)
        return {
            "accuracy": (sum(scores) / n) if n else float("nan"),
            "n": n,
            "n_correct": sum(scores),
            "scores": scores,
        }
