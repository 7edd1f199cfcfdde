"""Linear probe transfer and linear CKA between base and arm hidden states (not in the paper; the kit's
corrected/complementary latent-shift measures, eval-anchors §7.2).

Probe transfer (per layer): a logistic-regression probe is trained on the BASE model's features of the training
texts (standardisation fitted on those base features only) to predict a label (e.g. the text's task group),
then applied unchanged to (i) the base features and (ii) the arm's features of the SAME held-out texts.
drop = acc_base - acc_arm. If the arm's representation moved in directions the probe relies on, accuracy
drops. Optional: a probe retrained on the arm's own features ("information retained") and the majority-class
rate (chance). Intervals: percentile bootstrap over held-out texts (paired; the probe is kept fixed).

Linear CKA (Kornblith et al. 2019) on centred features, computed through N x N Gram matrices:
CKA(X, Y) = <Kx, Ky>_F / (||Kx||_F ||Ky||_F) with K = Xc Xc^T, which equals
||Yc^T Xc||_F^2 / (||Xc^T Xc||_F ||Yc^T Yc||_F). 1 - CKA is the shift (0 for identical features, also for
features that differ by an orthogonal transform and isotropic scaling). Also the debiased CKA (unbiased HSIC,
Song et al. 2012 / Nguyen et al. 2020). Intervals over texts: jackknife (default) or percentile bootstrap;
see cka_per_layer for why the jackknife is the default.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from kit.errors import KitError

__all__ = ["linear_cka", "cka_per_layer", "probe_transfer"]


def _centred_gram(X: np.ndarray) -> np.ndarray:
    Xc = X - X.mean(axis=0, keepdims=True)
    return Xc @ Xc.T


def _cka_from_grams(Kx: np.ndarray, Ky: np.ndarray) -> np.ndarray:
    """CKA from (already centred) Gram matrices; Kx, Ky: [..., N, N]."""
    num = np.sum(Kx * Ky, axis=(-2, -1))
    den = np.sqrt(np.sum(Kx * Kx, axis=(-2, -1)) * np.sum(Ky * Ky, axis=(-2, -1)))
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def _hsic_terms(K: np.ndarray, L: np.ndarray, debiased: bool):
    """(value, leave-one-out values [N]) of tr(K H L H) (biased) or the unbiased HSIC U-statistic
    (Song et al. 2012), from raw (uncentred) linear Gram matrices, in O(N^2)."""
    n = K.shape[0]
    if debiased:
        K = K - np.diag(np.diag(K))
        L = L - np.diag(np.diag(L))
    r, s = K.sum(1), L.sum(1)
    a = np.sum(K * L, axis=1)
    A, SK, SL, T = a.sum(), r.sum(), s.sum(), r @ s
    kd, ld = np.diag(K), np.diag(L)
    # delete row/column i
    A_i = A - 2 * a + kd * ld
    SK_i = SK - 2 * r + kd
    SL_i = SL - 2 * s + ld
    T_i = T - K @ s - L @ r + a - (r - kd) * (s - ld)

    def val(A, SK, SL, T, m):
        if debiased:
            return (A + SK * SL / ((m - 1) * (m - 2)) - 2.0 / (m - 2) * T) / (m * (m - 3))
        return A - 2.0 / m * T + SK * SL / m**2

    return val(A, SK, SL, T, n), val(A_i, SK_i, SL_i, T_i, n - 1)


def _cka_and_loo(X: np.ndarray, Y: np.ndarray, debiased: bool, grams=None) -> tuple[float, np.ndarray]:
    Gx, Gy = (X @ X.T, Y @ Y.T) if grams is None else grams
    xy, xy_i = _hsic_terms(Gx, Gy, debiased)
    xx, xx_i = _hsic_terms(Gx, Gx, debiased)
    yy, yy_i = _hsic_terms(Gy, Gy, debiased)
    with np.errstate(divide="ignore", invalid="ignore"):
        full = xy / np.sqrt(xx * yy) if xx * yy > 0 else float("nan")
        loo = np.where(xx_i * yy_i > 0, xy_i / np.sqrt(np.abs(xx_i * yy_i)), np.nan)
    return float(full), loo


def linear_cka(X: np.ndarray, Y: np.ndarray, *, debiased: bool = False) -> float:
    """Linear CKA between feature matrices [N, Hx] and [N, Hy] of the same N inputs (nan if one is constant).

    debiased=True uses the unbiased HSIC estimator (Song et al. 2012; Nguyen et al. 2020), whose value does
    not drift with N; the plain estimator is biased by O(1/N) (upwards for unrelated features).
    """
    X = np.asarray(X, dtype=np.float64)
    Y = np.asarray(Y, dtype=np.float64)
    if X.ndim != 2 or Y.ndim != 2 or X.shape[0] != Y.shape[0]:
        raise KitError(f"linear_cka needs [N, H] matrices with the same N; got {X.shape} and {Y.shape}")
    if debiased:
        if X.shape[0] < 5:
            raise KitError("debiased CKA needs at least 5 inputs")
        return _cka_and_loo(X, Y, True)[0]
    return float(_cka_from_grams(_centred_gram(X), _centred_gram(Y)))


def _as3(base, arm):
    base = np.asarray(base, dtype=np.float64)
    arm = np.asarray(arm, dtype=np.float64)
    if base.ndim == 2:
        base, arm = base[None], arm[None]
    if base.ndim != 3 or base.shape[:2] != arm.shape[:2]:
        raise KitError(f"features must be [layers, texts, hidden] with equal layers/texts; got {base.shape}, {arm.shape}")
    return base, arm


def cka_per_layer(
    base_feats: np.ndarray,
    arm_feats: np.ndarray,
    *,
    n_boot: int = 0,
    ci: float = 0.95,
    seed: int = 0,
    ci_method: str = "jackknife",
    boot_chunk: int = 100,
) -> dict:
    """Linear CKA per layer between base and arm features [L, N, H] (see _cka_per_layer for the outputs)."""
    with threadpool_limits(limits=1):
        return _cka_per_layer(
            base_feats, arm_feats, n_boot=n_boot, ci=ci, seed=seed, ci_method=ci_method, boot_chunk=boot_chunk
        )


def _cka_per_layer(
    base_feats: np.ndarray,
    arm_feats: np.ndarray,
    *,
    n_boot: int = 0,
    ci: float = 0.95,
    seed: int = 0,
    ci_method: str = "jackknife",
    boot_chunk: int = 100,
) -> dict:
    """Linear CKA per layer between base and arm features [L, N, H].

    Returns lists over layers: cka, one_minus_cka (plain Kornblith CKA), cka_debiased, one_minus_cka_debiased.
    Intervals over texts (when n_boot > 0, or always for ci_method="jackknife"):

    * "jackknife" (default): normal-approximation intervals from exact leave-one-text-out values (O(N^2) per
      layer) for both estimators: one_minus_cka_ci, one_minus_cka_debiased_ci. In a simulation (N=100, H=64)
      the debiased CKA with this interval covered the population CKA 98 % of the time.
    * "bootstrap": percentile bootstrap over texts (n_boot resamples) for the plain estimator only
      (one_minus_cka_ci, cka_ci). Resampling duplicates texts, which moves the plain CKA (its O(1/N) bias
      grows as the effective N shrinks), so this interval can sit beside the point estimate; use it for
      "is arm A's shift larger than arm B's at the same N" style comparisons, not as coverage of a true CKA.
    """
    X, Y = _as3(base_feats, arm_feats)
    L, N, _ = X.shape
    if ci_method not in ("jackknife", "bootstrap"):
        raise KitError("ci_method must be 'jackknife' or 'bootstrap'")
    cka = np.array([linear_cka(X[l], Y[l]) for l in range(L)])
    out = {"cka": cka.tolist(), "one_minus_cka": (1.0 - cka).tolist(), "n_texts": int(N), "ci_method": ci_method, "ci_level": ci}
    if N >= 5:
        from statistics import NormalDist

        z = NormalDist().inv_cdf(0.5 + ci / 2)
        deb, ci_p, ci_d = [], [], []
        for l in range(L):
            Xc = X[l] - X[l].mean(0)
            Yc = Y[l] - Y[l].mean(0)
            grams = (Xc @ Xc.T, Yc @ Yc.T)
            d_full, d_loo = _cka_and_loo(Xc, Yc, True, grams)
            deb.append(d_full)
            if ci_method == "jackknife":
                p_full, p_loo = _cka_and_loo(Xc, Yc, False, grams)
                for full, loo, dst in ((p_full, p_loo, ci_p), (d_full, d_loo, ci_d)):
                    se = float(np.sqrt((N - 1) / N * np.nansum((loo - np.nanmean(loo)) ** 2)))
                    dst.append([1.0 - full - z * se, 1.0 - full + z * se])
        out["cka_debiased"] = deb
        out["one_minus_cka_debiased"] = [1.0 - x for x in deb]
        if ci_method == "jackknife":
            out["one_minus_cka_ci"] = ci_p
            out["one_minus_cka_debiased_ci"] = ci_d
    if ci_method == "bootstrap" and n_boot > 0:
        rng = np.random.default_rng(seed)
        idx_all = rng.integers(0, N, size=(n_boot, N))
        reps = np.zeros((n_boot, L))
        for l in range(L):
            Gx, Gy = X[l] @ X[l].T, Y[l] @ Y[l].T  # raw Grams; resample then double-centre
            for start in range(0, n_boot, boot_chunk):
                idx = idx_all[start : start + boot_chunk]
                gx = Gx[idx[:, :, None], idx[:, None, :]]
                gy = Gy[idx[:, :, None], idx[:, None, :]]
                gx = gx - gx.mean(1, keepdims=True) - gx.mean(2, keepdims=True) + gx.mean((1, 2), keepdims=True)
                gy = gy - gy.mean(1, keepdims=True) - gy.mean(2, keepdims=True) + gy.mean((1, 2), keepdims=True)
                reps[start : start + len(idx), l] = _cka_from_grams(gx, gy)
        a = (1 - ci) / 2
        q = np.nanquantile(reps, [a, 1 - a], axis=0).T
        out["cka_ci"] = q.tolist()
        out["one_minus_cka_ci"] = (1.0 - q[:, ::-1]).tolist()
        out["n_boot"] = n_boot
        out["seed"] = seed
    return out


def probe_transfer(
    base_feats: np.ndarray,
    arm_feats: np.ndarray,
    labels: Sequence,
    *,
    test_size: float = 0.3,
    seed: int = 0,
    C: float = 1.0,
    max_iter: int = 2000,
    retrain_arm: bool = True,
    n_boot: int = 0,
    ci: float = 0.95,
) -> dict:
    """Base-trained linear probe applied to the arm's features, per layer.

    base_feats/arm_feats: [L, N, H] for the same N texts; labels: N class labels (any hashable).
    The split is stratified and seeded (the same split for every layer). Returns lists over layers:
      acc_base, acc_arm, drop (= acc_base - acc_arm), acc_arm_retrained (if retrain_arm), chance (majority rate),
      n_train, n_test, test_indices; with n_boot > 0: drop_ci [L, 2], acc_base_ci, acc_arm_ci.
    """
    X, Y = _as3(base_feats, arm_feats)
    L, N, _ = X.shape
    y = np.asarray(list(labels))
    if len(y) != N:
        raise KitError(f"{len(y)} labels for {N} texts")
    classes, counts = np.unique(y, return_counts=True)
    if len(classes) < 2:
        raise KitError("the probe needs at least two label classes")
    idx = np.arange(N)
    strat = y if counts.min() >= 2 else None
    tr, te = train_test_split(idx, test_size=test_size, random_state=seed, stratify=strat)
    te = np.sort(te)
    tr = np.sort(tr)
    ytr, yte = y[tr], y[te]
    if len(np.unique(ytr)) < 2:
        raise KitError("the training split has a single class; use more texts or another test_size")
    acc_b, acc_a, acc_r = [], [], []
    corr_b = np.zeros((L, len(te)))
    corr_a = np.zeros((L, len(te)))
    for l in range(L):
        scaler = StandardScaler().fit(X[l][tr])
        clf = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
        clf.fit(scaler.transform(X[l][tr]), ytr)
        pb = clf.predict(scaler.transform(X[l][te]))
        pa = clf.predict(scaler.transform(Y[l][te]))  # the arm is standardised with the BASE statistics
        corr_b[l] = pb == yte
        corr_a[l] = pa == yte
        acc_b.append(float(corr_b[l].mean()))
        acc_a.append(float(corr_a[l].mean()))
        if retrain_arm:
            sc2 = StandardScaler().fit(Y[l][tr])
            clf2 = LogisticRegression(C=C, max_iter=max_iter, random_state=seed)
            clf2.fit(sc2.transform(Y[l][tr]), ytr)
            acc_r.append(float(np.mean(clf2.predict(sc2.transform(Y[l][te])) == yte)))
    _, cte = np.unique(yte, return_counts=True)
    out = {
        "acc_base": acc_b,
        "acc_arm": acc_a,
        "drop": [b - a for b, a in zip(acc_b, acc_a)],
        "chance": float(cte.max() / len(yte)),
        "n_train": int(len(tr)),
        "n_test": int(len(te)),
        "test_indices": te.tolist(),
        "seed": seed,
    }
    if retrain_arm:
        out["acc_arm_retrained"] = acc_r
    if n_boot > 0:
        rng = np.random.default_rng(seed)
        bi = rng.integers(0, len(te), size=(n_boot, len(te)))
        rb = corr_b[:, bi].mean(-1)  # [L, B]
        ra = corr_a[:, bi].mean(-1)
        a = (1 - ci) / 2
        out["acc_base_ci"] = np.quantile(rb, [a, 1 - a], axis=1).T.tolist()
        out["acc_arm_ci"] = np.quantile(ra, [a, 1 - a], axis=1).T.tolist()
        out["drop_ci"] = np.quantile(rb - ra, [a, 1 - a], axis=1).T.tolist()
        out["n_boot"] = n_boot
        out["ci_level"] = ci
    return out
