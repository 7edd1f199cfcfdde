"""On-policy SFT arm (the paper's §5 ablation): sample from the current model, keep the correct answers
(math-verify, the same check as the GRPO reward), fine-tune on them; one round per batch of problems.

Each finished round leaves `round-<i>/adapter` and `round-<i>/done.json`; a rerun restores the newest
finished round's adapter and continues with the next, and a round interrupted mid-training resumes from
its own checkpoints.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from kit.chat import render_completion
from kit.data.train_sets import read_jsonl
from kit.gen.decode import Decode
from kit.gen.engine import HFEngine, stable_seed
from kit.train.common import save_adapter
from kit.train.rewards import Correctness


def _restore(model, adapter_dir: Path) -> None:
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    set_peft_model_state_dict(model, load_file(str(adapter_dir / "adapter_model.safetensors")))


def sample_correct(model, tok, rows: list[dict[str, Any]], cfg, enable_thinking: bool, seed: int
                   ) -> tuple[list[dict[str, str]], int]:
    """(accepted prompt/completion rows, number of samples drawn) for one round."""
    engine = HFEngine(model, tok, cfg.batch_size)
    decode = Decode(temperature=cfg.temperature, top_p=cfg.top_p, max_new_tokens=cfg.max_completion_length)
    prompts = [r["prompt"] for r in rows for _ in range(cfg.samples_per_problem)]
    answers = [r["answer"] for r in rows for _ in range(cfg.samples_per_problem)]
    gens = engine.generate(prompts, decode, seed)
    outputs = [g.text for g in gens]
    judge = Correctness(enable_thinking, cfg.max_completion_length, set(engine.stop_ids))
    # a completion cut off by the length cap cannot be trusted as a target: the judge scores it 0
    scores = judge(prompts, outputs, completion_ids=[g.token_ids for g in gens], answer=answers)
    accepted = [{"prompt": p, "completion": render_completion(o.strip())}
                for p, o, s in zip(prompts, outputs, scores) if s > 0]
    model.train()
    return accepted, len(outputs)


def run(ctx, out_dir: Path) -> dict[str, Any]:
    from kit.train.sft import train_on

    recipe = ctx.recipe
    cfg = recipe.onpolicy
    model, tok = ctx.trainable_model()
    problems = read_jsonl(ctx.run_dir / "data" / "rl.jsonl")
    rounds = min(cfg.rounds, len(problems))
    per_round = -(-len(problems) // rounds)
    history = []
    for i in range(rounds):
        rdir = out_dir / f"round-{i}"
        done = rdir / "done.json"
        if done.exists():
            history.append(json.loads(done.read_text()))
            if (rdir / "adapter").exists():
                _restore(model, rdir / "adapter")
            continue
        rdir.mkdir(parents=True, exist_ok=True)
        batch = problems[i * per_round:(i + 1) * per_round]
        accepted_path = rdir / "accepted.jsonl"
        if accepted_path.exists():  # sampling finished before an interruption: do not resample
            accepted = read_jsonl(accepted_path)
            drawn = len(batch) * cfg.samples_per_problem
        else:
            accepted, drawn = sample_correct(model, tok, batch, cfg, recipe.chat.enable_thinking,
                                             stable_seed(recipe.seed, "onpolicy", i))
            accepted_path.write_text("".join(json.dumps(r) + "\n" for r in accepted))
        record: dict[str, Any] = {"round": i, "problems": len(batch), "samples": drawn, "accepted": len(accepted)}
        if accepted:
            record.update(train_on(recipe, ctx.hw, model, tok, accepted, rdir, epochs=cfg.epochs_per_round,
                                   arm="onpolicy_sft"))
        else:
            print(f"[onpolicy_sft] round {i}: no correct sample among {drawn}; nothing to train on this round")
        done.write_text(json.dumps(record))
        history.append(record)
    accepted_total = sum(h["accepted"] for h in history)
    summary = {"rounds": rounds, "samples": sum(h["samples"] for h in history), "accepted": accepted_total,
               "acceptance": accepted_total / max(1, sum(h["samples"] for h in history))}
    save_adapter(model, tok, out_dir, recipe, "onpolicy_sft", {**summary, "examples": len(problems)})
    (out_dir / "rounds.json").write_text(json.dumps(history, indent=1))
    return summary
