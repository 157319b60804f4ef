"""Most-popular and full ranking on hand-built datasets."""
import jax.numpy as jnp
import numpy as np
import pytest

from genrec.baselines import full_ranking, popularity
from genrec.datasets.records import ItemTable, RecDataset, UserHistory


def dataset(histories, num_items, ratings=None):
    users = tuple(UserHistory(f"u{k}", np.array(h, np.int32), np.arange(len(h), dtype=np.int64),
                              None if ratings is None else np.array(ratings[k], np.float32))
                  for k, h in enumerate(histories))
    items = ItemTable(tuple(f"i{i}" for i in range(num_items)), {})
    return RecDataset("hand", items, users)


# Training splits (all but the last two items): u0 [0, 1, 1], u1 [1, 2], u2 [3]
HAND = dataset([[0, 1, 1, 2, 1], [1, 2, 4, 3], [3, 4, 2]], num_items=5)


def test_counts_use_only_the_training_split():
    np.testing.assert_array_equal(popularity.item_counts(HAND), [1, 3, 1, 1, 0])


def test_most_popular_by_hand():
    # Ranking by count, ties by lower id: 1, 0, 2, 3, 4. Test targets: 1, 3, 2 → ranks 0, 3, 2.
    scorer = popularity.popularity_scorer(popularity.item_counts(HAND))
    histories, targets = full_ranking.leave_one_out(HAND, "test")
    topk = full_ranking.top_k(scorer, histories, k=5, max_len=8)
    np.testing.assert_array_equal(topk, [[1, 0, 2, 3, 4]] * 3)
    np.testing.assert_array_equal(targets, [1, 3, 2])
    result = popularity.run_most_popular(HAND, max_len=8)["metrics"]["test"]
    assert result["recall@1"] == pytest.approx(1 / 3)
    assert result["recall@5"] == pytest.approx(1.0)
    assert result["ndcg@5"] == pytest.approx((1 + 1 / np.log2(5) + 1 / np.log2(4)) / 3)
    assert result["mrr"] == pytest.approx((1 + 1 / 4 + 1 / 3) / 3)


def test_excluding_history_masks_the_scored_window():
    scores = jnp.asarray(np.array([[5.0, 4.0, 3.0, 2.0, 1.0]] * 2))
    tokens = jnp.asarray(np.array([[0, 1, 3], [0, 0, 5]]))  # items {0, 2} and {4}
    kept = full_ranking.masked_top_k(scores, tokens, 3, True)
    np.testing.assert_array_equal(np.asarray(kept), [[1, 3, 4], [0, 1, 2]])
    np.testing.assert_array_equal(np.asarray(full_ranking.masked_top_k(scores, tokens, 3, False)),
                                  [[0, 1, 2], [0, 1, 2]])


def test_top_k_matches_argsort_reference():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(7, 40)).astype(np.float32)
    histories = [rng.integers(0, 40, n) for n in (3, 9, 1, 20, 5, 2, 12)]
    # a scorer that reads the newest history item, so rows must stay matched to their users
    scorer = lambda tokens: jnp.asarray(table)[tokens[:, -1] % 7]  # noqa: E731
    got = full_ranking.top_k(scorer, histories, k=6, max_len=10, batch_size=3)
    want = np.argsort(-table[[(h[-1] + 1) % 7 for h in histories]], axis=1, kind="stable")[:, :6]
    np.testing.assert_array_equal(got, want)



def test_history_repeats_count_the_scored_window():
    # Everyone gets [1, 0, 2, 3, 4]; test histories u0 [0, 1, 1, 2], u1 [1, 2, 4], u2 [3, 4].
    scorer = popularity.popularity_scorer(popularity.item_counts(HAND))
    whole = full_ranking.evaluate(scorer, HAND, "test", max_len=8)
    assert whole["history@10"] == pytest.approx((3 + 3 + 2) / 15)
    assert whole["target_in_history"] == pytest.approx(1 / 3)  # u0's target 1
    newest = full_ranking.evaluate(scorer, HAND, "test", max_len=1)  # windows {2}, {4}, {4}
    assert newest["history@10"] == pytest.approx(3 / 15) and newest["target_in_history"] == 0.0
