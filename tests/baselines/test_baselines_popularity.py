"""Most-popular and full ranking on hand-built datasets."""

import jax.numpy as jnp
import numpy as np
import pytest

from genrec.datasets.records import ItemTable, RecDataset, UserHistory
from genrec.evaluate import full_ranking, popularity


def dataset(histories, num_items, ratings=None):
    users = tuple(
        UserHistory(
            f"u{k}",
            np.array(h, np.int32),
            np.arange(len(h), dtype=np.int64),
            None if ratings is None else np.array(ratings[k], np.float32),
        )
        for k, h in enumerate(histories)
    )
    items = ItemTable(tuple(f"i{i}" for i in range(num_items)), {})
    return RecDataset("hand", items, users)


# Training splits (all but the last two items): u0 [0, 1, 1], u1 [1, 2], u2 [3]
HAND = dataset([[0, 1, 1, 2, 1], [1, 2, 4, 3], [3, 4, 2]], num_items=5)


def test_counts_use_only_the_training_split():
    np.testing.assert_array_equal(popularity.item_counts(HAND), [1, 3, 1, 1, 0])


def test_most_popular_by_hand():
    # Counts [1, 3, 1, 1, 0]: lists show 1, 0, 2, 3, 4 (equal scores by lower id), but ranks count
    # ties against the target: test targets 1, 3, 2 → ranks 0, 3, 3 (items 0, 2, 3 tie).
    scorer = popularity.popularity_scorer(popularity.item_counts(HAND))
    histories, targets = full_ranking.leave_one_out(HAND, "test")
    topk, ranks = full_ranking.rank(scorer, histories, targets, k=5, max_len=8)
    np.testing.assert_array_equal(topk, [[1, 0, 2, 3, 4]] * 3)
    np.testing.assert_array_equal(targets, [1, 3, 2])
    np.testing.assert_array_equal(ranks, [0, 3, 3])
    out = popularity.run_most_popular(HAND, max_len=8)
    result = out["metrics"]["test"]
    assert result["recall@1"] == pytest.approx(1 / 3)
    assert result["recall@5"] == pytest.approx(1.0)
    assert result["ndcg@5"] == pytest.approx((1 + 2 / np.log2(5)) / 3)
    assert result["mrr"] == pytest.approx((1 + 1 / 4 + 1 / 4) / 3)
    assert out["protocol"]["history"] == "kept" and out["protocol"]["ties"] == "against target"


def test_a_model_that_scores_everything_alike_ranks_the_target_last():
    histories, targets = full_ranking.leave_one_out(HAND, "test")
    flat = lambda tokens: jnp.zeros((tokens.shape[0], 5))  # noqa: E731
    _, ranks = full_ranking.rank(flat, histories, targets, k=5, max_len=8)
    np.testing.assert_array_equal(ranks, [4, 4, 4])


def test_excluding_history_masks_the_whole_history_not_the_window():
    # Test histories [0, 1, 2, 3] → target 4 and [0, 2] → target 1; the model reads the last item only.
    data = dataset([[0, 1, 2, 3, 4], [0, 2, 1]], num_items=5)
    histories, targets = full_ranking.leave_one_out(data, "test")
    scorer = lambda tokens: jnp.broadcast_to(jnp.arange(5.0, 0, -1), (tokens.shape[0], 5))  # noqa: E731
    topk, ranks = full_ranking.rank(scorer, histories, targets, k=3, max_len=1, exclude_history=True)
    assert topk[0, 0] == 4 and topk[1, :2].tolist() == [1, 3]
    np.testing.assert_array_equal(ranks, [0, 0])  # items 0..3 excluded though outside the window
    topk, ranks = full_ranking.rank(scorer, histories, targets, k=3, max_len=1, exclude_history=False)
    np.testing.assert_array_equal(topk, [[0, 1, 2], [0, 1, 2]])
    np.testing.assert_array_equal(ranks, [4, 1])


def test_rank_matches_argsort_reference():
    rng = np.random.default_rng(0)
    table = rng.normal(size=(7, 40)).astype(np.float32)
    histories = [rng.integers(0, 40, n) for n in (3, 9, 1, 20, 5, 2, 12)]
    # a scorer that reads the newest history item, so rows must stay matched to their users
    scorer = lambda tokens: jnp.asarray(table)[tokens[:, -1] % 7]  # noqa: E731
    targets = rng.integers(0, 40, len(histories))
    got, ranks = full_ranking.rank(scorer, histories, targets, k=6, max_len=10, batch_size=3)
    scores = table[[(h[-1] + 1) % 7 for h in histories]]
    np.testing.assert_array_equal(got, np.argsort(-scores, axis=1, kind="stable")[:, :6])
    np.testing.assert_array_equal(ranks, (scores >= scores[np.arange(7), targets][:, None]).sum(1) - 1)


def test_history_repeats_count_the_whole_history():
    # Everyone gets [1, 0, 2, 3, 4]; test histories u0 [0, 1, 1, 2], u1 [1, 2, 4], u2 [3, 4].
    scorer = popularity.popularity_scorer(popularity.item_counts(HAND))
    for max_len in (8, 1):  # however few items the model reads
        result = full_ranking.evaluate(scorer, HAND, "test", max_len=max_len)
        assert result["history@10"] == pytest.approx((3 + 3 + 2) / 15)
        assert result["target_in_history"] == pytest.approx(1 / 3)  # u0's target 1
