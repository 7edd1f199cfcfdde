"""`python -m kit.report RUN_DIR`: rebuild report.md, report.html and plots/ from a finished run folder."""

import argparse
import sys

from kit.errors import KitError
from kit.report.build import build


def main(argv: list[str]) -> int:
    ap = argparse.ArgumentParser(prog="python -m kit.report", description=__doc__.split(": ", 1)[1],
                                 epilog="The run folder needs recipe.resolved.yaml and eval/scores.json (a finished "
                                        "eval stage); the probe's figures are included when its stage has run.")
    ap.add_argument("run_dir", help="a run folder, e.g. outputs/smoke")
    args = ap.parse_args(argv)
    try:
        summary = build(args.run_dir)
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {summary['report']} ({summary['plots']} plots)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
