"""`python -m kit.toy.select_lr [RECIPE] [key=value ...] [--grid 1e-4,3e-4,1e-3,3e-3] [--arms sft,grpo]
[--key grpo.temperature] [--per-task 200] [--fresh]`

The toy recipe's learning rates, chosen by a rule fixed before any transfer result is looked at: for each
arm, train it (the recipe's other settings) at every learning rate of the grid and keep the one with
the best accuracy on *math validation* problems, decoded as the toy math benchmarks are (ties: the smaller
rate). The runs use a development seed (the recipe's first `study.dev_seeds`, or `--seed`), never a
confirmatory one: tuning on the seeds that later confirm would make the study's verdicts part of the tuning.
Only the trained task is looked at, as a practitioner tuning math fine-tuning would; other
reasoning, non-reasoning, TI and drift play no part.

Validation problems are the world's held-out "eval" part, but the rows after the ones the toy benchmarks
evaluate (`make_split(task, 2 * EVAL_ROWS, seed=0, part="eval")[EVAL_ROWS:]`): never pretrained on, never
trained on, never in the reported scores. The on-policy SFT arm uses `sft.learning_rate`, so it follows SFT.

`--key` tunes another numeric knob of one arm by the same rule (e.g. `--arms grpo --key grpo.temperature --grid
0.6,0.7,1.0`, the rollout temperature; ties again go to the smaller value).

Runs go to `<output_dir>/toy-lr/<arm>-<lr>/` (`<arm>-<knob>-<value>/` for another key; normal resumable runs, stages
data and train only); the table goes to `<output_dir>/toy-lr/selection.json` (`selection-<knob>.json`) and is
printed.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from kit.errors import KitError

ARM_LR_KEY = {"sft": "sft.learning_rate", "grpo": "grpo.learning_rate"}


def validation_problems(per_task: int) -> list[Any]:
    """Held-out math problems that are neither pretraining, training nor evaluation rows."""
    from kit.toy.benchmarks import EVAL_ROWS
    from kit.toy.world import make_split, tasks_in

    if per_task > EVAL_ROWS:
        raise KitError(f"--per-task is at most {EVAL_ROWS}")
    return [p for t in tasks_in("math") for p in make_split(t, 2 * EVAL_ROWS, seed=0, part="eval")[EVAL_ROWS:][:per_task]]


def math_accuracy(base_dir: Path, adapter: Path | None, problems: list[Any], seed: int = 0,
                  batch_size: int = 32) -> float:
    """Accuracy of the base (with `adapter` if given) on `problems`, decoded as the toy math benchmarks
    decode (kit.toy.benchmarks: sampled like the paper's MATH500, several samples averaged) and scored
    by the world's verifiers."""
    import torch

    from kit.chat import split_thinking
    from kit.toy.benchmarks import GROUP_DECODE
    from kit.toy.pretrain import generate_batch, load_base
    from kit.toy.world import verify

    d = GROUP_DECODE["math"]
    model, tok = load_base(base_dir)
    if adapter is not None:
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter))
    model.eval()
    torch.manual_seed(seed)
    sampled = d.temperature > 0
    n = d.n_samples if sampled else 1
    decode = dict(do_sample=True, temperature=d.temperature, top_p=d.top_p) if sampled else dict(do_sample=False)
    ok: list[bool] = []
    for start in range(0, len(problems), batch_size):
        batch = problems[start:start + batch_size]
        texts = generate_batch(model, tok, [p.question for p in batch], d.max_new_tokens, n=n, **decode)
        ok += [verify(split_thinking(t, enable_thinking=False).answer, batch[k // n]) for k, t in enumerate(texts)]
    return sum(ok) / len(ok)


def dev_seed(study, asked: int | None) -> int:
    """The seed the selection runs use: a development seed, never one of the confirmatory `study.seeds`."""
    seed = asked if asked is not None else (study.dev_seeds[0] if study.dev_seeds else None)
    if seed is None:
        raise KitError("no development seed: list study.dev_seeds in the recipe or give --seed")
    if seed in study.seeds:
        raise KitError(f"--seed {seed} is a confirmatory seed (study.seeds {study.seeds}); tune on a development seed")
    return seed


def choose(scores: dict[float, float]) -> float:
    """The learning rate with the best accuracy; on a tie the smaller one (the more cautious choice)."""
    return min(scores, key=lambda lr: (-scores[lr], lr))


def main(argv: list[str] | None = None) -> int:
    from kit.compose import load_recipe
    from kit.models import resolve_path
    from kit.run import main as run_main

    ap = argparse.ArgumentParser(prog="python -m kit.toy.select_lr", description=__doc__.split("\n\n")[1].strip())
    ap.add_argument("recipe", nargs="?", default="recipes/toy.yaml")
    ap.add_argument("overrides", nargs="*")
    ap.add_argument("--grid", default="1e-4,3e-4,1e-3,3e-3")
    ap.add_argument("--arms", default="sft,grpo")
    ap.add_argument("--key", default=None, help="the knob to tune (default: each arm's learning rate)")
    ap.add_argument("--per-task", type=int, default=200, help="validation problems per math task")
    ap.add_argument("--seed", type=int, default=None,
                    help="development seed of the runs (default: the recipe's first study.dev_seeds)")
    ap.add_argument("--fresh", action="store_true", help="retrain runs that already exist")
    args = ap.parse_intermixed_args(sys.argv[1:] if argv is None else argv)  # overrides after options too
    try:
        grid = sorted(float(x) for x in args.grid.split(",") if x.strip())
        arms = [a.strip() for a in args.arms.split(",") if a.strip()]
        unknown = [a for a in arms if a not in ARM_LR_KEY]
        if unknown:
            raise KitError(f"--arms: no learning-rate knob for {unknown}; choose from {sorted(ARM_LR_KEY)}")
        if args.key is not None and (len(arms) != 1 or not args.key.startswith(f"{arms[0]}.")):
            raise KitError(f"--key {args.key}: give one arm with --arms and a knob of its section "
                           f"(e.g. --arms grpo --key grpo.temperature)")
        recipe = load_recipe(args.recipe, args.overrides + ([f"{args.key}={grid[0]}"] if args.key else []))
        seed = dev_seed(recipe.study, args.seed)
        problems = validation_problems(args.per_task)
    except (KitError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = Path(recipe.output_dir) / "toy-lr"
    # the runs below write under `out`; the base stays where the recipe's runs find it (kit.run.Context)
    os.environ.setdefault("KIT_CACHE", str(Path(recipe.output_dir) / ".cache"))
    base_dir = Path(resolve_path(recipe.model, Path(os.environ["KIT_CACHE"])))
    table: dict[str, Any] = {"rule": "best math accuracy on validation problems (decoded as the toy math "
                                     f"benchmarks); ties -> smaller {'lr' if args.key is None else 'value'}",
                             "key": args.key or "learning_rate", "seed": seed,
                             "validation_problems": len(problems), "grid": grid,
                             "base": math_accuracy(base_dir, None, problems), "arms": {}}
    print(f"base: math validation accuracy {table['base']:.3f} on {len(problems)} problems", flush=True)
    for arm in arms:
        scores: dict[float, float] = {}
        key = args.key or ARM_LR_KEY[arm]
        for lr in grid:
            name = f"{arm}-{lr:g}" if args.key is None else f"{arm}-{key.split('.')[-1]}-{lr:g}"
            rc = run_main([args.recipe, *args.overrides, f"seed={seed}", f"arms=[{arm}]", f"{key}={lr}",
                           f"output_dir={out}", f"run_name={name}", "--stages", f"data,train_{arm}"]
                          + (["--fresh"] if args.fresh else []))
            if rc != 0:
                return rc
            scores[lr] = math_accuracy(base_dir, out / name / "arms" / arm / "adapter", problems)
            print(f"{arm} {key}={lr:g}: math validation accuracy {scores[lr]:.3f}", flush=True)
        best = choose(scores)
        table["arms"][arm] = {"scores": {f"{lr:g}": s for lr, s in scores.items()}, "chosen": best}
        print(f"{arm}: chosen {'learning rate' if args.key is None else key} {best:g}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    path = out / ("selection.json" if args.key is None else f"selection-{args.key.split('.')[-1]}.json")
    path.write_text(json.dumps(table, indent=1))
    print(f"table: {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
