"""The layer picture of docs/architecture.md, checked: no import in kit/ points to a higher layer, the core never
names the bundled plug-in, and no module grows past ~400 lines."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from tests.conftest import ROOT

KIT = ROOT / "kit"
LAYERS = {  # the table in docs/architecture.md
    0: ("kit", "kit.errors", "kit.groups", "kit.chat", "kit.registry", "kit.runlog"),
    1: ("kit.recipe",),
    2: ("kit.hardware", "kit.compat", "kit.shapes", "kit.models", "kit.rundir", "kit.stages", "kit.dist",
        "kit.tracking"),
    3: ("kit.gen",),
    4: ("kit.data", "kit.eval", "kit.measure"),
    5: ("kit.train", "kit.probe"),
    6: ("kit.plan", "kit.report"),
    7: ("kit.run", "kit.compose", "kit.builtin", "kit.study", "kit.seedjobs", "kit.gpucheck", "kit.toy", "kit.__main__",
        "kit.worker", "kit.export", "kit.preflight", "kit.launch"),
}
MAX_LINES = 420


def layer_of(module: str) -> int:
    """The layer of the longest listed prefix of a dotted module name."""
    best, layer = -1, None
    for n, prefixes in LAYERS.items():
        for p in prefixes:
            if (module == p or module.startswith(p + ".")) and len(p) > best:
                best, layer = len(p), n
    if layer is None:
        raise AssertionError(f"{module} is in no layer of docs/architecture.md")
    return layer


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def kit_imports(path: Path) -> list[tuple[int, str]]:
    """(line, imported kit module) for every import statement in the file, also those inside functions."""
    out = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module and node.module.split(".")[0] == "kit":
            names = [f"{node.module}.{a.name}" for a in node.names]
            # `from kit import recipe` imports the module kit.recipe; `from kit.x import f` imports kit.x
            out += [(node.lineno, n if n.rsplit(".", 1)[0] == "kit" and node.module == "kit" else node.module)
                    for n in names]
        elif isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.split(".")[0] == "kit"]
    return out


FILES = sorted(KIT.rglob("*.py"))


def test_every_module_has_a_layer():
    for f in FILES:
        layer_of(module_name(f))


def test_the_layer_check_catches_an_upward_import(tmp_path):
    """The checker itself: a base-layer file importing the trainer is an upward import."""
    f = tmp_path / "probe_file.py"
    f.write_text("def g():\n    from kit.train.sft import run\n")
    [(line, mod)] = kit_imports(f)
    assert line == 2 and layer_of(mod) > layer_of("kit.registry")


def test_no_import_points_up():
    upward = []
    for f in FILES:
        me = module_name(f)
        for line, mod in kit_imports(f):
            if layer_of(mod) > layer_of(me):
                upward.append(f"{f.relative_to(ROOT)}:{line} ({me}, layer {layer_of(me)}) imports {mod} "
                              f"(layer {layer_of(mod)})")
    assert not upward, "imports pointing up:\n" + "\n".join(upward)


@pytest.mark.parametrize("f", [f for f in FILES if layer_of(module_name(f)) < 7], ids=lambda f: str(f.relative_to(KIT)))
def test_the_core_never_names_the_toy(f):
    """Only the composition root lists plug-ins: below it, nothing imports or names the CPU mini-world."""
    text = f.read_text()
    assert "kit.toy" not in text and "toy-qwen3" not in text and '"toy"' not in text


def test_no_module_over_the_size_limit():
    big = [f"{f.relative_to(ROOT)}: {n} lines" for f in FILES if (n := len(f.read_text().splitlines())) > MAX_LINES]
    assert not big, f"modules over {MAX_LINES} lines (split them):\n" + "\n".join(big)


def test_the_report_imports_no_training_code():
    """The report is a function of the run folder: rebuilding it must not need trl, transformers or a model."""
    heavy = ("kit.train", "kit.models", "kit.gen", "kit.probe", "kit.data")
    found = [f"{f.relative_to(ROOT)}:{line} imports {mod}" for f in sorted((KIT / "report").rglob("*.py"))
             for line, mod in kit_imports(f) if mod.startswith(heavy)]
    assert not found, "\n".join(found)
    for f in sorted((KIT / "report").rglob("*.py")):
        tree = ast.parse(f.read_text())
        libs = {a.name.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        libs |= {n.module.split(".")[0] for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
        assert not libs & {"torch", "transformers", "trl", "peft"}, f
