"""OPQ (long semantic IDs): a hand example, the Procrustes step against a float64 reference,
monotone distortion, fit rows, and the scheme through build_identifiers."""

import dataclasses
import json
import os

import gin
import numpy as np
import pytest

from genrec.datasets import records
from genrec.semantic_ids import artifact, opq, run, schemes

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "semantic_ids")
# Every test but the hand example fits 200 rows of 10 dims (padded to 12) with this config, so
# that they share one compilation.
SMALL = opq.OPQConfig(num_digits=4, codebook_size=8, iters=6, kmeans_iters=4, seed=0)


def rotated_grid(theta_deg: float = 20.0):
    """8 points (4 code pairs, twice each) that PQ with 2 digits x 2 codes quantises exactly only
    after undoing a rotation by theta in the planes (0, 2) and (1, 3), which mixes the subspaces
    {0, 1} and {2, 3}. Returns (x, signs): signs[:, m] is the +-1 that digit m must encode.
    Below 26.6 degrees, plain PQ's 2-means has one fixed point (the split by the sign of digit m's
    own term), from which one Procrustes step is exact; at 45 degrees it would be degenerate."""
    c, s = np.cos(np.deg2rad(theta_deg)), np.sin(np.deg2rad(theta_deg))
    signs = np.array([[a, b] for a in (1, -1) for b in (1, -1)] * 2, np.float64)
    z = np.stack([signs[:, 0], 0.5 * signs[:, 0], signs[:, 1], 0.5 * signs[:, 1]], 1)
    q = np.eye(4)
    q[np.ix_([0, 2], [0, 2])] = q[np.ix_([1, 3], [1, 3])] = [[c, s], [-s, c]]
    return (z @ q).astype(np.float32), signs


def random_orthogonal(rng, d):
    q, r = np.linalg.qr(rng.normal(size=(d, d)))
    return q * np.sign(np.diag(r))


def test_hand_example_opq_undoes_the_rotation_plain_pq_cannot():
    x, signs = rotated_grid(20.0)
    cfg = opq.OPQConfig(num_digits=2, codebook_size=2, iters=4, kmeans_iters=5, standardize=False)
    # Plain PQ (identity rotation): every subspace holds the line points t * (1, 0.5) with
    # t = +-cos +- sin; 2-means splits them by sign, leaving sin^2 * 1.25 per subspace per point.
    plain = opq.fit(x, dataclasses.replace(cfg, iters=1), progress=False)
    sin2 = np.sin(np.deg2rad(20.0)) ** 2
    assert plain.reconstruction_error == pytest.approx(2 * 1.25 * sin2 / 4, rel=1e-5)
    np.testing.assert_array_equal(plain.rotation, np.eye(4))
    # OPQ: one Procrustes step recovers the rotation, after which the 4 code pairs are exact.
    fit = opq.fit(x, cfg, progress=False)
    assert fit.history[0] == pytest.approx(plain.reconstruction_error, rel=1e-5)
    assert fit.history[-1] < 1e-10 and fit.reconstruction_error < 1e-10
    # Digit m encodes signs[:, m] (k-means may name the two codes either way round).
    for m in range(2):
        want = (signs[:, m] < 0).astype(np.int32)
        assert (fit.codes[:, m] == want).all() or (fit.codes[:, m] == 1 - want).all()
    assert len({tuple(c) for c in fit.codes.tolist()}) == 4
    np.testing.assert_allclose(fit.reconstruct(fit.codes), fit.space(x), atol=1e-5)


