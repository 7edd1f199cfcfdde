"""Packaging (#14): shipped recipes found by name, every kit folder in the wheel, and an installed copy that runs.

The slow test builds the wheel from a copy of the sources and installs it into a genuinely fresh venv: torch the way
the Makefile installs it ($TORCH_INDEX, the pin from requirements/cpu.txt), then the wheel with the requirements its
own METADATA declares, constrained to requirements/cpu.txt so pip takes the tested versions (from its cache after
`make install`). Measured on the 2-core CI-class machine: wheel 2 s, venv 5 s, torch 35 s, the wheel's requirements
99 s; the whole smoke recipe from the installed copy 62 s; both metrics 6 s. A `--system-site-packages` venv would be
faster but cannot show that the declared requirements are enough, so it is not used. Outside the checkout, with
PYTHONPATH unset, it runs `python -m kit.run smoke` and `evaluate.load` of both metric modules, then checks with a pip
dry-run that `[gpu]` keeps the installed torch.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

from kit.errors import KitError
from kit.recipe.load import find_recipe, load
from tests.conftest import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())
MAPPED = {"kit.recipes": "recipes", "kit.metrics": "metrics"}
SOURCES = ("pyproject.toml", "README.md", "kit", "recipes", "metrics")  # what the wheel is built from


def test_distribution_name_is_not_the_import_name():
    # `kit` on PyPI is an unrelated project; the import package stays `kit`
    assert PYPROJECT["project"]["name"] == "reasoning-transfer-kit"


def test_every_kit_folder_is_a_listed_package():
    """The package list is explicit (setuptools cannot map recipes/ into a found package): a new folder under kit/
    that is not listed would silently be left out of the wheel."""
    listed = set(PYPROJECT["tool"]["setuptools"]["packages"])
    found = {".".join(d.relative_to(ROOT).parts) for d in (ROOT / "kit").rglob("*")
             if d.is_dir() and d.name != "__pycache__" and any(f.is_file() for f in d.iterdir())}
    assert found | {"kit"} <= listed, f"add to pyproject.toml [tool.setuptools] packages: {sorted(found - listed)}"
    assert PYPROJECT["tool"]["setuptools"]["package-dir"] == MAPPED
    for pkg, folder in MAPPED.items():
        assert (ROOT / folder).is_dir() and pkg in listed


def test_runtime_dependencies_declared():
    deps = {re.split(r"[<>=!~; ]", d, maxsplit=1)[0].lower() for d in PYPROJECT["project"]["dependencies"]}
    assert {"evaluate", "torch", "transformers", "trl", "peft", "datasets", "math-verify"} <= deps
    torch = next(d for d in PYPROJECT["project"]["dependencies"] if d.startswith("torch"))
    assert "<" in torch and ">=" in torch and "==" not in torch  # a range an installed torch satisfies, never a pin
    extras = PYPROJECT["project"]["optional-dependencies"]
    assert {"gpu", "vllm", "tracking"} <= set(extras)
    gpu = {re.split(r"[<>=!~; ]", d, maxsplit=1)[0].lower() for d in extras["gpu"]}
    assert not gpu & {"torch", "torchvision", "xformers", "triton", "unsloth", "unsloth_zoo"}  # README: --no-deps


@pytest.mark.parametrize("name", ["smoke", "qwen3-0.6b-t4"])
def test_a_bare_name_is_a_shipped_recipe(name):
    assert find_recipe(name) == ROOT / "recipes" / f"{name}.yaml"
    assert load(name).name == name  # `base: bases/qwen3.yaml` resolves beside the shipped file


def test_a_path_is_still_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(ROOT)
    assert find_recipe("recipes/smoke.yaml") == Path("recipes/smoke.yaml")
    (tmp_path / "smoke.yaml").write_text((ROOT / "recipes" / "smoke.yaml").read_text().replace("name: smoke", "name: mine"))
    assert load(tmp_path / "smoke.yaml").name == "mine"
    monkeypatch.chdir(tmp_path)
    assert load("smoke.yaml").name == "mine"  # a .yaml suffix is a file, even where a shipped name matches


@pytest.mark.parametrize("name", ["qwen3", "bases", "smok"])
def test_an_unknown_name_lists_the_shipped_ones(name):
    with pytest.raises(KitError) as err:
        find_recipe(name)
    text = str(err.value)
    assert "\n" not in text and f"unknown recipe '{name}'" in text and "smoke, toy" in text
    assert "qwen3-0.6b-t4" in text and "bases" not in text.split("shipped:")[1]


def test_metric_paths():
    spec = importlib.util.spec_from_file_location("kit_metrics_checkout", ROOT / "metrics" / "__init__.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    for name in mod.NAMES:
        assert (Path(mod.path(name)) / f"{name}.py").is_file()
    with pytest.raises(KitError, match="unknown metric 'ti'; the kit ships: transferability_index, math_accuracy"):
        mod.path("ti")


def _run(cmd: list[str], cwd: Path, env: dict[str, str], timeout: int) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, cwd=cwd, env=env, text=True, capture_output=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)} failed:\n{(done.stdout + done.stderr)[-4000:]}"
    return done


@pytest.mark.slow
def test_wheel_installs_and_runs_outside_the_checkout(tmp_path):
    src, work = tmp_path / "src", tmp_path / "work"
    work.mkdir()
    src.mkdir()
    for name in SOURCES:  # build from a copy: the checkout gets no build/ or *.egg-info from this test
        if (ROOT / name).is_dir():
            shutil.copytree(ROOT / name, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(ROOT / name, src / name)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env.update(HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1", HF_EVALUATE_OFFLINE="1", TOKENIZERS_PARALLELISM="false",
               HF_MODULES_CACHE=str(work / "modules"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    _run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(tmp_path / "dist"),
          str(src)], tmp_path, env, 300)
    (wheel,) = (tmp_path / "dist").glob("reasoning_transfer_kit-*.whl")
    shipped = set(zipfile.ZipFile(wheel).namelist())
    assert {"kit/recipes/smoke.yaml", "kit/recipes/bases/qwen3.yaml", "kit/metrics/__init__.py",
            "kit/metrics/transferability_index/transferability_index.py", "kit/metrics/math_accuracy/math_accuracy.py",
            "kit/configs/accelerate/zero2.yaml"} <= shipped

    venv = tmp_path / "venv"
    py = str(venv / "bin" / "python")
    try:
        _run([sys.executable, "-m", "venv", str(venv)], tmp_path, env, 120)
        pins = (ROOT / "requirements" / "cpu.txt").read_text()
        torch_pin = re.search(r"^torch==\S+", pins, re.M).group(0)
        index = os.environ.get("TORCH_INDEX", "").split()  # as in the Makefile, e.g. the PyTorch CPU wheel index
        _run([py, "-m", "pip", "install", "-q", "--no-compile", *index, torch_pin], tmp_path, env, 1200)
        _run([py, "-m", "pip", "install", "-q", "--no-compile", "-c", str(ROOT / "requirements" / "cpu.txt"),
              str(wheel)], tmp_path, env, 1200)

        run = _run([py, "-m", "kit.run", "smoke", f"output_dir={work / 'out'}"], work, env, 900)
        assert (work / "out" / "smoke" / "report.md").is_file(), run.stdout[-2000:]
        probe = ("import json, evaluate, kit, kit.metrics\n"
                 "ti = evaluate.load(kit.metrics.path('transferability_index'))\n"
                 "acc = evaluate.load(kit.metrics.path('math_accuracy'))\n"
                 "t = ti.compute(predictions=[60, 50, 40, 30], references=[50, 45, 42, 28],"
                 " groups=['math', 'math', 'other', 'other'])\n"
                 "a = acc.compute(predictions=['so \\\\boxed{0.5}', '7'], references=['\\\\frac{1}{2}', '8'])\n"
                 "print(json.dumps({'kit': kit.__file__, 'impl': t['implementation'], 'scores': a['scores']}))\n")
        out = json.loads(_run([py, "-c", probe], work, env, 300).stdout.strip().splitlines()[-1])
        assert out["kit"].startswith(str(venv)) and out["impl"] == "kit" and out["scores"] == [1, 0]
        unknown = subprocess.run([py, "-m", "kit.run", "no-such-recipe"], cwd=work, env=env, text=True,
                                 capture_output=True, timeout=300)
        assert unknown.returncode == 2 and "shipped: audit-unireason-14b" in unknown.stderr + unknown.stdout

        # `[gpu]` on an environment that has torch: pip must keep it (the README's promise for Colab)
        report = tmp_path / "gpu-dry-run.json"
        _run([py, "-m", "pip", "install", "-q", "--dry-run", "--report", str(report), f"{wheel}[gpu]"], tmp_path, env,
             900)
        planned = {i["metadata"]["name"].lower() for i in json.loads(report.read_text())["install"]}
        assert "torch" not in planned and not {p for p in planned if p.startswith("nvidia-")}, sorted(planned)
    finally:
        shutil.rmtree(venv, ignore_errors=True)  # ~2 GB
