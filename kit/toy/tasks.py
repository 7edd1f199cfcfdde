"""The CPU mini-world's tasks (kit/toy/world.py holds the registry `TASKS`, the splits and the public helpers):
the problem record, the shared vocabulary, each task's seeded generator, exact verifier, base style and (math)
teacher trace, and the invented fact table. A change to a generator, a template or the fact table changes the
world: bump `kit.toy.world.WORLD_VERSION` (cached toy bases are keyed by it)."""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from kit.eval.scoring.boxed import last_boxed

@dataclass(frozen=True)
class Problem:
    """One question with its gold answer. `meta` is JSON-serialisable and always holds "task" (and what
    the base style / teacher trace need); `id` is set by `make_split` (stable: a hash of task and question)."""

    question: str
    answer: str
    meta: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)
    id: str = ""

    @property
    def task(self) -> str:
        return self.meta["task"]


@dataclass(frozen=True)
class Task:
    name: str
    group: str
    generate: Callable[[random.Random], Problem]
    verify: Callable[[str, Problem], bool]
    base_style: Callable[[Problem], str]
    teacher_trace: Callable[[Problem], str] | None = None  # math only


# -----------------------------------------------------------------------------------------------------
# shared vocabulary

NAMES = ("Ann", "Ben", "Cara", "Dan", "Eva", "Finn", "Gus", "Hana", "Ivy", "Jack", "Kim", "Leo", "Mia",
         "Ned", "Olga", "Pia", "Rosa", "Sam", "Tess", "Uma", "Vic", "Wes", "Yuri", "Zoe")
ITEMS = ("apples", "pears", "plums", "eggs", "coins", "stamps", "marbles", "pencils", "cookies", "shells",
         "cards", "beads")
CONTAINERS = ("boxes", "bags", "jars", "baskets", "packs")
GOODS = ("pen", "book", "cup", "hat", "ball", "kite", "lamp", "mug", "map", "toy")
WORDS = ("river", "stone", "cloud", "apple", "tiger", "garden", "window", "silver", "candle", "forest",
         "pepper", "rocket", "butter", "violin", "planet", "meadow", "pillow", "hammer", "island", "ladder",
         "mirror", "orange", "pencil", "rabbit", "saddle", "tunnel", "wallet", "yellow", "anchor", "basket",
         "carpet", "dragon", "engine", "feather", "guitar", "helmet", "jacket", "kettle", "lemon", "marble",
         "needle", "oyster", "parrot", "quartz", "ribbon", "spider", "ticket", "velvet", "walnut", "zipper")
COLORS = ("red", "blue", "green", "pink", "gray")
NUMBER_WORDS = {2: "two", 3: "three", 4: "four", 5: "five"}


def _boxed_int(text: str) -> int | None:
    content = last_boxed(text)
    if content is None or not re.fullmatch(r"-?\d+", content.strip()):
        return None
    return int(content.strip())


def _verify_boxed_int(answer_text: str, problem: Problem) -> bool:
    """The last \\boxed{} in the text holds exactly the gold integer."""
    got = _boxed_int(answer_text)
    return got is not None and got == int(problem.answer)


def _verify_boxed_str(answer_text: str, problem: Problem) -> bool:
    """The last \\boxed{} in the text holds exactly the gold string (surrounding spaces ignored)."""
    content = last_boxed(answer_text)
    return content is not None and content.strip() == problem.answer


def _verify_exact(answer_text: str, problem: Problem) -> bool:
    """The whole answer, stripped, is exactly the gold string."""
    return answer_text.strip() == problem.answer


def _boxed_style(problem: Problem) -> str:
    return f"The answer is \\boxed{{{problem.answer}}}."


def _plain_style(problem: Problem) -> str:
    return problem.answer


