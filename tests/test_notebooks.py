"""The Colab notebooks (colab/*.ipynb), executed top to bottom on this CPU with nbclient, the way "Run all" runs
them: a cell injected after the one tagged `parameters` (papermill style) switches each to the smoke recipe, a local
output folder and no Drive, in a kernel whose working folder is a fresh temporary one, so a broken cell fails here.
The T4 notebook is run twice on the same output folder: a recycled Colab runtime that reruns all cells must skip
every finished stage. The static checks (badge, parameters, no relative images) are quick and not marked slow."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import nbformat  # requirements/cpu.txt: nbclient, nbformat, ipykernel (the kernel the notebooks run in)
import pytest

from tests.conftest import ROOT

COLAB = ROOT / "colab"
NOTEBOOKS = ("qwen3-0.6b-t4.ipynb", "qwen3-14b-80gb.ipynb", "toy-cpu.ipynb")
SMOKE = ROOT / "recipes" / "smoke.yaml"
STAGES = ("data", "train_sft", "train_grpo", "train_onpolicy_sft", "eval", "probe", "report")
PARAMETERS = ("KIT_SOURCE", "RECIPE", "OVERRIDES", "OUTPUT_DIR", "USE_DRIVE")


def _read(name: str):
    return nbformat.read(COLAB / name, as_version=4)


def _parameters_index(nb) -> int:
    tagged = [i for i, c in enumerate(nb.cells) if "parameters" in c.metadata.get("tags", [])]
    assert len(tagged) == 1, f"exactly one cell tagged 'parameters', found {len(tagged)}"
    return tagged[0]


def _assigned(source: str) -> dict[str, object]:
    """Top-level names a cell assigns to a literal, read without running it."""
    out = {}
    for node in ast.parse(source).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and getattr(node, "value", None) is not None:
            out[target.id] = ast.literal_eval(node.value)
    return out


def _text(cell) -> str:
    """A code cell's printed text (streams) and error, as the test reads it."""
    parts = []
    for out in cell.get("outputs", []):
        if out.output_type == "stream":
            parts.append(out.text)
        elif out.output_type == "error":
            parts.append("\n".join(out.traceback))
    return "".join(parts)


def execute(name: str, out_dir: Path, cwd: Path, **params: object):
    """Run one notebook top to bottom with the smoke parameters injected after its parameters cell; a cell that
    raises fails the test (nbclient's CellExecutionError, with the cell's traceback)."""
    from nbclient import NotebookClient

    nb = _read(name)
    values = {"KIT_SOURCE": str(ROOT), "RECIPE": str(SMOKE), "OVERRIDES": [], "OUTPUT_DIR": str(out_dir),
              "USE_DRIVE": False, **params}
    cell = nbformat.v4.new_code_cell("# Parameters injected by tests/test_notebooks.py\n" +
                                     "\n".join(f"{k} = {v!r}" for k, v in values.items()))
    cell.metadata["tags"] = ["injected-parameters"]
    nb.cells.insert(_parameters_index(nb) + 1, cell)
    cwd.mkdir(parents=True, exist_ok=True)
    NotebookClient(nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}).execute()
    return nb


def _cell_with(nb, needle: str):
    found = [c for c in nb.cells if c.cell_type == "code" and needle in c.source]
    assert len(found) == 1, f"one code cell with {needle!r}, found {len(found)}"
    return found[0]


def _shows_report(nb) -> bool:
    """An inline report: an HTML display output with the report page in it, images as data URIs."""
    html = [o.data["text/html"] for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])
            if o.output_type == "display_data" and "text/html" in o.get("data", {})]
    return any("<iframe srcdoc=" in h and "data:image/png;base64," in h for h in html)


# -- static: what every notebook must carry ---------------------------------------------------------------------------

