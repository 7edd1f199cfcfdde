"""The teaching notebook (colab/teaching.ipynb; course guide docs/teaching.md). Quick checks read the notebook and
run its helper cell on made-up inputs (a figure that is missing, a study with undefined values and a failed premise);
the slow ones execute it top to bottom with nbclient, as tests/test_notebooks.py runs the Colab notebooks: with the
smoke recipe (every stage in a minute; the numbers mean nothing) for the figure cells and the verdict table, and with
the lecture-hall study recipes/toy-quick.yaml, whose verdicts must equal the committed example's claim by claim."""

from __future__ import annotations

import ast
import json
import math
import re
from pathlib import Path

import nbformat
import pytest

from tests.conftest import ROOT
from tests.test_notebooks import _assigned, _parameters_index, _text, execute

NAME = "teaching.ipynb"
NOTEBOOK = ROOT / "colab" / NAME
QUICK = ROOT / "recipes" / "toy-quick.yaml"
QUICK_EXAMPLE = ROOT / "outputs" / "examples" / "toy-quick" / "study.json"
NOT_MADE = "figure not made"
STUDY_FIGURE = "ti_by_seed.png"


def _nb():
    return nbformat.read(NOTEBOOK, as_version=4)


def _figure_cells(nb) -> list[tuple[int, str]]:
    """(index, figure file name) of every code cell that shows one figure with `show(...)`."""
    out = []
    for i, c in enumerate(nb.cells):
        m = re.fullmatch(r'show\((?:PLOTS|STUDY_DIR) / "([\w.-]+\.png)"(?:, .*)?\)', c.source.strip())
        if c.cell_type == "code" and m:
            out.append((i, m.group(1)))
    return out


def _run_figures() -> set[str]:
    """Every per-run figure kit.report.figures draws (its `pdir / "<name>.png"` paths), read from its source."""
    return set(re.findall(r'pdir / "([\w.-]+\.png)"', (ROOT / "kit" / "report" / "figures.py").read_text()))


def _helpers(nb, shown: list) -> dict:
    """The notebook's helper cell run here, its `display` replaced by one that records what it was given."""
    cell = next(c for c in nb.cells if c.cell_type == "code" and "def show(" in c.source)
    ns: dict = {}
    exec(compile(cell.source, "teaching-helpers", "exec"), ns)
    ns["display"] = shown.append
    return ns


# -- quick: what the notebook carries -------------------------------------------------------------------------------

def test_parameters_and_badge():
    nb = _nb()
    params = _assigned(nb.cells[_parameters_index(nb)].source)
    assert params["RECIPE"] == "recipes/toy-quick.yaml"
    assert {"KIT_SOURCE", "RECIPE", "OVERRIDES", "OUTPUT_DIR", "USE_DRIVE", "SEEDS"} <= set(params)
    owner_repo = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?", str(params["KIT_SOURCE"])).group(1)
    assert f"https://colab.research.google.com/github/{owner_repo}/blob/main/colab/{NAME}" in nb.cells[0].source
    assert not any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code"), \
        "commit the notebook without outputs"
    for c in nb.cells:
        if c.cell_type == "code":
            ast.parse(c.source)


def test_every_figure_the_kit_draws_is_shown_after_two_sentences_citing_the_paper():
    nb = _nb()
    cells = _figure_cells(nb)
    names = [n for _, n in cells]
    assert _run_figures() and _run_figures() | {STUDY_FIGURE} == set(names) and len(names) == len(set(names))
    assert names[-1] == STUDY_FIGURE, "the study plot comes after one seed's figures"
    for i, name in cells:
        text = nb.cells[i - 1].source
        assert nb.cells[i - 1].cell_type == "markdown" and f"`{name}`" in text, f"{name}: no markdown cell before it"
        body = text.split("\n\n", 1)[1]
        assert body.count("**What it measures.**") == 1 and body.count("**What the paper found.**") == 1, name
        assert re.search(r"§\d|Table \d|Fig\. \d", body.split("**What the paper found.**")[1]), \
            f"{name}: the paper's finding cites no section, table or figure"


