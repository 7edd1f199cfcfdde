"""`python -m kit.toy.example RECIPE OUT`: copy a finished study into a committed example folder.

`make toy` and `make toy-quick` end with it, so the committed examples (outputs/examples/toy, .../toy-quick) are
exactly what the command gives, and `git diff outputs/examples` after a rerun shows what changed on another
machine. Copied: the study report (study.md, study.json, the TI plot), each seed's report (report.md,
plots/), and the toy base's build record. OUT/.example-files lists what this command wrote; on the next run the
listed files it does not write again (a seed no longer in the study, a figure no longer drawn) are removed, and
nothing else in OUT is touched (a hand-written README.md stays).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from kit.errors import KitError

STUDY_FILES = ("study.md", "study.json", "ti_by_seed.png", "ti_by_seed.svg")
RUN_FILES = ("report.md",)  # report.html embeds its plots (1.5 MB a seed): `python -m kit.report RUN` rebuilds it
MANIFEST = ".example-files"


def collect(recipe_path: str, out: Path, overrides: list[str] | None = None) -> list[Path]:
    """Copy the recipe's confirmatory study and its seeds' reports into `out`; the files written."""
    import json

    from kit.compose import load_recipe
    from kit.study import STUDY_FOLDER

    recipe = load_recipe(recipe_path, overrides or [])
    root = Path(recipe.output_dir)
    study = root / STUDY_FOLDER["confirmatory"].format(name=recipe.name)
    if not (study / "study.json").exists():
        raise KitError(f"{study} has no study.json: run `python -m kit.study {recipe_path}` first")
    seeds = json.loads((study / "study.json").read_text())["seeds"]
    out.mkdir(parents=True, exist_ok=True)
    written = [_copy(study / f, out / f) for f in STUDY_FILES if (study / f).exists()]
    for s in seeds:
        run = root / f"{recipe.name}-seed{s}"
        dest = out / f"seed{s}"
        written += [_copy(run / f, dest / f) for f in RUN_FILES if (run / f).exists()]
        written += [_copy(p, dest / "plots" / p.name) for p in sorted((run / "plots").glob("*")) if p.is_file()]
    build = _base_record(recipe)
    if build is not None:
        written.append(_copy(build, out / "base-build.json"))
    _forget_stale(out, written)
    return written


def _forget_stale(out: Path, written: list[Path]) -> None:
    """Remove what the previous collect into `out` wrote and this one did not; record this one's files."""
    import json

    listing = out / MANIFEST
    now = sorted(str(p.relative_to(out)) for p in written)
    before = json.loads(listing.read_text()) if listing.exists() else []
    for rel in sorted(set(before) - set(now)):
        path = out / rel
        if ".." not in Path(rel).parts and path.is_file():
            path.unlink()
            for parent in path.parents:  # folders the collector made and left empty
                if parent == out or any(parent.iterdir()):
                    break
                parent.rmdir()
    listing.write_text(json.dumps(now, indent=0) + "\n")


def _copy(src: Path, dest: Path) -> Path:
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(src, dest)
    return dest


def _base_record(recipe) -> Path | None:
    """The toy base's build record (toy_build.json) from the cache the runs used, if the model is a toy base."""
    from kit.models import cache_root
    from kit.toy.plugin import TOY_ID
    from kit.toy.pretrain import BUILD_INFO, base_dir

    if recipe.model.id != TOY_ID:
        return None
    path = base_dir(cache_root(recipe) / "toy", recipe.model.toy_quick) / BUILD_INFO
    return path if path.exists() else None


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m kit.toy.example", description=__doc__.splitlines()[0])
    ap.add_argument("recipe")
    ap.add_argument("out", type=Path)
    ap.add_argument("overrides", nargs="*")
    args = ap.parse_intermixed_args(sys.argv[1:] if argv is None else argv)  # overrides after options too
    try:
        written = collect(args.recipe, args.out, args.overrides)
    except KitError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(f"example: {len(written)} files in {args.out} (git diff {args.out} shows what changed)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
