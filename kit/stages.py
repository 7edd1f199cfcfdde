"""Stages of a run and their bookkeeping: what each depends on, where it writes, when it counts as done.

A stage is done when its manifest (config hash, package versions, seed, timings, summary) has been written,
last and atomically. A rerun with the same recipe skips done stages; a stage that was interrupted has a
`started` marker and no manifest, so it runs again and resumes from what it left (training checkpoints,
per-sample evaluation logs). A recipe whose values for a stage changed is refused instead of mixing results.

Stages are declared beside their code (what they read and write under the run folder, which recipe keys change
them); order, the stages each one reads from, hashes and what --fresh forgets are derived from that (`derive`).
"""

from __future__ import annotations

import dataclasses
import fnmatch
import functools
import hashlib
import importlib.metadata
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from kit.errors import KitError
from kit.recipe import Recipe, diff

PACKAGES = ("torch", "transformers", "trl", "peft", "datasets", "accelerate", "bitsandbytes", "math-verify",
            "unsloth", "vllm")


@dataclass(frozen=True)
class Stage:
    """A stage as declared beside its code (Make/DVC style): what it reads and writes under the run folder,
    which dotted recipe keys change its results, and its entry ("module:function", called as fn(ctx) -> summary
    dict, imported only when the stage runs). `after` (the stages it reads from) is never written by hand:
    `derive` fills it from the reads and writes. A key "resolved.<size>" stands for a size the plan derived from
    the scale (`sizes`, e.g. "resolved.problems"), so a change in how the scale maps to sizes makes it stale.

    `reads` and `writes` are paths relative to the run folder, optionally with globs ("arms/*/adapter"); a read
    depends on every stage whose writes lie under it or above it. A read starting with "/" or "~" is an input
    outside the run folder (no stage writes it)."""

    name: str
    run: str | Callable[[Any], dict[str, Any]]
    keys: tuple[str, ...] = ()
    reads: tuple[str, ...] = ()
    writes: tuple[str, ...] = ()
    after: tuple[str, ...] = dataclasses.field(default=(), init=False)  # derived: stages whose writes it reads
    sizes: dict[str, Any] | None = dataclasses.field(default=None, init=False, hash=False, compare=False)

    @property
    def outputs(self) -> tuple[str, ...]:
        """Paths under the run folder that belong to it (what --fresh deletes)."""
        return self.writes

    def execute(self, ctx: Any) -> dict[str, Any]:
        from kit.registry import resolve

        return resolve(self.run)(ctx) or {}


RESOLVED_KEY = "resolved."
COMMON_KEYS = ("seed", "model", "chat")  # every stage that loads the model depends on these


def _train(arm: str, ctx: Any) -> dict[str, Any]:
    """In this process, or (distributed.processes > 1 and the arm is multiprocess) in workers launched by the
    context (kit.run.Context.train_arm: `accelerate launch -m kit.worker train ...`)."""
    out = ctx.run_dir / "arms" / arm
    out.mkdir(parents=True, exist_ok=True)
    return ctx.train_arm(arm, out)


def train_stage(arm: Any) -> Stage:
    """An arm's train stage, from its registry record (kit.registry.Arm): it reads the training files the arm
    `needs` from the data stage and writes arms/<name>; its results depend on the shared model and LoRA keys
    and the arm's own recipe sections. Not in its keys: `train` (trackers and Hub pushes change where results
    are reported, not the results) and `distributed` (how many processes share the recipe's global batch is the
    machine's layout, like the GPU model: a finished run may be evaluated on another number of GPUs). Numerically a
    split batch equals one process's only where the loss is normalised over the gathered batch (TRL's dapo loss; a
    per-micro-batch mean such as bnpo's shifts with the split). What a resume cannot mix (strategy, backend, ZeRO's
    partitioned optimizer) is guarded by the arm folder's layout record (kit.dist.check_layout)."""
    return Stage(f"train_{arm.name}", functools.partial(_train, arm.name),
                 keys=COMMON_KEYS + ("lora",) + tuple(arm.sections),
                 reads=tuple(f"data/{n}.jsonl" for n in arm.needs), writes=(f"arms/{arm.name}",))


def _outside(path: str) -> bool:
    return path.startswith(("/", "~"))


def _overlaps(read: str, write: str) -> bool:
    """One path lies under (or is) the other, component by component, globs allowed on either side."""
    a, b = read.strip("/").split("/"), write.strip("/").split("/")
    return all(fnmatch.fnmatchcase(x, y) or fnmatch.fnmatchcase(y, x) for x, y in zip(a, b))


