"""CoQA, HaluEval, IFEval and LiveCodeBench: fixture -> items -> prompt -> score, aggregation, data decoding."""

from __future__ import annotations

import json
from typing import Any

import pytest

from kit.eval import benchmarks
from kit.eval.benchmarks.base import Benchmark, HubSource, Item, load_rows, mean_columns, select_items


def _items(name: str) -> tuple[Benchmark, dict[str, Item]]:
    b = benchmarks.get(name)
    items = b.items(load_rows(b, use_fixtures=True))
    return b, {it.id: it for it in items}


def test_registered():
    names = benchmarks.names()
    for n in ("coqa", "halueval", "ifeval", "livecodebench"):
        assert n in names
    assert benchmarks.get("coqa").group == "non" and benchmarks.get("livecodebench").group == "other"


# -- the load hook in base.py ------------------------------------------------------------------------------

def test_load_rows_goes_through_the_load_hook():
    class Custom(Benchmark):
        name = "custom_probe"
        group = "non"
        source = HubSource(path="nowhere/none", revision="main", split="test")

        def load(self, use_fixtures: bool) -> list[dict[str, Any]]:
            return [{"x": 1, "fixtures": use_fixtures}]

    assert load_rows(Custom(), use_fixtures=False) == [{"x": 1, "fixtures": False}]


def test_halueval_hub_path_concatenates_three_configs(monkeypatch):
    import kit.eval.benchmarks.halueval as mod

    seen = []

    def fake_hub_rows(bench, src):
        seen.append((src.path, src.name, src.split))
        return [{"hallucination": "no", "knowledge": "k", "question": "q", "answer": "a", "dialogue_history": "d",
                 "response": "r", "document": "doc", "summary": "s"}] * 2

    monkeypatch.setattr(mod, "hub_rows", fake_hub_rows)
    b = benchmarks.get("halueval")
    rows = b.load(use_fixtures=False)
    assert seen == [("pminervini/HaluEval", c, "data") for c in ("qa_samples", "dialogue_samples", "summarization_samples")]
    assert [r["task"] for r in rows] == ["qa", "qa", "dialogue", "dialogue", "summarization", "summarization"]
    assert [it.id for it in b.items(rows)] == ["qa-0", "qa-1", "dialogue-0", "dialogue-1", "summarization-0", "summarization-1"]


# -- CoQA ------------------------------------------------------------------------------------------------

def test_coqa_items_and_prompt():
    b, items = _items("coqa")
    assert list(items) == ["fx-coqa-1", "fx-coqa-2", "fx-coqa-3"]
    it = items["fx-coqa-3"]
    assert it.cluster == "fx-coqa-3"
    assert it.doc["golds"] == ["cider", "apple cider", "cider from the apples"]  # duplicate "cider" dropped
    assert b.prompt(it) == (
        "Pablo planted three apple trees and a pear tree behind his house. The pear tree grew fastest, but the "
        "apple trees gave more fruit. In autumn his daughter Lena made cider from the apples.\n\n"
        "Q: How many apple trees did Pablo plant?\n\nA: three\n\nQ: What did Lena make?\n\nA:"
    )
    assert b.decode.stop == ("\nQ:",) and b.decode.temperature == 0.0
    assert items["fx-coqa-2"].doc["golds"] == ["yes", "yes, in 1968"]


