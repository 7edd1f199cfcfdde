"""`python -m kit.run RECIPE [key.sub=value ...] [--stages a,b] [--dry-run] [--fresh] [--gpus N]`

Runs the study as stages (data → train each arm → eval → probe → report) into outputs/<run>/, skipping
stages that are already done with the same settings and resuming the one that was interrupted. With `--gpus N`
the train stages run in N processes under `accelerate launch` and evaluation is sharded (kit.dist); this
process stays the one runner.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kit.errors import KitError


def declarations(recipe) -> list[Any]:
    """The stage declarations of a recipe, each kept beside its code: data (when an arm needs training files),
    one train stage per arm (from its registry record), eval, probe, report."""
    from kit.data import STAGE as DATA
    from kit.eval import STAGE as EVAL
    from kit.probe import STAGE as PROBE
    from kit.registry import ARMS
    from kit.report import STAGE as REPORT
    from kit.stages import train_stage

    arms = [ARMS.get(a) for a in recipe.arms]
    data = [DATA] if any(a.needs for a in arms) else []  # an audit (compare only) trains nothing
    return [*data, *(train_stage(a) for a in arms), EVAL, PROBE, REPORT]


def build_stages(recipe, sizes: dict[str, Any] | None = None) -> dict[str, Any]:
    """The ordered stage table for a recipe, derived from what each stage reads and writes (kit.stages.derive);
    `sizes` (resolved_sizes of the plan) are what the stages' "resolved.*" keys hash."""
    from kit.stages import derive

    return derive(declarations(recipe), sizes)


def resolved_sizes(plan) -> dict[str, Any]:
    """The sizes the plan derived from the scale: saved under `resolved:` in recipe.resolved.yaml and hashed
    into the data and eval stages."""
    return {"problems": plan.problems, "rl_problems": plan.rl_problems, "eval_items": dict(plan.eval_items)}


class Context:
    """What a stage gets: the recipe, the run folder, the machine, the plan, and model loaders."""

    def __init__(self, recipe, hw, plan, run_dir: Path, worker: bool = False):
        self.recipe = recipe
        self.worker = worker  # one of a multi-process stage's processes (kit.worker), not the runner
        self.hw = hw
        self.plan = plan
        self.run_dir = run_dir
        from kit.models import cache_root

        self.cache_root = cache_root(recipe)  # built models (the tiny Qwen3, the toy base), shared by runs
        self._tok = None

    @property
    def eval_engine_name(self) -> str:
        from kit.gen.vllm import choose_eval_engine

        return choose_eval_engine(self.recipe, self.hw)

    def tokenizer(self):
        if self._tok is None:
            from kit.models import recipe_tokenizer

            self._tok = recipe_tokenizer(self.recipe, self.cache_root)
        return self._tok

    def trainable_model(self):
        from kit.models import add_lora, load_base

        model, tok, backend = load_base(self.recipe, self.hw, self.cache_root, for_training=True)
        return add_lora(model, self.recipe, backend), tok

    def train_arm(self, arm: str, out: Path) -> dict[str, Any]:
        """Train one arm here, or in the trainer processes `accelerate launch` starts (kit.launch)."""
        from kit.launch import train_arm

        return train_arm(self, arm, out)

    def adapters(self) -> dict[str, Path]:
        return {arm: self.run_dir / "arms" / arm / "adapter" for arm in self.recipe.arms}

    def reference_model(self, name: str):
        from kit.models import load_reference

        return load_reference(self.recipe, self.recipe.compare[name], self.hw)

    def eval_model(self, vllm_engine: bool = True):
        """One base model with every arm's adapter attached (switched per arm); for the vLLM engine the base is
        loaded with unsloth's engine, its LoRA slots sized for the largest adapter rank. The probe, which only
        runs forward passes, asks for no engine (`vllm_engine=False`): it would hold its GPU memory share idle."""
        from kit.gen.vllm import adapter_rank
        from kit.models import attach_adapters, load_base, vllm_spec

        missing = [a for a, p in self.adapters().items() if not (p / "adapter_config.json").exists()]
        if missing:
            raise KitError(f"no trained adapter for arm(s) {missing}; run their train stages first")
        vllm = None
        if vllm_engine and self.eval_engine_name == "vllm":
            vllm = vllm_spec(self.recipe, tuple(adapter_rank(p) for p in self.adapters().values()))
        model, tok, _ = load_base(self.recipe, self.hw, self.cache_root, vllm=vllm)
        return attach_adapters(model, self.adapters()), tok


