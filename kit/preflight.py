"""`python -m kit.preflight RECIPE [key.sub=value ...] [--gpu CARD]`

Checks, in seconds and before hours of training, what a run would otherwise find out only when it reaches each stage:
every model, training set and benchmark the recipe downloads exists at its pinned revision and this login may read it
(gated access granted), and the plan fits the card (kit.run's own --dry-run). One line per check; exit 0 when all
pass, 2 otherwise. A recipe on the kit's built models and fixtures downloads nothing and needs no network.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from kit.errors import KitError

HUB = "https://huggingface.co"
FAILED = 2


@dataclass
class Resource:
    """One Hub repository the run downloads, at one revision; `uses` says which recipe keys or benchmarks need it."""

    kind: str  # "model" or "dataset" (huggingface_hub's repo_type)
    repo_id: str
    revision: str
    uses: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        """The page where a gated repository's terms are accepted."""
        return f"{HUB}/{self.repo_id}" if self.kind == "model" else f"{HUB}/datasets/{self.repo_id}"

    def label(self) -> str:
        return f"{self.kind} {self.repo_id}@{self.revision} ({', '.join(self.uses)})"


@dataclass
class Check:
    """The outcome of one check: `status` is "ok" or what failed (gated, not found, offline, ...)."""

    status: str
    what: str
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    def line(self) -> str:
        return f"  {self.status:<10} {self.what}" + (f": {self.detail}" if self.detail else "")


class HubApi(Protocol):
    """The part of huggingface_hub.HfApi the preflight calls (tests pass a fake with the same signatures)."""

    def model_info(self, repo_id: str, *, revision: str | None = None, timeout: float | None = None,
                   **kwargs: Any) -> Any: ...

    def dataset_info(self, repo_id: str, *, revision: str | None = None, timeout: float | None = None,
                     **kwargs: Any) -> Any: ...

    def auth_check(self, repo_id: str, *, repo_type: str | None = None, token: bool | str | None = None,
                   write: bool = False) -> None: ...


def resources(recipe) -> list[Resource]:
    """Every Hub repository the recipe's stages download: the base model (and its tokenizer, the same repo), the
    compare models, the released training sets (data.source=hub, when an arm trains) and each bundled benchmark's
    pinned dataset (eval.source=hub). Built models, local folders, fixtures and generated plug-in data need none."""
    from kit.eval import benchmarks
    from kit.eval.benchmarks.base import Benchmark
    from kit.models import BUILT_IDS
    from kit.registry import ARMS

    found: dict[tuple[str, str, str], Resource] = {}

    def add(kind: str, repo_id: str, revision: str, use: str) -> None:
        res = found.setdefault((kind, repo_id, revision), Resource(kind, repo_id, revision))
        if use not in res.uses:
            res.uses.append(use)

    if recipe.model.id not in BUILT_IDS and not Path(recipe.model.id).is_dir():
        add("model", recipe.model.id, recipe.model.revision, "model.id")
    for name, ref in recipe.compare.items():
        if not Path(ref.id).is_dir():
            add("model", ref.id, ref.revision, f"compare.{name}")
    if recipe.data.source == "hub" and any(ARMS.get(a).needs for a in recipe.arms):
        add("dataset", recipe.data.rl_dataset, recipe.data.rl_revision, "data.rl_dataset")
        add("dataset", recipe.data.sft_dataset, recipe.data.sft_revision, "data.sft_dataset")
    if recipe.eval.source == "hub":
        for name in recipe.eval.benchmarks:
            bench = benchmarks.get(name)
            # a plug-in benchmark with its own `load` (the toy world's) generates its rows: nothing to download
            if type(bench).load is Benchmark.load or type(bench).__module__.startswith("kit.eval.benchmarks."):
                add("dataset", bench.source.path, bench.source.revision, f"benchmark {name}")
    return list(found.values())


def check_resource(api: HubApi, res: Resource, logged_in: bool) -> Check:
    """One repository: its info at the pinned revision (existence, revision, whether it is gated), then, for a gated
    one, huggingface_hub's access check for this token. Errors become one status each; nothing is downloaded."""
    from huggingface_hub.errors import (DisabledRepoError, GatedRepoError, HfHubHTTPError, OfflineModeIsEnabled,
                                        RepositoryNotFoundError, RevisionNotFoundError)

    login = "" if logged_in else " and log in (HF_TOKEN or `hf auth login`)"
    try:
        info = (api.model_info if res.kind == "model" else api.dataset_info)(res.repo_id, revision=res.revision,
                                                                              timeout=30)
        if getattr(info, "gated", False):  # the metadata of a gated repo is public; its files are not
            api.auth_check(res.repo_id, repo_type=res.kind)
    except GatedRepoError:  # before RepositoryNotFoundError, its base class
        return Check("gated", res.label(), f"accept the terms at {res.url}{login}")
    except RevisionNotFoundError:
        return Check("not found", res.label(), f"no revision '{res.revision}'; check the recipe's pin")
    except RepositoryNotFoundError:
        return Check("not found", res.label(), "no such repository, or a private one this login cannot see" + login)
    except DisabledRepoError:
        return Check("disabled", res.label(), "its author disabled the repository")
    except HfHubHTTPError as exc:  # an OSError too: before the connection errors
        return Check("error", res.label(), _first_line(exc))
    except OfflineModeIsEnabled:
        return Check("offline", res.label(), "HF_HUB_OFFLINE is set: unset it to check the Hub")
    except OSError as exc:  # no route, DNS, timeouts
        return Check("offline", res.label(), f"the Hugging Face Hub is unreachable ({_first_line(exc)})")
    except Exception as exc:  # noqa: BLE001 - httpx's transport errors are not OSErrors; any other is one line too
        if type(exc).__module__.startswith(("httpx", "httpcore")):
            return Check("offline", res.label(), f"the Hugging Face Hub is unreachable ({_first_line(exc)})")
        return Check("error", res.label(), f"{type(exc).__name__}: {_first_line(exc)}")
    return Check("ok", res.label())