def test_show_displays_a_figure_or_says_it_was_not_made(tmp_path, capsys):
    shown: list = []
    ns = _helpers(_nb(), shown)
    png = tmp_path / "benchmarks.png"
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig = plt.figure(figsize=(1, 1))
    fig.savefig(png)
    plt.close(fig)
    ns["show"](png)
    assert len(shown) == 1 and shown[0].format == "png" and NOT_MADE not in capsys.readouterr().out
    ns["show"](tmp_path / "cka.png", "drawn when the probe stage ran")
    out = capsys.readouterr().out
    assert len(shown) == 1 and f"{NOT_MADE}: cka.png" in out and "probe stage" in out
    assert ns["SHOWN"] == {"benchmarks.png", "cka.png"}


def test_verdict_table_and_premise_line_from_study_json():
    ns = _helpers(_nb(), [])
    study = {"seeds": [0, 1], "title": "exploratory",
             "preregistered": {"premise_min_gain": 10.0, "premise_ci_excludes_0": True},
             "premise": {"held": [0], "failed": [1], "compared": ["grpo", "sft"]},
             "findings": {"TI_non": {"claim": "transfer to non-reasoning: RL > SFT in TI, non-reasoning (%)",
                                     "verdict": "weakly reproduced", "diffs": [12.5, math.nan]},
                          "pca_d": {"claim": "latent drift: RL < SFT in PCA shift d <x>", "verdict": "reversed",
                                    "diffs": [0.25, 0.5]}}}
    table = ns["verdict_table"](json.loads(json.dumps(study)))  # NaN through JSON, as study.json holds it
    assert table.count("<tr>") == 3 and "<th>seed 1</th>" in table
    assert "<b>weakly reproduced</b>" in table and "<b>reversed</b>" in table and "<td>+12.5</td>" in table
    assert "<td>–</td>" in table and "&lt;x&gt;" in table and "<x>" not in table
    line = ns["premise_line"](study)
    assert line.startswith("Premise held in 1/2 seeds") and "at least 10 points" in line and "excluding 0" in line
    assert "failed in seed(s) 1" in line
    assert "no claims checked" in ns["verdict_table"]({**study, "findings": {}})


GUIDE = ROOT / "docs" / "teaching.md"