def _summary_line(summary: dict[str, Any]) -> str:
    parts = []
    for k, v in summary.items():
        if isinstance(v, float):
            parts.append(f"{k}={v:.4g}")
        elif isinstance(v, (int, str)) or v is None:
            parts.append(f"{k}={v}")
        elif isinstance(v, (list, dict)) and len(str(v)) < 80:
            parts.append(f"{k}={v}")
    return ", ".join(parts)


DOES_NOT_FIT = 3  # --dry-run exit code when the plan cannot run on the card it planned for (2: bad input)

STAGES_HELP = """stages, in the order they run (--stages picks some; each is skipped when done with the same settings):
  data            the shared training problems (when an arm trains)
  train_<arm>     one per arm in `arms`: {arms}
  eval            base, arms and compare models on the benchmark subsets (sharded with --gpus N)
  probe           latent and token shift (probe.enabled)
  report          report.md, report.html, plots/
exit codes: 0 done (or a plan that fits), 2 bad input or a refused run, 3 a --dry-run plan that does not fit,
130 interrupted (rerun the same command to continue)"""


def parse_args(argv: list[str]) -> argparse.Namespace:
    from kit.registry import ARMS

    ap = argparse.ArgumentParser(prog="python -m kit.run", description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog=STAGES_HELP.format(arms=", ".join(ARMS.names())))
    ap.add_argument("recipe", help="a shipped recipe's name (smoke, qwen3-0.6b-t4, qwen3-14b, ...) or a recipe YAML path")
    ap.add_argument("overrides", nargs="*", help="key.sub=value overrides, e.g. sft.learning_rate=1e-4")
    ap.add_argument("--stages", help="comma-separated subset of stages to run")
    ap.add_argument("--dry-run", action="store_true", help="print the resolved plan and estimates, run nothing")
    from kit.hardware import GPU_PRESETS

    ap.add_argument("--gpu", choices=list(GPU_PRESETS), type=str.lower,
                    help="with --dry-run: plan for this card instead of this machine's (e.g. one you are about to rent)")
    ap.add_argument("--json", action="store_true", help="with --dry-run: print the plan as JSON")
    ap.add_argument("--gpus", type=int, metavar="N",
                    help="processes, one per GPU (sets distributed.processes=N): the train stages run under "
                         "`accelerate launch`, evaluation is sharded; with --dry-run, plans for N cards")
    ap.add_argument("--fresh", action="store_true", help="delete the selected stages' results (and later ones) first")
    ap.add_argument("--check", action="store_true",
                    help="preflight, run nothing: every model, dataset and benchmark the recipe downloads is reachable "
                         "(gated access granted) and the plan fits the card (python -m kit.preflight)")
    return ap.parse_intermixed_args(argv)  # overrides may come after the options too


def _terminate_as_interrupt(signum, frame) -> None:
    """A scheduler's SIGTERM stops the run like Ctrl-C: cleanup runs (the lock, a rollout server, workers)."""
    raise KeyboardInterrupt


def _machine_facts(hw) -> dict[str, Any]:
    """What each stage's manifest records of the machine it ran on (the report names it: CPU kernels and
    thread counts change floating-point results, so a number is tied to the machine that made it)."""
    import torch

    from kit.report.readable import cpu_model

    return {"hardware": hw.summary, "cpu": cpu_model(), "torch_threads": torch.get_num_threads()}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.check:
        if args.dry_run or args.fresh or args.stages or args.json:
            print("error: --check runs only the preflight; drop --dry-run/--fresh/--stages/--json", file=sys.stderr)
            return 2
        from kit.preflight import main as preflight

        gpus = [f"distributed.processes={args.gpus}"] if args.gpus else []
        return preflight([args.recipe, *args.overrides, *gpus, *(["--gpu", args.gpu] if args.gpu else [])])
    return guarded(lambda: _main(args))


def guarded(body: Callable[[], int]) -> int:
    """An entry point's body with the kit's exits: a KitError is one `error:` line (2); Ctrl-C or a scheduler's
    SIGTERM stops it like an interrupt, cleanup runs, and the rerun hint is printed (130). kit.run and kit.study."""
    import signal
    import threading

    main_thread = threading.current_thread() is threading.main_thread()
    previous = signal.signal(signal.SIGTERM, _terminate_as_interrupt) if main_thread else None
    try:
        return body()
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted: rerun the same command to continue where it stopped", file=sys.stderr)
        return 130
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, previous)


