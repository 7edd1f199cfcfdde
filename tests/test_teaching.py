"""The teaching notebook (colab/teaching.ipynb; course guide docs/teaching.md). Quick checks read the notebook and
run its helper cell on made-up inputs (a figure that is missing, a study with undefined values and a failed premise);
the slow ones execute it top to bottom with nbclient, as tests/test_notebooks.py runs the Colab notebooks: with the
smoke recipe (every stage in a minute; the numbers mean nothing) for the figure cells and the verdict table, and with
the lecture-hall study recipes/toy-quick.yaml, whose verdicts must equal the committed example's claim by claim (in CI
that test fails, not skips, while the recipe or outputs/examples/toy-quick/ is missing). The course guide's answer key
is checked for measured lines: it fails while a MEASURED or TIME line is still a placeholder."""

from __future__ import annotations

import ast
import json
import math
import os
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
PAPER_REF = r"§\d|Table \d|Fig\. \d|App\. [A-Z]"  # a section, table, figure or appendix of the paper itself
PLACEHOLDER = re.compile(r"to be (?:filled|measured)|<machine>")  # an answer-key line nobody has measured yet


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
    """Every per-run figure kit.report.figures draws: its FIGURES stems, each written as <stem>.png (and .svg)."""
    from kit.report.figures import FIGURES

    return {f"{stem}.png" for stem in FIGURES}


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
        found = body.split("**What the paper found.**")[1]
        assert "dossier" not in found.lower(), f"{name}: cite the paper, not the project's dossier (not in the repo)"
        assert re.search(PAPER_REF, found), f"{name}: the paper's finding cites no section, table or figure"


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


def test_verdict_table_from_study_json():
    ns = _helpers(_nb(), [])
    study = {"seeds": [0, 1], "title": "exploratory",
             "findings": {"TI_non": {"claim": "transfer to non-reasoning: RL > SFT in TI, non-reasoning (%)",
                                     "verdict": "weakly reproduced", "diffs": [12.5, math.nan]},
                          "pca_d": {"claim": "latent drift: RL < SFT in PCA shift d <x>", "verdict": "reversed",
                                    "diffs": [0.25, 0.5]}}}
    table = ns["verdict_table"](json.loads(json.dumps(study)))  # NaN through JSON, as study.json holds it
    assert table.count("<tr>") == 3 and "<th>seed 1</th>" in table
    assert "<b>weakly reproduced</b>" in table and "<b>reversed</b>" in table and "<td>+12.5</td>" in table
    assert "<td>–</td>" in table and "&lt;x&gt;" in table and "<x>" not in table
    assert "no claims checked" in ns["verdict_table"]({**study, "findings": {}})


def _arm(gain: float, lo: float, hi: float) -> dict[str, float]:
    return {"TI_other": 10.0, "TI_non": 5.0, "math_gain": gain, "math_gain_lo": lo, "math_gain_hi": hi,
            "math_gain_ci_level": 0.9}


HOST = {"cpu": "Test CPU", "logical_cpus": 2, "cpus_usable": 2, "torch_threads": 2, "torch": "2.0", "python": "3.11"}


def _written(tmp_path: Path, name: str, per_seed: dict, study) -> tuple[dict, str]:
    """study.json and study.md as kit.study writes them for made-up per-seed numbers."""
    from kit.study import write_report

    out = tmp_path / name
    write_report(name, sorted(per_seed), per_seed, out, {}, study=study, host=HOST)
    return json.loads((out / "study.json").read_text()), (out / "study.md").read_text()


def test_premise_and_rule_are_the_kits_words_on_study_json(tmp_path):
    """The notebook prints study.md's premise section and pre-registered rule, rebuilt from study.json by kit.study
    (no paraphrase of its own): 'learned math' is a gain interval above 0, a failed premise is said to affect the
    verdicts only where an RL/SFT pair exists, and the t-interval's level is the recipe's criteria.ci."""
    from kit.recipe.schema import CriteriaCfg, StudyCfg

    ns = _helpers(_nb(), [])
    rule = StudyCfg(seeds=[0, 1], premise_min_gain=10.0, criteria=CriteriaCfg(ci=0.9, weak_share=0.6))
    pair = {0: {"grpo": _arm(12.0, 8.0, 16.0), "sft": _arm(11.0, 6.0, 16.0)},
            1: {"grpo": _arm(14.0, 9.0, 19.0), "sft": _arm(10.5, -0.5, 21.5)}}  # seed 1: SFT's interval includes 0
    study, md = _written(tmp_path, "pair", pair, rule)
    premise, rules = ns["premise_text"](study), ns["rule_text"](study)
    assert premise in md and rules in md, "the notebook's text is not study.md's"
    assert "**Premise held in 1/2 seeds.**" in premise and "at least 10 points" in premise
    assert "interval of that gain above 0" in premise and "90% bootstrap interval" in premise
    assert "The premise failed in seed(s) 1: there the verdicts compare arms that did not both learn" in premise
    assert "the 90% t-interval over seeds excludes 0" in rules and "more than 60% of the seeds" in rules
    assert "seeds: [0, 1]" in rules

    sft_only = {s: {"sft": _arm(2.0, -1.0, 5.0), "onpolicy_sft": _arm(12.0, 8.0, 16.0)} for s in (0, 1)}
    study, md = _written(tmp_path, "sft-only", sft_only, rule)
    premise = ns["premise_text"](study)
    assert premise in md and "No verdicts are computed: the runs have no RL/SFT pair" in premise
    assert "verdicts compare" not in premise and "no claims checked" in ns["verdict_table"](study)