# -----------------------------------------------------------------------------------------------------
# math: items bought, given away, doubled, shared. Small numbers (every value 1..20, every operand 1..5 or 2):
# a 2-layer model computes these facts reliably when it writes them out, and rarely guesses a two-step
# result at once (an earlier world used values up to 99 with 2-4 operations: the base got about 1 in 10 of
# its worked answers right, so no fine-tuning could raise math).

MATH_MAX = 20


def _gen_math_items(rng: random.Random) -> Problem:
    while True:
        name, item, box = rng.choice(NAMES), rng.choice(ITEMS), rng.choice(CONTAINERS)
        n_ops = rng.randint(2, 3)
        steps: list[dict[str, Any]] = []
        if rng.random() < 0.4:
            a, b = rng.randint(2, 4), rng.randint(2, 5)
            value = a * b
            sentences = [f"{name} has {a} {box} of {b} {item}."]
            steps.append({"kind": "boxes", "a": a, "b": b, "value": value})
        else:
            value = rng.randint(3, 15)
            sentences = [f"{name} has {value} {item}."]
            steps.append({"kind": "start", "value": value})
        ops_done = len(steps) - (steps[0]["kind"] == "start")
        ok = True
        while ops_done < n_ops:
            options = []
            if value >= 2:
                options += ["give", "lose"]
            if value <= MATH_MAX - 1:
                options += ["buy", "find"]
            if 2 <= value <= MATH_MAX // 2:
                options.append("double")
            if value >= 4 and value % 2 == 0:
                options.append("share")
            if not options:
                ok = False
                break
            kind = rng.choice(options)
            prev = value
            if kind in ("give", "lose"):
                c = rng.randint(1, min(prev - 1, 5))
                value = prev - c
                verb = "gives away" if kind == "give" else "loses"
                sentences.append(f"Then {name} {verb} {c} {item}.")
            elif kind in ("buy", "find"):
                c = rng.randint(1, min(MATH_MAX - prev, 5))
                value = prev + c
                verb = "buys" if kind == "buy" else "finds"
                sentences.append(f"Then {name} {verb} {c} more {item}.")
            elif kind == "double":
                c = 2
                value = prev * 2
                sentences.append(f"Then {name} doubles the number of {item}.")
            else:
                c = 2
                value = prev // c
                sentences.append(f"Then {name} shares the {item} equally with a friend and keeps one share.")
            steps.append({"kind": kind, "prev": prev, "c": c, "value": value})
            ops_done += 1
        if ok:
            break
    question = " ".join(sentences) + f" How many {item} does {name} have now?"
    return Problem(question, str(value), {"task": "math_items", "name": name, "item": item, "box": box,
                                          "steps": steps, "n_ops": n_ops})


# -----------------------------------------------------------------------------------------------------
# math: shopping bills and change (totals up to 20 dollars)

def _gen_math_shop(rng: random.Random) -> Problem:
    while True:
        g1, g2 = rng.sample(GOODS, 2)
        p1, p2, x = rng.randint(2, 5), rng.randint(1, 5), rng.randint(2, 4)
        second = rng.random() < 0.5
        total = x * p1 + (p2 if second else 0)
        if total <= MATH_MAX:
            break
    name, friend = rng.sample(NAMES, 2)
    text = f"A {g1} costs {p1} dollars" + (f" and a {g2} costs {p2} dollars." if second else ".")
    text += f" {name} buys {x} {g1}s" + (f" and one {g2}." if second else ".")
    meta: dict[str, Any] = {"task": "math_shop", "name": name, "g1": g1, "g2": g2, "p1": p1, "p2": p2,
                            "x": x, "second": second, "total": total}
    end = rng.choice(("spend", "change", "split") if total % 2 == 0 else ("spend", "change"))
    if end == "change":
        bill = MATH_MAX
        text += f" {name} pays with a {bill} dollar bill. How many dollars of change does {name} get?"
        value = bill - total
        meta["bill"] = bill
    elif end == "split":
        text += f" {name} and {friend} share the cost equally. How many dollars does each of them pay?"
        value = total // 2
        meta["friend"] = friend
    else:
        text += f" How many dollars does {name} spend?"
        value = total
    meta["n_ops"] = 1 + second + (end != "spend")
    return Problem(text, str(value), meta)


