"""The recipe: schema (kit/recipe/schema.py) and loading (kit/recipe/load.py), re-exported so `from kit.recipe import X`
and `from kit import recipe as R; R.load(...)` keep working."""

from kit.recipe.load import (
    ABSTRACT_KEY,
    BASE_KEY,
    EXAMPLE,
    _apply_override,
    _DuplicateKey,
    _UniqueKeyLoader,
    diff,
    dump,
    from_dict,
    load,
    read_recipe,
    read_yaml,
    validate,
)
from kit.recipe.schema import (
    SEED_MAX,
    ChatCfg,
    DataCfg,
    EvalCfg,
    GRPOCfg,
    HealthCfg,
    LoraCfg,
    ModelCfg,
    ModelRef,
    OnPolicyCfg,
    ProbeCfg,
    Recipe,
    ReportCfg,
    SFTCfg,
    TinyCfg,
    TrainCfg,
    knob,
)

__all__ = [
    "ABSTRACT_KEY", "BASE_KEY", "EXAMPLE", "SEED_MAX", "ChatCfg", "DataCfg", "EvalCfg", "GRPOCfg", "HealthCfg",
    "LoraCfg", "ModelCfg", "ModelRef", "OnPolicyCfg", "ProbeCfg", "Recipe", "ReportCfg", "SFTCfg", "TinyCfg",
    "TrainCfg", "_DuplicateKey", "_UniqueKeyLoader", "_apply_override", "diff", "dump", "from_dict", "knob", "load",
    "read_recipe", "read_yaml", "validate",
]
