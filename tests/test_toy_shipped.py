"""The shipped toy base (kit/toy/shipped/) and the example collector (kit/toy/example.py): every machine starts the
mini-study from the same weights, and `make toy` rewrites the committed example from its own outputs."""

from __future__ import annotations

import dataclasses
import filecmp
import json

import pytest

from kit.toy import pretrain, shipped
from tests.conftest import ROOT


def test_the_kit_ships_the_base_of_the_current_code():
    """Fails when the world, the tokenizer or the pretraining settings change without a new shipped base:
    run `python -m kit.toy.pretrain --ship` (and commit kit/toy/shipped/)."""
    name = pretrain.base_dir(ROOT, quick=False).name
    path = shipped.shipped(name)
    assert path is not None, f"no shipped base {name}; build and ship it: python -m kit.toy.pretrain --ship"
    import tarfile

    with tarfile.open(path) as tar:
        info = json.loads(tar.extractfile(pretrain.BUILD_INFO).read())
        assert tar.getmember("model.safetensors").size < 8_000_000
    assert info["key"] == pretrain.cfg_key(pretrain.DEFAULT)
    assert info["cfg"] == json.loads(json.dumps(dataclasses.asdict(pretrain.DEFAULT)))
    assert info["world"] == pretrain.WORLD_VERSION and info["cpu"]  # the machine that built it is named
    assert sorted(p.name for p in shipped.SHIPPED.glob("*.tar")) == [f"{name}.tar"]  # one base, no stale ones


def test_ensure_base_unpacks_the_shipped_base_instead_of_building(tmp_path, monkeypatch):
    def no_build(*a, **k):
        raise AssertionError("built although the kit ships this base")

    monkeypatch.setattr(pretrain, "build_base", no_build)
    logs: list[str] = []
    out = pretrain.ensure_base(tmp_path / "toy", log=logs.append)
    assert out.parent == tmp_path / "toy" and "unpacked the shipped build" in logs[0]
    assert pretrain._complete(out)
    model, tok = pretrain.load_base(out)  # a loadable model and tokenizer, not just files
    assert model.config.vocab_size == len(tok)
    assert not list((tmp_path / "toy").glob("*.tmp-*"))
    assert pretrain.ensure_base(tmp_path / "toy") == out  # reused, not unpacked again


def test_a_base_the_kit_does_not_ship_is_built(tmp_path, monkeypatch):
    built: list[str] = []

    def fake_build(out, cfg, log=None):
        out.mkdir(parents=True)
        for f in ("config.json", "model.safetensors", "tokenizer.json", pretrain.BUILD_INFO):
            (out / f).write_text("{}")
        built.append(out.name)

    monkeypatch.setattr(pretrain, "build_base", fake_build)
    other = dataclasses.replace(pretrain.DEFAULT, steps=7)
    out = pretrain.ensure_base(tmp_path / "toy", cfg=other)
    assert built and out.name.endswith(pretrain.cfg_key(other))


def test_ship_archives_byte_stably_and_replaces_only_earlier_shipped_bases(tmp_path, monkeypatch):
    monkeypatch.setattr(shipped, "SHIPPED", tmp_path / "shipped")
    (tmp_path / "shipped").mkdir()
    (tmp_path / "shipped" / "toy-qwen3-full-old.tar").write_text("old")
    (tmp_path / "shipped" / "README.md").write_text("kept")
    built = tmp_path / "cache" / "toy-qwen3-full-new"
    built.mkdir(parents=True)
    for f in shipped.FILES:
        (built / f).write_text(f)
    dest = shipped.ship(built)
    first = dest.read_bytes()
    assert dest.name == "toy-qwen3-full-new.tar" and shipped.ship(built).read_bytes() == first  # same bytes again
    assert not (tmp_path / "shipped" / "toy-qwen3-full-old.tar").exists()
    assert (tmp_path / "shipped" / "README.md").read_text() == "kept"
    out = tmp_path / "unpacked" / "toy-qwen3-full-new"
    assert shipped.unpack("toy-qwen3-full-new", out) and not shipped.unpack("toy-qwen3-full-none", tmp_path / "x")
    assert all(filecmp.cmp(built / f, out / f, shallow=False) for f in shipped.FILES)