@pytest.mark.parametrize("name", NOTEBOOKS)
def test_badge_and_source_name_the_same_repository(name):
    nb = _read(name)
    params = _assigned(nb.cells[_parameters_index(nb)].source)
    assert set(PARAMETERS) <= set(params), f"parameters cell lacks {set(PARAMETERS) - set(params)}"
    owner_repo = re.fullmatch(r"https://github\.com/([^/]+/[^/]+?)(?:\.git)?", str(params["KIT_SOURCE"])).group(1)
    badge = f"https://colab.research.google.com/github/{owner_repo}/blob/main/colab/{name}"
    assert badge in nb.cells[0].source and "colab-badge.svg" in nb.cells[0].source


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_cells_are_in_the_order_a_run_all_needs(name):
    """Install, Drive, login and the preflight come before anything that trains; no markdown image by path."""
    nb = _read(name)
    code = [c.source for c in nb.cells if c.cell_type == "code"]
    first = {key: next(i for i, s in enumerate(code) if key in s)
             for key in ('"COLAB_" in', "drive.mount(", 'userdata.get("HF_TOKEN")', '"kit.preflight"', "display(HTML(")}
    trains = [i for i, s in enumerate(code) if '"-m", "kit.run"' in s or '"-m", "kit.study"' in s]
    assert first['"COLAB_" in'] < first["drive.mount("] < first['userdata.get("HF_TOKEN")'] < first['"kit.preflight"']
    assert first['"kit.preflight"'] < min(trains) and max(trains) < first["display(HTML("]
    study = code[max(trains)]
    assert study.index('"--dry-run"') < study.rindex("*RUN_ARGS"), "the study cell prints its plan before it runs"
    for c in nb.cells:
        if c.cell_type == "markdown":
            assert not re.search(r"!\[[^\]]*\]\((?!https?:|data:)", c.source), "markdown image with a relative path"


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_committed_clean_or_honest_about_where_outputs_came_from(name):
    nb = _read(name)
    ran = any(c.get("outputs") or c.get("execution_count") for c in nb.cells if c.cell_type == "code")
    honest = any("outputs below are from a CPU run of the smoke recipe" in c.source for c in nb.cells
                 if c.cell_type == "markdown")
    assert not ran or honest


# -- executed on this CPU ---------------------------------------------------------------------------------------------

@pytest.fixture
def clean_env(kit_cache, monkeypatch):
    """The kernel inherits this environment: the shared tiny-model cache, the Hub offline, and no token (the login
    cell must say what is missing, not call the Hub)."""
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return kit_cache


@pytest.mark.slow
def test_t4_notebook_runs_and_resumes_after_a_recycled_runtime(clean_env, tmp_path):
    out = tmp_path / "drive" / "kit-outputs"  # what Drive keeps across runtimes
    first = execute("qwen3-0.6b-t4.ipynb", out, tmp_path / "runtime1")
    install = _text(_cell_with(first, '"COLAB_" in'))
    assert "Colab: False; GPU: none (CPU)" in install and "nothing to install" in install
    assert "no HF_TOKEN secret" in _text(_cell_with(first, 'userdata.get("HF_TOKEN")'))
    assert "preflight passed" in _text(_cell_with(first, '"kit.preflight"'))
    study = _text(_cell_with(first, '"--dry-run"'))
    assert re.search(r"^total: .*\d", study, re.M), "the study cell prints its planned time"
    assert all(f"[{s}] done in" in study for s in STAGES), study[-3000:]
    assert _shows_report(first)
    # a recycled runtime: a new VM (fresh working folder), the same output folder on Drive, Run all again
    again = _text(_cell_with(execute("qwen3-0.6b-t4.ipynb", out, tmp_path / "runtime2"), '"--dry-run"'))
    assert all(f"[{s}] done earlier, skipped" in again for s in STAGES), again[-3000:]
    assert "running …" not in again and "resuming" not in again


@pytest.mark.slow
def test_80gb_notebook_runs(clean_env, tmp_path):
    nb = execute("qwen3-14b-80gb.ipynb", tmp_path / "out", tmp_path / "runtime")
    assert "no GPU: skipped" in _text(_cell_with(nb, '"smoke", "run_name=smoke-gpu"'))
    assert "[report] done in" in _text(_cell_with(nb, '"--dry-run"')) and _shows_report(nb)


@pytest.mark.slow
def test_toy_notebook_runs_the_study(clean_env, tmp_path):
    """The mini-study notebook on the smoke recipe, one seed: the same cells as the quick toy, in a minute."""
    nb = execute("toy-cpu.ipynb", tmp_path / "out", tmp_path / "runtime", SEEDS="0")
    study = _text(_cell_with(nb, '"kit.study"'))
    assert "study report:" in study and (tmp_path / "out" / "smoke-exploratory-study" / "study.md").exists()  # not study.seeds
    assert _shows_report(nb)


def test_a_failing_cell_fails_the_execution(clean_env, tmp_path):
    """What makes the executions above a check: a command that fails raises in its cell (the `run` helper)."""
    from nbclient.exceptions import CellExecutionError

    with pytest.raises(CellExecutionError, match=r"kit\.preflight .* failed \(exit 2\)"):
        execute("toy-cpu.ipynb", tmp_path / "out", tmp_path / "runtime", OVERRIDES=["eval.itemz=3"])
