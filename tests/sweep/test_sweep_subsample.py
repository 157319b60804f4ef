"""The training-user fraction: only the 'train' split shrinks; validation/test keep every user."""

import numpy as np
import pytest

from genrec.sweep.subsample import TrainUserSubset, choose_users, subsample_train_users


def test_only_training_sequences_of_other_users_are_dropped(synthetic_small):
    full = synthetic_small
    sub = subsample_train_users(full, fraction=0.25, seed=3)
    assert isinstance(sub, TrainUserSubset) and sub.name == full.name and sub.items is full.items
    n = len(full.users)
    kept = sorted(sub.train_users)
    assert len(kept) == round(0.25 * n)
    for split in ("validation", "test"):
        for a, b in zip(sub.split(split), full.split(split)):
            np.testing.assert_array_equal(a.items, b.items)
    train_full, train_sub = full.split("train"), sub.split("train")
    assert len(train_sub) == n  # user indices stay aligned with validation/test
    for u in range(n):
        if u in sub.train_users:
            np.testing.assert_array_equal(train_sub[u].items, train_full[u].items)
            np.testing.assert_array_equal(train_sub[u].ratings, train_full[u].ratings)
        else:
            assert len(train_sub[u]) == 0 and len(train_sub[u].reviews) == 0
    rows, cols = sub.train_matrix_pairs()
    assert sorted(set(rows.tolist())) == kept
    expected = np.concatenate([train_full[u].items for u in kept])
    np.testing.assert_array_equal(cols, expected)


def test_subsets_are_nested_deterministic_and_seeded():
    subsets = {f: set(choose_users(1000, f, seed=0).tolist()) for f in (0.1, 0.25, 0.5, 1.0)}
    assert [len(s) for s in subsets.values()] == [100, 250, 500, 1000]
    assert subsets[0.1] < subsets[0.25] < subsets[0.5] < subsets[1.0]
    np.testing.assert_array_equal(choose_users(1000, 0.1, 0), choose_users(1000, 0.1, 0))
    assert set(choose_users(1000, 0.1, 1).tolist()) != subsets[0.1]
    assert len(choose_users(5, 0.01, 0)) == 1  # at least one user


def test_full_fraction_is_the_dataset_itself_and_bad_fractions_fail(synthetic_small):
    assert subsample_train_users(synthetic_small, fraction=1.0) is synthetic_small
    for bad in (0.0, -0.5, 1.5):
        with pytest.raises(ValueError, match="subsample_train_users.fraction"):
            subsample_train_users(synthetic_small, fraction=bad)


def _key(s):
    return (
        s.user_index,
        tuple(sorted(s.fields.items())),
        s.target_item,
        tuple(s.history_items),
        tuple(s.candidates),
        s.target_rating,
    )


def test_task_samples_come_from_kept_users_only(synthetic_small):
    """Through the tasks' sample builder: training samples of the kept users are exactly those of the
    full dataset; others have none; validation and test samples are unchanged."""
    from genrec.semantic_ids.artifact import Identifiers
    from genrec.tasks import examples

    full = synthetic_small
    sub = subsample_train_users(full, fraction=0.1, seed=0)
    ids = Identifiers.atomic(full.num_items)
    for family in examples.FAMILIES:
        got = [_key(s) for s in examples.samples(family, sub, ids, "train")]
        want = [
            _key(s) for s in examples.samples(family, full, ids, "train") if s.user_index in sub.train_users
        ]
        assert got == want and got, family
        assert {k[0] for k in got} <= sub.train_users
    for split in ("validation", "test"):
        assert [_key(s) for s in examples.samples("sequential", sub, ids, split)] == [
            _key(s) for s in examples.samples("sequential", full, ids, split)
        ]


def test_train_fraction_gin_file_reaches_the_dataset_loader(tmp_path, monkeypatch):
    """configs/sweeps/train_fraction.gin binds load_dataset.transform; load() applies it."""
    import gin

    from genrec.datasets import loading, synthetic

    full = synthetic.generate(num_items=200, num_users=300, seed=0)
    monkeypatch.setattr(loading, "prepare", lambda name, **kw: None)
    monkeypatch.setattr("genrec.datasets.tfds_format.read_dataset", lambda _: full)
    gin.parse_config_files_and_bindings(
        ["configs/sweeps/train_fraction.gin"], ["subsample_train_users.fraction = 0.25"]
    )
    loaded = loading.load("synthetic")
    trained = sum(len(h) > 0 for h in loaded.split("train"))
    assert trained == round(0.25 * len(full.users))
    assert [len(h) for h in loaded.split("test")] == [len(h) for h in full.split("test")]