def test_an_archive_with_other_entries_is_refused(tmp_path, monkeypatch):
    import io
    import tarfile

    monkeypatch.setattr(shipped, "SHIPPED", tmp_path)
    with tarfile.open(tmp_path / "toy-qwen3-full-bad.tar", "w") as tar:
        info = tarfile.TarInfo("../../escape.txt")
        info.size = 1
        tar.addfile(info, io.BytesIO(b"x"))
    with pytest.raises(OSError, match="unexpected entry"):
        shipped.unpack("toy-qwen3-full-bad", tmp_path / "out" / "toy-qwen3-full-bad")
    assert not (tmp_path.parent / "escape.txt").exists() and not (tmp_path / "out" / "toy-qwen3-full-bad").exists()


def _study(root, seeds, plots=("benchmarks.png",)):
    import shutil

    study = root / "toy-quick-study"
    study.mkdir(parents=True, exist_ok=True)
    (study / "study.json").write_text(json.dumps({"seeds": seeds}))
    (study / "study.md").write_text(f"# Study {seeds}")
    for s in seeds:
        run = root / f"toy-quick-seed{s}"
        shutil.rmtree(run / "plots", ignore_errors=True)
        (run / "plots").mkdir(parents=True)
        (run / "report.md").write_text(f"seed {s}")
        for name in plots:
            (run / "plots" / name).write_bytes(b"png")
        (run / "arms").mkdir(exist_ok=True)  # not copied: adapters and logs stay in the run folder


def test_example_collects_the_study_and_each_seeds_report(tmp_path):
    from kit.errors import KitError
    from kit.toy.example import collect

    out = tmp_path / "example"
    args = ["recipes/toy-quick.yaml", out, [f"output_dir={tmp_path}"]]
    with pytest.raises(KitError, match="no study.json: run `python -m kit.study"):
        collect(*args)
    _study(tmp_path, [0, 1, 2], plots=("benchmarks.png", "cka.png"))
    out.mkdir()
    (out / "README.md").write_text("hand-written")
    (out / "notes.txt").write_text("the user's")
    written = collect(*args)
    assert (out / "study.md").read_text() == "# Study [0, 1, 2]" and (out / "seed1" / "report.md").read_text() == "seed 1"
    assert out / "seed2" / "plots" / "cka.png" in written and not (out / "seed0" / "arms").exists()
    # a later study with fewer seeds and a figure no longer drawn: what the collector wrote before and not now goes
    _study(tmp_path, [0, 1])
    collect(*args)
    assert sorted(p.name for p in (out / "seed0" / "plots").iterdir()) == ["benchmarks.png"]
    assert not (out / "seed2").exists() and (out / "study.md").read_text() == "# Study [0, 1]"
    assert (out / "README.md").read_text() == "hand-written" and (out / "notes.txt").read_text() == "the user's"


def test_the_shipped_tokenizer_is_the_one_the_code_builds(tmp_path):
    """The tokenizer is pure Python and deterministic: the shipped base's must be exactly what the current code
    learns (a changed world or teacher that changed it without a new base would fail here)."""
    out = pretrain.ensure_base(tmp_path / "toy")
    built = pretrain.build_tokenizer(pretrain.DEFAULT.n_merges, pretrain.DEFAULT.seed)
    shipped_tok = json.loads((out / "tokenizer.json").read_text())
    built.save_pretrained(tmp_path / "built")
    fresh = json.loads((tmp_path / "built" / "tokenizer.json").read_text())
    assert shipped_tok["model"]["merges"] == fresh["model"]["merges"]
    assert shipped_tok["model"]["vocab"] == fresh["model"]["vocab"]