def test_coqa_scores():
    b, items = _items("coqa")
    it = items["fx-coqa-1"]  # last turn: "How did he travel?"
    assert it.doc["golds"] == ["on a green bicycle", "by bicycle", "a green bicycle", "on his green bicycle"]
    right = b.score(it, " on his green bicycle", " on his green bicycle\nQ:")
    # CoQA's leave-one-out rule: 3 folds contain the exact reference; without it the best is
    # "on a green bicycle" (tokens on/green/bicycle: P=3/4, R=1, F1=6/7)
    assert right["paper"] == pytest.approx((3 + 6 / 7) / 4) and right["paper_em"] == pytest.approx(0.75)
    assert right["fixed"] == right["paper"] and right["fixed_em"] == right["paper_em"]
    wrong = b.score(it, "in a taxi", "in a taxi")
    assert wrong == {"paper": 0.0, "paper_em": 0.0, "fixed": 0.0, "fixed_em": 0.0}
    # reasoning then answer: both parsers read past </think>
    out = "<think>\nHe rode something green.\n</think>\n\non his green bicycle"
    s = b.score(it, "on his green bicycle", out)
    assert s == right
    # a labelled answer: the paper's first line keeps the label, the kit strips it
    s = b.score(it, "Answer: on his green bicycle\nbecause...", "Answer: on his green bicycle\nbecause...")
    assert s["fixed"] == right["fixed"] and s["paper"] < right["paper"] and s["paper_em"] == 0.0
    # plain-text reasoning without tags: both read the first line and score 0
    s = b.score(it, "Okay, let me look.\non his green bicycle", "Okay, let me look.\non his green bicycle")
    assert s["paper"] == 0.0 and s["fixed"] == 0.0
    # truncated thinking: the paper reads "<think>", the kit's answer is empty
    s = b.score(it, "", "<think>\non his green bicycle")
    assert s["paper"] == 0.0 and s["fixed"] == 0.0
    assert b.primary == "fixed" and b.paper_column == "paper"


def test_coqa_subsets_keep_whole_stories():
    b, items = _items("coqa")
    chosen = select_items(list(items.values()), 2, seed=3)
    assert len({it.cluster for it in chosen}) == len(chosen) == 2


# -- HaluEval --------------------------------------------------------------------------------------------

def test_halueval_items_and_prompts():
    b, items = _items("halueval")
    assert sorted(items) == sorted(f"{t}-{i}" for t in ("qa", "dialogue", "summarization") for i in range(3))
    qa = items["qa-0"]
    assert qa.doc["label"] == "no" and qa.cluster == "qa-0" and b.stratum(qa) == "qa"
    p = b.prompt(qa)
    assert p.startswith("I want you act as an answer judge. Given a question and an answer, your objective is")
    assert 'MUST be "Yes" or "No"' in p
    assert p.endswith(
        "\n\n#Knowledge: The Karsten Bridge opened in 1911 and spans the Velder River. It was designed by the "
        "engineer Hanne Opdal.\n#Question#: Which engineer designed the bridge that spans the Velder River?"
        "\n#Answer#: Hanne Opdal\n#Your Judgement#:"
    )
    d = b.prompt(items["dialogue-1"])
    assert d.startswith("I want you act as a response judge.") and "\n#Knowledge: The novel Salt Roads" in d
    assert d.endswith("\n#Response#: It was written by Jonas Berg, who won the Booker Prize for it.\n#Your Judgement#:")
    s = b.prompt(items["summarization-1"])
    assert s.startswith("I want you act as a summary judge.") and "#Knowledge" not in s.split("#Your Judgement#: No")[-1]
    assert "\n\n#Document#: A school in Dalby" in s and s.endswith("marathon.\n#Your Judgement#:")


def test_halueval_scores():
    b, items = _items("halueval")
    qa0, qa1 = items["qa-0"], items["qa-1"]  # labels no, yes
    assert b.score(qa0, "No", "No") == {"paper": 1.0, "fixed": 1.0, "_task": 0.0}
    assert b.score(qa1, "Yes", "Yes")["paper"] == 1.0
    assert b.score(qa0, "Yes", "Yes")["paper"] == 0.0 and b.score(qa0, "Yes", "Yes")["fixed"] == 0.0
    think = "<think>\nThe knowledge says Hanne Opdal designed it.\n</think>\n\nNo"
    s = b.score(qa0, "No", think)
    assert s["paper"] == 0.0 and s["fixed"] == 1.0
    both = b.score(qa0, "Yes or No: No", "Yes or No: No")
    assert both["paper"] == 0.0  # both words on the first line
    prose = "The answer matches the knowledge, so there is nothing invented.\nJudgement: No"
    assert b.score(qa0, prose, prose) == {"paper": 0.0, "fixed": 1.0, "_task": 0.0}
    one_line = "Nothing is invented here. Judgement: No"  # substring "No" only, on the first line
    assert b.score(qa0, one_line, one_line)["paper"] == 1.0
    # the paper's run stopped at the first blank line: an output starting with one yields nothing
    assert b.score(qa0, "No", "\n\nNo")["paper"] == 0.0
    assert b.score(items["summarization-1"], "Yes", "Yes")["_task"] == 2.0


