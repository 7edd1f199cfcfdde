"""PCA shift of hidden states (paper §3 / paper.md §6.1), faithful and corrected, with a bootstrap over texts.

Per layer l, with base features X_l [N, H] and arm (fine-tuned) features A_l [N, H] of the SAME N texts:

faithful (the paper's analyse_PCA_Shift):
    PCA(n_components=2) is fit on X_l; projections are UNCENTERED dot products ``feats @ component``
    (not ``pca.transform``); pc1_o, pc2_o = mean projections of the base, pc1_u, pc2_u of the arm;
    shift_l = pc1_u - pc1_o, principle_l = pc2_u; Original_l = (0, pc2_o), Updated_l = (shift_l, pc2_u);
    d = || mean_l Updated_l - mean_l Original_l ||_2.

corrected (``result["corrected"]``):
    centred coordinates (pca.transform): the base centroid is (0, 0) and the arm centroid is
    (shift_l, pc2_u - pc2_o). Centring does not change shift_l nor d (both are differences), it only changes
    the plotted PC2 coordinate. What does change things: (i) pooling (pass "masked" features from
    kit.probe.collect), (ii) scale: each coordinate is divided by the base's std along that component
    (sqrt of the explained variance), which makes the shift comparable across layers and models, and (iii)
    layer aggregation: d_layer_mean averages per-layer distances, so layers that move in opposite directions
    do not cancel (the paper's d averages signed coordinates over layers first, and its value then depends on
    the sign convention of each layer's components).

Sign convention: components as sklearn >= 1.5 returns them (svd_flip on the rows of V: the largest
|loading| of every component is positive). The paper's d depends on it (signed layer mean).
svd_solver defaults to "full" (exact, deterministic); the paper used sklearn's "auto", which for 100 x 5120
inputs is a randomized SVD with an unseeded random state (tiny run-to-run noise).

Bootstrap: texts are resampled with replacement (the same indices for base and arm) and the WHOLE procedure is
redone, including the PCA fit, using an exact N x N Gram-matrix formulation (cheap for N of a few hundred and
any H). Percentile intervals.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence

import numpy as np
import scipy.linalg
from sklearn.decomposition import PCA
from threadpoolctl import threadpool_limits

from kit.errors import KitError

__all__ = ["pca_shift", "pca_layer_fit"]

# A component whose base std is below this fraction of the base's total std (sqrt of summed variances) is
# degenerate (e.g. identical texts after truncation): its scaled coordinate is undefined (nan, flagged).
_REL_SD_TOL = 1e-6


def _check(base: np.ndarray, arm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    base = np.asarray(base, dtype=np.float64)
    arm = np.asarray(arm, dtype=np.float64)
    if base.ndim == 2:
        base, arm = base[None], arm[None]
    if base.shape != arm.shape or base.ndim != 3:
        raise KitError(f"base and arm features must both be [layers, texts, hidden]; got {base.shape} vs {arm.shape}")
    if base.shape[1] < 3:
        raise KitError("PCA shift needs at least 3 texts")
    return base, arm


def pca_layer_fit(base_l: np.ndarray, svd_solver: str = "full") -> tuple[np.ndarray, np.ndarray]:
    """sklearn PCA(2) on one layer's base features: (components [2, H], explained_variance [2])."""
    pca = PCA(n_components=2, svd_solver=svd_solver)
    pca.fit(np.asarray(base_l, dtype=np.float64))
    return pca.components_.copy(), pca.explained_variance_.copy()


def _summaries(pc1_o, pc2_o, pc1_u, pc2_u, sd1, sd2) -> dict:
    """All scalar summaries from per-layer mean projections; works on [L] or [B, L] arrays."""
    shift = pc1_u - pc1_o
    dpc2 = pc2_u - pc2_o
    d = np.sqrt(shift.mean(-1) ** 2 + dpc2.mean(-1) ** 2)
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # nanmean of all-nan rows -> nan
        s1 = shift / sd1  # sd is nan for degenerate components: scaled coordinate undefined
        s2 = dpc2 / sd2
        d_layer = np.sqrt(shift**2 + dpc2**2)
        # undefined (degenerate) scaled coordinates are left out; nan only if both are undefined
        d_layer_scaled = np.where(
            np.isnan(s1) & np.isnan(s2), np.nan, np.sqrt(np.nan_to_num(s1**2) + np.nan_to_num(s2**2))
        )
        m1, m2 = np.nanmean(s1, -1), np.nanmean(s2, -1)
        d_scaled = np.where(np.isnan(m1) & np.isnan(m2), np.nan, np.sqrt(np.nan_to_num(m1**2) + np.nan_to_num(m2**2)))
        d_layer_scaled_mean = np.nanmean(d_layer_scaled, -1)
    return {
        "shift": shift,
        "dpc2": dpc2,
        "d": d,
        "d_layer": d_layer,
        "shift_scaled": s1,
        "dpc2_scaled": s2,
        "d_scaled": d_scaled,
        "d_layer_scaled": d_layer_scaled,
        "d_layer_mean": d_layer.mean(-1),
        "d_layer_scaled_mean": d_layer_scaled_mean,
    }


