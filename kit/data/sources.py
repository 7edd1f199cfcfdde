"""The data sources bundled in the core (kit/builtin.py imports this): the paper's released training sets,
from the Hub or from the small offline fixtures in kit/data/fixtures/train. Other sources (the CPU mini-world's
generator) register themselves the same way; kit.data.train_sets looks every source up by `data.source`."""

from __future__ import annotations

from kit.registry import DATA_SOURCES, DataSource

for _name, _what in (("hub", "the released math_rl_48k / math_sft_40K from the Hugging Face Hub"),
                     ("fixtures", "offline look-alikes of the released sets (kit/data/fixtures/train)")):
    DATA_SOURCES.register(_name, DataSource(
        name=_name, problems="kit.data.train_sets:released_problems", rl_pool="kit.data.train_sets:released_rl_pool",
        description=_what))
