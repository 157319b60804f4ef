"""k-means: assignment against brute force, the balanced capacity, no NaN centers."""

import jax
import numpy as np

from genrec.semantic_ids import kmeans


def _brute_nearest(x, centers):
    return np.array([np.argmin([np.sum((xi - c) ** 2) for c in centers]) for xi in x])


def test_assign_matches_brute_force():
    rng = np.random.default_rng(0)
    x, c = rng.normal(size=(50, 5)), rng.normal(size=(7, 5))
    np.testing.assert_array_equal(np.asarray(kmeans.assign(x, c)), _brute_nearest(x, c))
    d = np.asarray(kmeans.squared_distances(x, c))
    np.testing.assert_allclose(d, ((x[:, None] - c[None]) ** 2).sum(-1), rtol=1e-5, atol=1e-5)


def test_balanced_assign_respects_capacity_and_prefers_near_centers():
    rng = np.random.default_rng(1)
    # 30 points next to center 0 and 6 next to center 1; capacity = ceil(36 / 3) = 12.
    x = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(10, 0.1, (6, 2))])
    c = np.array([[0.0, 0.0], [10.0, 10.0], [5.0, 5.0]])
    a = np.asarray(kmeans.balanced_assign(x, c))
    assert np.bincount(a, minlength=3).max() <= 12
    assert (a[30:] == 1).all()  # the far cluster keeps its own points
    # Unconstrained when the capacity does not bind: same as nearest.
    y = np.array([[0.0, 0.1], [10.0, 9.9], [5.1, 5.0]])
    np.testing.assert_array_equal(np.asarray(kmeans.balanced_assign(y, c)), [0, 1, 2])


def test_kmeans_finds_separated_clusters():
    rng = np.random.default_rng(2)
    means = np.array([[0, 0], [8, 0], [0, 8], [8, 8]], np.float32)
    x = np.concatenate([m + rng.normal(0, 0.3, (25, 2)) for m in means]).astype(np.float32)
    centers, a = kmeans.kmeans(x, 4, jax.random.key(0), iters=10)
    assert np.isfinite(np.asarray(centers)).all()
    a = np.asarray(a)
    for g in range(4):  # each true cluster is one k-means cluster
        assert len(set(a[25 * g : 25 * (g + 1)])) == 1
    assert len(set(a)) == 4
    # Duplicated points (fewer distinct points than k) never give NaN centers.
    centers, _ = kmeans.kmeans(np.zeros((10, 2), np.float32), 4, jax.random.key(0), iters=3)
    assert np.isfinite(np.asarray(centers)).all()