def _first_line(exc: BaseException, limit: int = 160) -> str:
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if len(line) <= limit else line[:limit - 1] + "…"


def check_plan(recipe_ref: str, overrides: list[str], gpu: str | None) -> Check:
    """Whether the plan fits the card: kit.run's own dry run (`--dry-run --json`), so the preflight and the run can
    never disagree. Exit 3 there is a plan that does not fit (its reason is the error line), 2 a refused recipe."""
    from kit.run import main as run_main

    out, err = io.StringIO(), io.StringIO()
    argv = [recipe_ref, *overrides, "--dry-run", "--json"] + (["--gpu", gpu] if gpu else [])
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        rc = run_main(argv)
    lines = [ln for ln in err.getvalue().splitlines() if ln.strip()]
    reason = next((ln.removeprefix("error: ") for ln in lines if ln.startswith("error: ")),
                  lines[-1] if lines else f"kit.run --dry-run exited {rc}")
    if rc != 0:
        return Check("no fit" if rc == 3 else "refused", "plan", reason)
    plan = _plan_json(out.getvalue())
    stages = ", ".join(f"{s['name']} {_duration(s['seconds'])}" for s in plan.get("stages", []) if s.get("seconds"))
    peak = f", peak ~{plan['peak_gb']:.1f} GB" if plan.get("peak_gb") else ""
    head = (f"plan fits {plan.get('gpu')}{peak}" if plan.get("fits")
            else f"plan for {plan.get('gpu')}{peak} (fit not checked without a GPU; add --gpu CARD)")
    seconds = plan.get("total_seconds") or 0.0
    total = f"~{_duration(seconds)} worst case" if seconds else "time not estimated (see --dry-run's notes)"
    return Check("ok", f"{head}: {total}" + (f" ({stages})" if stages else ""))


def _plan_json(text: str) -> dict[str, Any]:
    """The JSON plan kit.run printed (anything a library printed before it is skipped)."""
    start = text.find("{")
    try:
        return json.loads(text[start:]) if start >= 0 else {}
    except json.JSONDecodeError:
        return {}


def _duration(seconds: float) -> str:
    minutes = seconds / 60
    if minutes < 90:
        return f"{minutes:.1f} min" if minutes < 10 else f"{minutes:.0f} min"
    return f"{minutes / 60:.1f} h" if minutes < 48 * 60 else f"{minutes / 1440:.1f} days"


def _logged_in() -> bool:
    """Whether huggingface_hub finds a token (HF_TOKEN, `hf auth login`, Colab's secret after login); read locally."""
    from huggingface_hub import get_token

    return get_token() is not None


def preflight(recipe_ref: str, overrides: list[str], gpu: str | None = None,
              api: HubApi | None = None) -> list[Check]:
    """All checks of a recipe, in order: the Hub repositories, then the plan. `api` defaults to huggingface_hub's
    HfApi, created only when something is to be downloaded."""
    from kit.compose import load_recipe

    recipe = load_recipe(recipe_ref, overrides)
    needed = resources(recipe)
    checks: list[Check] = []
    if not needed:
        checks.append(Check("ok", "downloads: none (built model, fixture or generated data and benchmarks)"))
    else:
        if api is None:
            from huggingface_hub import HfApi

            api = HfApi()
        logged_in = _logged_in()
        checks += [check_resource(api, res, logged_in) for res in needed]
    checks.append(check_tracker_package(recipe))
    checks.append(check_plan(recipe_ref, overrides, gpu))
    return checks


def check_tracker_package(recipe) -> Check:
    """The tracker `train.report_to` names is installed (the run refuses it before any work too)."""
    from kit.errors import KitError
    from kit.tracking import check_tracker

    try:
        check_tracker(recipe)
    except KitError as exc:
        return Check("missing", f"tracker {recipe.train.report_to}", str(exc))
    return Check("ok", f"tracker: {recipe.train.report_to}")


def main(argv: list[str] | None = None, api: HubApi | None = None) -> int:
    from kit.hardware import GPU_PRESETS

    ap = argparse.ArgumentParser(prog="python -m kit.preflight",
                                 description="Before any training: every model, dataset and benchmark the "
                                             "recipe downloads is reachable (gated access granted) and the plan "
                                             "fits the card.",
                                 epilog="exit codes: 0 every check passed, 2 a check failed or bad input")
    ap.add_argument("recipe", help="recipe YAML or a shipped recipe's name")
    ap.add_argument("overrides", nargs="*", help="key.sub=value overrides, as for kit.run")
    ap.add_argument("--gpu", choices=list(GPU_PRESETS), type=str.lower,
                    help="check the plan against this card instead of this machine's")
    args = ap.parse_intermixed_args(sys.argv[1:] if argv is None else argv)
    try:
        checks = preflight(args.recipe, list(args.overrides), args.gpu, api)
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return FAILED
    return report(f"preflight of {args.recipe}" + (f" ({' '.join(args.overrides)})" if args.overrides else ""), checks)


def report(title: str, checks: list[Check]) -> int:
    """Print the checks, one line each, and the exit code: 0 when all passed, 2 otherwise (one line on stderr)."""
    print(title)
    for c in checks:
        print(c.line(), flush=True)
    failed = [c for c in checks if not c.ok]
    if failed:
        print(f"error: preflight: {len(failed)} of {len(checks)} checks failed (above); fix them before training",
              file=sys.stderr)
        return FAILED
    print(f"preflight passed: {len(checks)} checks")
    return 0

if __name__ == "__main__":
    sys.exit(main())
