"""The per-run report as a student reads it: report.md at the precision of its estimates, flags and tokens in
words, zero-by-construction figures explained, the machine named; and report.html opened in headless Chromium
(Debian's `chromium`): every image decodes, nothing overflows a 1280 px laptop page, and a screenshot is kept
with the test artefacts ($KIT_TEST_ARTIFACTS; else test-artifacts/ at the repo root under CI; else a pytest temporary
folder, so a developer's checkout gets no stray files).

Without chromium the browser tests skip, except under CI (the CI environment variable set), where they fail:
.ci/run installs it.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml

from kit import recipe as R
from kit.report.build import _zero_notes, build
from kit.report.html import markdown_to_html
from kit.report.readable import cpu_model, machine, reason, stat, with_ci
from tests.conftest import ROOT

WIDTH = 1280  # a laptop
BENCHES = {"math500": "math", "aime24": "math", "gpqa_diamond": "other", "acpbench": "other", "ifeval": "non",
           "coqa": "non"}
# items right out of 10 per group; onpolicy_sft accepted no sample, so it answers exactly as the base
RIGHT = {"base": {"math": 3, "other": 5, "non": 6}, "sft": {"math": 6, "other": 4, "non": 5},
         "grpo": {"math": 7, "other": 6, "non": 6}, "onpolicy_sft": {"math": 3, "other": 5, "non": 6}}
LONG_TOKEN = "x" * 160  # one unbreakable token: its table is wider than a laptop page and must scroll in its box


def _probe_arm(arm: str) -> dict:
    """probe/results.json's block for one arm, shaped as kit.probe.stage writes it."""
    if arm == "onpolicy_sft":  # the base itself: CKA 1 up to float noise, nothing shifted
        cka, d, d_ci, tokens = [1.0 + 4.74e-15] * 3, 0.0, [0.0, 0.0], []
    else:
        cka, d, d_ci = [0.9998, 0.9997, 0.9996], 0.001149, [0.000212, 0.003071]
        tokens = [(" d", 7), ("\n", 3), ("a|b", 2), (LONG_TOKEN, 1)] if arm == "sft" else [("}.", 4)]
    block = {"pca": {}, "tokens": {}, "cka": {"cka": cka}, "control": {"cka": {"cka": [1.0, 1.0, 1.0]}},
             "probe": {"base_acc": [1.0, 1.0, 1.0], "arm_acc": [1.0, 1.0, 1.0], "drop": [0.0, 0.0, 0.0]}}
    for k, b in enumerate(BENCHES):
        block["pca"][b] = {"faithful": {"d": 0.07005 if d else 0.0, "d_ci": [0.0123, 0.3] if d else [0.0, 0.0],
                                        "shift": [0.01 * k, 0.02, 0.03]},
                           "corrected": {"d": d, "d_ci": d_ci}}
        top = tokens if k == 0 else []  # the other benchmarks: arm and base agree on every generated token
        block["tokens"][b] = {"paper_kl": 0.0 if not tokens else 0.00296, "kl": 0.0 if not tokens else 6.169e-4,
                              "rank_shift_mean": 0.0, "n_tokens": 50, "arm_top1_rate": 1.0,
                              "rank_shift_values": [0, 1, 0, 2] if tokens else [0, 0],
                              "top_shifted": top,
                              "summary": {"rank_shift": {"frac_ft_top1_base_not_top1": 0.1 if top else 0.0}}}
    return block


