"""GRPO health checks: warn, then stop with a clear message, when a run cannot learn.

Three failure modes seen in the anchors' own notebooks: most groups get the same reward for every sample
(no advantage, no gradient), most completions hit the length cap (truncated answers score 0), and the
gradient norm stays at zero. Each is counted over consecutive logged steps.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from transformers import TrainerCallback

from tqdm.auto import tqdm

from kit.dist import is_main
from kit.errors import KitError

CHECKS = {
    "zero_reward_variance": ("frac_reward_zero_std", lambda v, cfg: v >= cfg.zero_std_frac,
                             "most groups have zero reward variance (no learning signal); try more generations, "
                             "easier problems, or a longer grpo.max_completion_length"),
    "length_cap": ("completions/clipped_ratio", lambda v, cfg: v >= cfg.clipped_frac,
                   "most completions hit grpo.max_completion_length; raise it or lower the temperature"),
    "zero_grad": ("grad_norm", lambda v, cfg: v == 0.0,
                  "the gradient norm has been zero; check the LoRA targets and the reward"),
}


class HealthMonitor(TrainerCallback):
    def __init__(self, cfg, log_path: Path):
        self.cfg = cfg
        self.log_path = log_path
        self.streak = {name: 0 for name in CHECKS}
        self.warnings: list[str] = []
        self.stopped: str | None = None

    def on_log(self, args, state, control, logs=None, **kwargs):
        if not logs:
            return
        for message in self.observe(state.global_step, logs):  # every process sees the same gathered logs
            if is_main():
                tqdm.write(f"[health] {message}")  # above the progress bar (kit.train.console), not through it
        if self.stopped and self.cfg.action == "stop":
            control.should_training_stop = True

    def restore(self, log_history: list[dict[str, Any]], upto_step: int) -> None:
        """Resume where a stopped run left off: replay the logged steps up to the checkpoint (its trainer state's
        log_history, the rows on_log saw), so streaks, warnings and a stop verdict survive a resume (a run 15 bad
        steps into a 20-step limit stops after 5 more, not 20). health.jsonl keeps the messages up to the
        checkpoint; later ones are dropped because the resumed run redoes those steps and logs them again."""
        for row in log_history:
            if row.get("step", 0) <= upto_step:
                self.observe(int(row["step"]), row, record=False)
        if is_main() and self.log_path.exists():
            kept = [ln for ln in self.log_path.read_text().splitlines()
                    if ln.strip() and _step_of(ln) <= upto_step]
            self.log_path.write_text("".join(ln + "\n" for ln in kept))

    def observe(self, step: int, logs: dict[str, Any], record: bool = True) -> list[str]:
        """Update the streaks with one logged step; returns new messages (also appended to health.jsonl unless
        `record` is off, as when replaying steps already recorded)."""
        messages = []
        for name, (key, bad, advice) in CHECKS.items():
            if key not in logs:
                continue
            self.streak[name] = self.streak[name] + 1 if bad(float(logs[key]), self.cfg) else 0
            n = self.streak[name]
            if n == self.cfg.warn_after:
                messages.append(f"step {step}: {name} for {n} logged steps: {advice}")
                self.warnings.append(name)
            if n == self.cfg.stop_after and self.stopped is None:
                verdict = "stopping" if self.cfg.action == "stop" else "continuing (grpo.health.action=warn)"
                self.stopped = f"{name} for {n} consecutive logged steps: {advice}"
                messages.append(f"step {step}: {verdict}: {self.stopped}")
        if messages and record and is_main():  # one writer of health.jsonl
            with open(self.log_path, "a") as f:
                for m in messages:
                    f.write(json.dumps({"step": step, "message": m}) + "\n")
        return messages

    def raise_if_stopped(self) -> None:
        if self.stopped and self.cfg.action == "stop":
            raise KitError(f"GRPO stopped by the health check: {self.stopped} (set grpo.health.action=warn to "
                           "train on regardless)")


def _step_of(line: str) -> int:
    """The step of one health.jsonl row; an unreadable row (cut by a kill mid-write) counts as after any step."""
    try:
        return int(json.loads(line)["step"])
    except (ValueError, KeyError, TypeError):
        return 1 << 62