def _boot_layer(X: np.ndarray, A: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, ...]:
    """Refit PCA(2) on X[idx] for every row of idx [B, N] and project; returns (pc1_o, pc2_o, pc1_u, pc2_u, sd1, sd2),
    each [B]. Exact: uses G = X X^T and K = X A^T only (plus one [B, N] @ [N, H] product for the sign rule)."""
    B, N = idx.shape
    G = X @ X.T
    K = X @ A.T
    rows = np.arange(B)[:, None]
    Gs = G[idx[:, :, None], idx[:, None, :]]  # [B, N, N]
    # centre the Gram of the resampled rows: P Gs P
    Gs = Gs - Gs.mean(axis=1, keepdims=True)
    Gs = Gs - Gs.mean(axis=2, keepdims=True)
    lam = np.zeros((B, 2))
    U = np.zeros((B, N, 2))
    for b in range(B):  # only the top two eigenpairs (LAPACK syevr), descending
        w, V = scipy.linalg.eigh(Gs[b], subset_by_index=[N - 2, N - 1], driver="evr")
        lam[b] = w[::-1]
        U[b] = V[:, ::-1]
    counts = np.zeros((B, N))
    np.add.at(counts, (rows.repeat(N, 1), idx), 1.0)
    res = {}
    for k in range(2):
        u = U[:, :, k]
        u = u - u.mean(axis=1, keepdims=True)  # P u (u is already orthogonal to 1 unless degenerate)
        s = np.sqrt(np.clip(lam[:, k], 0.0, None))
        total_sd = np.sqrt(np.clip(np.trace(Gs, axis1=1, axis2=2), 0.0, None))
        bad = ~(s > _REL_SD_TOL * total_sd)
        s_safe = np.where(bad, 1.0, s)
        omega = np.zeros((B, N))
        np.add.at(omega, (rows.repeat(N, 1), idx), u / s_safe[:, None])  # component c = X^T omega
        comp = omega @ X  # [B, H]
        j = np.argmax(np.abs(comp), axis=1)
        sign = np.sign(comp[np.arange(B), j])
        sign = np.where(sign == 0, 1.0, sign)
        omega = omega * sign[:, None]
        m_base = np.einsum("bi,ij,bj->b", counts, G, omega) / N
        m_arm = np.einsum("bi,ji,bj->b", counts, K, omega) / N  # a_i . x_j = K[j, i]
        sd = s / np.sqrt(N - 1)
        res[k] = (np.where(bad, np.nan, m_base), np.where(bad, np.nan, m_arm), np.where(bad, np.nan, sd))
    out = (res[0][0], res[1][0], res[0][1], res[1][1], res[0][2], res[1][2])
    return out


def pca_shift(
    base_feats: np.ndarray,
    arm_feats: np.ndarray,
    *,
    layer_ids: Sequence[int] | None = None,
    svd_solver: str = "full",
    n_boot: int = 0,
    ci: float = 0.95,
    seed: int = 0,
    boot_chunk: int = 100,
) -> dict:
    """PCA shift between base and arm features [L, N, H] (or [N, H] for one layer) of the same texts.

    Many small SVD/eigh calls are much faster single-threaded (BLAS oversubscription), so BLAS is limited
    to one thread inside.

    Returns a JSON-friendly dict of lists (numpy arrays converted with .tolist()):
      layers, pc1_base, pc2_base, pc1_arm, pc2_arm, shift, principle (= pc2_arm), original [L,2], updated [L,2],
      d (paper), explained_variance [L,2], explained_variance_ratio [L,2],
      corrected: {pc2_arm_centred, shift_scaled, dpc2_scaled, d_scaled, d_layer, d_layer_scaled,
                  d_layer_mean, d_layer_scaled_mean},
      flags (e.g. "degenerate_pc2_layers:[...]": the base has ~no variance along that component, e.g. duplicate
      texts; the scaled coordinates of those layers are nan and left out of the layer means),
      and with n_boot > 0: ci {d, d_scaled, d_layer_mean, d_layer_scaled_mean: [lo, hi];
                              shift, d_layer, d_layer_scaled: [L, 2]}, n_boot, seed (degenerate resamples
      are dropped from the percentiles).
    """
    with threadpool_limits(limits=1):
        return _pca_shift(
            base_feats, arm_feats, layer_ids=layer_ids, svd_solver=svd_solver, n_boot=n_boot, ci=ci, seed=seed,
            boot_chunk=boot_chunk,
        )


