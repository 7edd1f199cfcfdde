"""Loading a recipe: YAML (with `base:` inheritance), dotted CLI overrides, coercion, validation with one-line errors.

`resolve()` in kit/plan/ turns the scale knob into numbers; the resolved recipe is saved in the run folder (`dump`).
"""

from __future__ import annotations

import copy
import dataclasses
import difflib
import math
import types
import typing
from pathlib import Path
from typing import Any

import yaml

from kit.errors import KitError
from kit.recipe.schema import Recipe


def load(path: str | Path, overrides: list[str] | None = None) -> Recipe:
    """Read a recipe file (and the bases it names), apply `key.sub=value` overrides, validate. Raises KitError with one
    line."""
    p = find_recipe(path)
    raw = read_recipe(p)
    for ov in overrides or []:
        _apply_override(raw, ov)
    return from_dict(raw, origin=str(p))


EXAMPLE = "see recipes/smoke.yaml for an example"
BASE_KEY = "base"  # `base: <file relative to this one>`: this recipe states only what differs from that one
ABSTRACT_KEY = "abstract"  # `abstract: true`: a base meant only for `base:`, refused as a recipe to run
SAVED_NAME = "recipe.resolved.yaml"  # the recipe a run saves in its folder (kit.rundir.RESOLVED)
DERIVED_KEY = "resolved"  # in a run folder's recipe.resolved.yaml: the sizes the plan derived from `scale`, a record
# (the plan derives them again from the recipe), so the saved file loads back as the recipe it records


def find_recipe(ref: str | Path) -> Path:
    """The recipe file `ref` names. A bare name (no "/", no .yaml/.yml) is a recipe the kit ships, so an installed copy
    runs `python -m kit.run smoke` from any folder; anything else is a path, as it always was. An unknown name fails
    in one line listing the shipped names."""
    text = str(ref)
    if "/" in text or "\\" in text or text.endswith((".yaml", ".yml")):
        return Path(ref)
    folder = shipped_recipes()
    names = sorted(f.stem for f in folder.glob("*.yaml"))
    if text not in names:
        raise KitError(f"unknown recipe {text!r}: not a path (no '/' or .yaml) and not a shipped recipe; shipped: "
                       f"{', '.join(names)}")
    return folder / f"{text}.yaml"


def shipped_recipes() -> Path:
    """The folder of the shipped recipes: kit/recipes in an installed wheel (pyproject.toml maps the repository's
    recipes/ there); in a checkout, editable install included, the repository's recipes/ beside the kit package.
    Their `base:` includes are relative to the file, so they resolve inside the same folder either way."""
    kit_dir = Path(__file__).resolve().parents[1]
    for folder in (kit_dir / "recipes", kit_dir.parent / "recipes"):
        if (folder / "smoke.yaml").is_file():
            return folder
    raise KitError(f"the kit's shipped recipes are missing (no {kit_dir / 'recipes'}); reinstall the kit, or give "
                   f"the path of a recipe .yaml file")


def read_recipe(p: Path) -> dict[str, Any]:
    """The recipe file merged over its chain of bases, as one raw mapping; an abstract base is refused here, so
    `python -m kit.run` on a shared base (which would run a study nobody wrote down) fails in one line."""
    raw = read_yaml(p)
    if p.name == SAVED_NAME and isinstance(raw.get(DERIVED_KEY), dict):
        raw = {k: v for k, v in raw.items() if k != DERIVED_KEY}
    if _abstract(p, raw):
        raise KitError(f"{p}: a base recipe ({ABSTRACT_KEY}: true), meant only to be named by `{BASE_KEY}:` in "
                       f"another recipe; run one of those instead")
    return _with_bases(p, raw, ())


def _abstract(p: Path, raw: dict[str, Any]) -> bool:
    value = raw.get(ABSTRACT_KEY, False)
    if not isinstance(value, bool):
        raise KitError(f"{p}: '{ABSTRACT_KEY}' must be true or false, got {value!r}")
    return value