def test_rotation_is_orthogonal_and_padding_fills_the_last_subspace():
    x = np.random.default_rng(0).normal(size=(200, 10)).astype(np.float32)
    fit = opq.fit(x, SMALL, progress=False)  # 10 dims, 4 digits: 2 zero columns → 12
    assert fit.pad == 2 and fit.rotation.shape == (12, 12) and fit.codebooks.shape == (4, 8, 3)
    np.testing.assert_allclose(fit.rotation.T @ fit.rotation, np.eye(12), atol=1e-5)
    np.testing.assert_allclose(fit.rotation @ fit.rotation.T, np.eye(12), atol=1e-5)
    assert fit.codes.dtype == np.int32 and fit.codes.shape == (200, 4)
    np.testing.assert_array_equal(fit.encode(x), fit.codes)
    # The reported error is the per-dimension MSE of the reconstruction, in the standardised space.
    err = np.sum((fit.space(x) - fit.reconstruct(fit.codes)) ** 2) / x.size
    assert fit.reconstruction_error == pytest.approx(err, rel=1e-4)


def test_distortion_never_increases():
    rng = np.random.default_rng(1)
    # Correlated dimensions, so that the rotation has something to find.
    x = (rng.normal(size=(200, 10)) @ rng.normal(size=(10, 10))).astype(np.float32)
    fit = opq.fit(x, dataclasses.replace(SMALL, iters=8), progress=False)
    h = np.array(fit.history)
    assert len(h) == 8
    assert (np.diff(h) <= 1e-6 * h[0]).all(), h
    assert h[-1] < 0.95 * h[0]  # the learned rotation beats plain PQ
    assert fit.reconstruction_error == pytest.approx(h[-1], rel=1e-4)  # fit rows = all rows


def test_procrustes_matches_a_float64_reference():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(60, 6)), rng.normal(size=(60, 6))
    r = opq.procrustes(x.astype(np.float32), y.astype(np.float32))
    np.testing.assert_allclose(r.T @ r, np.eye(6), atol=1e-10)
    loss = lambda q: np.sum((x @ q - y) ** 2)
    # Closed form of the minimum: ||X||^2 + ||Y||^2 - 2 * (nuclear norm of X^T Y).
    best = np.sum(x**2) + np.sum(y**2) - 2 * np.linalg.svd(x.T @ y, compute_uv=False).sum()
    assert loss(r) == pytest.approx(best, rel=1e-5)
    # No random orthogonal matrix (rotations and reflections) and no small rotation of R beats it.
    assert all(loss(random_orthogonal(rng, 6)) > loss(r) for _ in range(200))
    for _ in range(20):
        a = rng.normal(size=(6, 6)) * 1e-2
        assert loss(r @ np.linalg.qr(np.eye(6) + a - a.T)[0]) > loss(r) - 1e-9
    # Y an exact rotation of X: Procrustes recovers it.
    q = random_orthogonal(rng, 6)
    np.testing.assert_allclose(opq.procrustes(x, x @ q), q, atol=1e-8)


def test_fit_rows_alone_shape_the_codebooks():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(220, 10)).astype(np.float32)
    rows, cfg = np.arange(200), SMALL
    base = opq.fit(x, cfg, fit_rows=rows, progress=False)
    moved = x.copy()
    moved[210] = 5.0 * rng.normal(size=10)  # a non-fit row: only its own code may change
    other = opq.fit(moved, cfg, fit_rows=rows, progress=False)
    np.testing.assert_array_equal(other.rotation, base.rotation)
    np.testing.assert_array_equal(other.codebooks, base.codebooks)
    keep = np.arange(220) != 210
    np.testing.assert_array_equal(other.codes[keep], base.codes[keep])
    assert (other.codes[210] != base.codes[210]).any()
    np.testing.assert_array_equal(other.codes[210], base.encode(moved[210:211])[0])
    moved[10] += 3.0  # a fit row does move them
    assert not np.array_equal(opq.fit(moved, cfg, fit_rows=rows, progress=False).codebooks, base.codebooks)
    with pytest.raises(ValueError, match="OPQ fit rows: 5 items are fewer than the 8 codes"):
        opq.fit(x, cfg, fit_rows=np.arange(5), progress=False)


def _train_items_only_dataset():
    """220 items; items 200..219 occur only as users' validation / test targets."""
    items = records.ItemTable(tuple(f"I{i:03d}" for i in range(220)), {})
    users = []
    for u in range(200):
        seq = np.array([u, (u + 7) % 200, (u + 13) % 200, 200 + u % 20, 200 + (u + 3) % 20], np.int32)
        users.append(records.UserHistory(f"U{u}", seq, np.arange(5, dtype=np.int64)))
    return records.RecDataset("holdout", items, tuple(users))


