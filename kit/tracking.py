"""Experiment trackers (TensorBoard, Weights & Biases, Trackio): the run name, project and tags each training run
carries, a one-line refusal when the tracker's package is missing, and the report stage's results (eval scores,
TI, latent/token shift, the report's plots) logged to the same run(s) as the training curves.

Platform layer: no tracker is imported until a run uses it (the check is `importlib.util.find_spec`), and the
results are read through kit.artefacts, the report's own inputs, so the report imports no training code.

What transformers 5.17 reads (transformers/integrations/integration_utils.py, the pinned .venv copy):
- tensorboard: TensorBoardCallback writes to $TENSORBOARD_LOGGING_DIR, read in __init__ (:602), else to
  output_dir/runs/<date_host> (:621); no run name, project or tags (the folder is the run).
- wandb: WandbCallback.setup names the run `args.run_name` (:752-753) and takes the project only from
  $WANDB_PROJECT (:763, default "huggingface"); tags, run id and resume come from wandb's own environment
  (wandb/env.py: WANDB_TAGS comma-separated, WANDB_RUN_ID, WANDB_RESUME, WANDB_DIR). It initialises only
  when no run is open (`if self._wandb.run is None`, :761) and never finishes it: `finish_training_run` does.
- trackio: TrackioCallback.setup calls trackio.init(project=args.project, name=args.run_name, resume="allow")
  (:985-992) and finishes in on_train_end (:1073); trackio.init has no tags (gradio-app/trackio
  trackio/__init__.py `init`), so the report stage records them in the run's config.
"""

from __future__ import annotations

import importlib.util
import math
import os
import secrets
import sys
from pathlib import Path
from typing import Any, Callable

from kit.artefacts import Analysis, EvalResults, ProbeResults
from kit.errors import KitError
from kit.runlog import read_log

# report_to -> (importable modules, any one suffices; the pip package to name in the error)
TRACKERS: dict[str, tuple[tuple[str, ...], str]] = {
    "none": ((), ""),
    # transformers accepts tensorboard or tensorboardX (is_tensorboard_available, integration_utils.py:149-150)
    "tensorboard": (("tensorboard", "tensorboardX"), "tensorboard"),
    "wandb": (("wandb",), "wandb"),
    "trackio": (("trackio",), "trackio"),
}
KIT_TAGS = ("reasoning-transfer", "arxiv:2507.00432")  # every run and adapter card of the kit carries these
TRACKER_DIR = "tracker"  # under arms/<arm>/ (a training run) or the run folder (a run with no trained arm)
WANDB_ID_FILE = "wandb_run_id"  # the W&B run id, kept so a resumed training and the report reuse the run
MAX_TAG = 64  # W&B refuses longer tags


def check_tracker(recipe) -> None:
    """Refuse a missing tracker package or an unusable tag in one line, before any work (no import: find_spec)."""
    name = recipe.train.report_to
    if name not in TRACKERS:
        raise KitError(f"train.report_to={name!r} is not one of {', '.join(TRACKERS)}")
    modules, package = TRACKERS[name]
    if modules and not any(importlib.util.find_spec(m) is not None for m in modules):
        raise KitError(f"train.report_to={name} needs the '{package}' package: pip install {package} "
                       f"(or set train.report_to=none)")
    for tag in recipe.train.tags:
        if not tag or "," in tag or len(tag) > MAX_TAG:
            raise KitError(f"train.tags: {tag!r} is not a tag (1-{MAX_TAG} characters, no comma)")


def arm_dir(out_dir: Path) -> Path:
    """The arms/<arm> folder an arm's trainer writes under (on-policy SFT trains in arms/<arm>/round-<i>)."""
    out_dir = Path(out_dir)
    return out_dir.parent if out_dir.parent.parent.name == "arms" and out_dir.parent.name != "arms" else out_dir


def run_name(recipe, arm: str | None) -> str:
    """The tracker run's name: train.run_name (else the run folder's name) plus the arm, so arms stay apart."""
    base = recipe.train.run_name or recipe.run_name or recipe.name
    return f"{base}-{arm or 'eval'}"


def tags(recipe, arm: str | None = None) -> list[str]:
    """The kit's tags, the arm and the recipe's train.tags, each once, in that order."""
    out: list[str] = []
    for t in (*KIT_TAGS, *([arm] if arm else []), *recipe.train.tags):
        if t not in out:
            out.append(t)
    return out


