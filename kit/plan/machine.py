"""The cards a plan is for when the run asks for several (`--gpus N`, distributed.processes > 1).

A dry run plans for N cards even where this machine has fewer: a preset's (`--gpu`), else this machine's card, else
(no GPU here, a model that needs one) the H100 preset, the 80 GB card the big recipes are sized for, with a note
saying so, rather than a plan for N CPU processes. A real run keeps the machine it has: kit.hardware
.check_gpu_settings refuses more processes than GPUs there.
"""

from __future__ import annotations

import dataclasses
import importlib.util
from typing import Callable

from kit.hardware import GPU_PRESETS, GpuPreset, Hardware

DEFAULT_CARD = "h100"  # planned without a GPU and without --gpu: the recipes' intended 80 GB card


def plan_machine(recipe, preset: GpuPreset | None, detect: Callable[[], Hardware],
                 dry_run: bool) -> tuple[Hardware, GpuPreset | None]:
    """(the machine planned for, its preset or None for this machine as it is), with `count` = the processes.
    A preset made here carries its reason in `why`, which kit.run adds to the plan's notes."""
    n = recipe.distributed.processes
    if preset is None:
        hw = detect()
        if not dry_run or n == 1 or (hw.cuda and hw.count >= n):
            return hw, None
        if not hw.cuda:
            from kit.models import BUILT_IDS

            if recipe.model.id in BUILT_IDS:  # a kit-built model trains on the CPU: N gloo processes, as planned
                return hw, None
            base = GPU_PRESETS[DEFAULT_CARD]
            preset = dataclasses.replace(base, why=(
                f"no GPU here: planned for {n} × {DEFAULT_CARD} ({base.hw.name}, {base.hw.vram_gb:.0f} GB each), the "
                "80 GB card the recipe is sized for; plan for another card with --gpu"))
        else:
            preset = GpuPreset(hw, vllm=importlib.util.find_spec("vllm") is not None,
                               why=f"this machine has {hw.count} GPU(s): planned for {n} × its card")
    return dataclasses.replace(preset.hw, count=n), preset