def _main(args: argparse.Namespace) -> int:
    from kit.compose import load_recipe
    from kit.hardware import apply_cpu_threads, check_gpu_settings, choose_backend, choose_dtype, detect

    if args.gpus is not None and args.gpus < 1:
        raise KitError(f"--gpus {args.gpus}: give at least 1")
    from kit import dist

    if dist.world() > 1:
        raise KitError("kit.run is the runner of a study and runs as one process; it launches accelerate itself for "
                       "the train stages: run `python -m kit.run RECIPE --gpus N` instead of `accelerate launch`")
    overrides = list(args.overrides) + ([f"distributed.processes={args.gpus}"] if args.gpus else [])
    recipe = load_recipe(args.recipe, overrides)
    apply_cpu_threads(recipe.cpu_threads)
    if (args.gpu or args.json) and not args.dry_run:
        raise KitError("--gpu and --json describe a plan: use them with --dry-run")
    preset = None
    if args.gpu:
        from kit.hardware import gpu_preset

        preset = gpu_preset(args.gpu)
    from kit.plan import plan_machine

    # N cards for --gpus N: a preset's, this machine's, or (a dry run without a GPU) the h100 preset, said in a note
    hw, preset = plan_machine(recipe, preset, detect, args.dry_run)
    gpu_note = None
    try:
        check_gpu_settings(recipe, hw)
    except KitError as exc:
        if not args.dry_run:
            raise
        gpu_note = f"this machine cannot run it as is: {exc}"
    if not args.dry_run:
        from kit.tracking import check_tracker

        check_tracker(recipe)  # a missing tracker package is one line now, not a traceback at the trainer's start
    if choose_backend(recipe.model.backend, hw) == "unsloth" and not args.dry_run:
        import unsloth  # noqa: F401  (first: it patches transformers, peft and trl when imported)
    from kit.rundir import run_folder_name

    run_folder_name(recipe)  # one plain folder name, checked before anything touches the disk
    stages = build_stages(recipe)
    selected = list(stages)
    if args.stages:
        selected = [s.strip() for s in args.stages.split(",") if s.strip()]
        unknown = [s for s in selected if s not in stages]
        if unknown:
            raise KitError(f"unknown stage(s) {unknown}; stages of this recipe: {', '.join(stages)}")
        selected = [s for s in stages if s in selected]
        if not selected:
            raise KitError(f"--stages {args.stages!r} names no stage; stages of this recipe: {', '.join(stages)}")
    if not recipe.probe.enabled and "probe" in selected:
        selected.remove("probe")
        if not selected:
            raise KitError("--stages: nothing to run: the probe stage is off (probe.enabled=false)")

    from kit.plan import format_plan, make_plan

    dtype = choose_dtype(recipe.model.dtype, hw) if gpu_note is None else "bfloat16"
    plan = make_plan(recipe, hw, dtype, available_problems=_available(recipe),
                     vllm_available=preset.vllm if preset else None)
    if gpu_note:
        plan.notes.append(gpu_note)
    if preset and preset.why:
        plan.notes.append(preset.why)
    if args.dry_run:
        if args.json:
            import json

            from kit.plan import plan_json

            print(json.dumps(plan_json(recipe, plan, hw), indent=1))
        else:
            print(format_plan(recipe, plan, hw))
        unfit = plan.too_big or gpu_note
        if unfit:  # a plan the card cannot run is an answer, but not a green light: scripts and notebooks stop here
            print(f"error: this plan does not fit {hw.summary}: {unfit}", file=sys.stderr)
            return DOES_NOT_FIT
        return 0
    if plan.too_big:
        raise KitError(f"{plan.too_big} (see --dry-run)")
    stages = build_stages(recipe, resolved_sizes(plan))  # the same table, its "resolved.*" keys now known
    if "eval" in selected and "livecodebench" in recipe.eval.benchmarks:
        from kit.eval.sandbox import isolation_level

        isolation_level()  # a code sandbox that would refuse its weak mode says so now, not after hours of training

    from kit.rundir import claim, disk_errors, locked

    run_dir = recipe.run_dir
    with disk_errors(run_dir):
        claim(run_dir)
        with locked(run_dir):
            _run_stages(recipe, hw, plan, run_dir, stages, selected, args)
    return 0


