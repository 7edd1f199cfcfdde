"""Collect per-text mean hidden states at every layer (input of the PCA shift, probes and CKA).

Two pooling modes:

* ``"faithful"``: the paper's analyse_PCA_Shift choices (paper.md §6.1). Raw text (no chat template) is
  tokenised with truncation to ``max_length`` (right truncation, the tokenizer default), left padding with
  pad = EOS, padding to the longest text of the WHOLE set (the paper tokenised all K texts in one call with
  ``padding=True``; we batch the forward passes but keep that global padded length, so the result does not
  depend on ``batch_size``). The attention mask is passed to the model, default position ids are used, and
  the mean is taken over the whole sequence dimension WITHOUT the mask, i.e. pad positions count. Pad
  positions' hidden states depend on the attention kernel (the paper used FlashAttention-2, which leaves
  them as embedding+MLP of the pad token; sdpa/eager attend them to something), so faithful features are
  only comparable within one runtime.
* ``"masked"``: the corrected version: per-batch padding, position ids computed from the attention mask
  (real tokens start at position 0 whatever the padding), mean over real tokens only.
* ``"last"``: hidden state of the last real token (with the same padding/position handling as "masked").

Works with a plain HF causal LM and with a peft ``PeftModel`` (call it under ``model.disable_adapter()`` for
the base). Runs under ``torch.no_grad()`` with the model in eval mode (its previous mode is restored).
"""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import torch

from kit.errors import KitError

MODES = ("faithful", "masked", "last")

__all__ = ["MODES", "sample_texts", "sample_indices", "hidden_means", "tokenize_for_features", "model_device"]


def sample_indices(n: int, k: int = 100, seed: int = 42) -> list[int]:
    """Indices picked by the paper's sampler: ``random.seed(seed); random.shuffle(lst); lst[:k]``.

    Uses a private ``random.Random(seed)`` (same Mersenne Twister stream and shuffle algorithm as the global
    functions) so the caller's global random state is untouched.
    """
    idx = list(range(n))
    random.Random(seed).shuffle(idx)
    return idx[:k]


def sample_texts(texts: Sequence, k: int = 100, seed: int = 42) -> list:
    """The first k items after ``random.seed(seed); random.shuffle(list(texts))`` (all of them if k > n)."""
    items = list(texts)
    return [items[i] for i in sample_indices(len(items), k, seed)]


def model_device(model) -> torch.device:
    dev = getattr(model, "device", None)
    if isinstance(dev, torch.device):
        return dev
    for p in model.parameters():
        return p.device
    return torch.device("cpu")


def tokenize_for_features(tokenizer, texts: Sequence[str], max_length: int) -> list[list[int]]:
    """Token ids per text, truncated to max_length by the tokenizer (special tokens as the tokenizer adds them)."""
    enc = tokenizer(list(texts), truncation=True, max_length=max_length)
    ids = [list(x) for x in enc["input_ids"]]
    empty = [i for i, x in enumerate(ids) if len(x) == 0]
    if empty:
        raise KitError(f"{len(empty)} texts tokenise to zero tokens (e.g. index {empty[0]}); drop empty texts")
    return ids


def _left_pad(batch: list[list[int]], length: int, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    ids = torch.full((len(batch), length), pad_id, dtype=torch.long)
    mask = torch.zeros((len(batch), length), dtype=torch.long)
    for i, x in enumerate(batch):
        if len(x):
            ids[i, length - len(x) :] = torch.tensor(x, dtype=torch.long)
            mask[i, length - len(x) :] = 1
    return ids, mask


def _forward_hidden(model, kwargs: dict):
    try:
        return model(**kwargs, logits_to_keep=1)
    except TypeError:  # models without logits_to_keep
        return model(**kwargs)


def hidden_means(
    model,
    tokenizer,
    texts: Sequence[str],
    *,
    max_length: int = 128,
    batch_size: int = 8,
    mode: str = "faithful",
    layers: Sequence[int] | None = None,
) -> np.ndarray:
    """Pooled hidden states, float32 array [n_layers + 1, n_texts, hidden] (or [len(layers), ...]).

    Index 0 is the embedding output, index i the output of decoder layer i (HF ``hidden_states``).
    ``layers`` selects a subset of those indices (order kept) to save memory.
    """
    if mode not in MODES:
        raise KitError(f"mode must be one of {MODES}, got {mode!r}")
    if batch_size < 1:
        raise KitError("batch_size must be >= 1")
    texts = list(texts)
    if not texts:
        raise KitError("no texts given")
    ids = tokenize_for_features(tokenizer, texts, max_length)
    eos = tokenizer.eos_token_id
    if mode == "faithful":
        if eos is None:
            raise KitError("faithful mode pads with EOS but the tokenizer has no eos_token_id")
        pad_id = int(eos)
    else:
        pad_id = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
        pad_id = 0 if pad_id is None else int(pad_id)
    global_len = max(len(x) for x in ids)
    device = model_device(model)
    was_training = bool(getattr(model, "training", False))
    model.eval()
    out_arr = None
    try:
        with torch.no_grad():
            for start in range(0, len(ids), batch_size):
                batch = ids[start : start + batch_size]
                length = global_len if mode == "faithful" else max(len(x) for x in batch)
                input_ids, mask = _left_pad(batch, length, pad_id)
                kwargs = {
                    "input_ids": input_ids.to(device),
                    "attention_mask": mask.to(device),
                    "output_hidden_states": True,
                    "use_cache": False,
                }
                if mode != "faithful":
                    kwargs["position_ids"] = (mask.cumsum(-1) - 1).clamp(min=0).to(device)
                hs = _forward_hidden(model, kwargs).hidden_states
                if hs is None:
                    raise KitError("the model returned no hidden_states for output_hidden_states=True")
                sel = list(range(len(hs))) if layers is None else list(layers)
                if out_arr is None:
                    if any(not (-len(hs) <= li < len(hs)) for li in sel):
                        raise KitError(f"layers {sel} out of range for {len(hs)} hidden states")
                    out_arr = np.zeros((len(sel), len(ids), hs[0].shape[-1]), dtype=np.float32)
                m = mask.to(hs[0].device).unsqueeze(-1).float()
                for j, li in enumerate(sel):
                    h = hs[li].float()
                    if mode == "faithful":
                        pooled = h.mean(dim=1)  # pad positions included, as in the paper
                    elif mode == "masked":
                        pooled = (h * m).sum(dim=1) / m.sum(dim=1)
                    else:
                        pooled = h[:, -1, :]  # left padding: the last position is the last real token
                    out_arr[j, start : start + len(batch)] = pooled.cpu().numpy()
    finally:
        if was_training:
            model.train()
    return out_arr
