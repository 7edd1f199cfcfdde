"""A small byte-level BPE tokenizer for the toy world, usable through Hugging Face (`PreTrainedTokenizerFast`).

- Pre-tokenization: a regex split (words, single digits, punctuation, whitespace; newline runs are one
  piece, see `_PIECES`), then byte-level mapping. Numbers are spelled digit by digit, which is what makes
  arithmetic learnable for a tiny model. The byte alphabet (256
  symbols) is always in the vocabulary, so ANY text encodes and decodes back exactly.
- Merges: learned here, in plain Python, on text drawn from the world's pretraining part (questions,
  base-style answers, fact sentences). The learner breaks ties by the pair itself, so the
  vocabulary is the same on every run (the `tokenizers` trainer is not guaranteed to break ties the same way).
- Chat tokens as single ids: `<|endoftext|>` (pad), `<|im_start|>`, `<|im_end|>` (eos) are special (dropped
  by `decode(..., skip_special_tokens=True)`); `<think>` and `</think>` are added tokens with special=False,
  so decoding keeps them (the kit reads the answer after `</think>`), as in Qwen3's own tokenizer.
"""

from __future__ import annotations

import random
import re
from collections import Counter
from typing import Iterable

from kit.chat import IM_END, IM_START, QWEN3_TEMPLATE, THINK_CLOSE, THINK_OPEN, render_prompt

PAD = "<|endoftext|>"
SPECIAL_TOKENS = (PAD, IM_START, IM_END)
THINK_TOKENS = (THINK_OPEN, THINK_CLOSE)
TOKENIZER_VERSION = "toy-bpe-3"
DEFAULT_MERGES = 400

_SPLIT = re.compile("|".join(re.escape(t) for t in (*SPECIAL_TOKENS, *THINK_TOKENS)))


# Pieces BPE never merges across: a run of whitespace that ends in a line break (so "\n\n" is one piece
# whether text follows or not: the generation prompt ends in "</think>\n\n", and the training text has
# the answer right after it, so the two must tokenize alike), a word with at most one leading space, a
# single digit, punctuation with at most one leading space, other whitespace.
_PIECES = r"\s*[\r\n]+| ?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"


def _pre_tokenizer():
    from tokenizers import Regex, pre_tokenizers

    return pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_PIECES), behavior="isolated"),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])


def tokenizer_corpus(seed: int = 0, per_task: int = 400) -> list[str]:
    """Texts the merges are learned on: chat-rendered pretraining problems with their base-style answers, and
    every fact sentence. Not the SFT teacher's traces: a base's tokenizer comes from its pretraining text, and a
    change of the teacher (a fine-tuning setting) must not change the base."""
    from kit.toy.world import TASKS, all_fact_sentences, base_style, sample

    rng = random.Random(f"tokenizer:{seed}")
    texts: list[str] = []
    for name in TASKS:
        for _ in range(per_task):
            p = sample(name, rng, "pretrain")
            texts.append(render_prompt(p.question, enable_thinking=False) + base_style(p) + IM_END)
    texts.extend(all_fact_sentences())
    return texts


def learn_merges(texts: Iterable[str], n_merges: int, min_count: int = 2) -> list[tuple[str, str]]:
    """Byte-level BPE merges, most frequent pair first (ties: the smaller pair), never across special tokens
    or pre-tokenizer pieces."""
    pre = _pre_tokenizer()
    words: Counter[str] = Counter()
    for text in texts:
        for chunk in _SPLIT.split(text):
            if chunk:
                words.update(piece for piece, _ in pre.pre_tokenize_str(chunk))
    seqs = {w: tuple(w) for w in words}
    merges: list[tuple[str, str]] = []
    for _ in range(n_merges):
        pairs: Counter[tuple[str, str]] = Counter()
        for w, f in words.items():
            s = seqs[w]
            for pair in zip(s, s[1:]):
                pairs[pair] += f
        if not pairs:
            break
        best, count = min(pairs.items(), key=lambda kv: (-kv[1], kv[0]))
        if count < min_count:
            break
        merges.append(best)
        a, b = best
        for w, s in seqs.items():
            if len(s) < 2:
                continue
            out, i = [], 0
            while i < len(s):
                if i + 1 < len(s) and s[i] == a and s[i + 1] == b:
                    out.append(a + b)
                    i += 2
                else:
                    out.append(s[i])
                    i += 1
            seqs[w] = tuple(out)
    return merges


def build_tokenizer(n_merges: int = DEFAULT_MERGES, seed: int = 0):
    """The toy tokenizer as a `PreTrainedTokenizerFast` (eos `<|im_end|>`, pad `<|endoftext|>`, left padding,
    the kit's chat template)."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    merges = learn_merges(tokenizer_corpus(seed), n_merges)
    vocab: dict[str, int] = {}
    for sym in sorted(pre_tokenizers.ByteLevel.alphabet()):
        vocab[sym] = len(vocab)
    for a, b in merges:
        vocab.setdefault(a + b, len(vocab))
    tk = Tokenizer(models.BPE(vocab=vocab, merges=merges, fuse_unk=False))
    tk.pre_tokenizer = _pre_tokenizer()
    tk.decoder = decoders.ByteLevel()
    tk.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in SPECIAL_TOKENS])
    tk.add_tokens([AddedToken(t, special=False, normalized=False) for t in THINK_TOKENS])
    tok = PreTrainedTokenizerFast(
        tokenizer_object=tk, eos_token=IM_END, pad_token=PAD, padding_side="left",
        clean_up_tokenization_spaces=False, model_max_length=1024,
    )
    tok.chat_template = QWEN3_TEMPLATE
    return tok