def _run_stages(recipe, hw, plan, run_dir: Path, stages: dict[str, Any], selected: list[str], args) -> None:
    """Check everything that can refuse the run, then forget what --fresh redoes, record the recipe, and run
    the selected stages (the caller holds the folder's lock)."""
    from kit import recipe as recipe_mod
    from kit.rundir import RESOLVED
    from kit.stages import Ledger, preflight, redone_by_fresh, stage_hash

    ledger = Ledger(run_dir)
    forgotten = set()
    if args.fresh:
        forgotten = set(stages) if not args.stages else redone_by_fresh(stages, selected)
    skipped = set() if recipe.probe.enabled else {"probe"}
    preflight(recipe, stages, selected, ledger, forgotten, skipped)  # refuses before anything is written
    if args.fresh:
        _forget(run_dir, stages, forgotten, ledger, whole=not args.stages)
    recipe_mod.dump(recipe, run_dir / RESOLVED)
    with open(run_dir / RESOLVED, "a") as f:  # the scale applied: the sizes the data and eval stages hash
        import yaml

        f.write(yaml.safe_dump({"resolved": resolved_sizes(plan)}, sort_keys=False))
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    ctx = Context(recipe, hw, plan, run_dir)
    print(f"run '{run_dir}' on {hw.summary}; stages: {', '.join(selected)}")
    t_all = time.time()
    _prepare_built_model(ctx, selected)
    for name in selected:
        stage = stages[name]
        h = stage_hash(recipe, stage, stages)
        state = ledger.check(recipe, stage, h)
        if state == "done":
            print(f"[{name}] done earlier, skipped")
            continue
        print(f"[{name}] {'resuming' if state == 'resume' else 'running'} …", flush=True)
        ledger.mark_started(recipe, stage, h)
        t0 = time.time()
        summary = stage.execute(ctx)
        ledger.mark_done(recipe, stage, h, t0, summary, _machine_facts(hw))
        print(f"[{name}] done in {time.time() - t0:.1f} s: {_summary_line(summary)}", flush=True)
    report = run_dir / "report.md"
    print(f"finished in {time.time() - t_all:.1f} s" + (f"; report: {report}" if report.exists() else ""))


def _prepare_built_model(ctx: Context, selected: list[str]) -> None:
    """A model the kit builds itself (the tiny random Qwen3; the toy's pretrained base, minutes to build) is built
    here, before the first stage, so its time is reported as its own and not as the first stage's."""
    from kit.models import BUILT_IDS, resolve_path

    if ctx.recipe.model.id not in BUILT_IDS or selected == ["report"]:
        return
    t0 = time.time()
    path = resolve_path(ctx.recipe.model, ctx.cache_root)  # built once, then reused from the cache
    took = time.time() - t0
    if took > 1.0:
        print(f"[base] built '{ctx.recipe.model.id}' in {took:.1f} s ({path}; later runs reuse it)", flush=True)


def _available(recipe) -> int | None:
    """With fixtures the pool of problems is tiny and known; the Hub's size is only known after loading."""
    if recipe.data.source != "fixtures":
        return None  # the Hub's size is known after loading; the toy world generates what it is asked for
    from kit.data.train_sets import FIXTURES

    return sum(1 for _ in open(FIXTURES / f"{recipe.data.sft_dataset.split('/')[-1]}.jsonl"))


def _forget(run_dir: Path, stages: dict[str, Any], forgotten: set[str], ledger, whole: bool) -> None:
    """Delete the forgotten stages' manifests and outputs, only the paths the kit writes (never the folder
    itself or anything else in it); the whole run also loses its resolved recipe and any arm's folder."""
    from kit.rundir import RESOLVED, remove_kit_paths
    from kit.registry import ARMS

    # the whole run also forgets stages this recipe does not have (an audit has no data stage; an arm may have
    # been dropped from `arms`): an earlier recipe's results in the same folder must not outlive --fresh
    names = set(forgotten) | ({"data", *(f"train_{a}" for a in ARMS)} if whole else set())
    rels = [rel for name in forgotten for rel in stages[name].outputs]
    if whole:
        rels += ["data"] + [f"arms/{a}" for a in ARMS] + [RESOLVED]
    for name in names:  # manifests first: a run interrupted here redoes the stages rather than trusting them
        ledger.forget(name)
    remove_kit_paths(run_dir, rels)


if __name__ == "__main__":
    sys.exit(main())
