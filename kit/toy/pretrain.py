"""Pretraining the toy base: a tiny Qwen3 trained from scratch on CPU on the toy world.

The corpus is a mixture of all three task groups, each problem rendered in the kit's chat format with the
base's own short answer style (`render_prompt(question, enable_thinking=False) + base_style + <|im_end|>`),
plus plain-text fact paragraphs stating every fact of the recall table (a recall question held out of
pretraining can only be answered from them or from the same fact asked in another phrasing). Only the
"pretrain" part of each task is used, so the eval and train splits are never seen verbatim.

The math documents are answered in two ways (`math_direct` of them with the box alone, the rest worked out:
the story read back with each step's equation), so the base has both habits. Greedy and low-temperature
decoding mostly take the direct path (its first token is always "The", while worked answers begin with the
story's first word, which varies), so the base guesses most of the time until fine-tuning makes it work
problems out.

Builds (2 CPU threads, AMD EPYC dev machine):
- DEFAULT (world 10, 2026-12-01, other jobs running): 2 layers, hidden 192, 0.87M parameters, 2400 steps x 64
  sequences, 583 s. Greedy accuracy on held-out problems: math 47.5 % (math_items 22 %, math_shop 73 %), other
  reasoning 64.4 %, non-reasoning 83.3 %; math sampled at T 0.6 (as evaluated): 51.8 % on 200 validation
  problems. This build is shipped (kit/toy/shipped/): `ensure_base` unpacks it instead of building.
- QUICK (tests, CI): the same model, 1800 steps x 16 sequences, about 2 min; weaker, still in the base's
  formats and above chance on math (tests/test_toy_pretrain.py).
A shallow, wide model learned copying (which math, repeat and compare need) sooner per CPU-second than the
4-layer ones tried; copying emerges late and suddenly, so the step count, not the batch size, is what the
quick build cannot cut.

The loss is on every token (prompt included), as in language-model pretraining: the fact paragraphs need it
(they have no prompt/response split), a base that models the user turn too is closer to what a real base
checkpoint is, and the questions repeat names, items and numbers, which is extra copying signal: in a small
ablation (800 steps) copying emerged about twice as fast as with loss on the answers only (`loss_on`).
SFT/GRPO later train on responses only.

The result is cached under `cache_dir/toy-qwen3-<quick|full>-<hash of the build settings>` and written
atomically (tmp folder, then `os.replace`); `ensure_base` reuses it when present.

CLI: `python -m kit.toy.pretrain [--quick] [--out DIR] [--threads N]` (DIR defaults to `$KIT_CACHE/toy` or
`outputs/.cache/toy`, the folder `kit.models` passes to `ensure_base`).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import math
import os
import random
import shutil
import sys
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Callable, Iterator

from kit.chat import IM_END, render_prompt, split_thinking
from kit.toy.tokenizer import DEFAULT_MERGES, PAD, TOKENIZER_VERSION, build_tokenizer
from kit.toy.world import (GROUPS, TASKS, WORLD_VERSION, base_style, direct_answer, fact_document, make_split, sample,
                           tasks_in)

PRETRAIN_VERSION = "toy-pretrain-2"
BUILD_INFO = "toy_build.json"


@dataclass(frozen=True)
class BuildCfg:
    """Everything that determines the built base (the cache key is a hash of it)."""

    hidden_size: int = 192
    intermediate_size: int = 512
    num_hidden_layers: int = 2
    num_attention_heads: int = 4
    num_key_value_heads: int = 2
    head_dim: int = 32
    max_position_embeddings: int = 1024
    n_merges: int = DEFAULT_MERGES
    steps: int = 2400
    batch_size: int = 64
    lr: float = 4e-3
    min_lr_ratio: float = 0.1
    warmup_steps: int = 100
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    loss_on: str = "all"  # "all": every token; "response": answers of chat examples + all of fact paragraphs
    # sampling weights of the pretraining mixture: the three task groups and plain-text fact paragraphs
    mix_math: float = 0.35
    mix_other: float = 0.30
    mix_non: float = 0.23
    mix_facts: float = 0.12
    # share of pretraining math problems answered with the box alone (world.direct_answer), the rest with
    # the equations first: the base then sometimes works problems out and sometimes guesses
    math_direct: float = 0.5
    seed: int = 0
    # evaluation printed/saved at the end (held-out "eval" part)
    eval_per_task: int = 60
    eval_seed: int = 0


DEFAULT = BuildCfg()
QUICK = replace(DEFAULT, steps=1800, batch_size=16, eval_per_task=50)


def cfg_key(cfg: BuildCfg) -> str:
    blob = json.dumps({"cfg": asdict(cfg), "world": WORLD_VERSION, "tok": TOKENIZER_VERSION,
                       "pretrain": PRETRAIN_VERSION}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def base_dir(cache_dir: Path, quick: bool = False, cfg: BuildCfg | None = None) -> Path:
    cfg = cfg or (QUICK if quick else DEFAULT)
    return Path(cache_dir) / f"toy-qwen3-{'quick' if quick else 'full'}-{cfg_key(cfg)}"


def _complete(path: Path) -> bool:
    return all((path / f).exists() for f in ("config.json", "model.safetensors", "tokenizer.json", BUILD_INFO))


def ensure_base(cache_dir: Path, quick: bool = False, cfg: BuildCfg | None = None,
                log: Callable[[str], None] | None = None) -> Path:
    """The folder of the toy base (model + tokenizer, `save_pretrained` format), built once and reused."""
    from kit.toy.shipped import unpack

    cfg = cfg or (QUICK if quick else DEFAULT)
    out = base_dir(cache_dir, quick, cfg)
    if _complete(out):
        return out
    if unpack(out.name, out):  # the kit ships this very build: the same weights on every machine
        if log:
            log(f"toy base: unpacked the shipped build {out.name}")
        return out
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f"{out.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    build_base(tmp, cfg, log=log)
    try:
        os.replace(tmp, out)  # atomic: a half-written base is never picked up
    except OSError:
        if not _complete(out):  # another process finished first: keep theirs
            raise
        shutil.rmtree(tmp, ignore_errors=True)
    return out


# -----------------------------------------------------------------------------------------------------
# data

def _doc_stream(cfg: BuildCfg) -> Iterator[tuple[str, str]]:
    rng = random.Random(f"pretrain-data:{cfg.seed}")
    groups = {g: tasks_in(g) for g in GROUPS}
    kinds = ["math", "other", "non", "facts"]
    weights = [cfg.mix_math, cfg.mix_other, cfg.mix_non, cfg.mix_facts]
    while True:
        kind = rng.choices(kinds, weights)[0]
        if kind == "facts":
            yield "", fact_document(rng) + PAD
            continue
        p = sample(rng.choice(groups[kind]), rng, "pretrain")
        direct = kind == "math" and rng.random() < cfg.math_direct
        yield render_prompt(p.question, enable_thinking=False), (direct_answer(p) if direct else base_style(p)) + IM_END


def pretrain_texts(cfg: BuildCfg, n: int) -> list[tuple[str, str]]:
    """The first `n` pretraining documents, in their fixed (seeded) order, each as (prompt, rest):
    chat-rendered problems (prompt = the rendered user turn and generation prompt, rest = the base-style
    answer and `<|im_end|>`) and plain-text fact paragraphs (prompt = "")."""
    return list(itertools.islice(_doc_stream(cfg), n))


def _batches(cfg: BuildCfg, tok) -> Iterator[list[tuple[list[int], int]]]:
    """(token ids, number of leading tokens without loss) batches for every step, made lazily (memory stays
    small). Within windows of 16 batches the sequences are sorted by length (less padding) and the batches'
    order is then shuffled; all seeded."""
    docs = _doc_stream(cfg)
    rng = random.Random(f"pretrain-batches:{cfg.seed}")
    total = cfg.steps * cfg.batch_size
    window = 16 * cfg.batch_size
    for start in range(0, total, window):
        chunk_docs = list(itertools.islice(docs, min(window, total - start)))
        full = tok([a + b for a, b in chunk_docs], add_special_tokens=False)["input_ids"]
        if cfg.loss_on == "all":
            skip = [0] * len(chunk_docs)
        else:
            skip = [len(x) for x in tok([a for a, _ in chunk_docs], add_special_tokens=False)["input_ids"]]
        chunk = sorted(zip(full, skip), key=lambda s: len(s[0]))
        group = [chunk[i:i + cfg.batch_size] for i in range(0, len(chunk), cfg.batch_size)]
        rng.shuffle(group)
        yield from group


def _collate(batch: list[tuple[list[int], int]], pad_id: int):
    import torch

    width = max(len(s) for s, _ in batch)
    input_ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    labels = torch.full((len(batch), width), -100, dtype=torch.long)
    for i, (s, skip) in enumerate(batch):
        input_ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
        labels[i, skip:len(s)] = input_ids[i, skip:len(s)]
    return input_ids, mask, labels


# -----------------------------------------------------------------------------------------------------
# model and training

def make_model(cfg: BuildCfg, tok):
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    config = Qwen3Config(
        vocab_size=len(tok), hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
        num_hidden_layers=cfg.num_hidden_layers, num_attention_heads=cfg.num_attention_heads,
        num_key_value_heads=cfg.num_key_value_heads, head_dim=cfg.head_dim,
        max_position_embeddings=cfg.max_position_embeddings, tie_word_embeddings=True,
        bos_token_id=None, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(cfg.seed)
    model = Qwen3ForCausalLM(config)
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.generation_config.bos_token_id = None
    return model


def _lr_at(step: int, cfg: BuildCfg) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    progress = (step - cfg.warmup_steps) / max(1, cfg.steps - cfg.warmup_steps)
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))


def train(model, tok, cfg: BuildCfg, log: Callable[[str], None] | None = None,
          on_step: Callable[[int, Any], None] | None = None) -> list[float]:
    """AdamW with linear warmup and cosine decay, one padded batch per step; returns the loss per step.
    `on_step(step, model)` runs after each optimizer step (e.g. periodic evaluation while developing)."""
    import torch

    batches = _batches(cfg, tok)
    n_steps = cfg.steps
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    no_decay = [p for n, p in model.named_parameters() if p.dim() < 2]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": cfg.weight_decay},
                             {"params": no_decay, "weight_decay": 0.0}], lr=cfg.lr, betas=(0.9, 0.95))
    torch.manual_seed(cfg.seed)
    model.train()
    losses: list[float] = []
    t0 = time.time()
    for step, batch in enumerate(batches):
        for group in opt.param_groups:
            group["lr"] = _lr_at(step, cfg)
        input_ids, mask, labels = _collate(batch, tok.pad_token_id)
        loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        losses.append(loss.item())
        if on_step is not None:
            on_step(step + 1, model)
            model.train()
        if log and (step % 100 == 0 or step == n_steps - 1):
            recent = losses[-100:]
            log(f"step {step + 1}/{n_steps} loss {sum(recent) / len(recent):.3f} "
                f"lr {_lr_at(step, cfg):.2e} {time.time() - t0:.0f}s")
    model.eval()
    return losses


# -----------------------------------------------------------------------------------------------------
# evaluation

def generate_batch(model, tok, questions: list[str], max_new_tokens: int, n: int = 1, **decode: Any) -> list[str]:
    """One generate call for bare questions in the chat format: `n` completions per question (decoded,
    special tokens dropped), question by question; `decode` goes to `model.generate` (do_sample, ...)."""
    import torch

    enc = tok([render_prompt(q, enable_thinking=False) for q in questions], return_tensors="pt", padding=True,
              add_special_tokens=False)
    with torch.no_grad():
        gen = model.generate(**enc, max_new_tokens=max_new_tokens, num_return_sequences=n, pad_token_id=tok.pad_token_id,
                             eos_token_id=[tok.convert_tokens_to_ids(IM_END), tok.pad_token_id], **decode)
    width = enc["input_ids"].shape[1]
    return [tok.decode(row[width:], skip_special_tokens=True) for row in gen]


def greedy_answers(model, tok, questions: list[str], max_new_tokens: int = 64, batch_size: int = 64) -> list[str]:
    """Greedy completions for bare questions, batched by length."""
    order = sorted(range(len(questions)), key=lambda i: len(questions[i]))
    out = [""] * len(questions)
    model.eval()
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        for i, text in zip(idx, generate_batch(model, tok, [questions[i] for i in idx], max_new_tokens, do_sample=False)):
            out[i] = text
    return out


def evaluate_base(model, tok, per_task: int = 60, seed: int = 0, max_new_tokens: int = 64) -> dict[str, Any]:
    """Greedy accuracy on each task's held-out eval split: {"tasks": {task: acc}, "groups": {group: mean},
    "majority": {task: accuracy of always giving the most common gold answer}}."""
    from collections import Counter

    tasks: dict[str, float] = {}
    majority: dict[str, float] = {}
    for name, task in TASKS.items():
        problems = make_split(name, per_task, seed, "eval")
        outputs = greedy_answers(model, tok, [p.question for p in problems], max_new_tokens)
        ok = [task.verify(split_thinking(o, enable_thinking=False).answer, p) for o, p in zip(outputs, problems)]
        tasks[name] = sum(ok) / len(ok)
        majority[name] = Counter(p.answer for p in problems).most_common(1)[0][1] / len(problems)
    groups = {g: sum(tasks[t] for t in tasks_in(g)) / len(tasks_in(g)) for g in GROUPS}
    return {"tasks": tasks, "groups": groups, "majority": majority}


# -----------------------------------------------------------------------------------------------------
# build

def build_base(out: Path, cfg: BuildCfg, log: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Build the tokenizer, pretrain the model, evaluate it and save everything into `out`."""
    import torch

    from kit.report.readable import cpu_model

    t0 = time.time()
    tok = build_tokenizer(cfg.n_merges, cfg.seed)
    model = make_model(cfg, tok)
    n_params = sum(p.numel() for p in model.parameters())
    if log:
        log(f"toy base: {n_params / 1e6:.2f}M parameters, vocab {len(tok)}, {cfg.steps} steps x {cfg.batch_size}, "
            f"{torch.get_num_threads()} threads")
    losses = train(model, tok, cfg, log)
    t_train = time.time() - t0
    scores = evaluate_base(model, tok, cfg.eval_per_task, cfg.eval_seed)
    info = {"cfg": asdict(cfg), "key": cfg_key(cfg), "world": WORLD_VERSION, "tokenizer": TOKENIZER_VERSION,
            "pretrain": PRETRAIN_VERSION, "params": n_params, "vocab": len(tok), "threads": torch.get_num_threads(),
            "cpu": cpu_model(),
            "final_loss": sum(losses[-50:]) / len(losses[-50:]), "train_s": round(t_train, 1),
            "total_s": round(time.time() - t0, 1), **scores}
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    (out / BUILD_INFO).write_text(json.dumps(info, indent=2))
    return info


