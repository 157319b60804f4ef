"""Every identifier scheme: valid artifact, item ↔ tokens round trip, training-split-only input."""

import dataclasses

import numpy as np
import pytest

from genrec.datasets import records, synthetic
from genrec.semantic_ids import artifact, collaborative, kmeans, rqkmeans, schemes

SCHEMES = {  # (dataset, cache_dir, small RQ-VAE config) -> SchemeCodes
    "atomic": lambda ds, cache_dir, _: schemes.atomic_scheme(ds, cache_dir),
    "random": lambda ds, cache_dir, _: schemes.random_scheme(ds, cache_dir, num_levels=3, codebook_size=8),
    "rqvae": lambda ds, cache_dir, vae: schemes.rqvae_scheme(ds, cache_dir, vae),
    "rqkmeans": lambda ds, cache_dir, _: schemes.rqkmeans_scheme(
        ds, cache_dir, rqkmeans.RQKMeansConfig(num_levels=2, codebook_size=16, iters=5)
    ),
    "rqkmeans-balanced": lambda ds, cache_dir, _: schemes.rqkmeans_scheme(
        ds, cache_dir, rqkmeans.RQKMeansConfig(num_levels=2, codebook_size=16, iters=5, balanced=True)
    ),
    "collaborative": lambda ds, cache_dir, _: schemes.collaborative_scheme(ds, cache_dir, 2, 8),
}


@pytest.mark.parametrize("name", sorted(SCHEMES))
def test_scheme_round_trips_item_tokens(name, synthetic_small, small_rqvae_config, tmp_path):
    raw = SCHEMES[name](synthetic_small, str(tmp_path / "cache"), small_rqvae_config)
    ids, info = schemes.identifiers_from(synthetic_small, raw)
    n = synthetic_small.num_items
    assert ids.num_items == n and ids.source_ids == synthetic_small.items.source_ids
    ids.save(str(tmp_path / "ids"))
    loaded = artifact.Identifiers.load(str(tmp_path / "ids"))
    np.testing.assert_array_equal(loaded.codes, ids.codes)
    vocab = set(loaded.all_tokens())
    for item in range(n):
        tokens = loaded.tokens(item)
        assert set(tokens) <= vocab
        assert loaded.item_for_codes([int(t[1:-1].split("_")[1]) for t in tokens]) == item
    if name != "atomic":
        assert ids.num_levels == len(raw.level_sizes) + 1  # the collision level
        assert info["largest_group"] == ids.level_sizes[-1]
        assert len(info["levels"]) == ids.num_levels
        assert all(0 < l["usage"] <= 1 for l in info["levels"])


