"""Latent- and token-space shift measurements: hidden-state collection (collect), PCA shift (pca), linear probe
and linear CKA (linear), norm-matched random LoRA control (control), token KL / rank shift (tokens).

Submodules are imported lazily by the caller (``from kit.probe.pca import pca_shift``) so that the numpy-only
parts do not import torch.
"""

from kit.stages import COMMON_KEYS, Stage

# the probe stage: latent shift from the adapters; token shift reads eval's per-sample logs, so eval comes first
# and redoing eval makes the probe stale
STAGE = Stage("probe", "kit.probe.stage:run",
              keys=COMMON_KEYS + ("probe", "arms", "compare", "eval.benchmarks", "eval.source"),
              reads=("arms/*/adapter", "eval/samples"), writes=("probe",))
