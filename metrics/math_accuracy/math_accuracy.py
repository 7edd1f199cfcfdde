"""Math answer accuracy with math-verify, as a Hugging Face `evaluate` metric.

Load it by path (works offline): evaluate.load("<repo>/metrics/math_accuracy").

predictions: model outputs (free text; math-verify extracts the last boxed / LaTeX / plain answer).
references:  gold answers. A gold without "$" or "\\boxed" is wrapped as "$gold$" so LaTeX golds such as
             "\\frac{1}{2}" or "\\left( 3, \\frac{\\pi}{2} \\right)" are parsed as expressions.
verify(gold, prediction) is asymmetric: the gold goes first. math-verify uses signal.alarm for its timeouts,
so call compute() from the main thread.
Returns accuracy (in [0, 1]), n, n_correct and scores (0/1 per item, for paired statistics).
"""

import datasets
import evaluate
from math_verify import parse
from math_verify import verify

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
    if "$" in g or "\\boxed" in g:
        return g
    return "$" + g + "$"


def score_one(prediction, reference):
    try:
        gold = parse(wrap_gold(reference))
        pred = parse(str(prediction))
        return int(bool(gold) and bool(pred) and verify(gold, pred))
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
