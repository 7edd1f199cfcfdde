"""A self-contained HTML page from the report's markdown: the subset the report uses (headings, tables,
lists, quotes, fenced code, images inlined as base64), so the page can be mailed or uploaded as one file.

The page must read on a laptop (1280 px) without sideways scrolling of the whole page: a table wider than
the text column scrolls inside its own box, images and code blocks shrink or scroll to the column, and a
long unbroken word (a path, a token) wraps. tests/test_report_browser.py checks this in headless Chromium.
"""

from __future__ import annotations

import base64
import html
import re
from pathlib import Path

STYLE = ("html{-webkit-text-size-adjust:100%}"
         "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;color:#222;"
         "line-height:1.45;overflow-wrap:break-word}"
         ".table-wrap{max-width:100%;overflow-x:auto;margin:1em 0}"
         "table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 7px;"
         "vertical-align:top}th{background:#f3f3f3;text-align:left}"
         "img{max-width:100%;height:auto}"
         "pre{max-width:100%;overflow-x:auto;background:#f6f6f6;padding:.5em}"
         "blockquote{color:#555;border-left:3px solid #ccc;margin:0;padding-left:1em}"
         "code{background:#f6f6f6;padding:0 3px}p code,li code{overflow-wrap:anywhere}")


def _inline(text: str) -> str:
    text = html.escape(text, quote=False)
    text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
    return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)


def _image(alt: str, src: str, base: Path) -> str:
    path = base / src
    if not path.exists():
        return f"<p>[missing image {html.escape(src)}]</p>"
    data = base64.b64encode(path.read_bytes()).decode()
    mime = "image/svg+xml" if path.suffix.lower() == ".svg" else "image/png"
    return f'<p><img alt="{html.escape(alt)}" src="data:{mime};base64,{data}"></p>'


def _split_row(line: str) -> list[str]:
    """Cells of one markdown table row; a `\\|` inside a cell is a literal bar, not a cell boundary."""
    cells = re.split(r"(?<!\\)\|", line.strip().strip("|"))
    return [c.strip().replace("\\|", "|") for c in cells]


def _table(rows: list[list[str]]) -> str:
    """A table in a box that scrolls sideways on its own when it is wider than the text column."""
    body = [r for r in rows[1:] if not all(set(c) <= set("-: ") for c in r)]
    return ('<div class="table-wrap"><table><thead><tr>' + "".join(f"<th>{_inline(c)}</th>" for c in rows[0]) +
            "</tr></thead><tbody>" +
            "".join("<tr>" + "".join(f"<td>{_inline(c)}</td>" for c in r) + "</tr>" for r in body) +
            "</tbody></table></div>")


def _block(lines: list[str], i: int, base: Path) -> tuple[str, int]:
    """The HTML of the block starting at line i, and the index of the line after it."""
    line = lines[i]
    if line.startswith("```"):
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        return "<pre><code>" + html.escape("\n".join(lines[i + 1:j]), quote=False) + "</code></pre>", j + 1
    if line.startswith("|"):
        j = i
        while j < len(lines) and lines[j].startswith("|"):
            j += 1
        return _table([_split_row(x) for x in lines[i:j]]), j
    if line.startswith("- "):
        j = i
        while j < len(lines) and lines[j].startswith("- "):
            j += 1
        return "<ul>" + "".join(f"<li>{_inline(x[2:])}</li>" for x in lines[i:j]) + "</ul>", j
    heading = re.match(r"^(#{1,6}) (.*)$", line)
    img = re.match(r"^!\[([^\]]*)\]\(([^)]+)\)$", line.strip())
    if heading:
        n = len(heading.group(1))
        return f"<h{n}>{_inline(heading.group(2))}</h{n}>", i + 1
    if img:
        return _image(img.group(1), img.group(2), base), i + 1
    if line.startswith("> "):
        return f"<blockquote>{_inline(line[2:])}</blockquote>", i + 1
    return (f"<p>{_inline(line)}</p>" if line.strip() else ""), i + 1


def markdown_to_html(md: str, base: Path, title: str) -> str:
    out: list[str] = []
    lines = md.splitlines()
    i = 0
    while i < len(lines):
        block, i = _block(lines, i, base)
        if block:
            out.append(block)
    return (f"<!doctype html><html><head><meta charset='utf-8'>"
            f"<meta name='viewport' content='width=device-width, initial-scale=1'><title>{html.escape(title)}</title>"
            f"<style>{STYLE}</style></head><body>\n" + "\n".join(out) + "\n</body></html>\n")
