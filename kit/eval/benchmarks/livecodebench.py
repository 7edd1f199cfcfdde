"""LiveCodeBench code generation, release_v2 (other-reasoning group; "LiveCodeBench2" in the paper).

Data: `livecodebench/code_generation_lite` was published with a loading script (`code_generation_lite.py`),
which `datasets>=4` refuses to run. Its `version_tag="release_v2"` selects the files `test.jsonl` +
`test2.jsonl` (511 problems, May 2023 - May 2024); the kit reads exactly those two jsonl files with the
generic `json` builder from `hf://datasets/livecodebench/code_generation_lite@<revision>/...`, which never
touches the script. Fields: question_title, question_content, platform, question_id, contest_id,
contest_date, starter_code, difficulty, public_test_cases, private_test_cases, metadata.
`public_test_cases` is a JSON list of {"input", "output", "testtype"}; `private_test_cases` is usually
base64(zlib(pickle(JSON string))) in the real files, sometimes plain JSON; `decode_tests` reads both (the
pickle with an unpickler that refuses every class, so it cannot run code). `metadata` is a JSON object
string, with `func_name` for LeetCode (functional) problems.

Prompt (the kit's wording of EvalChemy's prefix, not copied): "Generate an executable Python function
generated from the given prompt." then, for stdin problems, read stdin / print / call the function; for
problems with starter code (LeetCode's `class Solution`), return the completed starter code without
invoking it. The kit adds a sentence asking for one fenced ```python block (the scorer's format).

Scoring (`paper`, pass@1 per sample): the LAST complete fenced code block of the raw output whose language
tag is empty or python/py/python3 must pass every public and private test, each within 6 s (the paper's
timeout), in `kit.eval.sandbox` (one contained process per test, stopping at the first failure). stdin tests
compare stdout line by line (tokens may match as decimals); functional tests call
`Solution().<func_name>(*args)` with one JSON argument per input line and compare the JSON result.
Decode as the paper states it (A.3.5): temperature 0.6, top-p 0.95, 3 samples.
Every score row also carries `sandbox_ns` (1.0: the program ran with namespace isolation; 0.0: the weak mode,
which runs only with KIT_SANDBOX_ALLOW_WEAK=1); the report states it.
"""

from __future__ import annotations

import base64
import io
import json
import pickle
import re
import zlib
from typing import Any
from urllib.parse import quote

from kit.errors import KitError
from kit.eval.benchmarks import register
from kit.eval.benchmarks.base import Benchmark, Decode, HubSource, Item, fixture_rows
from kit.eval.code_tests import SANDBOX_COLUMN, run_tests, sandbox_ns

TIMEOUT_S = 6.0

PREFIX = "Generate an executable Python function generated from the given prompt."
STDIN_INSTRUCTION = (
    " The function should read its input from standard input and print its output to standard output. "
    "Call the function after defining it."
)
FUNCTIONAL_INSTRUCTION = (
    " Complete the starter code below and return it as the final solution, without invoking the function."
)
FORMAT_INSTRUCTION = "Put the complete solution in a single fenced ```python code block at the end of your answer."


class _NoClassUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str) -> Any:  # noqa: D401
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from test data")


def decode_tests(raw: Any) -> list[dict[str, Any]]:
    """Test cases from a plain JSON string/list or LiveCodeBench's base64(zlib(pickle(JSON))) encoding."""
    if raw is None or raw == "":
        return []
    if isinstance(raw, list):
        return [dict(t) for t in raw]
    if isinstance(raw, bytes):
        raw = raw.decode()
    try:
        return json.loads(raw)
    except ValueError:
        pass
    try:
        obj = _NoClassUnpickler(io.BytesIO(zlib.decompress(base64.b64decode(raw)))).load()
    except Exception as exc:  # noqa: BLE001 - corrupt test data is a data error, not a model error
        raise KitError(f"LiveCodeBench: cannot decode test cases ({type(exc).__name__}: {exc})") from exc
    if isinstance(obj, bytes):
        obj = obj.decode()
    return json.loads(obj) if isinstance(obj, str) else list(obj)


def encode_tests(tests: list[dict[str, Any]]) -> str:
    """LiveCodeBench's compressed encoding (used to build fixtures and tests)."""
    return base64.b64encode(zlib.compress(pickle.dumps(json.dumps(tests)))).decode()


