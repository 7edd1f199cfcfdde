"""`python -m kit.export FORMAT RUN_OR_RECIPE`: the kit's training sets in the formats other trainers read, so a
study can be trained with the paper's own stack (verl's DAPO recipe, LLaMA-Factory) or with TRL's CLI, and the
checkpoints evaluated beside the base through the recipe's `compare:` (docs/export.md).

Exporters are a registry, as arms and benchmarks are: a name, the `module:function` that writes the files (imported
only when used) and the function that checks them. Adding a format is one module plus one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

from kit.errors import KitError


@dataclass(frozen=True)
class Exporter:
    """One export format: `write(files, out_dir, options) -> summary` and `check(out_dir) -> rows`."""

    name: str
    write: str  # "module:function"
    check: str  # "module:function"
    help: str


EXPORTERS: dict[str, Exporter] = {}


def register(exporter: Exporter) -> Exporter:
    EXPORTERS[exporter.name] = exporter
    return exporter


def get(name: str) -> Exporter:
    """The exporter called `name`; an unknown name is one line listing the known ones."""
    if name not in EXPORTERS:
        raise KitError(f"unknown export format '{name}'; known: {', '.join(sorted(EXPORTERS))}")
    return EXPORTERS[name]


register(Exporter("verl", "kit.export.verl:write", "kit.export.verl:check_dir",
                  "RL set as verl parquet (train.parquet, val.parquet) and run_dapo.sh with the paper's DAPO settings"))
register(Exporter("llamafactory", "kit.export.sft:write_llamafactory", "kit.export.sft:check_llamafactory",
                  "SFT set in LLaMA-Factory's sharegpt layout, its dataset_info.json and a YAML with the paper's values"))
register(Exporter("trl", "kit.export.sft:write_trl", "kit.export.sft:check_trl",
                  "SFT set as conversational prompt/completion JSONL that `trl sft` reads"))