# -----------------------------------------------------------------------------------------------------
# math solutions. The base works a problem out by reading it back sentence by sentence and writing each
# sentence's equations right after it ("Mia has 22 beads. Then Mia loses 8 beads, 22 - 8 = 14. ... The answer
# is \\boxed{2}."): every operand is in the sentence just copied or in the equation just written, so a tiny
# model can compute it (an earlier world had the bare equations only, whose operands had to be found in the
# question by position: the base got about 1 in 10 of those right). The teacher (`teacher_trace`) writes the
# same steps in the same style, always worked out and always right (see `_math_trace` for the styles tried). Every word of the trace is a word of
# the question or of the base's answer, so the base knows each token (as a real base knows a teacher's words)
# and only the style is new to it, as in the paper, where the teacher's traces are off-policy text in a
# vocabulary the base already has.


def _items_equations(p: Problem) -> list[list[str]]:
    """One list of equations per sentence of the question's story (the first sentence has none unless it
    states boxes of items)."""
    out: list[list[str]] = []
    for s in p.meta["steps"]:
        k = s["kind"]
        if k == "boxes":
            out.append([f"{s['a']} * {s['b']} = {s['value']}"])
        elif k in ("give", "lose"):
            out.append([f"{s['prev']} - {s['c']} = {s['value']}"])
        elif k in ("buy", "find"):
            out.append([f"{s['prev']} + {s['c']} = {s['value']}"])
        elif k == "double":
            out.append([f"{s['prev']} * 2 = {s['value']}"])
        elif k == "share":
            out.append([f"{s['prev']} / {s['c']} = {s['value']}"])
        else:  # "start": the amount is stated
            out.append([])
    return out


def _shop_equations(p: Problem) -> list[list[str]]:
    """Per story sentence: the prices (none), the purchase (the products and their sum), the payment or the
    split (its equation), as in `_gen_math_shop`."""
    m = p.meta
    a = m["x"] * m["p1"]
    buy = [f"{m['x']} * {m['p1']} = {a}"] + ([f"{a} + {m['p2']} = {m['total']}"] if m["second"] else [])
    out: list[list[str]] = [[], buy]
    if "bill" in m:
        out.append([f"{m['bill']} - {m['total']} = {p.answer}"])
    elif "friend" in m:
        out.append([f"{m['total']} / 2 = {p.answer}"])
    return out


_EQUATIONS = {"math_items": _items_equations, "math_shop": _shop_equations}


def _story(p: Problem) -> list[tuple[str, list[str]]]:
    """(sentence without its final period, its equations) for every sentence before the question."""
    sentences = re.split(r"(?<=[.?!])\s+", p.question.strip())[:-1]
    equations = _EQUATIONS[p.task](p)
    if len(sentences) != len(equations):
        raise AssertionError(f"{p.task}: {len(sentences)} sentences but {len(equations)} steps: {p.question}")
    return [(s[:-1], eqs) for s, eqs in zip(sentences, equations)]


def math_equations(p: Problem) -> list[str]:
    """Every equation of the solution, in order (the last one's result is the answer)."""
    return [eq for _, eqs in _story(p) for eq in eqs]


def _math_style(p: Problem) -> str:
    """The base's worked answer (one line): each story sentence read back with its equations after a comma,
    then the boxed result."""
    steps = " ".join(s + "".join(f", {eq}" for eq in eqs) + "." for s, eqs in _story(p))
    return f"{steps} The answer is \\boxed{{{p.answer}}}."


