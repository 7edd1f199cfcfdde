"""`python -m kit.gpucheck [--recipes a,b] [--shapes tiny] [--steps 2] [--set key=value ...] [--out FILE]`

GPU self-check: for each recipe's settings, build a random-weight Qwen3 at the recipe's real shape (no
download), then run a few SFT and GRPO steps and a generation batch through the kit's own code path
(the recipe's backend: unsloth 4-bit on CUDA). Reports peak memory, seconds per step and decode tokens/s
next to the `--dry-run` estimate, and writes the figures to a JSON file for docs/benchmarks.md.

Random weights never emit EOS, so every completion runs to the length cap: the worst case for memory
and time. `--shapes tiny` runs the same path with the tiny model (the CPU twin used by the tests). `--set`
overrides recipe keys for every recipe checked (e.g. `grpo.use_vllm=false` where vLLM is absent, or a shorter
`grpo.max_completion_length` to fit a time limit); the overrides are written beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from kit.errors import KitError
from kit.recipe.load import find_recipe



def build_random(shape_key: str, out: Path, dtype: str) -> Path:
    """Save a random-weight Qwen3 with a real shape and the real tokenizer to `out`."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    from kit.models import load_tokenizer
    from kit.shapes import QWEN3_SHAPES, VOCAB
    from kit.recipe import ModelCfg

    layers, hidden, inter, heads, kv, head_dim, tied = QWEN3_SHAPES[shape_key]
    cfg = Qwen3Config(vocab_size=VOCAB, hidden_size=hidden, intermediate_size=inter, num_hidden_layers=layers,
                      num_attention_heads=heads, num_key_value_heads=kv, head_dim=head_dim,
                      tie_word_embeddings=tied, max_position_embeddings=40960, bos_token_id=151643,
                      eos_token_id=151645, pad_token_id=151643)
    torch.manual_seed(0)
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = Qwen3ForCausalLM(cfg).to({"bfloat16": torch.bfloat16, "float16": torch.float16}.get(dtype, torch.float32))
    model.save_pretrained(out)
    load_tokenizer(ModelCfg()).save_pretrained(out)
    del model
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    return out


def _peak_gb(cuda: bool) -> float:
    """Peak GPU memory allocated since the last reset; on CPU the process's peak resident memory."""
    import torch

    if cuda:
        return round(torch.cuda.max_memory_allocated() / 2**30, 2)
    import resource

    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20, 2)


def _fill(path: Path, n: int) -> None:
    """Cycle a JSONL file's rows up to `n`: the fixtures hold 16 problems, fewer than a real rollout batch, and TRL's
    sampler drops an incomplete generation batch (trl/trainer/grpo_trainer.py RepeatSampler)."""
    rows = [line for line in path.read_text().splitlines() if line.strip()]
    path.write_text("\n".join(rows[i % len(rows)] for i in range(max(n, len(rows)))) + "\n")