def test_rqkmeans_balanced_caps_code_sizes(synthetic_small):
    x = np.random.default_rng(0).normal(size=(synthetic_small.num_items, 8)).astype(np.float32)
    x[:100] = x[0]  # half the items identical: unbalanced k-means puts them in one code
    cfg = rqkmeans.RQKMeansConfig(num_levels=1, codebook_size=16, iters=5, balanced=True)
    counts = np.bincount(rqkmeans.fit(x, cfg, progress=False).codes[:, 0], minlength=16)
    assert counts.max() <= -(-len(x) // 16)
    plain = rqkmeans.fit(x, dataclasses.replace(cfg, balanced=False), progress=False)
    assert np.bincount(plain.codes[:, 0]).max() >= 100


@pytest.mark.parametrize("pca_dim", [None, 3])
def test_rqkmeans_reconstruction_matches_codebooks(pca_dim):
    x = np.random.default_rng(1).normal(size=(200, 6)).astype(np.float32)
    x[:, 3:] *= 0.1
    fit = rqkmeans.fit(
        x, rqkmeans.RQKMeansConfig(num_levels=2, codebook_size=16, iters=5, pca_dim=pca_dim), progress=False
    )
    z = fit.space(x)
    assert z.shape == (200, pca_dim or 6)
    np.testing.assert_allclose(z.std(0), 1.0, rtol=1e-3)
    recon = fit.codebooks[0][fit.codes[:, 0]] + fit.codebooks[1][fit.codes[:, 1]]
    np.testing.assert_allclose(fit.reconstruction_error, np.mean((z - recon) ** 2), rtol=1e-4)
    # Each level's code is the nearest center to that level's residual.
    d = ((z[:, None] - fit.codebooks[0][None]) ** 2).sum(-1)
    np.testing.assert_array_equal(fit.codes[:, 0], d.argmin(1))


def test_collaborative_reads_only_training_interactions():
    ds = synthetic.generate(num_items=120, num_users=200, seed=3)
    codes = collaborative.collaborative_codes(ds, 2, 6, seed=0)
    # Change every user's last two (validation / test) items: the codes must not move.
    users = tuple(
        dataclasses.replace(u, items=np.concatenate([u.items[:-2], (u.items[-2:] + 7) % 120]))
        for u in ds.users
    )
    changed = records.RecDataset(ds.name, ds.items, users)
    np.testing.assert_array_equal(collaborative.collaborative_codes(changed, 2, 6, seed=0), codes)
    # ... while the training interactions do shape them.
    shuffled = tuple(dataclasses.replace(u, items=(u.items * 7 + 1) % 120) for u in ds.users)
    other = collaborative.collaborative_codes(records.RecDataset(ds.name, ds.items, shuffled), 2, 6, 0)
    assert (other != codes).any()


def test_collaborative_groups_items_bought_together():
    # Two cliques of 10 items with no purchase across them: level 0 separates them exactly.
    rng = np.random.default_rng(0)
    items = records.ItemTable(tuple(f"I{i:02d}" for i in range(20)), {})
    users = []
    for u in range(80):
        group = (u % 2) * 10
        seq = rng.choice(10, 6, replace=False) + group
        users.append(records.UserHistory(f"U{u}", seq.astype(np.int32), np.arange(6, dtype=np.int64)))
    ds = records.RecDataset("cliques", items, tuple(users))
    codes = collaborative.collaborative_codes(ds, 2, 2, seed=0)
    assert len(set(codes[:10, 0])) == 1 and len(set(codes[10:, 0])) == 1
    assert codes[0, 0] != codes[10, 0]


def test_capacity_assign_matches_the_jax_balanced_assignment():
    rng = np.random.default_rng(4)
    x, centers = rng.normal(size=(60, 3)), rng.normal(size=(7, 3))
    dist = ((x[:, None] - centers[None]) ** 2).sum(-1)
    labels = collaborative.capacity_assign(dist, np.full(7, 9))
    np.testing.assert_array_equal(labels, np.asarray(kmeans.balanced_assign(x, centers)))
    # Per-center room: a center with none gets nobody.
    labels = collaborative.capacity_assign(dist, np.array([0, 20, 20, 20, 0, 0, 0]))
    assert set(labels.tolist()) <= {1, 2, 3} and np.bincount(labels).max() <= 20


def test_balanced_collaborative_levels_shrink_groups():
    ds = synthetic.generate(num_items=300, num_users=400, seed=5)
    codes = collaborative.collaborative_codes(ds, 2, 8, seed=0, balanced=True)
    assert np.bincount(codes[:, 0]).max() <= -(-ds.num_items // 8)
    _, counts = np.unique(codes, axis=0, return_counts=True)
    assert counts.max() <= -(-(-(-ds.num_items // 8)) // 8)


def test_too_few_items_for_the_codebook_is_an_error(synthetic_small):
    with pytest.raises(ValueError, match="fewer than the 512 codes per level"):
        schemes.rqkmeans_scheme(synthetic_small, None, rqkmeans.RQKMeansConfig(codebook_size=512))
    with pytest.raises(ValueError, match="fewer than the 512 codes per level"):
        schemes.collaborative_scheme(synthetic_small, None, branching=512)