def _with_bases(p: Path, raw: dict[str, Any], chain: tuple[Path, ...]) -> dict[str, Any]:
    """`raw` (read from `p`) deep-merged over its base, recursively. Each file is checked on its own first (unknown
    keys, types, ranges), so an error names the file that holds the mistake, not the recipe that inherits it. A
    recipe with no base is checked once, after the CLI overrides, as before inheritance existed."""
    own = {k: v for k, v in raw.items() if k not in (BASE_KEY, ABSTRACT_KEY)}
    _abstract(p, raw)
    if BASE_KEY in raw or chain:
        _check_file(own, str(p))
    if BASE_KEY not in raw:
        return own
    ref = raw[BASE_KEY]
    if not isinstance(ref, str) or not ref.strip():
        raise KitError(f"{p}: '{BASE_KEY}' must be the path of another recipe file, relative to this one; got {ref!r}")
    base_path = p.parent / ref
    here = p.resolve()
    seen = chain + (here,)
    if base_path.resolve() in seen:
        loop = " -> ".join(str(q) for q in seen + (base_path.resolve(),))
        raise KitError(f"{p}: '{BASE_KEY}: {ref}' makes a cycle ({loop}); a recipe cannot inherit from itself")
    if not base_path.exists():
        raise KitError(f"{p}: base recipe file not found: {base_path} ('{BASE_KEY}' is relative to {p.parent})")
    return _merge(_with_bases(base_path, read_yaml(base_path), seen), own)


def _check_file(raw: dict[str, Any], origin: str) -> None:
    """Keys, types and ranges of one file's own values (missing keys take the schema defaults here)."""
    _check_ranges(_build(Recipe, raw, prefix="", origin=origin), "", origin)


def _merge(base: dict[str, Any], child: dict[str, Any]) -> dict[str, Any]:
    """`child` over `base`: mappings merge key by key, everything else (lists, scalars, null) replaces."""
    out = copy.deepcopy(base)
    for key, value in child.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


def read_yaml(p: Path) -> dict[str, Any]:
    """The recipe file as a non-empty mapping; every way a file can be unusable is one KitError line."""
    if not p.exists():
        raise KitError(f"recipe file not found: {p}")
    if p.is_dir():
        raise KitError(f"{p} is a folder; give the path of a recipe .yaml file ({EXAMPLE})")
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise KitError(f"{p}: not a text file (binary or not UTF-8); give a recipe .yaml file ({EXAMPLE})") from None
    except OSError as exc:
        raise KitError(f"{p}: cannot read it ({exc.strerror or exc}); check the path and its permissions") from None
    if "\x00" in text:
        raise KitError(f"{p}: not a text file (it holds NUL bytes); give a recipe .yaml file ({EXAMPLE})")
    try:
        raw = yaml.load(text, Loader=_UniqueKeyLoader)  # noqa: S506 (a SafeLoader subclass)
    except _DuplicateKey as exc:
        raise KitError(f"{p}: {exc}; keep one of them") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise KitError(f"{p}: not valid YAML{where} ({what}); fix the file ({EXAMPLE})") from None
    if raw is None or raw == {}:
        raise KitError(f"{p}: the recipe is empty; an empty recipe would run a default study. Write the study's "
                       f"keys into it ({EXAMPLE})")
    if not isinstance(raw, dict):
        raise KitError(f"{p}: not a recipe: the file holds a YAML {type(raw).__name__}, where a recipe is a "
                       f"mapping of `key: value` lines ({EXAMPLE})")
    return raw


class _DuplicateKey(yaml.YAMLError):
    pass