_FENCE = re.compile(r"^[ \t]*```[ \t]*([^\n`]*)\n(.*?)^[ \t]*```[ \t]*$", re.DOTALL | re.MULTILINE)


def last_code_block(text: str) -> str | None:
    """The last complete fenced block tagged python/py/python3 or untagged; None when there is none."""
    blocks = [(m.group(1).strip().lower(), m.group(2)) for m in _FENCE.finditer(text)]
    for lang, code in reversed(blocks):
        tag = lang.split()[0] if lang else ""
        if tag in ("", "python", "py", "python3"):
            return code
    return None


@register
class LiveCodeBench(Benchmark):
    name = "livecodebench"
    group = "other"
    full_size = 511
    paper_position = 6
    source = HubSource(
        path="livecodebench/code_generation_lite", revision="main", split="train",
        data_files=("test.jsonl", "test2.jsonl"),
        note="unpinned (branch main; the Hub was unreachable when this was written, so no commit sha); "
             "release_v2 = test.jsonl + test2.jsonl (511 problems) per the repo's loading script, read with the "
             "json builder from hf:// URLs; licence 'cc' (no copies in the kit)",
    )
    decode = Decode(temperature=0.6, top_p=0.95, n_samples=3)
    primary = "paper"
    paper_column = "paper"

    def load(self, use_fixtures: bool) -> list[dict[str, Any]]:
        if use_fixtures:
            return fixture_rows(self)
        import datasets

        src = self.source
        files = [f"hf://datasets/{src.path}@{quote(src.revision, safe='')}/{f}" for f in src.data_files or ()]
        try:
            ds = datasets.load_dataset("json", data_files=files, split="train")
        except Exception as exc:  # noqa: BLE001 - report any datasets/hub failure as one line
            msg = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise KitError(
                f"benchmark '{self.name}': could not load {src.path} files {', '.join(src.data_files or ())} "
                f"(revision {src.revision}): {msg}. Set eval.source=fixtures to run offline."
            ) from exc
        return [dict(r) for r in ds]

    def items(self, rows: list[dict[str, Any]]) -> list[Item]:
        out = []
        for row in rows:
            meta = row.get("metadata") or "{}"
            meta = json.loads(meta) if isinstance(meta, str) else dict(meta)
            doc = {
                "question_id": str(row["question_id"]),
                "question_title": row.get("question_title", ""),
                "question_content": row["question_content"],
                "platform": row.get("platform", ""),
                "difficulty": row.get("difficulty", ""),
                "contest_date": str(row.get("contest_date", "")),
                "starter_code": row.get("starter_code") or "",
                "func_name": meta.get("func_name"),
                # kept encoded (the private tests are large); decoded when scoring
                "public_test_cases": row.get("public_test_cases") or "[]",
                "private_test_cases": row.get("private_test_cases") or "[]",
            }
            out.append(Item(id=doc["question_id"], doc=doc))
        return out

    def prompt(self, item: Item, variant: str = "") -> str:
        d = item.doc
        starter = d["starter_code"].rstrip().lstrip("\n")
        if starter:
            return (f"{PREFIX}{FUNCTIONAL_INSTRUCTION}\n\n{d['question_content']}\n\n"
                    f"```python\n{starter}\n```\n\n{FORMAT_INSTRUCTION}")
        return f"{PREFIX}{STDIN_INSTRUCTION}\n\n{d['question_content']}\n\n{FORMAT_INSTRUCTION}"

    def tests(self, item: Item) -> list[dict[str, Any]]:
        d = item.doc
        return decode_tests(d["public_test_cases"]) + decode_tests(d["private_test_cases"])

    def score(self, item: Item, answer: str, output: str, variant: str = "") -> dict[str, float]:
        code = last_code_block(output)
        if code is None:
            return {"paper": 0.0, SANDBOX_COLUMN: sandbox_ns()}
        verdict = run_tests(code, self.tests(item), fn_name=item.doc["func_name"], timeout_s=TIMEOUT_S)
        return {"paper": float(verdict.passed), SANDBOX_COLUMN: sandbox_ns(verdict.isolation)}
