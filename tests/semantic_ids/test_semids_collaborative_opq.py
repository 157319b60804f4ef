"""Long identifiers from collaborative signal: OPQ over training co-occurrence vectors (and text)."""

import dataclasses

import numpy as np
import pytest

from genrec.datasets import records
from genrec.semantic_ids import collaborative, opq, schemes
from genrec.semantic_ids import run as build_ids_run  # noqa: F401  (registers build_ids with gin)

SMALL_OPQ = opq.OPQConfig(num_digits=4, codebook_size=8, iters=3, kmeans_iters=3)


def with_last_items(dataset, last_two):
    """The dataset with every user's validation and test targets replaced by `last_two(user, items)`."""
    users = []
    for k, u in enumerate(dataset.users):
        items = u.items.copy()
        items[-2:] = last_two(k, items)
        users.append(dataclasses.replace(u, items=items))
    return records.RecDataset(dataset.name, dataset.items, tuple(users))


def codes(dataset, embed, standardize=True):
    config = dataclasses.replace(SMALL_OPQ, standardize=standardize)
    raw = schemes.opq_scheme(dataset, config=config, embed=embed)
    return schemes.identifiers_from(dataset, raw)[0].codes


@pytest.mark.parametrize(
    "embed,standardize",
    [(collaborative.cooccurrence_embeddings, True), (collaborative.text_and_cooccurrence_embeddings, False)],
)
def test_held_out_interactions_change_nothing(synthetic_small, embed, standardize):
    n = synthetic_small.num_items
    before = codes(synthetic_small, embed, standardize)
    # Every validation and test target moved to other items: the training split is the same.
    moved = with_last_items(synthetic_small, lambda k, items: [(k * 7 + 3) % n, (k * 11 + 5) % n])
    assert any((a.items[-2:] != b.items[-2:]).any() for a, b in zip(synthetic_small.users, moved.users))
    np.testing.assert_array_equal(codes(moved, embed, standardize), before)
    # The control: a training interaction does move the vectors (the check above can fail).
    first = synthetic_small.users[0]
    changed_train = [
        dataclasses.replace(first, items=np.r_[(first.items[0] + 1) % n, first.items[1:]].astype(np.int32))
    ]
    retrained = records.RecDataset(
        synthetic_small.name, synthetic_small.items, tuple(changed_train) + synthetic_small.users[1:]
    )
    assert not np.array_equal(
        collaborative.cooccurrence_embeddings(retrained),
        collaborative.cooccurrence_embeddings(synthetic_small),
    )


def test_cooccurrence_vectors_put_co_bought_items_together():
    """Two groups of items, each bought only together: vectors within a group are closer."""
    rng = np.random.default_rng(0)
    users = []
    for u in range(120):
        group = np.arange(10) + 10 * (u % 2)
        items = np.r_[rng.choice(group, 4, replace=False), 0, 0].astype(np.int32)  # held-out slots
        users.append(records.UserHistory(str(u), items, np.arange(6)))
    table = records.ItemTable(tuple(f"i{k:02d}" for k in range(20)), {})
    data = records.RecDataset("two-groups", table, tuple(users))
    x = collaborative.cooccurrence_embeddings(data, dim=4)
    assert x.shape == (20, 4)
    sims = x @ x.T
    within = np.mean([sims[i, j] for i in range(10) for j in range(10) if i != j])
    across = np.mean([sims[i, j] for i in range(10) for j in range(10, 20)])
    assert within > across + 0.3
    np.fill_diagonal(sims, -np.inf)
    assert ((sims.argmax(1) < 10) == (np.arange(20) < 10)).all()  # nearest item: same group


def test_balanced_blocks_give_each_block_its_weight():
    rng = np.random.default_rng(1)
    wide, narrow = rng.normal(5.0, 3.0, (500, 96)), rng.normal(-2.0, 0.1, (500, 8))
    fit_rows = np.arange(400)
    out = collaborative.balanced_blocks([wide, narrow], fit_rows, (1.0, 2.0))
    assert out.shape == (500, 104)
    np.testing.assert_allclose((out[fit_rows, :96] ** 2).sum(1).mean(), 1.0, rtol=1e-5)
    np.testing.assert_allclose((out[fit_rows, 96:] ** 2).sum(1).mean(), 2.0, rtol=1e-5)


@pytest.mark.parametrize("gin_name", ["collaborative_opq.gin", "text_collaborative_opq.gin"])
def test_gin_files_build_identifiers(synthetic_small, run_build_ids, monkeypatch, gin_name):
    """`--run_mode=build_ids` with the gin file: OPQ over the collaborative (and text) vectors."""
    from genrec import datasets
    from genrec.semantic_ids import artifact

    monkeypatch.setattr(datasets, "load", lambda **kw: synthetic_small)
    out = run_build_ids(
        gin_name,
        [
            "OPQConfig.num_digits = 4",
            "OPQConfig.codebook_size = 8",
            "OPQConfig.iters = 2",
            "build_ids.plots = False",
        ],
    )
    ids = artifact.Identifiers.load(str(out))
    assert ids.scheme == "opq" and ids.level_sizes[:4] == (8, 8, 8, 8)
    assert ids.num_items == synthetic_small.num_items