def trainer_args(recipe, out_dir: Path) -> dict[str, Any]:
    """report_to, run_name and project for TrainingArguments, and the environment the tracker's callback reads
    when the Trainer is built (after this config): see the module docstring for where transformers reads each."""
    name, arm_path = recipe.train.report_to, arm_dir(out_dir)
    args = dict(report_to=name, run_name=run_name(recipe, arm_path.name), project=recipe.train.project)
    os.environ.update(tracker_env(recipe, arm_path))
    return args


def tracker_env(recipe, arm_path: Path) -> dict[str, str]:
    """Environment for the training run of the arm in `arm_path` (nothing for none and trackio). The tracker
    folder and the W&B id file are made only where the arm's folder exists: the planner builds configs for a
    folder that never trains (kit.train.grpo.rollout_shape)."""
    name, tdir = recipe.train.report_to, arm_path / TRACKER_DIR
    if arm_path.is_dir() and name in ("tensorboard", "wandb"):
        tdir.mkdir(exist_ok=True)
    if name == "tensorboard":
        return {"TENSORBOARD_LOGGING_DIR": str(tdir)}
    if name == "wandb":
        return {"WANDB_PROJECT": recipe.train.project, "WANDB_TAGS": ",".join(tags(recipe, arm_path.name)),
                "WANDB_DIR": str(tdir), "WANDB_RUN_ID": wandb_run_id(tdir), "WANDB_RESUME": "allow"}
    return {}


def wandb_run_id(tdir: Path) -> str:
    """The arm's W&B run id: read from its tracker folder, else new (and kept there when the folder exists), so a
    resumed training continues the same W&B run, the report logs into it, and --fresh (which deletes the arm's
    folder) starts a new one."""
    path = tdir / WANDB_ID_FILE
    if path.is_file() and path.read_text().strip():
        return path.read_text().strip()
    run_id = secrets.token_hex(4)
    if tdir.is_dir():
        path.write_text(run_id + "\n")
    return run_id


def finish_training_run(recipe) -> None:
    """End the W&B run a Trainer left open (WandbCallback never finishes it), so the next arm trained in this
    process starts its own run instead of logging into this one (integration_utils.py:761)."""
    if recipe.train.report_to == "wandb" and "wandb" in sys.modules:
        wandb = sys.modules["wandb"]
        if getattr(wandb, "run", None) is not None:
            wandb.finish()


# --- the report stage's results ---------------------------------------------------------------------------

def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _mean(values: list[float]) -> float | None:
    vals = [v for v in values if _finite(v)]
    return sum(vals) / len(vals) if vals else None


def result_metrics(scores: dict[str, Any], analysis: dict[str, Any], probe: dict[str, Any] | None,
                   model: str | None) -> dict[str, float]:
    """Flat scalars for one arm's run: its primary scores and the base's (%), TI v2/v1 and math gain, PCA shift,
    1 - CKA, probe accuracy drop and token shift. model=None (no trained arm): every model's scores. Values
    that are missing or not finite (an inconclusive TI) are left out."""
    out: dict[str, Any] = {}
    for m in ([model, "base"] if model else list(scores)):
        prefix = ("eval" if m == model else "eval_base") if model else f"eval/{m}"
        for bench, info in scores.get(m, {}).items():
            v = info.get("scores", {}).get(info.get("primary"))
            out[f"{prefix}/{bench}"] = 100 * v if _finite(v) else None
    a = analysis.get(model or "", {})
    for version in ("v2", "v1"):
        for k in ("TI_other", "TI_non"):
            out[f"ti/{k}_{version}"] = a.get(f"ti_{version}", {}).get(k)
    for group, g in a.get("groups", {}).items():
        out[f"ti/gain_{group}"] = g.get("gain")
    p = (probe or {}).get("arms", {}).get(model or "", {})
    for bench, pca in p.get("pca", {}).items():
        out[f"shift/pca_d_faithful/{bench}"] = pca.get("faithful", {}).get("d")
        out[f"shift/pca_d_corrected/{bench}"] = pca.get("corrected", {}).get("d")
    if p.get("cka"):
        cka = _mean(p["cka"].get("cka", []))
        out["shift/one_minus_cka"] = None if cka is None else 1 - cka
    if p.get("probe"):
        out["shift/probe_acc_drop"] = _mean(p["probe"].get("drop", []))
    for bench, t in p.get("tokens", {}).items():
        for k in ("kl", "paper_kl", "rank_shift_mean"):
            out[f"shift/token_{k}/{bench}"] = t.get(k)
    return {k: float(v) for k, v in out.items() if _finite(v)}


