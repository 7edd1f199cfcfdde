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
    tracked = log_results(ctx.recipe, ctx.run_dir)  # eval scores, TI and shift into the arms' tracker runs
    return {**summary, "tracking": tracked} if tracked else summary
