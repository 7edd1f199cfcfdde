"""`python -m kit.export verl RUN_OR_RECIPE [--out DIR] [--val aime24|none] [--data-source NAME] [key=value ...]`
`python -m kit.export sft RUN_OR_RECIPE --format llamafactory|trl [--out DIR] [key=value ...]`
`python -m kit.export lm-eval RUN [--out DIR]`: a run's evaluation as lm-eval results files (docs/lm-eval.md)

Writes a run folder's (or a recipe's) training set in another trainer's format (docs/export.md)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from kit.errors import KitError

SFT_FORMATS = ("llamafactory", "trl")


def parse_args(argv: list[str]) -> argparse.Namespace:
    ap = argparse.ArgumentParser(prog="python -m kit.export", description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="kind", required=True)
    results = sub.add_parser("lm-eval", help="a finished run's scores as lm-eval results_*.json, one per model")
    results.add_argument("target", help="a run folder whose eval stage is done")
    results.add_argument("--out", type=Path, help="output folder (default: <run>/export/lm-eval)")
    results.set_defaults(overrides=[])
    for kind, help_ in (("verl", "RL set as verl parquet + run_dapo.sh"), ("sft", "SFT set for LLaMA-Factory or TRL")):
        p = sub.add_parser(kind, help=help_)
        p.add_argument("target", help="a run folder (outputs/<run>, data stage done) or a recipe YAML")
        p.add_argument("overrides", nargs="*", help="recipe overrides key.sub=value, as for kit.run")
        p.add_argument("--out", type=Path, help="output folder (default: <run>/export/<format>)")
        if kind == "verl":
            p.add_argument("--val", default="aime24", help="validation benchmark (the paper's: aime24) or none")
            p.add_argument("--data-source", help="the data_source column (default lighteval/MATH: verl's boxed "
                                                  "scorer; see docs/export.md)")
        else:
            p.add_argument("--format", required=True, help=f"one of {', '.join(SFT_FORMATS)}")
    args, extra = ap.parse_known_args(argv)  # overrides may come after the options, as with kit.run
    unknown = [a for a in extra if a.startswith("-") or "=" not in a]
    if unknown:
        ap.error(f"unrecognized arguments: {' '.join(unknown)}")
    args.overrides = list(args.overrides) + extra
    return args


def export(kind: str, target: str, overrides: list[str], out: Path | None = None,
           options: dict[str, Any] | None = None) -> tuple[Path, dict[str, Any]]:
    """Write one export and check it; returns (folder, summary). Everything is staged and renamed into place, so
    an error leaves no partial export."""
    from kit import export as registry
    from kit.export.source import default_out, staged, training_files
    from kit.registry import load_plugins, resolve

    options = dict(options or {})
    fmt = "verl" if kind == "verl" else options.pop("format", None)
    if kind == "sft" and fmt not in SFT_FORMATS:
        raise KitError(f"--format {fmt}: unknown SFT format; choose one of {', '.join(SFT_FORMATS)}")
    exporter = registry.get(fmt)
    load_plugins()  # plug-ins' data sources and models, as kit.run sees them
    files = training_files(target, overrides)
    out_dir = out or default_out(files, fmt)
    with staged(out_dir) as tmp:
        summary = resolve(exporter.write)(files, tmp, {**options, "final_dir": out_dir})
        rows = resolve(exporter.check)(tmp)
    return out_dir, {**summary, "checked_rows": rows}


def main(argv: list[str] | None = None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    if args.kind == "lm-eval":
        return _lm_eval(Path(args.target), args.out)
    options: dict[str, Any] = {"val": args.val, "data_source": args.data_source} if args.kind == "verl" \
        else {"format": args.format}
    try:
        out_dir, summary = export(args.kind, args.target, list(args.overrides), args.out, options)
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    files = ", ".join(summary.pop("files", []))
    print(f"wrote {out_dir}: {files} ({', '.join(f'{k}={v}' for k, v in summary.items())})")
    return 0


def _lm_eval(run_dir: Path, out: Path | None) -> int:
    """Results exports read a finished run's eval files, not training files: their own branch (kit.export.lm_eval)."""
    from kit.export.lm_eval import export as export_results

    try:
        files = export_results(run_dir, out or run_dir / "export" / "lm-eval")
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {len(files)} lm-eval results file(s): " + ", ".join(str(f) for f in files))
    return 0


if __name__ == "__main__":
    sys.exit(main())