def test_halueval_aggregate_is_mean_of_task_means():
    b, items = _items("halueval")
    scores = [
        {"paper": 1.0, "fixed": 1.0, "_task": 0.0},
        {"paper": 1.0, "fixed": 0.0, "_task": 0.0},
        {"paper": 1.0, "fixed": 1.0, "_task": 0.0},
        {"paper": 0.0, "fixed": 1.0, "_task": 1.0},
        {"paper": 0.0, "fixed": 0.0, "_task": 2.0},
        {"paper": 1.0, "fixed": 0.0, "_task": 2.0},
    ]
    agg = b.aggregate(scores)
    assert agg["paper_qa"] == 1.0 and agg["paper_dialogue"] == 0.0 and agg["paper_summarization"] == 0.5
    assert agg["paper"] == pytest.approx(0.5)  # not the item mean 4/6
    assert agg["fixed"] == pytest.approx((2 / 3 + 1.0 + 0.0) / 3)
    assert mean_columns(scores)["paper"] == pytest.approx(4 / 6)
    assert "_task" not in agg


def test_halueval_clusters_stay_inside_their_stratum():
    b, items = _items("halueval")
    strata: dict[str, set[str]] = {}
    for it in items.values():
        strata.setdefault(it.cluster, set()).add(b.stratum(it))
    assert all(len(v) == 1 for v in strata.values())  # kit.measure.bootstrap rejects shared clusters
    chosen = select_items(list(items.values()), 4, seed=11)
    assert len(chosen) == 4


# -- IFEval ------------------------------------------------------------------------------------------------

def test_ifeval_items_and_prompt():
    b, items = _items("ifeval")
    it = items["1019"]
    assert b.prompt(it) == (
        'Given the sentence "Two young boys with toy guns and horns." can you ask a question? Please ensure that '
        "your response is in English, and in all lowercase letters. No capital letters are allowed."
    )
    # the json loader unifies the kwargs structs (None for unused keys); items drop the Nones
    assert items["1174"].doc["kwargs"][1] == {"relation": "less than", "num_sentences": 6}
    assert b.weight(items["1000"]) == 3.0


def test_ifeval_sentence_and_capital_checkers_work_offline():
    b, items = _items("ifeval")
    it = items["1174"]  # letter o < 6 times, fewer than 6 sentences, >= 2 highlights
    good = "*Sunny* day. *Warm* air."
    s = b.score(it, good, good)
    assert s["paper"] == 1.0 and s["prompt_strict"] == 1.0
    seven = "*Sunny* day. *Warm* air. Hi. Hi. Hi. Hi. Hi."
    s = b.score(it, seven, seven)
    assert s["paper"] == pytest.approx(2 / 3) and s["prompt_strict"] == 0.0  # number_sentences fails
    it = items["1040"]  # capital words < 10 and >= 1; wrapped in double quotes
    good = '"Matthias Algiers: SKILLED welder, TEAM lead."'
    assert b.score(it, good, good)["paper"] == 1.0
    many = '"A B C D E F G H I J K L words in CAPS everywhere"'
    assert b.score(it, many, many)["paper"] == pytest.approx(2 / 3)
    none = '"no capitals here"'
    assert b.score(it, none, none)["paper"] == pytest.approx(2 / 3)