def check_recipe(recipe_path: Path, shape: str | None, steps: int, work: Path, extra: list[str],
                 result: dict[str, Any], save: Callable[[], None], skip_sft: bool = False) -> None:
    """Run `steps` SFT steps, one generation batch, then `steps` GRPO steps with the recipe's settings,
    filling `result` and calling `save` after each part: a time limit that kills the slow GRPO rollouts
    still leaves the figures measured before it."""
    import torch

    from kit.compose import load_recipe
    from kit.data.train_sets import build
    from kit.gen.decode import Decode
    from kit.gen.engine import HFEngine
    from kit.hardware import choose_backend, choose_dtype, detect
    from kit.models import attach_adapters, load_base
    from kit.plan import make_plan
    from kit.run import Context
    from kit.registry import ARMS
    from kit.train.common import read_log

    hw = detect()
    overrides = [f"output_dir={work}", "data.source=fixtures", "eval.source=fixtures", f"sft.max_steps={steps}",
                 f"grpo.max_steps={steps}", "grpo.health.action=warn", f"run_name=gpucheck-{recipe_path.stem}",
                 "arms=[sft, grpo]", *extra]
    recipe = load_recipe(recipe_path, overrides)
    dtype = choose_dtype(recipe.model.dtype, hw)
    if choose_backend(recipe.model.backend, hw) == "unsloth":
        import unsloth  # noqa: F401  (before trl/transformers trainers)
    estimate = make_plan(recipe, hw, dtype)
    if shape != "tiny":
        key = shape or recipe.model.id.lower().split("qwen3-")[-1].replace("-base", "")
        path = build_random(key, work / f"random-{key}", dtype)
        recipe.model.id = str(path)
    ctx = Context(recipe, hw, estimate, recipe.run_dir)
    build(recipe, ctx.tokenizer(), 8, recipe.run_dir / "data")
    from kit.train.grpo import rollout_shape

    shape_info = rollout_shape(recipe, hw)
    result["rollout"] = {k: shape_info[k] for k in ("mode", "generation_batch_size", "steps_per_generation",
                                                    "prompts_per_rollout", "generate_chunk", "clip_active")}
    _fill(recipe.run_dir / "data" / "rl.jsonl", shape_info["prompts_per_rollout"] * (steps + 1))
    result.update({"recipe": recipe_path.name, "model": recipe.model.id, "device": hw.summary,
                   "backend": choose_backend(recipe.model.backend, hw), "dtype": dtype,
                   "load_in_4bit": recipe.model.load_in_4bit, "overrides": list(extra), "estimate": {}})
    for st in estimate.stages:  # the plan for these very settings on this card: compared with what is measured
        if st.peak_gb is not None or st.minutes is not None:
            steps_planned = {"train_sft": estimate.sft_steps, "train_grpo": estimate.grpo_steps}.get(st.name)
            result["estimate"][st.name] = {
                "peak_gb": st.peak_gb, "seconds": None if st.minutes is None else round(st.minutes * 60, 1),
                "seconds_per_step": None if st.minutes is None or not steps_planned
                else round(st.minutes * 60 / steps_planned, 2)}
    save()

    def train(arm: str) -> None:
        out = recipe.run_dir / "arms" / arm
        out.mkdir(parents=True, exist_ok=True)
        if hw.cuda:
            torch.cuda.reset_peak_memory_stats()
        t0 = time.time()
        summary = ARMS.get(arm).train(ctx, out)
        secs = time.time() - t0
        log = read_log(out / "train_log.jsonl")
        runtime = next((r["train_runtime"] for r in reversed(log) if "train_runtime" in r), secs)
        result[arm] = {"steps": summary["steps"], "seconds_with_load": round(secs, 2),
                       "seconds_per_step": round(float(runtime) / max(1, summary["steps"]), 2),
                       "step_times": [r["step_time"] for r in log if "step_time" in r],
                       "losses": [r["loss"] for r in log if "loss" in r],
                       "grad_norms": [r["grad_norm"] for r in log if "grad_norm" in r],
                       "peak_gb": _peak_gb(hw.cuda)}
        save()

    if skip_sft:
        train("grpo")
        return
    train("sft")
    model, tok, _ = load_base(recipe, hw, ctx.cache_root)
    model = attach_adapters(model, {"sft": ctx.adapters()["sft"]})
    engine = HFEngine(model, tok, recipe.eval.batch_size)
    engine.select("sft")
    prompts = [f"<|im_start|>user\nCount to {i}.<|im_end|>\n<|im_start|>assistant\n" for i in range(recipe.eval.batch_size)]
    new_tokens = 128
    t0 = time.time()
    engine.generate(prompts, Decode(temperature=0.0, max_new_tokens=new_tokens), seed=0)
    secs = time.time() - t0
    result["generate"] = {"batch": len(prompts), "new_tokens": new_tokens,
                          "tokens_per_s": round(len(prompts) * new_tokens / secs, 1), "engine": "hf"}
    save()
    del engine, model
    train("grpo")