def derive(declared: list[Stage], sizes: dict[str, Any] | None = None) -> dict[str, Stage]:
    """The stage table from declarations: each stage's `after` is every other stage whose writes one of its reads
    matches, and the order is a topological sort (declaration order breaks ties). Two stages owning the same
    path, a cycle, or a literal read that no stage writes is a one-line KitError. `sizes` (the plan's
    scale-derived sizes) are what the stages' "resolved.*" keys hash."""
    names = [st.name for st in declared]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise KitError(f"stage(s) {dup} are declared twice")
    for i, st in enumerate(declared):
        for other in declared[i + 1:]:
            clash = [(w, v) for w in st.writes for v in other.writes if _overlaps(w, v)]
            if clash:
                (w, v), = clash[:1]
                raise KitError(f"stages '{st.name}' (writes '{w}') and '{other.name}' (writes '{v}') both write "
                               f"the same path; each path under the run folder belongs to one stage")
    after: dict[str, list[str]] = {}
    for st in declared:
        deps: list[str] = []
        for r in st.reads:
            if _outside(r):
                continue
            writers = [o.name for o in declared if o.name != st.name and any(_overlaps(r, w) for w in o.writes)]
            own = any(_overlaps(r, w) for w in st.writes)
            if not writers and not own and not any(c in r for c in "*?["):
                raise KitError(f"stage '{st.name}' reads '{r}', which no stage of this recipe writes "
                               f"(stages: {', '.join(names)})")
            deps += [w for w in writers if w not in deps]
        after[st.name] = [n for n in names if n in deps]  # declaration order
    order: list[str] = []
    while len(order) < len(names):
        ready = [n for n in names if n not in order and all(d in order for d in after[n])]
        if not ready:
            stuck = [n for n in names if n not in order]
            raise KitError(f"stages {stuck} read from each other in a cycle; a stage may only read what earlier "
                           f"stages write")
        order.append(ready[0])
    by_name = {st.name: st for st in declared}
    table = {}
    for n in order:
        st = dataclasses.replace(by_name[n])
        object.__setattr__(st, "after", tuple(after[n]))
        object.__setattr__(st, "sizes", dict(sizes) if sizes is not None else None)
        table[n] = st
    return table


def _lookup(recipe: Recipe, dotted: str) -> Any:
    node: Any = recipe
    for part in dotted.split("."):
        node = getattr(node, part)
    return dataclasses.asdict(node) if dataclasses.is_dataclass(node) else node


def stage_values(recipe: Recipe, stage: Stage) -> dict[str, Any]:
    """The recipe values a stage's results depend on, the plan's scale-derived sizes its "resolved.*" keys name
    (left out of a table built without a plan), plus the build of a kit-built model ("model.build")."""
    from kit.models import build_fingerprint

    values = {}
    for k in stage.keys:
        if k.startswith(RESOLVED_KEY):
            if stage.sizes is not None:
                values[k] = stage.sizes.get(k[len(RESOLVED_KEY):])
        else:
            values[k] = _lookup(recipe, k)
    build = build_fingerprint(recipe.model)
    if build:
        values["model.build"] = build
    return values


def stage_hash(recipe: Recipe, stage: Stage, all_stages: dict[str, Stage]) -> str:
    """Hash of the stage's own values and, recursively, of the stages it reads from."""
    upstream = {a: stage_hash(recipe, all_stages[a], all_stages) for a in stage.after if a in all_stages}
    payload = json.dumps({"values": stage_values(recipe, stage), "upstream": upstream}, sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def versions() -> dict[str, str]:
    out = {}
    for p in PACKAGES:
        try:
            out[p] = importlib.metadata.version(p)
        except importlib.metadata.PackageNotFoundError:
            continue
    return out


def write_json_atomic(path: Path, data: Any) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, default=str))
    os.replace(tmp, path)


def _recorded(values: dict[str, Any], dotted: str) -> bool:
    """Whether a manifest's values hold this dotted key (stage values mix flat "a.b" keys and nested sections)."""
    if dotted in values:
        return True
    parts = dotted.split(".")
    for i in range(1, len(parts)):
        head = ".".join(parts[:i])
        if isinstance(values.get(head), dict):
            return _recorded(values[head], ".".join(parts[i:]))
    return False


def change_detail(old: Any, new: dict[str, Any]) -> str:
    """Why a stage's recorded settings differ from the recipe's: the changed keys, or, when every difference is a key
    the manifest never recorded, that an older kit version made it (the recipe itself may not have changed)."""
    old = old if isinstance(old, dict) else {}
    changed = diff(old, new)
    if not changed:
        return "an earlier stage it reads from changed"
    unrecorded = [k for k in changed if not _recorded(old, k)]
    dropped = [k for k in changed if k not in unrecorded and not _recorded(new, k)]  # no longer part of the stage
    if len(unrecorded) + len(dropped) == len(changed):
        why = ([f"did not record {', '.join(unrecorded)}"] if unrecorded else []) + \
              ([f"also hashed {', '.join(dropped)}, which this version leaves out"] if dropped else [])
        return "made by an older kit version, which " + " and ".join(why)
    return f"changed: {', '.join(changed)}"