def make_finished_run(run_dir: Path) -> Path:
    """A finished three-arm run folder with every file report/build.py reads (saved recipe, manifests,
    evaluation, probe results, training logs), its numbers shaped like the toy example's, made in milliseconds."""
    recipe = R.from_dict({"name": "student", "report": {"bootstrap": 200}}).to_dict()
    recipe["arms"] = ["sft", "grpo", "onpolicy_sft"]
    (run_dir / "eval").mkdir(parents=True)
    (run_dir / "recipe.resolved.yaml").write_text(yaml.safe_dump(recipe, sort_keys=False))
    scores, items = {}, {}
    for m, right in RIGHT.items():
        scores[m], items[m] = {}, {}
        for k, (b, g) in enumerate(BENCHES.items()):
            n_right = right[g] - (k % 2 if m in ("base", "onpolicy_sft") else 0)  # TI's spread > 0
            items[m][b] = {str(i): {"paper": float(i < n_right), "cluster": str(i)} for i in range(10)}
            scores[m][b] = {"group": g, "primary": "paper", "paper_column": "paper", "n_items": 10,
                            "scores": {"paper": n_right / 10}, "truncation_rate": 0.0}
    (run_dir / "eval" / "scores.json").write_text(json.dumps(scores))
    (run_dir / "eval" / "item_scores.json").write_text(json.dumps(items))
    (run_dir / "probe").mkdir()
    (run_dir / "probe" / "results.json").write_text(json.dumps({"arms": {a: _probe_arm(a) for a in recipe["arms"]}}))
    (run_dir / "manifests").mkdir()
    for n, stage in enumerate(["data", "train_sft", "train_grpo", "train_onpolicy_sft", "eval", "probe"]):
        summary = {"rounds": 2, "samples": 32, "accepted": 0} if stage == "train_onpolicy_sft" else {}
        (run_dir / "manifests" / f"{stage}.json").write_text(json.dumps({
            "stage": stage, "config_hash": "x", "started_at": n, "seconds": 1.0 + n, "summary": summary,
            "hardware": "CPU (no CUDA GPU)", "versions": {"torch": "9.9.9-test"}}))
    for arm in recipe["arms"]:
        log = run_dir / "arms" / arm / "train_log.jsonl"
        log.parent.mkdir(parents=True)
        log.write_text("".join(json.dumps({"step": s, "loss": 1.0 / s}) + "\n" for s in (1, 2, 3)))
    return run_dir


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    run_dir = make_finished_run(tmp_path_factory.mktemp("report") / "student")
    build(run_dir)
    return run_dir


def _table(md: str, header: str) -> list[str]:
    """The rows of the table whose header row starts with `header`."""
    lines = md.split("\n" + header, 1)[1].split("\n\n", 1)[0].splitlines()
    return [x for x in lines[2:] if x.startswith("| ")]


def _row(rows: list[str], *starts: str) -> str:
    (line,) = [x for x in rows if x.startswith("| " + " | ".join(starts) + " |")]
    return line


# ------------------------------------------------------------------------------------------ report.md in words


def test_intervals_are_printed_at_the_precision_of_their_estimates(report):
    """The run report follows the study report's one rule (kit.report.intervals): precision from the interval's
    half-width, zero without float noise, a zero-width interval in words."""
    md = (report / "report.md").read_text()
    # was "0.07005 [0.0, 0.3] | 0.001149 [0.0, 0.0]": the bounds lost every digit the estimate has
    pca = _table(md, "| arm | benchmark | d faithful |")
    assert _row(pca, "sft", "math500").endswith("| 0.07 [0.01, 0.30] | 0.0011 [0.0002, 0.0031] |")
    assert _row(pca, "onpolicy_sft", "math500").endswith("| 0 (interval of zero width) | 0 (interval of zero width) |")
    assert not re.search(r"\d\.\d+e-1\d|×10⁻¹", md), "float noise printed instead of 0"
    assert not re.search(r"(?<![\d.])-0(\.0+)?(?![\d.])", md), "a negative zero"
    # no estimate is printed beside an interval whose bounds print the same (a zero-width one is said in words)
    pairs = re.findall(r"[-+]?\d[\d.]* \[([^\],]+), ([^\]]+)\]", md)
    assert pairs and not [p for p in pairs if p[0] == p[1]], [p for p in pairs if p[0] == p[1]]
    # 1 - CKA of an arm identical to the base is float noise (-4.74e-15): 0; a real small shift keeps its digits
    drift = _table(md, "| model | probe accuracy drop |")
    assert _row(drift, "onpolicy_sft").endswith("| 0 | 0 |")
    assert _row(drift, "sft").endswith("| 0 | 3.00×10⁻⁴ |")
    # scores, TI and gains too: one decimal for points, the gain signed as in the study's premise table
    ti = _table(md, "| arm | TI other (v2) |")
    assert "| +35.0 [15.0, 55.0] |" in _row(ti, "sft") and "| 0.0 (interval of zero width) |" in _row(ti, "onpolicy_sft")
    assert "| 60.0 [30.0, 90.0] |" in _row(_table(md, "| group | benchmark | column |"), "math", "math500", "paper (primary)")