def _pca_shift(
    base_feats: np.ndarray,
    arm_feats: np.ndarray,
    *,
    layer_ids: Sequence[int] | None = None,
    svd_solver: str = "full",
    n_boot: int = 0,
    ci: float = 0.95,
    seed: int = 0,
    boot_chunk: int = 100,
) -> dict:
    X, A = _check(base_feats, arm_feats)
    L, N, H = X.shape
    layers = list(range(L)) if layer_ids is None else [int(x) for x in layer_ids]
    if len(layers) != L:
        raise KitError(f"layer_ids has {len(layers)} entries for {L} layers")
    pc = np.zeros((4, L))
    ev = np.zeros((L, 2))
    evr = np.zeros((L, 2))
    for l in range(L):
        pca = PCA(n_components=2, svd_solver=svd_solver)
        pca.fit(X[l])
        comps = pca.components_
        pb = X[l] @ comps.T  # uncentered, as in the paper
        pa = A[l] @ comps.T
        pc[:, l] = [pb[:, 0].mean(), pb[:, 1].mean(), pa[:, 0].mean(), pa[:, 1].mean()]
        ev[l] = pca.explained_variance_
        evr[l] = pca.explained_variance_ratio_
    pc1_o, pc2_o, pc1_u, pc2_u = pc
    total_sd = np.sqrt(np.array([X[l].var(axis=0, ddof=1).sum() for l in range(L)]))
    sd = np.sqrt(np.clip(ev, 0.0, None))
    degenerate = ~(sd > _REL_SD_TOL * total_sd[:, None])  # [L, 2]
    sd = np.where(degenerate, np.nan, sd)
    sm = _summaries(pc1_o, pc2_o, pc1_u, pc2_u, sd[:, 0], sd[:, 1])
    flags = []
    for k in range(2):
        bad_layers = [layers[l] for l in range(L) if degenerate[l, k]]
        if bad_layers:
            flags.append(f"degenerate_pc{k + 1}_layers:{bad_layers}")
    out = {
        "layers": layers,
        "n_texts": int(N),
        "pc1_base": pc1_o.tolist(),
        "pc2_base": pc2_o.tolist(),
        "pc1_arm": pc1_u.tolist(),
        "pc2_arm": pc2_u.tolist(),
        "shift": sm["shift"].tolist(),
        "principle": pc2_u.tolist(),
        "original": np.stack([np.zeros(L), pc2_o], 1).tolist(),
        "updated": np.stack([sm["shift"], pc2_u], 1).tolist(),
        "d": float(sm["d"]),
        "explained_variance": ev.tolist(),
        "explained_variance_ratio": evr.tolist(),
        "corrected": {
            "pc2_arm_centred": sm["dpc2"].tolist(),
            "shift_scaled": sm["shift_scaled"].tolist(),
            "dpc2_scaled": sm["dpc2_scaled"].tolist(),
            "d_scaled": float(sm["d_scaled"]),
            "d_layer": sm["d_layer"].tolist(),
            "d_layer_scaled": sm["d_layer_scaled"].tolist(),
            "d_layer_mean": float(sm["d_layer_mean"]),
            "d_layer_scaled_mean": float(sm["d_layer_scaled_mean"]),
        },
        "svd_solver": svd_solver,
        "flags": flags,
    }
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        idx_all = rng.integers(0, N, size=(n_boot, N))
        reps = np.zeros((6, n_boot, L))
        for start in range(0, n_boot, boot_chunk):
            idx = idx_all[start : start + boot_chunk]
            for l in range(L):
                vals = _boot_layer(X[l], A[l], idx)
                for k in range(6):
                    reps[k, start : start + len(idx), l] = vals[k]
        bs = _summaries(reps[0], reps[1], reps[2], reps[3], reps[4], reps[5])
        a = (1 - ci) / 2

        def q(x):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RuntimeWarning)  # all-nan columns -> [nan, nan]
                return _q(x)

        def _q(x):
            return np.nanquantile(x, [a, 1 - a], axis=0).T.tolist() if np.ndim(x) > 1 else np.nanquantile(
                x, [a, 1 - a]
            ).tolist()

        out["ci"] = {
            "level": ci,
            "d": q(bs["d"]),
            "d_scaled": q(bs["d_scaled"]),
            "d_layer_mean": q(bs["d_layer_mean"]),
            "d_layer_scaled_mean": q(bs["d_layer_scaled_mean"]),
            "shift": q(bs["shift"]),
            "d_layer": q(bs["d_layer"]),
            "d_layer_scaled": q(bs["d_layer_scaled"]),
        }
        out["n_boot"] = n_boot
        out["seed"] = seed
    return out