def test_ifeval_strict_vs_loose():
    b, items = _items("ifeval")
    it = items["1128"]  # the very last sentence must be "Is there anything else I can help with?"
    text = "The sentiment is negative.\nIs there anything else I can help with?\n---"
    s = b.score(it, text, text)
    assert s["paper"] == 0.0 and s["prompt_strict"] == 0.0  # a trailing line breaks the strict check
    assert s["inst_loose"] == 1.0 and s["prompt_loose"] == 1.0  # loose drops the last line
    clean = "The sentiment is negative. Is there anything else I can help with?"
    assert b.score(it, clean, clean)["paper"] == 1.0
    assert b.score(it, "", "")["inst_loose"] == 0.0


def test_ifeval_reads_after_think_like_the_fork():
    b, items = _items("ifeval")
    it = items["1019"]  # all lowercase
    out = "<think>\nThe user WANTS lowercase.\n</think>\n\nwhat are the two boys holding?"
    assert b.score(it, "what are the two boys holding?", out)["paper"] == 1.0
    assert b.score(it, "", "<think>\nStill THINKING")["paper"] == 0.0


def test_ifeval_verdicts_are_deterministic_when_a_checker_draws_at_random():
    # #10 item 10: the letter-frequency checker draws `random.choice(string.ascii_letters)` when the row's
    # letter is not one a-z letter. The response holds a-m five times each and n-z never, so an unseeded
    # draw passes about half the time: 20 identical calls used to disagree.
    import random

    from kit.eval.scoring.ifeval import check_instructions

    response = " ".join(c * 5 for c in "abcdefghijklm")
    kwargs = [{"letter": "#", "let_frequency": 3, "let_relation": "at least"}]
    state = random.getstate()
    verdicts = {check_instructions("p", ["keywords:letter_frequency"], kwargs, response).strict for _ in range(20)}
    assert len(verdicts) == 1
    assert random.getstate() == state  # the caller's random stream is left alone
    b, items = _items("ifeval")
    it = items["1174"]
    text = "*Sunny* day. *Warm* air."
    assert b.score(it, text, text) == b.score(it, text, text)


def test_ifeval_aggregate_is_over_instructions():
    b, _ = _items("ifeval")
    scores = [
        {"paper": 1.0, "prompt_strict": 1.0, "prompt_loose": 1.0, "inst_loose": 1.0,
         "_n_inst": 1.0, "_inst_strict": 1.0, "_inst_loose": 1.0},
        {"paper": 0.0, "prompt_strict": 0.0, "prompt_loose": 0.0, "inst_loose": 1 / 3,
         "_n_inst": 3.0, "_inst_strict": 0.0, "_inst_loose": 1.0},
    ]
    agg = b.aggregate(scores)
    assert agg == {"paper": 0.25, "prompt_strict": 0.5, "prompt_loose": 0.5, "inst_loose": 0.5}
    assert mean_columns(scores)["paper"] == 0.5  # the prompt-weighted mean would be wrong


def test_nltk_data_is_built_in_a_fresh_cache(tmp_path, monkeypatch):
    import nltk

    import kit.eval.scoring.ifeval as mod

    monkeypatch.setenv("KIT_CACHE", str(tmp_path))
    monkeypatch.setattr(mod, "_READY", None)
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    root = mod.ensure_nltk_data()
    lang = root / "tokenizers" / "punkt_tab" / "english"
    assert root == tmp_path / "nltk_data" and sorted(p.name for p in lang.iterdir()) == sorted(mod._PUNKT_FILES)
    assert "dr" in (lang / "abbrev_types.txt").read_text().split()
    from nltk.tokenize.punkt import PunktTokenizer

    tok = PunktTokenizer("english")
    assert tok.tokenize("Dr. Smith arrived at 5 p.m. today. He sat down.") == [
        "Dr. Smith arrived at 5 p.m. today.", "He sat down."]


# -- LiveCodeBench ---------------------------------------------------------------------------------------