def test_no_raw_flag_names_in_prose_or_headers(report):
    md = (report / "report.md").read_text()
    for flag in ("math_gain_ci_includes_0", "di_math_ci_includes_0", "_ci_width_", "ti_point_undefined",
                 "TI_other", "TI_non", "_of_replicates"):
        assert flag not in md
    assert "the math gain's interval includes 0" in md  # onpolicy_sft's math gain is exactly 0
    assert "| arm | TI other (v2) | TI non (v2) | TI other (v1) | TI non (v1) | math gain (pts) | conclusive? |" in md


def test_most_shifted_tokens_column_is_filled(report):
    md = (report / "report.md").read_text()
    assert "| tokens | tokens the arm now ranks first (count) |\n" in md
    rows = _table(md, "| arm | benchmark | paper's log-ratio |")
    assert len(rows) == 3 * len(BENCHES) and all(not x.endswith("|  |") for x in rows)
    # spaces visible, and neither a newline nor a bar inside a token breaks the row
    assert "| `␣d` ×7, `\\n` ×3, `a\\|b` ×2, `x" in _row(rows, "sft", "math500")
    assert _row(rows, "sft", "coqa").endswith("| none: the base ranks every one first too |")


def test_zero_by_construction_is_said_in_a_sentence(report):
    md = (report / "report.md").read_text()
    assert "**onpolicy_sft** accepted none of its 32 sampled answers, so it never trained" in md
    assert "**onpolicy_sft** answers every item exactly as the base does: those gains are 0 with a zero-width" in md
    assert "**sft** answers" not in md and "**grpo** answers" not in md


def test_the_machine_is_named(report, monkeypatch):
    md = (report / "report.md").read_text()
    (line,) = [x for x in md.splitlines() if x.startswith("- machine: ")]
    assert line.startswith(f"- machine: CPU (no CUDA GPU); CPU {cpu_model()}; torch 9.9.9-test, ")  # the run's torch
    assert " threads (CPU, threads of the machine that built this report" in line
    # torch's thread count where the run's process has torch loaded (the report never imports it)
    monkeypatch.setitem(sys.modules, "torch", SimpleNamespace(get_num_threads=lambda: 7))
    assert machine({"eval": {"hardware": "CPU (no CUDA GPU)"}}).endswith(
        ", 7 threads (CPU, threads, torch version of the machine that built this report: the run's manifests do "
        "not record them)")
    monkeypatch.delitem(sys.modules, "torch")
    assert "unknown threads" in machine({})
    recorded = {"eval": {"hardware": "NVIDIA H200 (sm_90)", "cpu": "Intel Xeon 8480+", "torch_threads": 16,
                         "versions": {"torch": "2.9.0"}}}
    assert machine(recorded) == "NVIDIA H200 (sm_90); CPU Intel Xeon 8480+; torch 2.9.0, 16 threads"


def test_numbers_and_flags_in_words():
    assert [stat(x) for x in (-4.74e-15, 0.0002247, 3.741e-05, 6.438e-07, 0.1544, 12.345, None)] == \
        ["0", "2.25×10⁻⁴", "3.74×10⁻⁵", "6.44×10⁻⁷", "0.154", "12.3", "–"]
    # the "0.001149 [0.0, 0.0]": an estimate is never printed beside a zero-width interval missing it
    assert with_ci(0.001149, [0.0, 0.0]) == "0.00115 (interval of zero width)"
    assert with_ci(0.0, [0.0, 0.02]) == "0.000 [0.000, 0.020]" and with_ci(0.5, None) == "0.500"
    assert with_ci(2e-8, [1e-8, 3e-8]) == "2.0 [1.0, 3.0]×10⁻⁸" and with_ci(float("nan"), None) == "–"
    assert with_ci(4.0, [1.0, 7.0], signed=True, least=1) == "+4.0 [1.0, 7.0]"
    assert reason("ti_non_ci_width_3341>200") == "the TI non-reasoning interval is 3341 points wide (over 200)"
    assert reason("ti_undefined_in_15.5%_of_replicates") == "TI is undefined in 15.5% of the bootstrap resamples"
    assert reason("some_new_flag") == "some new flag"


