"""One progress line per training run instead of a metric dict per log step.

transformers prints every logged dict to the terminal (its ProgressCallback writes them under the bar, its
PrinterCallback prints them without one: transformers/trainer_callback.py); a GRPO dict is ~800 characters, and a
toy study printed ~940 of them. The full dicts already go to the arm's train_log.jsonl (kit.train.common.JsonlLog);
the terminal gets a bar with step k/N, the ETA and the few figures a user watches.
"""

from __future__ import annotations

from typing import Any

from tqdm.auto import tqdm
from transformers import PrinterCallback, ProgressCallback, TrainerCallback

SHOWN = {"loss": "loss", "reward": "reward", "rewards/correctness/mean": "correct", "grad_norm": "gnorm",
         "completions/mean_length": "len"}  # logged key -> short name on the bar


class ConsoleProgress(TrainerCallback):
    """A bar per run on the main process: steps k/N with ETA (resumed runs start at their checkpoint's step)."""

    def __init__(self, label: str):
        self.label = label
        self.bar: Any = None

    def on_train_begin(self, args, state, control, **kwargs):
        if state.is_world_process_zero:
            self.bar = tqdm(total=state.max_steps, initial=state.global_step, desc=self.label, unit="step",
                            dynamic_ncols=True)

    def on_step_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.update(state.global_step - self.bar.n)

    def on_log(self, args, state, control, logs=None, **kwargs):
        if self.bar is not None and logs:
            shown = {short: f"{float(logs[k]):.4g}" for k, short in SHOWN.items()
                     if isinstance(logs.get(k), (int, float))}
            if shown:
                self.bar.set_postfix(shown, refresh=False)

    def on_train_end(self, args, state, control, **kwargs):
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def quiet_console(trainer, label: str) -> None:
    """Swap the trainer's dict printers for one ConsoleProgress bar (the dicts stay in train_log.jsonl)."""
    trainer.remove_callback(ProgressCallback)
    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(ConsoleProgress(label))
