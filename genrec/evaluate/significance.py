"""Paired tests over users: is arm A's per-user metric really above arm B's?

benchmarks/quality/PROTOCOL.md, section 5: both arms are scored on the same users, each user's value
averaged over the arm's seeds; A wins on a metric only if the paired bootstrap's 95 % interval of the
mean difference lies above 0 and the exact two-sided sign test on the users that differ gives
p < 0.05 with more users favouring A. Holm's correction covers a declared family of comparisons.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np

NUM_RESAMPLES = 10_000
CONFIDENCE = 0.95
ALPHA = 0.05
_CHUNK = 200  # resamples drawn at once (a chunk is _CHUNK x users int64 indices)

WIN, LOSS, NONE = "A wins", "B wins", "no significant difference"


def paired_differences(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a - b as float64 after checking both are 1-D and of one length (the same users)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.ndim != 1 or a.shape != b.shape:
        raise ValueError(f"paired values need two 1-D arrays of one length; got {a.shape} and {b.shape}")
    if not len(a):
        raise ValueError("paired values are empty")
    return a - b


def seed_mean(per_seed: Sequence[np.ndarray]) -> np.ndarray:
    """Each user's value averaged over an arm's seeds ([seeds][users] → [users])."""
    stacked = np.stack([np.asarray(x, np.float64) for x in per_seed])
    if stacked.ndim != 2:
        raise ValueError(f"per-seed values need shape [seeds, users]; got {stacked.shape}")
    return stacked.mean(axis=0)


def bootstrap_means(differences: np.ndarray, num_resamples: int = NUM_RESAMPLES, seed: int = 0) -> np.ndarray:
    """[num_resamples] means of `differences` resampled over users with replacement."""
    d = np.asarray(differences, np.float64)
    rng = np.random.default_rng(seed)
    out = np.empty(num_resamples)
    for start in range(0, num_resamples, _CHUNK):
        rows = min(_CHUNK, num_resamples - start)
        out[start : start + rows] = d[rng.integers(0, len(d), (rows, len(d)))].mean(axis=1)
    return out


def paired_bootstrap(
    a: np.ndarray,
    b: np.ndarray,
    *,
    num_resamples: int = NUM_RESAMPLES,
    confidence: float = CONFIDENCE,
    seed: int = 0,
) -> dict:
    """Mean of a - b over users, its percentile interval, and the two-sided bootstrap p-value
    (twice the smaller share of resampled means on either side of 0, at most 1)."""
    d = paired_differences(a, b)
    means = bootstrap_means(d, num_resamples, seed)
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    p = min(1.0, 2.0 * min((means <= 0).mean(), (means >= 0).mean()))
    return {
        "mean_difference": float(d.mean()),
        "low": float(low),
        "high": float(high),
        "confidence": confidence,
        "num_resamples": num_resamples,
        "p_value": float(p),
    }


def _log_binomial_cdf_half(k: int, n: int) -> float:
    """log P(X <= k) for X ~ Binomial(n, 1/2), summed in log space (exact up to float rounding)."""
    terms = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1) for i in range(k + 1)]
    top = max(terms)
    return top + math.log(sum(math.exp(t - top) for t in terms)) - n * math.log(2.0)


def sign_test(a: np.ndarray, b: np.ndarray) -> dict:
    """Exact two-sided sign test: users with a > b against users with a < b, ties dropped,
    p = min(1, 2 P(X <= min(pos, neg))) for X ~ Binomial(pos + neg, 1/2)."""
    d = paired_differences(a, b)
    positive, negative = int((d > 0).sum()), int((d < 0).sum())
    n = positive + negative
    p = 1.0 if n == 0 else min(1.0, 2.0 * math.exp(_log_binomial_cdf_half(min(positive, negative), n)))
    return {"positive": positive, "negative": negative, "ties": int(len(d) - n), "p_value": p}


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm-Bonferroni adjusted p-values, in the input's order (monotone, capped at 1)."""
    p = np.asarray(p_values, np.float64)
    order = np.argsort(p, kind="stable")
    m = len(p)
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()


def verdict(bootstrap: dict, sign: dict, alpha: float = ALPHA) -> str:
    """PROTOCOL.md's rule: both tests agree on a direction at level alpha, else no difference."""
    if bootstrap["low"] > 0 and sign["p_value"] < alpha and sign["positive"] > sign["negative"]:
        return WIN
    if bootstrap["high"] < 0 and sign["p_value"] < alpha and sign["negative"] > sign["positive"]:
        return LOSS
    return NONE


def compare(a: np.ndarray, b: np.ndarray, *, num_resamples: int = NUM_RESAMPLES, seed: int = 0) -> dict:
    """Both tests and the verdict for per-user values a (arm A) and b (arm B) of the same users."""
    boot = paired_bootstrap(a, b, num_resamples=num_resamples, seed=seed)
    sign = sign_test(a, b)
    return {
        "users": int(len(np.asarray(a))),
        "mean_a": float(np.mean(a)),
        "mean_b": float(np.mean(b)),
        "bootstrap": boot,
        "sign_test": sign,
        "verdict": verdict(boot, sign),
    }