def test_a_group_answered_as_the_base_gets_its_sentence(tmp_path):
    """The toy example's on-policy arm: math moved, non-reasoning identical item by item, so its TI non is
    0 [0, 0] by construction, and the report says so."""
    run_dir = make_finished_run(tmp_path / "run")
    items = json.loads((run_dir / "eval" / "item_scores.json").read_text())
    items["onpolicy_sft"]["math500"]["9"]["paper"] = 1.0  # one math item more: math differs, the rest do not
    (run_dir / "eval" / "item_scores.json").write_text(json.dumps(items))
    notes = _zero_notes(json.loads((run_dir / "eval" / "scores.json").read_text()), items,
                        {"onpolicy_sft": {}, "sft": {}}, {})
    assert notes[-1] == ("- **onpolicy_sft** answers every other reasoning and non-reasoning item exactly as the "
                         "base does: those gains are 0 with a zero-width interval by construction (no bootstrap "
                         "resample can differ). So is its TI for other reasoning and non-reasoning.")
    assert len(notes) == 4  # the heading, a blank line, one note (sft differs everywhere)


def test_cpu_model_reads_cpuinfo_and_falls_back(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nmodel name\t: AMD EPYC  7B13 64-Core Processor\n")
    assert cpu_model(info) == "AMD EPYC 7B13 64-Core Processor"
    assert cpu_model(tmp_path / "missing")  # platform.processor() or the architecture, never empty


# ------------------------------------------------------------------------------------ report.html in Chromium


CHECK = """<script>
window.addEventListener('load', () => {
  const W = window.innerWidth, bad = [];
  const box = el => {  // the nearest ancestor that scrolls or clips sideways: its edge is what the page shows
    for (let a = el.parentElement; a && a !== document.body; a = a.parentElement) {
      if (['auto', 'scroll', 'hidden'].includes(getComputedStyle(a).overflowX)) return a;
    }
    return null;
  };
  for (const el of document.body.querySelectorAll('*')) {
    const b = box(el), r = (b || el).getBoundingClientRect();
    if (r.right > W + 1 || r.left < -1) bad.push(el.tagName.toLowerCase() + (b ? ' in ' + b.className : '') +
                                                 ' ' + Math.round(r.left) + '..' + Math.round(r.right));
  }
  const out = {width: W, scrollWidth: document.documentElement.scrollWidth,
               height: document.documentElement.scrollHeight,
               images: [...document.images].map(i => ({alt: i.alt, ok: i.complete && i.naturalWidth > 0})),
               scrolling: [...document.querySelectorAll('.table-wrap')].filter(w => w.scrollWidth > w.clientWidth).length,
               overflow: bad.slice(0, 20)};
  const pre = document.createElement('pre');
  pre.id = 'kit-check';
  pre.textContent = JSON.stringify(out);
  document.body.appendChild(pre);
});
</script>"""


def _chromium() -> str:
    exe = shutil.which("chromium")
    if exe is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed: CI must open report.html in a browser (.ci/run installs it)")
        pytest.skip("chromium is not installed (apt-get install -y chromium); CI runs this test")
    return exe


def _run_chromium(*args: str) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory() as profile:
        return subprocess.run([_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                               "--no-first-run", f"--user-data-dir={profile}", *args],
                              capture_output=True, text=True, timeout=180)


def check_page(html: str, folder: Path, width: int = WIDTH) -> dict:
    """Open the page in headless Chromium at `width` px with a script that writes what it measured into the
    DOM; the measurements: images that decoded, elements past the page's right edge, the page's height."""
    page = folder / "check.html"  # next to report.html, so relative paths resolve as they do for a reader
    page.write_text(html.replace("</body>", CHECK + "</body>"))
    res = _run_chromium(f"--window-size={width},900", "--virtual-time-budget=10000", "--dump-dom", page.as_uri())
    page.unlink()
    found = re.search(r'<pre id="kit-check">(.*?)</pre>', res.stdout, re.S)
    assert found, f"chromium did not run the check script: {res.stderr[-2000:]}"
    return json.loads(found.group(1).replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&"))


def _artefacts(scratch: Path) -> Path:
    """Where screenshots are kept: $KIT_TEST_ARTIFACTS if set; test-artifacts/ in the checkout only under CI (its
    job keeps that folder); else `scratch`, a pytest temporary folder."""
    if os.environ.get("KIT_TEST_ARTIFACTS"):
        out = Path(os.environ["KIT_TEST_ARTIFACTS"])
    else:
        out = ROOT / "test-artifacts" if os.environ.get("CI") else scratch
    out.mkdir(parents=True, exist_ok=True)
    return out


def test_screenshots_stay_out_of_a_developers_checkout(tmp_path, monkeypatch):
    monkeypatch.delenv("KIT_TEST_ARTIFACTS", raising=False)
    monkeypatch.delenv("CI", raising=False)
    assert _artefacts(tmp_path / "a") == tmp_path / "a"
    monkeypatch.setitem(globals(), "ROOT", tmp_path / "repo")  # the checkout, here a folder of this test's
    monkeypatch.setenv("CI", "1")
    assert _artefacts(tmp_path / "b") == tmp_path / "repo" / "test-artifacts"
    monkeypatch.setenv("KIT_TEST_ARTIFACTS", str(tmp_path / "kept"))
    assert _artefacts(tmp_path / "c") == tmp_path / "kept" and (tmp_path / "kept").is_dir()


def test_the_checker_sees_a_wide_table_and_a_broken_image(tmp_path):
    """The check itself can fail: a bare table wider than the page and an image that does not decode are
    caught; the same table as report.html writes it (in a box that scrolls) fits."""
    cells = "<tr>" + "".join(f"<td>{'w' * 40}{k}</td>" for k in range(12)) + "</tr>"
    broken = "<img alt='broken' src='data:image/png;base64,AAAA'>"
    bad = check_page(f"<!doctype html><html><body><table>{cells}</table>{broken}</body></html>", tmp_path)
    assert bad["scrollWidth"] > bad["width"] and any(x.startswith("table") for x in bad["overflow"])
    assert bad["images"] == [{"alt": "broken", "ok": False}]
    row = "| " + " | ".join(f"{'w' * 40}{k}" for k in range(12)) + " |"
    good = check_page(markdown_to_html(f"{row}\n|{'---|' * 12}\n{row}\n", tmp_path, "wide"), tmp_path)
    assert good["overflow"] == [] and good["scrollWidth"] <= good["width"] and good["scrolling"] == 1


def test_report_html_in_a_browser(report, tmp_path):
    """Every image decodes, nothing overflows a 1280 px page (wide tables scroll in their own box), and a
    screenshot of the page is kept with the test artefacts."""
    result = check_page((report / "report.html").read_text(), report)
    assert len(result["images"]) >= 5 and all(i["ok"] for i in result["images"]), result["images"]
    assert result["scrollWidth"] <= result["width"] == WIDTH, result
    assert result["overflow"] == [], result["overflow"]
    assert result["scrolling"] >= 1  # the token table with its 160-character token scrolls inside its box
    shot = _artefacts(tmp_path) / "report-browser.png"
    shot.unlink(missing_ok=True)
    height = min(max(900, result["height"]), 16000)
    res = _run_chromium(f"--window-size={WIDTH},{height}", "--virtual-time-budget=10000",
                        f"--screenshot={shot}", (report / "report.html").as_uri())
    assert shot.exists() and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", res.stderr[-2000:]
    print(f"report.html screenshot: {shot}")