def _math_trace(p: Problem) -> str:
    """The teacher's answer: the base's own worked style, always worked out and always right. Off-policy as data (a
    program wrote it; the base samples a guess most of the time and errs in half of what it works out), not as
    style. Tried first and dropped, on development seed 100 (math validation, base 51.8 %): a multi-line teacher
    (one sentence or equation per line; this base had never seen a line break inside an answer, and SFT
    degenerated into repeated fragments), the same with a check line repeating every equation (the base could
    not stop repeating it: SFT 34 %), and the same with the result stated in a closing sentence (repeated
    closing sentences: SFT 39 % at best). A 0.87M-parameter base learns no new answer format in 60 LoRA steps
    without losing its arithmetic, so the miniature's SFT arm differs from GRPO in how its data was made (a
    teacher vs its own samples), not in style: the contrast of the paper's on-policy ablation (its §5)."""
    return _math_style(p)


# -----------------------------------------------------------------------------------------------------
# other reasoning: boolean logic

_VARS = ("p", "q", "r")


def _gen_logic(rng: random.Random) -> Problem:
    want = rng.random() < 0.5  # balanced answers: a constant guess scores 50 %
    while True:
        values = {v: rng.random() < 0.5 for v in _VARS}

        def lit() -> tuple[str, bool]:
            v = rng.choice(_VARS)
            if rng.random() < 0.35:
                return f"not {v}", not values[v]
            return v, values[v]

        def combine(x: tuple[str, bool], y: tuple[str, bool], op: str) -> tuple[str, bool]:
            return f"{x[0]} {op} {y[0]}", (x[1] and y[1]) if op == "and" else (x[1] or y[1])

        ops = [rng.choice(("and", "or")) for _ in range(2)]
        a, b, c = lit(), lit(), lit()
        if rng.random() < 0.5:
            inner = combine(a, b, ops[0])
            expr, val = combine((f"({inner[0]})", inner[1]), c, ops[1])
        else:
            inner = combine(b, c, ops[1])
            expr, val = combine(a, (f"({inner[0]})", inner[1]), ops[0])
        if val == want:
            break
    given = ", ".join(f"{v} = {'true' if values[v] else 'false'}" for v in _VARS)
    question = f"Let {given}. Is {expr} true or false?"
    return Problem(question, "true" if val else "false", {"task": "logic"})


# -----------------------------------------------------------------------------------------------------
# other reasoning: comparing stated quantities

def _gen_compare(rng: random.Random) -> Problem:
    k = rng.randint(3, 4)
    people = rng.sample(NAMES, k)
    values = rng.sample(range(1, 10), k)
    item = rng.choice(ITEMS)
    stated = [f"{n} has {v} {item}" for n, v in zip(people, values)]
    ask_most = rng.random() < 0.5
    question = f"{', '.join(stated[:-1])} and {stated[-1]}. Who has the {'most' if ask_most else 'fewest'} {item}?"
    pick = max if ask_most else min
    answer = people[values.index(pick(values))]
    return Problem(question, answer, {"task": "compare", "people": people, "values": values})


# -----------------------------------------------------------------------------------------------------
# other reasoning: counting a word in a list

def _gen_count(rng: random.Random) -> Problem:
    n = rng.randint(3, 7)
    items = [rng.choice(COLORS) for _ in range(n)]
    target = rng.choice(items)
    question = f"Here is a list: {', '.join(items)}. How many times does {target} appear in the list?"
    return Problem(question, str(items.count(target)), {"task": "count"})


# -----------------------------------------------------------------------------------------------------
# non-reasoning: recall of invented facts