class _UniqueKeyLoader(yaml.SafeLoader):
    """SafeLoader that refuses a key given twice in one mapping (PyYAML keeps the last silently), at any depth."""

    def construct_mapping(self, node, deep=False):  # type: ignore[override]
        if isinstance(node, yaml.MappingNode):
            seen: dict[Any, int] = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *anchor` merges are overridden by design
                try:
                    key = self.construct_object(key_node, deep=True)
                    hash(key)
                except (TypeError, yaml.YAMLError):
                    continue  # unhashable keys: SafeLoader's own error below says so
                line = key_node.start_mark.line + 1
                if key in seen:
                    raise _DuplicateKey(f"key '{key}' appears twice in one section (lines {seen[key]} and {line})")
                seen[key] = line
        return super().construct_mapping(node, deep=deep)


def from_dict(raw: dict[str, Any], origin: str = "recipe") -> Recipe:
    recipe = _build(Recipe, raw, prefix="", origin=origin)
    validate(recipe, origin)
    _fill_arm_sections(recipe, origin)
    return recipe


def _apply_override(raw: dict[str, Any], override: str) -> None:
    if "=" not in override:
        raise KitError(f"override '{override}' must look like key.sub=value")
    key, _, text = override.partition("=")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        nxt = node.get(part)
        if nxt is None:
            nxt = node[part] = {}
        if not isinstance(nxt, dict):
            raise KitError(f"override '{key}': '{part}' is not a section")
        node = nxt
    node[parts[-1]] = value


def _fields(cls: type) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def _build(cls: type, raw: Any, prefix: str, origin: str) -> Any:
    if not isinstance(raw, dict):
        raise KitError(f"{origin}: '{prefix.rstrip('.')}' must be a section (a mapping)")
    fields = {k: f for k, f in _fields(cls).items() if k != "arm_sections"}  # filled from arms' own sections
    hints = typing.get_type_hints(cls)
    kwargs: dict[str, Any] = {}
    owned = _arm_section_schemas() if cls is Recipe else {}
    for key, value in raw.items():
        if key in owned and key not in fields:  # a registered arm's own section (Arm.section / Arm.config)
            kwargs.setdefault("arm_sections", {})[key] = _build(owned[key], value, f"{prefix}{key}.", origin)
            continue
        if key == "arm_sections" and cls is Recipe:
            raise KitError(f"{origin}: unknown key 'arm_sections'; an arm's section is written at the top level")
        if key not in fields:
            close = difflib.get_close_matches(str(key), list(fields), n=1, cutoff=0.6)
            hint = f"; did you mean '{prefix}{close[0]}'?" if close else f"; known keys: {', '.join(fields)}"
            raise KitError(f"{origin}: unknown key '{prefix}{key}'{hint}")
        kwargs[key] = _coerce(hints[key], value, f"{prefix}{key}", origin)
    return cls(**kwargs)


def _arm_section_schemas() -> dict[str, type]:
    """Section name → schema dataclass, for every registered arm that owns a section."""
    from kit.registry import ARMS

    return {a.section: a.config for _, a in ARMS.items() if a.section and a.config}


def _fill_arm_sections(recipe: Recipe, origin: str) -> None:
    """Every listed arm that owns a section gets it (its schema's defaults when the file has none); range checks
    apply to it as to the built-in sections."""
    from kit.registry import ARMS

    for name in recipe.arms:
        arm = ARMS.get(name) if name in ARMS else None
        if arm and arm.section and arm.config and arm.section not in recipe.arm_sections:
            recipe.arm_sections[arm.section] = arm.config()
    for key, section in recipe.arm_sections.items():
        _check_ranges(section, key + ".", origin)


def _coerce(tp: Any, value: Any, key: str, origin: str) -> Any:
    origin_tp = typing.get_origin(tp)
    args = typing.get_args(tp)
    if origin_tp in (typing.Union, types.UnionType):
        if value is None and type(None) in args:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(inner, value, key, origin)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, key + ".", origin)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise KitError(f"{origin}: '{key}' must be true or false, got {value!r}")
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise KitError(f"{origin}: '{key}' must be an integer, got {value!r}")
    if tp is float:
        number: float | None = None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            number = float(value)
        elif isinstance(value, str):
            try:
                number = float(value)  # YAML 1.1 reads 5e-5 as a string
            except ValueError:
                pass
        if number is None:
            raise KitError(f"{origin}: '{key}' must be a number, got {value!r}")
        if not math.isfinite(number):  # NaN slips through every range check (nan < lo is False)
            raise KitError(f"{origin}: '{key}' is {value!r}; it must be a finite number")
        return number
    if tp is str:
        if isinstance(value, str):
            return value
        raise KitError(f"{origin}: '{key}' must be a string, got {value!r}")
    if origin_tp is list:
        if not isinstance(value, list):
            raise KitError(f"{origin}: '{key}' must be a list, got {value!r}")
        return [_coerce(args[0], v, f"{key}[{i}]", origin) for i, v in enumerate(value)]
    if origin_tp is dict:
        if not isinstance(value, dict):
            raise KitError(f"{origin}: '{key}' must be a mapping, got {value!r}")
        return {str(k): _coerce(args[1], v, f"{key}.{k}", origin) for k, v in value.items()}
    return value


def validate(recipe: Recipe, origin: str = "recipe") -> None:
    """Ranges, choices and cross-field rules; arm names against kit.registry.ARMS. The names that need the layers
    above the recipe (benchmarks, paper rows, data sources) are checked by kit.compose.load_recipe."""
    _check_ranges(recipe, "", origin)
    from kit.registry import ARMS

    for arm in recipe.arms:
        if arm not in ARMS:
            close = difflib.get_close_matches(arm, list(ARMS), n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known arms: {', '.join(ARMS)}"
            raise KitError(f"{origin}: unknown arm '{arm}' in 'arms'{hint}")
    if len(set(recipe.arms)) != len(recipe.arms):
        raise KitError(f"{origin}: 'arms' lists an arm twice")
    shared = sorted(set(recipe.study.seeds) & set(recipe.study.dev_seeds))
    if shared:  # checked on the merged recipe: a `base:` chain may set the two lists in different files
        raise KitError(f"{origin}: 'study.dev_seeds' shares seed(s) {shared} with 'study.seeds': a seed used for "
                       f"tuning cannot confirm; pick dev seeds outside {recipe.study.seeds}")
    clash = set(recipe.compare) & (set(recipe.arms) | {"base"})
    if clash:
        raise KitError(f"{origin}: 'compare' reuses the name(s) {sorted(clash)}; pick other names")
    for name, ref in recipe.compare.items():
        if not ref.id:
            raise KitError(f"{origin}: 'compare.{name}.id' is empty; give a Hub id or a local folder")
    if not recipe.arms and not recipe.compare:
        raise KitError(f"{origin}: nothing to compare with the base: list 'arms' to train or 'compare' models to audit")
    if not recipe.eval.benchmarks:
        raise KitError(f"{origin}: 'eval.benchmarks' is empty; list at least one benchmark to evaluate on "
                       f"(e.g. [math500, gpqa_diamond, ifeval])")
    g = recipe.grpo
    if g.epsilon_high < g.epsilon:
        raise KitError(f"{origin}: 'grpo.epsilon_high' ({g.epsilon_high}) must be >= 'grpo.epsilon' ({g.epsilon})")
    _check_distributed(recipe, origin)
    unknown_rewards = set(g.reward_weights) - {"correctness", "format"}
    if unknown_rewards:
        raise KitError(f"{origin}: 'grpo.reward_weights' has unknown reward(s) {sorted(unknown_rewards)}; "
                       "known: correctness, format")


def _check_distributed(recipe: Recipe, origin: str) -> None:
    d = recipe.distributed
    if d.rollout_gpus and d.rollout_gpus >= d.processes:
        raise KitError(f"{origin}: 'distributed.rollout_gpus' ({d.rollout_gpus}) leaves no process to train out of "
                       f"'distributed.processes' ({d.processes}); give the trainer at least one")
    if d.rollout_gpus % d.rollout_tensor_parallel:
        raise KitError(f"{origin}: 'distributed.rollout_gpus' ({d.rollout_gpus}) is not a multiple of "
                       f"'distributed.rollout_tensor_parallel' ({d.rollout_tensor_parallel})")
    if d.rollout_gpus and not recipe.grpo.use_vllm:
        raise KitError(f"{origin}: 'distributed.rollout_gpus' serves GRPO rollouts with vLLM (trl vllm-serve); "
                       "set grpo.use_vllm=true or distributed.rollout_gpus=0")
    if d.processes > 1 and recipe.model.backend == "unsloth":
        raise KitError(f"{origin}: several processes ('distributed.processes'={d.processes}) train with "
                       "transformers+peft under accelerate; set model.backend=auto or hf")


def _check_ranges(obj: Any, prefix: str, origin: str) -> None:
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        key = prefix + f.name
        if dataclasses.is_dataclass(value):
            _check_ranges(value, key + ".", origin)
            continue
        meta = f.metadata
        if value is None:
            continue
        if meta.get("choices") is not None and value not in meta["choices"]:
            close = difflib.get_close_matches(str(value), [str(c) for c in meta["choices"]], n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise KitError(f"{origin}: '{key}' is {value!r}; choose one of {', '.join(map(str, meta['choices']))}{hint}")
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if isinstance(value, float) and not math.isfinite(value):
                raise KitError(f"{origin}: '{key}' is {value}; it must be a finite number")
            lo, hi = meta.get("lo"), meta.get("hi")
            if lo is not None and value < lo:
                raise KitError(f"{origin}: '{key}' is {value}; it must be >= {lo}")
            if hi is not None and value > hi:
                raise KitError(f"{origin}: '{key}' is {value}; it must be <= {hi}")


def dump(recipe: Recipe, path: Path) -> None:
    path.write_text(yaml.safe_dump(recipe.to_dict(), sort_keys=False))


def diff(old: dict[str, Any], new: dict[str, Any], prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two recipe dicts."""
    out: list[str] = []
    for k in sorted(set(old) | set(new)):
        a, b = old.get(k), new.get(k)
        if isinstance(a, dict) and isinstance(b, dict):
            out += diff(a, b, f"{prefix}{k}.")
        elif a != b:
            out.append(f"{prefix}{k}")
    return out