def log_results(recipe, run_dir: Path) -> dict[str, Any]:
    """Log the finished run's results to train.report_to: into each trained arm's run (same TensorBoard folder,
    same W&B id, same Trackio name), or one "<run>-eval" run when no arm was trained. Returns what was logged."""
    name = recipe.train.report_to
    if name == "none":
        return {}
    check_tracker(recipe)
    run_dir = Path(run_dir)
    evaluated = EvalResults.read(run_dir)
    if evaluated is None:
        return {}
    analysis = Analysis.read(run_dir)
    probed = ProbeResults.read(run_dir)
    probe = probed.as_dict() if probed else None
    images = {f"plots/{p.stem}": p for p in sorted((run_dir / "plots").glob("*.png"))}
    targets: list[str | None] = [a for a in recipe.arms if a in evaluated.scores] or [None]
    logged = {}
    for arm in targets:
        metrics = result_metrics(evaluated.scores, analysis.arms if analysis else {}, probe, arm)
        tdir = (run_dir / "arms" / arm if arm else run_dir) / TRACKER_DIR
        tdir.mkdir(parents=True, exist_ok=True)
        log = read_log(run_dir / "arms" / arm / "train_log.jsonl") if arm else []
        step = max((int(r.get("step", 0)) for r in log), default=0)
        BACKENDS[name](recipe, arm, tdir, metrics, images, step)
        logged[arm or "eval"] = len(metrics)
    return {"tracker": name, "logged": logged}


def summary_writer() -> type:
    """TensorBoard's writer, as TensorBoardCallback picks it (integration_utils.py:596-599)."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        from tensorboardX import SummaryWriter
    return SummaryWriter


def _log_tensorboard(recipe, arm: str | None, tdir: Path, metrics: dict[str, float], images: dict[str, Path],
                     step: int) -> None:
    """Scalars and plots at the arm's last training step, in the folder its training curves are in."""
    writer = summary_writer()(log_dir=str(tdir))
    try:
        writer.add_text("run", f"{run_name(recipe, arm)} (project {recipe.train.project}; tags "
                               f"{', '.join(tags(recipe, arm))})", global_step=step)
        for k, v in metrics.items():
            writer.add_scalar(k, v, global_step=step)
        if images:
            from matplotlib.image import imread  # matplotlib draws the plots: it is there

            for k, path in images.items():
                writer.add_image(k, imread(str(path)), global_step=step, dataformats="HWC")
    finally:
        writer.close()


def _log_wandb(recipe, arm: str | None, tdir: Path, metrics: dict[str, float], images: dict[str, Path],
               step: int) -> None:
    """Resume the arm's training run by its kept id (wandb.init(id=..., resume="allow"), wandb/__init__.pyi
    `init`), else start one in the same project with the same tags; scores go to the history and the summary."""
    import wandb

    if getattr(wandb, "run", None) is not None:  # a run this process left open is another run
        wandb.finish()
    id_file = tdir / WANDB_ID_FILE
    known = id_file.read_text().strip() if id_file.is_file() else ""
    run = wandb.init(project=recipe.train.project, name=run_name(recipe, arm), tags=tags(recipe, arm),
                     dir=str(tdir), id=known or wandb_run_id(tdir), resume="allow")
    try:
        run.log({**metrics, **{k: wandb.Image(str(p)) for k, p in images.items()}, "train/global_step": step})
        run.summary.update(metrics)
    finally:
        run.finish()


def _log_trackio(recipe, arm: str | None, tdir: Path, metrics: dict[str, float], images: dict[str, Path],
                 step: int) -> None:
    """Trackio resumes a run by project and name (trackio.init resume="allow"), as TrackioCallback names it."""
    import trackio

    trackio.init(project=recipe.train.project, name=run_name(recipe, arm), resume="allow",
                 config={"tags": tags(recipe, arm)})
    try:
        trackio.log({**metrics, **{k: trackio.Image(str(p)) for k, p in images.items()}}, step=step)
    finally:
        trackio.finish()


BACKENDS: dict[str, Callable[..., None]] = {"tensorboard": _log_tensorboard, "wandb": _log_wandb,
                                             "trackio": _log_trackio}
