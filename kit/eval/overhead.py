"""`python -m kit.eval.overhead [--prompts 32] [--new-tokens 32] [--batch 8] [--repeats 3]`

Benchmark: the kit's evaluation of one benchmark (templating, length-sorted batching, answer splitting,
scoring, per-sample JSONL log) against a bare loop of `model.generate` over the same prompts with the same
batch size, in one process on the same tiny model. Prints both medians and the overhead ratio
(kit / raw; the target is <= 1.05). Greedy decoding; a random model never stops early, so both sides
generate exactly `--new-tokens` tokens per prompt.
"""

from __future__ import annotations

import argparse
import platform
import statistics
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    import torch

    from kit import recipe as R
    from kit.recipe.load import find_recipe
    from kit.chat import render_prompt
    from kit.eval import benchmarks
    from kit.eval.benchmarks.base import Decode, Item, load_rows
    from kit.gen.engine import HFEngine
    from kit.eval.stage import evaluate_one
    from kit.models import load_base
    from kit.hardware import detect

    ap = argparse.ArgumentParser(prog="python -m kit.eval.overhead", description=__doc__.splitlines()[0])
    ap.add_argument("--prompts", type=int, default=32)
    ap.add_argument("--new-tokens", type=int, default=32)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)

    work = Path(tempfile.mkdtemp())
    recipe = R.load(find_recipe("smoke"), [f"output_dir={work}", f"eval.max_new_tokens={args.new_tokens}",
                                           f"eval.batch_size={args.batch}", "eval.samples=1"])
    hw = detect()
    model, tok, _ = load_base(recipe, hw, work / ".cache")
    bench = benchmarks.get("math500")
    base_items = bench.items(load_rows(bench, use_fixtures=True))
    items = [Item(id=f"{it.id}-{k}", doc=it.doc) for k in range(-(-args.prompts // len(base_items)))
             for it in base_items][:args.prompts]
    # the kit's eval samples 3 per item at T=0.6 for MATH500; compare like with like: greedy, one sample
    bench.decode = Decode(temperature=0.0, n_samples=1, max_new_tokens=args.new_tokens)
    prompts = [render_prompt(bench.prompt(it), recipe.chat.enable_thinking) for it in items]
    stops = [tok.convert_tokens_to_ids("<|im_end|>"), tok.eos_token_id]

    def raw() -> None:
        with torch.no_grad():
            for i in range(0, len(prompts), args.batch):
                enc = tok(prompts[i:i + args.batch], return_tensors="pt", padding=True, add_special_tokens=False)
                out = model.generate(**enc, max_new_tokens=args.new_tokens, do_sample=False, eos_token_id=stops,
                                     pad_token_id=tok.pad_token_id, temperature=None, top_p=None, top_k=None)
                tok.batch_decode(out[:, enc["input_ids"].shape[1]:], skip_special_tokens=True)

    engine = HFEngine(model, tok, args.batch)

    def kit(k: int) -> None:
        evaluate_one(engine, "base", bench, items, recipe, work / f"log-{k}.jsonl")

    raw()  # warm-up both paths (first-call allocations, math-verify import)
    kit(-1)
    t_raw, t_kit = [], []
    for k in range(args.repeats):  # interleaved, so drift in machine load hits both sides alike
        t0 = time.perf_counter()
        raw()
        t_raw.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        kit(k)
        t_kit.append(time.perf_counter() - t0)
    r, k = statistics.median(t_raw), statistics.median(t_kit)
    print(f"machine: {platform.processor() or platform.machine()}, torch threads {args.threads}, {hw.summary}")
    print(f"{args.prompts} prompts x {args.new_tokens} new tokens, batch {args.batch}, {args.repeats} repeats")
    print(f"raw model.generate : {r:.3f} s (median; runs {', '.join(f'{x:.3f}' for x in t_raw)})")
    print(f"kit evaluation     : {k:.3f} s (median; runs {', '.join(f'{x:.3f}' for x in t_kit)})")
    print(f"overhead ratio     : {k / r:.3f} (target <= 1.05)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