def load_base(path: Path):
    """(model, tokenizer) from a built toy base folder."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(path))
    model = AutoModelForCausalLM.from_pretrained(str(path))
    model.eval()
    return model, tok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kit.toy.pretrain", description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="the weaker base built in about 2 minutes (tests, CI)")
    ap.add_argument("--out", type=Path, default=None,
                    help="cache folder (default: $KIT_CACHE/toy or outputs/.cache/toy, where the kit looks)")
    ap.add_argument("--threads", type=int, default=None, help="torch threads (default: torch's choice)")
    ap.add_argument("--rebuild", action="store_true",
                    help="build from scratch into --out even if the kit ships this base (to compare builds)")
    ap.add_argument("--ship", action="store_true",
                    help="after building, copy the base into kit/toy/shipped/ (maintainers, after a world change)")
    args = ap.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)
    cache = args.out or Path(os.environ.get("KIT_CACHE") or "outputs/.cache") / "toy"
    t0 = time.time()
    log = lambda m: print(m, file=sys.stderr, flush=True)  # noqa: E731
    if args.rebuild:
        path = base_dir(cache, args.quick)
        if _complete(path):
            print(f"error: {path} exists; --rebuild builds into a new --out folder", file=sys.stderr)
            return 2
        build_base(path, QUICK if args.quick else DEFAULT, log=log)
    else:
        path = ensure_base(cache, args.quick, log=log)
    if args.ship:
        from kit.toy.shipped import ship

        print(f"shipped: {ship(path)}")
    info = json.loads((path / BUILD_INFO).read_text())
    print(f"toy base: {path}")
    print(f"built in {info['total_s']:.0f}s (training {info['train_s']:.0f}s, {info['threads']} threads); "
          f"this call took {time.time() - t0:.0f}s")
    print("greedy accuracy on held-out eval problems (majority-answer baseline in brackets):")
    for g in GROUPS:
        print(f"  {g:5s} {100 * info['groups'][g]:5.1f}%  " + "  ".join(
            f"{t} {100 * info['tasks'][t]:.0f}% [{100 * info['majority'][t]:.0f}%]" for t in tasks_in(g)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
