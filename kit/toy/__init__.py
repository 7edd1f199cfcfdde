"""The CPU mini-world ("toy"): a fully synthetic stand-in for the paper's setting that runs end to end on a
laptop CPU.

- `kit.toy.world`: three task groups (math = the training domain, other reasoning, non-reasoning) with
  seeded generators, exact verifiers, the base's own answer style and, for math, a verbose teacher trace
  (the off-policy SFT target); hash-partitioned eval / train / pretrain parts that never share a question.
- `kit.toy.tokenizer`: a small byte-level BPE tokenizer with the kit's chat tokens as single ids.
- `kit.toy.pretrain`: a tiny Qwen3 pretrained from scratch on the world (`ensure_base(cache_dir, quick)`).
"""