def test_the_notebook_leaves_levels_and_rules_to_study_json():
    """No hard-coded interval level (the study's is criteria.ci, the runs' report.ci) and no rule of its own: hollow
    markers mean what the run report calls inconclusive, whatever the reason."""
    nb = _nb()
    for i, c in enumerate(nb.cells):
        assert not re.search(r"\b95 ?%", c.source), f"cell {i} hard-codes a 95 % level"
        assert "too wide to call" not in c.source, f"cell {i}: hollow means inconclusive, not only a wide interval"
        assert "def premise_line(" not in c.source, f"cell {i}: the premise is printed by kit.study, not paraphrased"
    for i, name in _figure_cells(nb):
        if name in ("ti_scatter.png", STUDY_FIGURE):
            text = nb.cells[i - 1].source
            assert "hollow" in text and "inconclusive" in text and "includes 0" in text, name


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
    from kit.compose import load_recipe

    first = load_recipe(str(ROOT / "recipes" / "toy.yaml"), []).study.seeds[0]  # the example's first seed
    shown = re.findall(rf"outputs/examples/toy/((?:seed{first}/plots/)?[\w-]+\.png)", GUIDE.read_text())
    assert _run_figures() | {STUDY_FIGURE} <= {Path(f).name for f in shown}, "the lecture shows every figure"
    missing = [f for f in shown if not (ROOT / "outputs" / "examples" / "toy" / f).is_file()]
    assert not missing, f"the lecture shows figures the committed example does not have: {missing}"


def test_guide_answer_key_is_measured():
    """Fails until every MEASURED line of the answer key, and the quick study's TIME, holds a measured outcome:
    a placeholder ("to be filled", "to be measured", "<machine>") is not an answer."""
    text = GUIDE.read_text()
    measured = re.findall(r"^MEASURED: (.*)$", text, re.M)
    times = re.findall(r"^TIME: (.*)$", text, re.M)
    assert len(measured) == len(_exercises()) and times, "one MEASURED line per exercise and a TIME line"
    pending = [line for line in measured + times if PLACEHOLDER.search(line)]
    assert not pending, f"{len(pending)} answer-key line(s) not measured yet, e.g. {pending[0]!r}"


def test_guide_cites_the_paper():
    """Numbers and critiques are cited to the paper (section, table, figure, appendix) or its reviews, never to the
    project's dossier, which is not in the repository."""
    text = GUIDE.read_text()
    assert "dossier" not in text.lower()
    questions = re.findall(r"^\d+\. \*\*(.+?)\*\*(.*?)(?=^\d+\. \*\*|\Z)",
                           text.split("## Discussion questions", 1)[1].split("\n## ", 1)[0], re.S | re.M)
    assert len(questions) >= 3
    for title, body in questions:
        assert re.search(PAPER_REF, body), f"discussion question {title!r} cites nothing of the paper"


def test_guide_commands_load():
    """Each exercise's command is the kit's real CLI: its recipe and overrides load (kit.run), its seeds parse
    (kit.study), its run folder argument is the study's (kit.report), all on recipes/toy-quick.yaml."""
    import shlex

    from kit.compose import load_recipe
    from kit.study import study_mode

    assert QUICK.is_file(), f"{QUICK.relative_to(ROOT)} is missing: the exercises run on it"
    recipe = str(QUICK)
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
    shown = "".join(o.data["text/markdown"] for o in _outputs(cell, "text/markdown"))
    md = (study_dir / "study.md").read_text()
    premise = md[md.index("## Premise"):md.index("## Measures per seed")].strip()
    rule = md[md.index("## Pre-registered"):md.index("Time per seed")].strip()
    assert "<table class='verdicts'>" in page and premise in shown, "the premise is not study.md's"
    assert f"Premise held in {len(study['premise']['held'])}/{len(study['seeds'])} seeds" in shown
    assert "Verdict rule" in rule and rule in shown, "the pre-registered rule is not study.md's"
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


def _require_quick(*paths: Path) -> None:
    """The quick study's recipe and committed example: missing, the check fails in CI (env CI set), where a skip
    would pass unseen, and skips locally (a checkout before the example is committed)."""
    missing = [str(p.relative_to(ROOT)) if p.is_relative_to(ROOT) else str(p) for p in paths if not p.exists()]
    if missing:
        why = f"{' and '.join(missing)} missing: the quick study's verdicts cannot be checked against the example"
        if os.environ.get("CI"):
            pytest.fail(why)
        pytest.skip(why)


def test_a_missing_quick_example_fails_in_ci_and_skips_locally(monkeypatch, tmp_path):
    gone = tmp_path / "study.json"
    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception, match="study.json missing"):
        _require_quick(QUICK, gone)
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="study.json missing"):
        _require_quick(QUICK, gone)
    _require_quick(QUICK)  # present: neither


@pytest.mark.slow
def test_notebook_quick_study_gives_the_committed_verdicts(offline, tmp_path):
    """The lecture-hall study as the notebook runs it (its default recipe, pre-registered seeds): the same
    verdict for every claim as the committed example, and every figure drawn."""
    from kit.recipe import load

    _require_quick(QUICK, QUICK_EXAMPLE)
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