def test_scheme_fits_on_training_split_items(monkeypatch):
    ds = _train_items_only_dataset()
    seen = {}
    real_fit = opq.fit

    def spy(x, config, fit_rows=None):
        seen["rows"] = fit_rows
        return real_fit(x, config, fit_rows, progress=False)

    monkeypatch.setattr(opq, "fit", spy)
    embed = lambda ds, cache_dir=None: np.random.default_rng(0).normal(size=(220, 10)).astype(np.float32)
    raw = schemes.opq_scheme(ds, None, SMALL, embed)
    np.testing.assert_array_equal(seen["rows"], np.arange(200))
    assert raw.codes.shape == (220, 4) and raw.info["fit_items"] == 200


def test_opq_scheme_through_build_identifiers(synthetic_small, tmp_path):
    n = synthetic_small.num_items
    x = np.random.default_rng(4).normal(size=(n, 10)).astype(np.float32)
    x[1:4] = x[0]  # four items with the same text: the same code tuple, told apart by the collision level
    calls = []

    def embed(ds, cache_dir=None):
        calls.append(cache_dir)
        return x

    scheme = lambda ds, cache_dir: schemes.opq_scheme(ds, cache_dir, SMALL, embed)
    out = tmp_path / "semantic_ids"
    info = run.build_identifiers(synthetic_small, scheme, str(out), cache_dir="emb", plots=False)
    assert calls == ["emb"]
    ids = artifact.Identifiers.load(str(out))
    assert ids.scheme == "opq" and ids.level_sizes[:4] == (8,) * 4 and ids.num_levels == 5
    np.testing.assert_array_equal(ids.codes[1:4, :4], np.repeat(ids.codes[:1, :4], 3, 0))
    saved = json.loads((out / "stats.json").read_text())
    assert len(saved["levels"]) == 5 and all(0 < l["usage"] <= 1 for l in saved["levels"])
    assert saved["items_needing_collision_code"] >= 4 and saved["largest_group"] >= 4
    assert saved["largest_group"] == ids.level_sizes[-1]
    for key in ("collision_rate", "reconstruction_error", "training", "config", "wall_s"):
        assert key in saved, key
    assert saved["config"]["num_digits"] == 4 and len(saved["training"]) == SMALL.iters
    assert info["level_sizes"] == list(ids.level_sizes)


def test_gin_file_binds_opq():
    gin.parse_config_files_and_bindings(
        [os.path.join(CONFIGS, "opq.gin"), os.path.join(CONFIGS, "minilm.gin")], []
    )
    assert gin.query_parameter("build_ids.scheme").selector.endswith("opq_scheme")
    assert gin.query_parameter("OPQConfig.num_digits") == 32
    assert gin.query_parameter("OPQConfig.codebook_size") == 256


def test_scheme_fits_on_a_seeded_sample_of_training_items(monkeypatch):
    ds = _train_items_only_dataset()
    seen = []
    real_fit = opq.fit

    def spy(x, config, fit_rows=None):
        seen.append(fit_rows)
        return real_fit(x, config, fit_rows, progress=False)

    monkeypatch.setattr(opq, "fit", spy)
    embed = lambda ds, cache_dir=None: np.random.default_rng(0).normal(size=(220, 10)).astype(np.float32)
    raw = schemes.opq_scheme(ds, None, SMALL, embed, max_fit_items=64)
    schemes.opq_scheme(ds, None, SMALL, embed, max_fit_items=64)
    assert len(seen[0]) == 64 and (np.diff(seen[0]) > 0).all() and seen[0].max() < 200  # training items
    np.testing.assert_array_equal(seen[0], seen[1])  # seeded by OPQConfig.seed
    assert raw.codes.shape == (220, 4) and raw.info["fit_items"] == 64  # every item encoded