STDIN_OK = "```python\nn = int(input())\na = list(map(int, input().split()))\nprint(sum(a), max(a))\n```"
FUNC_OK = ("Here is my solution.\n```python\nclass Solution:\n    def countPairs(self, nums: List[int], target: int) -> int:\n"
           "        return sum(1 for i in range(len(nums)) for j in range(i + 1, len(nums)) if nums[i] + nums[j] < target)\n```")


def test_livecodebench_items_tests_and_prompts():
    b, items = _items("livecodebench")
    assert list(items) == ["fx_abc001_a", "fx_9001", "fx_1900A"]
    stdin, func = items["fx_abc001_a"], items["fx_9001"]
    assert func.doc["func_name"] == "countPairs" and stdin.doc["func_name"] is None
    t = b.tests(stdin)  # public (plain JSON) + private (base64/zlib/pickle)
    assert len(t) == 4 and t[0] == {"input": "3\n4 -2 7\n", "output": "9 7\n", "testtype": "stdin"}
    assert t[-1]["output"] == "0 1000\n"
    assert [x["testtype"] for x in b.tests(func)] == ["functional"] * 3
    assert b.prompt(stdin) == (
        "Generate an executable Python function generated from the given prompt. The function should read its "
        "input from standard input and print its output to standard output. Call the function after defining it."
        "\n\n" + stdin.doc["question_content"] + "\n\nPut the complete solution in a single fenced ```python code "
        "block at the end of your answer."
    )
    p = b.prompt(func)
    assert p.startswith("Generate an executable Python function generated from the given prompt. Complete the "
                        "starter code below and return it as the final solution, without invoking the function.")
    assert "```python\nclass Solution:\n    def countPairs(self, nums: List[int], target: int) -> int:\n```" in p
    assert (b.decode.temperature, b.decode.top_p, b.decode.n_samples) == (0.6, 0.95, 3)


def test_livecodebench_scores_right_and_wrong():
    b, items = _items("livecodebench")
    stdin, func, multi = items["fx_abc001_a"], items["fx_9001"], items["fx_1900A"]
    assert b.score(stdin, STDIN_OK, STDIN_OK)["paper"] == 1.0
    wrong = STDIN_OK.replace("max(a)", "min(a)")  # passes the public test's sum but not the max
    assert b.score(stdin, wrong, wrong)["paper"] == 0.0
    assert b.score(func, FUNC_OK, FUNC_OK)["paper"] == 1.0
    off = FUNC_OK.replace("< target", "<= target")
    assert b.score(func, off, off)["paper"] == 0.0
    multi_ok = ("```python\nimport sys\nd = sys.stdin.read().split()\nfor x in d[1:]:\n    n = int(x)\n"
                "    print((n + 1) // 2 if n % 2 else -(n // 2))\n```")
    assert b.score(multi, multi_ok, multi_ok)["paper"] == 1.0
    assert b.score(stdin, "no code here", "no code here")["paper"] == 0.0
    # the LAST python block counts: a correct block followed by a broken one fails
    two = STDIN_OK + "\nOr shorter:\n```python\nprint('9 7')\n```"
    assert b.score(stdin, two, two)["paper"] == 0.0


def test_decode_tests_formats():
    from kit.eval.benchmarks.livecodebench import decode_tests, encode_tests, last_code_block

    cases = [{"input": "1\n", "output": "1\n", "testtype": "stdin"}]
    assert decode_tests(json.dumps(cases)) == cases
    assert decode_tests(encode_tests(cases)) == cases
    assert decode_tests(cases) == cases
    assert decode_tests("") == [] and decode_tests(None) == []
    import base64
    import pickle
    import zlib

    evil = base64.b64encode(zlib.compress(pickle.dumps(ValueError("x")))).decode()
    with pytest.raises(Exception, match="cannot decode|refusing"):
        decode_tests(evil)
    text = "```python\na = 1\n```\n```text\nnot code\n```\n```\nb = 2\n```\n```python\nunterminated"
    assert last_code_block(text) == "b = 2\n"
    assert last_code_block("```js\nx\n```") is None
    assert last_code_block("```python3 title\nc = 3\n```") == "c = 3\n"
