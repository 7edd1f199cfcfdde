"""Latent- and token-space shift measurements: hidden-state collection (collect), PCA shift (pca), linear probe
and linear CKA (linear), norm-matched random LoRA control (control), token KL / rank shift (tokens).

Submodules are imported lazily by the caller (``from kit.probe.pca import pca_shift``) so that the numpy-only
parts do not import torch.
"""