def _exercises() -> list[tuple[str, str]]:
    """(title, section text) of each '### <n>. ...' exercise of the course guide."""
    text = GUIDE.read_text().split("## Exercises", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^### (\d+\. [^\n]+)\n(.*?)(?=^### |\Z)", text, re.S | re.M)


def test_guide_has_six_exercises_each_one_command_with_a_measured_line():
    exercises = _exercises()
    assert len(exercises) >= 6
    for title, body in exercises:
        blocks = re.findall(r"```bash\n(.*?)```", body, re.S)
        assert len(blocks) == 1 and len(blocks[0].strip().splitlines()) == 1, f"{title}: one command"
        assert "**Question.**" in body and "**Look at.**" in body and "**Answer key.**" in body, title
        assert re.search(r"^MEASURED: ", body, re.M), f"{title}: no MEASURED line in the answer key"
    figures = set(re.findall(r"outputs/examples/toy/(?:seed0/plots/)?([\w-]+\.png)", GUIDE.read_text()))
    assert _run_figures() | {STUDY_FIGURE} <= figures, "the lecture shows every figure of the committed example"


def test_guide_commands_load():
    """Each exercise's command is the kit's real CLI: its recipe and overrides load (kit.run), its seeds parse
    (kit.study), its run folder argument is the study's (kit.report). The stand-in recipes/toy.yaml has the same
    keys until recipes/toy-quick.yaml is committed."""
    import shlex

    from kit.compose import load_recipe
    from kit.study import study_mode

    recipe = str(QUICK if QUICK.exists() else ROOT / "recipes" / "toy.yaml")
    for title, body in _exercises():
        argv = shlex.split(re.search(r"```bash\n(.*?)```", body, re.S).group(1))
        assert argv[0] == "python" and argv[1] == "-m", title
        if argv[2] == "kit.run":
            assert argv[3] == "recipes/toy-quick.yaml" and any(a.startswith("run_name=ex") for a in argv), title
            load_recipe(recipe, [a for a in argv[4:] if not a.startswith("--")])
        elif argv[2] == "kit.study":
            seeds = [int(x) for x in argv[argv.index("--seeds") + 1].split(",")]
            assert study_mode(seeds, False, load_recipe(recipe, []).study)[1] == "exploratory", title
        else:
            assert argv[2:] == ["kit.report", "outputs/toy-quick-seed0"], title


# -- executed on this CPU --------------------------------------------------------------------------------------------

@pytest.fixture
def offline(kit_cache, monkeypatch):
    """The kernel inherits this environment: the session's model cache and the Hub offline."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return kit_cache


def _outputs(cell, kind: str) -> list:
    return [o for o in cell.get("outputs", []) if o.output_type == "display_data" and kind in o.get("data", {})]


def _check_executed(nb, out: Path, name: str, folder: str) -> dict:
    """Every figure cell showed its figure exactly when the run drew it, else the note; the verdict table lists
    the study.json's claims and verdicts; the premise line is printed. `folder`: the study report's folder, as
    kit.study names it for the study's mode. Returns the study.json."""
    study_dir = out / folder
    study = json.loads((study_dir / "study.json").read_text())
    plots = out / f"{name}-seed{study['seeds'][0]}" / "plots"
    for i, fig in _figure_cells(nb):
        exists = (study_dir if fig == STUDY_FIGURE else plots).joinpath(fig).is_file()
        images, text = _outputs(nb.cells[i], "image/png"), _text(nb.cells[i])
        assert (len(images), NOT_MADE in text) == ((1, False) if exists else (0, True)), (fig, exists, text)
    assert (plots / "benchmarks.png").is_file() and (study_dir / STUDY_FIGURE).is_file()
    cell = next(c for c in nb.cells if c.cell_type == "code" and "verdict_table(STUDY)" in c.source)
    page = "".join(o.data["text/html"] for o in _outputs(cell, "text/html"))
    assert "<table class='verdicts'>" in page and f"Premise held in {len(study['premise']['held'])}/" in _text(cell)
    import html

    for f in study["findings"].values():
        assert f"<td>{html.escape(f['claim'])}</td><td><b>{html.escape(f['verdict'])}</b></td>" in page
    return study


@pytest.mark.slow
def test_notebook_runs_the_smoke_study(offline, tmp_path):
    """Development check (CI): the smoke recipe, two seeds, every cell."""
    nb = execute(NAME, tmp_path / "out", tmp_path / "runtime", SEEDS="0,1")
    assert "study report:" in _text(next(c for c in nb.cells if c.cell_type == "code" and '"kit.study"' in c.source))
    study = _check_executed(nb, tmp_path / "out", "smoke", "smoke-exploratory-study")  # not its study.seeds
    assert study["seeds"] == [0, 1] and study["mode"] == "exploratory" and len(study["findings"]) == 6


@pytest.mark.slow
@pytest.mark.skipif(not (QUICK.exists() and QUICK_EXAMPLE.exists()),
                    reason="recipes/toy-quick.yaml and outputs/examples/toy-quick/ are not committed yet")
def test_notebook_quick_study_gives_the_committed_verdicts(offline, tmp_path):
    """The lecture-hall study as the notebook runs it (its default recipe, pre-registered seeds): the same
    verdict for every claim as the committed example, and every figure drawn."""
    from kit.recipe import load

    nb = execute(NAME, tmp_path / "out", tmp_path / "runtime", RECIPE=str(QUICK), SEEDS="")
    name = load(str(QUICK)).name
    study = _check_executed(nb, tmp_path / "out", name, f"{name}-study")
    assert not any(NOT_MADE in _text(nb.cells[i]) for i, _ in _figure_cells(nb)), "a figure the quick study lacks"
    example = json.loads(QUICK_EXAMPLE.read_text())
    assert study["seeds"] == example["seeds"] and study["mode"] == example["mode"] == "confirmatory"
    assert set(study["findings"]) == set(example["findings"])
    for key, want in example["findings"].items():
        got = study["findings"][key]
        assert (got["claim"], got["verdict"]) == (want["claim"], want["verdict"]), key
