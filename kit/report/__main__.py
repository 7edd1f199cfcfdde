"""`python -m kit.report RUN_DIR`: rebuild report.md, report.html and plots/ from a finished run folder."""

import sys

from kit.errors import KitError
from kit.report.build import build


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m kit.report RUN_DIR", file=sys.stderr)
        return 2
    try:
        summary = build(argv[0])
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {summary['report']} ({summary['plots']} plots)")
    return 0


sys.exit(main(sys.argv[1:]))
