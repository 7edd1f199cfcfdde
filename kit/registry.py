"""Registries: the one place each kind of plug-in (arm, model provider, data source) is listed, with what every
layer needs to know about it. Imports nothing heavy and nothing of the kit's above the base layer: entries name
their code as "module:function" strings that are imported only when called, so the plan, the report and the
study can iterate arms without importing trl.

Benchmarks have their own registry (`kit.eval.benchmarks`): a benchmark is a class whose metadata (group, paper
size and position) lives on the class. Plug-ins outside the core (the CPU mini-world, `kit/toy`) register
themselves from `load_plugins()`, which imports every module named under the `kit.plugins` entry-point group.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Generic, Iterator, Literal, TypeVar

from kit.errors import KitError

T = TypeVar("T")


class Registry(Generic[T]):
    """Named entries in registration order; an unknown name is a one-line KitError listing the known ones."""

    def __init__(self, kind: str):
        self.kind = kind
        self._entries: dict[str, T] = {}

    def register(self, name: str, entry: T, replace: bool = False) -> T:
        if name in self._entries and not replace:
            raise KitError(f"{self.kind} '{name}' is registered twice")
        self._entries[name] = entry
        return entry

    def unregister(self, name: str) -> None:
        """Tests register dummies and take them out again."""
        self._entries.pop(name, None)

    def get(self, name: str) -> T:
        load_plugins()
        if name not in self._entries:
            raise KitError(f"unknown {self.kind} '{name}'; known: {', '.join(self._entries) or 'none'}")
        return self._entries[name]

    def names(self) -> list[str]:
        load_plugins()
        return list(self._entries)

    def __contains__(self, name: object) -> bool:
        load_plugins()
        return name in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def items(self) -> list[tuple[str, T]]:
        load_plugins()
        return list(self._entries.items())


def resolve(ref: str | Callable[..., Any]) -> Callable[..., Any]:
    """'package.module:function' → the function, imported now (heavy libraries load only when an entry runs);
    a callable is returned as it is (tests and plug-ins may register functions directly)."""
    if callable(ref):
        return ref
    module, _, attr = ref.partition(":")
    return getattr(importlib.import_module(module), attr)


Role = Literal["rl", "sft", "ablation", "control"]


@dataclass(frozen=True)
class Arm:
    """One training arm: everything the run, the plan, the report and the study need to know about it.

    `sections`: dotted recipe keys (besides the shared model/lora/train keys) whose values change its results;
    `trainer`: "module:function" called as trainer(ctx, out_dir) -> summary dict;
    `estimate`: "module:function" giving the plan's StagePlan for the arm (see kit/plan);
    `needs`: training files it reads from the data stage ("sft", "rl");
    `role`: "rl" and "sft" are the two arms the study compares (the paper's on-policy RL and off-policy SFT);
    ablations are reported beside them; controls are drawn dashed and grey.
    """

    name: str
    label: str
    colour: str
    role: Role
    sections: tuple[str, ...]
    trainer: str | Callable[..., Any]
    estimate: str | Callable[..., Any]
    needs: tuple[str, ...] = ("sft",)
    description: str = ""
    check: str | Callable[..., Any] | None = None  # "module:function"(recipe, hw): refuses settings this machine
    # cannot run for the arm, called before anything is loaded (kit.hardware.check_gpu_settings)
    section: str | None = None  # a recipe section of its own (e.g. "dpo"), read with `config` as its schema
    config: type | None = None  # dataclass of that section's knobs (None: the arm reuses other sections)
    multiprocess: bool = True  # its trainer runs under `accelerate launch` when distributed.processes > 1
    # (False: it trains in one process whatever the recipe says, e.g. an arm that samples between rounds)

    def train(self, ctx: Any, out_dir: Any) -> Any:
        return resolve(self.trainer)(ctx, out_dir)

    @property
    def dashed(self) -> bool:
        return self.role == "control"


ARMS: Registry[Arm] = Registry("arm")


def register_arm(arm: Arm, replace: bool = False) -> Arm:
    return ARMS.register(arm.name, arm, replace)


def arm_of_role(role: Role, among: list[str] | tuple[str, ...]) -> str | None:
    """The first arm of `among` (a recipe's arms) with this role, or None."""
    for name in among:
        if name in ARMS and ARMS.get(name).role == role:
            return name
    return None


@dataclass(frozen=True)
class ModelProvider:
    """Models the kit builds itself instead of loading from the Hub (a random-weight tiny Qwen3, the toy base).

    `build`: "module:function" (model_cfg, cache_root) -> local folder with config, weights and tokenizer;
    `fingerprint`: "module:function" (model_cfg) -> str: what the built weights depend on beyond the recipe.
    """

    id: str
    build: str
    fingerprint: str | None = None
    description: str = ""


MODEL_PROVIDERS: Registry[ModelProvider] = Registry("built model")


@dataclass(frozen=True)
class DataSource:
    """Where training problems come from ("hub", "fixtures", a plug-in's generator).

    `problems`: "module:function" (data_cfg) -> list of problems (kit.data.train_sets.Problem), the ones both
    arms train on, in a seeded order;
    `rl_pool`: "module:function" (data_cfg) -> every RL problem of the source (`data.rl_problems=all` tops the RL
    set up from it); None: the source has one problem set and `data.rl_problems=all` is refused;
    `check`: "module:function" (data_cfg) -> None, raising a one-line KitError for settings the source cannot
    serve (checked when the recipe is loaded and again before the data stage builds).
    """

    name: str
    problems: str
    description: str = ""
    rl_pool: str | Callable[..., Any] | None = None
    check: str | Callable[..., Any] | None = None


DATA_SOURCES: Registry[DataSource] = Registry("data source")

_PLUGINS = "unloaded"  # "loading" while the imports run (a plug-in's own lookups then see what is registered so far)


def load_plugins() -> None:
    """Import the kit's built-in registrations and every module under the `kit.plugins` entry-point group once.
    The built-in arms register in kit.train.arms (no trl imported there). A plug-in that fails to import is a
    one-line KitError naming it, and the next lookup tries again (never a silently partial registry)."""
    global _PLUGINS
    if _PLUGINS != "unloaded":
        return
    _PLUGINS = "loading"
    current = "kit.builtin"
    try:
        importlib.import_module("kit.builtin")  # the composition root's list of bundled registrations
        from importlib.metadata import entry_points

        for ep in entry_points(group="kit.plugins"):
            current = f"{ep.value} (entry point '{ep.name}')"
            ep.load()
    except Exception as exc:
        _PLUGINS = "unloaded"
        raise KitError(f"plug-in {current} failed to load: {type(exc).__name__}: {exc}") from exc
    _PLUGINS = "loaded"