def _make_fact_table() -> dict[str, dict[str, str]]:
    """48 invented countries with a capital, a language and a national animal (fixed: seeded locally)."""
    rng = random.Random(20250700432)
    first = ("Zor", "Mel", "Tav", "Kri", "Bel", "Dun", "Fal", "Gor", "Hes", "Jun", "Lor", "Mir", "Nav", "Ost",
             "Pel", "Ral", "Sov", "Tur", "Ulm", "Var", "Wen", "Yar", "Ked", "Bram")
    second = ("land", "ia", "stan", "ova", "mark", "via")
    city_a = ("Mir", "Tol", "Ven", "Cas", "Dor", "Ful", "Har", "Lum", "Nes", "Pra", "Quel", "Sil", "Tam", "Vor")
    city_b = ("th", "ton", "ka", "mere", "dal", "ros", "vik", "burg", "ana", "esh")
    lang_a = ("Ael", "Bor", "Cim", "Dra", "Eth", "Gal", "Ith", "Kov", "Lys", "Ome", "Pru", "Syl")
    lang_b = ("ic", "ese", "an", "ish", "ari")
    animals = ("fox", "owl", "bear", "wolf", "deer", "hawk", "seal", "crane", "lynx", "otter", "swan", "boar")
    countries = sorted({a + b for a in first for b in second})
    rng.shuffle(countries)
    cities = sorted({a + b for a in city_a for b in city_b})
    rng.shuffle(cities)
    langs = sorted({a + b for a in lang_a for b in lang_b})
    rng.shuffle(langs)
    table: dict[str, dict[str, str]] = {}
    for i, country in enumerate(countries[:48]):
        table[country] = {"capital": cities[i], "language": langs[i], "animal": rng.choice(animals)}
    return table


FACTS: dict[str, dict[str, str]] = _make_fact_table()

_RECALL_TEMPLATES = {
    "capital": ("What is the capital of {c}?", "Which city is the capital of {c}?", "Name the capital city of {c}."),
    "language": ("What language is spoken in {c}?", "Which language do people speak in {c}?",
                 "Name the language of {c}."),
    "animal": ("What is the national animal of {c}?", "Which animal is the symbol of {c}?",
               "Name the national animal of {c}."),
}
_FACT_SENTENCES = {
    "capital": ("The capital of {c} is {v}.", "{v} is the capital of {c}."),
    "language": ("People in {c} speak {v}.", "The language of {c} is {v}."),
    "animal": ("The national animal of {c} is the {v}.", "The {v} is the national animal of {c}."),
}


def _gen_recall(rng: random.Random) -> Problem:
    country = rng.choice(sorted(FACTS))
    attr = rng.choice(sorted(_RECALL_TEMPLATES))
    question = rng.choice(_RECALL_TEMPLATES[attr]).format(c=country)
    return Problem(question, FACTS[country][attr], {"task": "recall", "country": country, "attr": attr})


def fact_document(rng: random.Random) -> str:
    """A short plain-text paragraph stating every fact about one country (pretraining text, not a task)."""
    country = rng.choice(sorted(FACTS))
    sentences = [rng.choice(_FACT_SENTENCES[attr]).format(c=country, v=v) for attr, v in FACTS[country].items()]
    rng.shuffle(sentences)
    return " ".join(sentences)


def all_fact_sentences() -> list[str]:
    """Every fact in every phrasing (for tokenizer training and inspection)."""
    return [t.format(c=c, v=v) for c, attrs in sorted(FACTS.items()) for a, v in attrs.items()
            for t in _FACT_SENTENCES[a]]


# -----------------------------------------------------------------------------------------------------
# non-reasoning: copying and format following

_SEPARATORS = {"commas": ", ", "spaces": " ", "dashes": "-"}


def _gen_repeat(rng: random.Random) -> Problem:
    word, k = rng.choice(WORDS), rng.randint(2, 5)
    sep_name = rng.choice(sorted(_SEPARATORS))
    question = f"Repeat the word {word} {NUMBER_WORDS[k]} times, separated by {sep_name}."
    return Problem(question, _SEPARATORS[sep_name].join([word] * k), {"task": "repeat"})


def _gen_upper(rng: random.Random) -> Problem:
    words = [rng.choice(WORDS) for _ in range(rng.randint(1, 3))]
    question = f"Write these words in upper case: {' '.join(words)}"
    return Problem(question, " ".join(words).upper(), {"task": "upper"})
