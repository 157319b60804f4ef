"""Cold-start splits: every training interaction of a cold item goes, nothing else does; metrics by
group agree with the metrics of everyone."""

import numpy as np
import pytest

from genrec.datasets import cold_start, synthetic
from genrec.evaluate import cold_start as cold_eval
from genrec.evaluate.ranking import metrics_from_ranks


@pytest.fixture(scope="module")
def dataset():
    return synthetic.generate(num_items=300, seed=3)


def _training_parts(ds):
    return {u.user_id: u.items[:-2] for u in ds.users}


def test_seeded_split_removes_every_training_interaction_of_its_items_and_nothing_else(dataset):
    split = cold_start.cold_start_split(dataset, "seeded", fraction=0.1, seed=7)
    cold = set(split.cold_items.tolist())
    assert len(cold) == round(0.1 * len(cold_start.target_items(dataset)))
    assert cold <= set(cold_start.target_items(dataset).tolist())
    after = {u.user_id: u for u in split.dataset.users}
    removed = dropped = 0
    for u in dataset.users:
        train = u.items[:-2]
        kept_train = train[~np.isin(train, list(cold))]
        removed += len(train) - len(kept_train)
        if len(kept_train) + 2 < 3:
            assert u.user_id not in after
            dropped += 1
            continue
        v = after[u.user_id]
        # the training part loses exactly the cold items, in order; the two targets stay
        np.testing.assert_array_equal(v.items, np.concatenate([kept_train, u.items[-2:]]))
        keep = np.concatenate([~np.isin(train, list(cold)), [True, True]])
        np.testing.assert_array_equal(v.timestamps, u.timestamps[keep])
    assert removed > 0 and split.info["interactions_removed"] == removed
    assert split.info["users_dropped"] == dropped
    assert not cold & set(cold_start.training_items(split.dataset).tolist())
    # cold items are still evaluated: some validation or test target is cold
    assert cold_start.cold_target_users(split.dataset, "test", split.cold_items).any()


def test_seeded_split_is_reproducible_from_its_seed(dataset):
    a = cold_start.cold_start_split(dataset, "seeded", fraction=0.1, seed=7)
    b = cold_start.cold_start_split(dataset, "seeded", fraction=0.1, seed=7)
    c = cold_start.cold_start_split(dataset, "seeded", fraction=0.1, seed=8)
    np.testing.assert_array_equal(a.cold_items, b.cold_items)
    assert not np.array_equal(a.cold_items, c.cold_items)


def test_liger_split_cuts_to_20_items_and_its_cold_items_are_targets_never_trained(dataset):
    split = cold_start.cold_start_split(dataset, "liger")
    before = {u.user_id: u for u in dataset.users}
    for u in split.dataset.users:
        full = before[u.user_id].items
        np.testing.assert_array_equal(u.items, full[-20:])  # the cut and nothing else
    trained = set(cold_start.training_items(split.dataset).tolist())
    targets = set(cold_start.target_items(split.dataset).tolist())
    assert set(split.cold_items.tolist()) == targets - trained
    assert split.info["interactions_cut"] == sum(max(0, len(u) - 20) for u in dataset.users)


def test_no_protocol_leaves_the_dataset_alone(dataset):
    split = cold_start.cold_start_split(dataset)
    assert split.dataset is dataset and len(split.cold_items) == 0


def test_unknown_protocol_is_named(dataset):
    with pytest.raises(ValueError, match="'tiger'"):
        cold_start.cold_start_split(dataset, "tiger")


def test_group_metrics_split_everyone_into_cold_and_warm_targets(dataset):
    split = cold_start.cold_start_split(dataset, "seeded", fraction=0.1, seed=7)
    n = len(split.dataset.users)
    ranks = np.random.default_rng(0).integers(0, 40, n)
    masks = cold_eval.group_masks(split.dataset, "test", split.cold_items, max_history=5)
    groups = cold_eval.metrics_by_group(ranks, masks, depth=20)
    assert groups["all"] == {"users": n, **metrics_from_ranks(ranks, 20)}
    cold, warm = groups["cold_items"], groups["warm_items"]
    assert cold["users"] + warm["users"] == n and cold["users"] > 0
    weighted = (cold["recall@10"] * cold["users"] + warm["recall@10"] * warm["users"]) / n
    assert weighted == pytest.approx(groups["all"]["recall@10"])
    lengths = np.array([len(u) - 1 for u in split.dataset.split("test")])
    assert groups["cold_users"]["users"] == int((lengths <= 5).sum())
    # a hand check: the cold group's recall@10 is the share of its users ranked in the top 10
    assert cold["recall@10"] == pytest.approx((ranks[masks["cold_items"]] < 10).mean())
