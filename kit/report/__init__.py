"""The report: tables, plots and a self-contained HTML page, rebuilt from a run folder alone."""

from kit.stages import Stage

# the report stage: a function of the run folder (scores, per-item scores, probe results, training logs)
STAGE = Stage("report", "kit.report:run_stage", keys=("report",),
              reads=("eval/scores.json", "eval/item_scores.json", "probe/results.json", "arms/*/train_log.jsonl"),
              writes=("report.md", "report.html", "plots", "analysis.json"))


def run_stage(ctx):
    from kit.report.build import build
    from kit.tracking import log_results

    summary = build(ctx.run_dir)
    try:  # eval scores, TI and shift into the arms' tracker runs; the report stands without them
        tracked = log_results(ctx.recipe, ctx.run_dir)
    except Exception as exc:  # noqa: BLE001 - a tracker's login, network or version: one line, the stage is done
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:200]
        print(f"warning: results not logged to {ctx.recipe.train.report_to} ({type(exc).__name__}: {first}); the report "
              "is written; rerun with --fresh --stages report to log them", flush=True)
        return {**summary, "tracking_error": first}
    return {**summary, "tracking": tracked} if tracked else summary