class Ledger:
    """Manifests and started-markers of one run folder."""

    def __init__(self, run_dir: Path):
        self.dir = run_dir / "manifests"

    def _read(self, name: str, suffix: str) -> dict[str, Any] | None:
        """A manifest or started marker, or None; a truncated or garbage one is a one-line error that says
        how to redo the stage (its results cannot be trusted without it)."""
        p = self.dir / f"{name}{suffix}"
        if not p.exists():
            return None
        try:
            record = json.loads(p.read_text())
        except (OSError, UnicodeDecodeError, ValueError) as exc:
            record = exc
        if not isinstance(record, dict) or not isinstance(record.get("config_hash"), str):
            raise KitError(f"'{p}' is unreadable (truncated or not a kit manifest); redo that stage with "
                           f"--fresh --stages {name} (or delete the run folder's results with --fresh)")
        return record

    def manifest(self, name: str) -> dict[str, Any] | None:
        return self._read(name, ".json")

    def started(self, name: str) -> dict[str, Any] | None:
        return self._read(name, ".started.json")

    def check(self, recipe: Recipe, stage: Stage, h: str) -> str:
        """'done' (skip), 'resume', or 'new'; raises when the recipe changed under existing results."""
        for record, what in ((self.manifest(stage.name), "finished"), (self.started(stage.name), "started")):
            if record is None:
                continue
            if record["config_hash"] != h:
                detail = change_detail(record.get("values"), stage_values(recipe, stage))
                raise KitError(f"stage '{stage.name}' was {what} with different settings ({detail}); rerun with "
                               f"--fresh to redo it, or set run_name=<new name> to keep both")
            return "done" if what == "finished" else "resume"
        return "new"

    def mark_started(self, recipe: Recipe, stage: Stage, h: str) -> None:
        write_json_atomic(self.dir / f"{stage.name}.started.json",
                          {"config_hash": h, "values": stage_values(recipe, stage), "at": time.time()})

    def mark_done(self, recipe: Recipe, stage: Stage, h: str, t0: float, summary: dict[str, Any],
                  extra: dict[str, Any]) -> None:
        write_json_atomic(self.dir / f"{stage.name}.json", {
            "stage": stage.name, "config_hash": h, "values": stage_values(recipe, stage), "seed": recipe.seed,
            "versions": versions(), "started_at": t0, "finished_at": time.time(),
            "seconds": round(time.time() - t0, 2), "summary": summary, **extra})
        (self.dir / f"{stage.name}.started.json").unlink(missing_ok=True)

    def forget(self, name: str) -> None:
        for suffix in (".json", ".started.json", ".json.tmp", ".started.json.tmp"):
            (self.dir / f"{name}{suffix}").unlink(missing_ok=True)


def upstream(stages: dict[str, Stage], name: str) -> list[str]:
    """Every stage `name` reads from, directly or through others, in table order."""
    seen: set[str] = set()
    todo = [name]
    while todo:
        for dep in stages[todo.pop()].after:
            if dep in stages and dep not in seen:
                seen.add(dep)
                todo.append(dep)
    return [n for n in stages if n in seen]


def redone_by_fresh(stages: dict[str, Stage], selected: list[str]) -> set[str]:
    """The selected stages and every stage that reads from them: `--fresh` forgets all of these (a stage
    whose inputs are redone is stale, e.g. probe and report after eval)."""
    names = list(stages)
    doomed = set(selected)
    for name in names[min(names.index(s) for s in selected):]:
        if set(stages[name].after) & doomed:
            doomed.add(name)
    return doomed


def preflight(recipe: Recipe, stages: dict[str, Stage], selected: list[str], ledger: Ledger,
              forgotten: set[str], skipped: set[str]) -> dict[str, str]:
    """Every check that can refuse a run, done before the run writes anything: each stage the folder keeps
    results for (not `forgotten` by --fresh, not `skipped`) must have been made with the current recipe, so
    the folder, its recipe.resolved.yaml and its report describe one set of settings; every stage a selected
    one reads from must be done or selected. Returns the selected stages' states ('done', 'resume', 'new')."""
    states: dict[str, str] = {}
    for name, stage in stages.items():
        if name in forgotten or name in skipped:
            continue
        h = stage_hash(recipe, stage, stages)
        if name in selected:
            states[name] = ledger.check(recipe, stage, h)
            continue
        for record, what in ((ledger.manifest(name), "finished"), (ledger.started(name), "started")):
            if record is not None and record["config_hash"] != h:
                detail = change_detail(record.get("values"), stage_values(recipe, stage))
                raise KitError(f"stage '{name}' in '{ledger.dir.parent}' was {what} with different settings "
                               f"({detail}), and this run (--stages {','.join(selected)}) would mix its results "
                               f"with the new ones; redo it with --fresh --stages {name}, or set run_name=<new name>")
    for name in selected:
        states.setdefault(name, "new")
        for dep in upstream(stages, name):
            if dep in selected or dep in skipped:
                continue
            if dep in forgotten or ledger.manifest(dep) is None:
                raise KitError(f"stage '{name}' needs stage '{dep}' to be done first (add it to --stages, or "
                               f"drop --stages)")
    return states
