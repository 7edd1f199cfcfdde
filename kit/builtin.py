"""The registrations bundled with the kit, imported once by `kit.registry.load_plugins()`. This is the one place
that names them: the core layers look plug-ins up by name and never import them."""

from __future__ import annotations

import importlib

MODULES = (
    "kit.train.arms",  # sft, grpo, onpolicy_sft, sft_matched_lr
    "kit.models",  # built model tiny-random-qwen3
    "kit.data.sources",  # data sources hub, fixtures
    "kit.toy.plugin",  # the CPU mini-world: built model toy-qwen3, data source toy, benchmarks toy_<task>
)

for _module in MODULES:
    importlib.import_module(_module)