def check_decode(recipe_path: Path, shape: str, batches: list[int], new_tokens: int, work: Path,
                 result: dict[str, Any], save: Callable[[], None]) -> None:
    """Seconds per decode step of the kit's HF engine (the non-vLLM path, through the recipe's backend) at
    several batch sizes: generate `8` and `8 + new_tokens` tokens and divide the difference, so prefill and
    the first-call compilation drop out. These figures calibrate kit/plan/'s non-vLLM decode model."""
    from kit.compose import load_recipe
    from kit.gen.decode import Decode
    from kit.gen.engine import HFEngine
    from kit.hardware import choose_backend, choose_dtype, detect
    from kit.models import load_base
    from kit.shapes import QWEN3_SHAPES

    hw = detect()
    recipe = load_recipe(recipe_path, [f"output_dir={work}", "data.source=fixtures", "eval.source=fixtures"])
    dtype = choose_dtype(recipe.model.dtype, hw)
    if choose_backend(recipe.model.backend, hw) == "unsloth":
        import unsloth  # noqa: F401
    if shape == "tiny":  # the CPU twin: the recipe's own tiny random model
        layers = recipe.model.tiny.num_hidden_layers
    else:
        recipe.model.id = str(build_random(shape, work / f"random-{shape}", dtype))
        layers = QWEN3_SHAPES[shape][0]
    model, tok, backend = load_base(recipe, hw, Path(os.environ.get("KIT_CACHE") or work / ".cache"))
    engine = HFEngine(model, tok, max(batches))
    engine.select("base")
    if hw.cuda:  # the random model was built in 16-bit on the GPU: count only the loaded model and decoding
        import torch

        torch.cuda.reset_peak_memory_stats()
    result.update({"shape": shape, "layers": layers, "backend": backend, "dtype": dtype,
                   "load_in_4bit": recipe.model.load_in_4bit, "new_tokens": new_tokens, "batches": {}})
    save()
    for b in batches:
        prompts = [f"<|im_start|>user\nWrite a story number {i}.<|im_end|>\n<|im_start|>assistant\n" for i in range(b)]
        engine.batch_size = b
        times = {}
        for n in (8, 8 + new_tokens):
            engine.generate(prompts, Decode(temperature=1.0, max_new_tokens=n), seed=0)  # warm-up at this shape
            t0 = time.time()
            engine.generate(prompts, Decode(temperature=1.0, max_new_tokens=n), seed=1)
            times[n] = time.time() - t0
        step = (times[8 + new_tokens] - times[8]) / new_tokens
        result["batches"][str(b)] = {"s_per_decode_step": round(step, 5), "s_per_step_per_layer": round(step / layers, 6),
                                     "tokens_per_s": round(b / step, 1) if step > 0 else None,
                                     "peak_gb": _peak_gb(hw.cuda)}
        save()


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kit.gpucheck", description=__doc__.splitlines()[0])
    ap.add_argument("--recipes", default="qwen3-0.6b,qwen3-4b", help="shipped recipe names (or paths)")
    ap.add_argument("--shapes", default=None, help="override the shape per recipe (e.g. tiny) ")
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="recipe override applied to every recipe checked (repeatable)")
    ap.add_argument("--out", default="gpucheck.json")
    ap.add_argument("--work", default=None, help="keep the work folder (training logs, health) here instead of a "
                                                 "temporary one: what a time limit cuts off is still there")
    ap.add_argument("--skip-sft", action="store_true", help="GRPO only (no SFT steps, no generation batch)")
    ap.add_argument("--decode", default=None, metavar="SHAPES",
                    help="instead of training: decode step time of the HF engine for these shapes (e.g. 0.6b,4b), "
                         "each loaded with its qwen3-<shape> recipe's settings")
    ap.add_argument("--batches", default="1,16,64", help="batch sizes for --decode")
    ap.add_argument("--new-tokens", type=int, default=64, help="decode steps timed per batch for --decode")
    args = ap.parse_args(argv)
    import importlib.util

    import torch

    real_shapes = args.shapes != "tiny" if not args.decode else any(s.strip() != "tiny" for s in args.decode.split(","))
    if not torch.cuda.is_available() and real_shapes:
        print("error: no CUDA GPU here: the self-check measures GPU memory and speed at the recipes' real shapes "
              "(a 0.6B-shaped model on a CPU would train for hours and measure nothing); use --shapes tiny for the "
              "CPU twin of the same code path", file=sys.stderr)
        return 2
    if torch.cuda.is_available() and importlib.util.find_spec("unsloth"):
        import unsloth  # noqa: F401  (before transformers, peft and trl, which the kit's modules import)
    rows: list[dict[str, Any]] = []

    def save() -> None:
        Path(args.out).write_text(json.dumps(rows, indent=1))

    if args.decode:
        return _main_decode(args, rows, save)
    try:
        for name in [n.strip() for n in args.recipes.split(",") if n.strip()]:
            path = find_recipe(name)  # a shipped recipe's name, or a path
            row: dict[str, Any] = {"recipe": name}
            rows.append(row)
            with tempfile.TemporaryDirectory(dir=args.work) as work:
                try:
                    check_recipe(path, args.shapes, args.steps, Path(work), args.overrides, row, save, args.skip_sft)
                except KitError:
                    raise
                except Exception as exc:  # report and go on: one failing shape must not hide the others
                    row["error"] = f"{type(exc).__name__}: {exc}"
            save()
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"{'recipe':<14}{'arm':<6}{'s/step':>8}{'peak GB':>9}{'est. GB':>9}")
    for r in rows:
        for arm in ("sft", "grpo"):
            if arm in r:
                est = r["estimate"].get(f"train_{arm}", {}).get("peak_gb")
                print(f"{r['recipe']:<14}{arm:<6}{r[arm]['seconds_per_step']:>8}{str(r[arm]['peak_gb']):>9}{str(est):>9}")
        if "generate" in r:
            print(f"{r['recipe']:<14}gen   {r['generate']['tokens_per_s']:>8} tok/s (batch {r['generate']['batch']})")
        if "error" in r:
            print(f"{r['recipe']:<14}error: {r['error'][:120]}")
    print(f"full figures: {args.out}")
    return 0 if all("error" not in r for r in rows) else 1


def _main_decode(args: argparse.Namespace, rows: list[dict[str, Any]], save: Callable[[], None]) -> int:
    batches = [int(b) for b in args.batches.split(",") if b.strip()]
    for shape in [s.strip() for s in args.decode.split(",") if s.strip()]:
        row: dict[str, Any] = {"decode": shape}
        rows.append(row)
        with tempfile.TemporaryDirectory() as work:
            try:
                name = "smoke" if shape == "tiny" else f"qwen3-{shape}"
                check_decode(find_recipe(name), shape, batches, args.new_tokens, Path(work), row, save)
            except Exception as exc:  # report and go on
                row["error"] = f"{type(exc).__name__}: {exc}"
        save()
        import gc

        import torch

        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    print(f"{'shape':<7}{'batch':>6}{'s/step':>10}{'s/step/layer':>14}{'tok/s':>10}")
    for r in rows:
        for b, m in r.get("batches", {}).items():
            print(f"{r['decode']:<7}{b:>6}{m['s_per_decode_step']:>10}{m['s_per_step_per_layer']:>14}{str(m['tokens_per_s']):>10}")
        if "error" in r:
            print(f"{r['decode']:<7}error: {r['error'][:120]}")
    print(f"full figures: {args.out}")
    return 0 if all("error" not in r for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
