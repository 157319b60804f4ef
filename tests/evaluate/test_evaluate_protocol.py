"""The one ranking protocol: ties against the target, whole-history exclusion, the same search."""

import jax.numpy as jnp
import numpy as np
import pytest

from genrec.evaluate import evaluator, protocol, ranking


def test_ties_count_against_the_target_in_numpy_and_jax():
    scores = np.array([[3.0, 2.0, 2.0, 1.0], [1.0, 1.0, 1.0, 1.0], [5.0, -np.inf, 0.0, 0.0]], np.float32)
    target_scores = np.array([2.0, 1.0, -np.inf], np.float32)
    want = [2, 3, 4]  # tied with one item → behind it; all equal → last; excluded → a miss (N)
    np.testing.assert_array_equal(protocol.pessimistic_ranks(scores, target_scores), want)
    np.testing.assert_array_equal(
        protocol.pessimistic_ranks(jnp.asarray(scores), jnp.asarray(target_scores)), want
    )


def test_scored_lists_rank_ties_against_the_target():
    topk = np.array([[4, 7, 9], [4, 7, 9]])
    scores = np.array([[-1.0, -2.0, -2.0], [-1.0, -2.0, -2.0]])
    # target 7 sits before 9 in the list but ties with it: rank 2, not 1; 9 also gets 2
    np.testing.assert_array_equal(ranking.list_ranks(topk, scores, np.array([7, 9])), [2, 2])
    np.testing.assert_array_equal(ranking.list_ranks(topk, scores, np.array([4, 5])), [0, 3])
    m = ranking.ranking_metrics(topk, np.array([7, 9]), ks=(1, 2), scores=scores)
    assert m["recall@2"] == 0.0 and m["mrr"] == pytest.approx(1 / 3)


def test_history_exclusion_over_the_catalogue_and_over_lists():
    history = protocol.padded_histories([[0, 3], [], [2]])
    assert history.tolist() == [[0, 3], [-1, -1], [2, -1]]
    catalogue = np.arange(12, dtype=np.float32).reshape(3, 4)
    want = np.array([[-np.inf, 1, 2, -np.inf], [4, 5, 6, 7], [8, 9, -np.inf, 11]])
    np.testing.assert_array_equal(protocol.exclude_history(catalogue, history), want)
    np.testing.assert_array_equal(
        protocol.exclude_history(jnp.asarray(catalogue), jnp.asarray(history)), want
    )
    items = np.array([[3, 1, -1], [0, 2, 1], [2, 2, 5]])
    listed = np.zeros((3, 3), np.float32)
    np.testing.assert_array_equal(
        protocol.exclude_history(listed, history, items=items),
        [[-np.inf, 0, 0], [0, 0, 0], [-np.inf, -np.inf, 0]],
    )
    with pytest.raises(ValueError, match="history 0 has 2 items, more than width 1"):
        protocol.padded_histories([[0, 3]], width=1)


def test_excluded_histories_pad_rows_and_bucket_the_width():
    got = protocol.excluded_histories([[0, 3, 5], [2]], True, rows=4)
    assert got.tolist() == [[0, 3, 5, -1], [2, -1, -1, -1], [-1] * 4, [-1] * 4]  # width 3 -> 4
    assert protocol.excluded_histories([[0, 3, 5], [2]], False).tolist() == [[-1], [-1]]  # kept: none


def _stub_evaluator(drop_history: bool, widths: list):
    """An Evaluator whose beam search returns items 0..width-1 with scores 0, -1, -1, -3, -4, ..."""

    def beam_search(model, inputs, trie, beam_size, top_k):
        widths.append(beam_size)
        scores = -np.arange(beam_size, dtype=np.float32)
        scores[2] = -1.0  # items 1 and 2 tie
        return np.tile(np.arange(beam_size), (len(inputs), 1)), np.tile(scores, (len(inputs), 1))

    config = evaluator.EvalConfig(beam_size=6, top_k=4, batch_size=2, drop_history=drop_history, beyond_k=4)
    return evaluator.Evaluator(
        None,
        trie=None,
        item_tokens=np.zeros((30, 2), np.int32),
        vocabulary=None,
        popularity=np.ones(30),
        config=config,
        beam_search=beam_search,
        greedy=print,
    )


def _example(history, target):
    return {
        "inputs": np.array([5, 6, 1]),
        "history_items": np.array(history),
        "target_item": target,
        "answer_kind": "item",
        "template_id": "t",
    }


def test_kept_and_excluded_history_share_one_search():
    examples = [_example([0, 3], 1), _example([], 1), _example([1], 2)]
    kept_widths, dropped_widths = [], []
    raw_kept, topk_kept, _ = _stub_evaluator(False, kept_widths).recommend(examples)
    raw_dropped, topk_dropped, scores = _stub_evaluator(True, dropped_widths).recommend(examples)
    assert set(kept_widths) == set(dropped_widths) == {6}
    np.testing.assert_array_equal(raw_kept, raw_dropped)
    np.testing.assert_array_equal(topk_kept, [[0, 1, 2, 3]] * 3)
    np.testing.assert_array_equal(topk_dropped, [[1, 2, 4, 5], [0, 1, 2, 3], [0, 2, 3, 4]])
    np.testing.assert_array_equal(scores[0], [-1, -1, -4, -5])


def test_sequential_metrics_count_beam_ties_against_the_target():
    examples = [_example([0, 3], 1), _example([], 1), _example([1], 2)]
    metrics, _, _ = _stub_evaluator(False, []).evaluate_task("genrec_x_sequential", examples)
    # targets 1, 1, 2 each tie with the other of items 1 and 2: rank 2 for everyone
    assert metrics["recall@1"] == 0.0 and metrics["mrr"] == pytest.approx(1 / 3)


def test_user_sample_is_seeded_sorted_and_distinct():
    from genrec.evaluate import full_ranking

    first = full_ranking.user_sample(1000, 50, seed=7)
    np.testing.assert_array_equal(first, full_ranking.user_sample(1000, 50, seed=7))  # same at every call
    assert len(np.unique(first)) == 50 and (np.diff(first) > 0).all() and first.max() < 1000
    assert not np.array_equal(first, full_ranking.user_sample(1000, 50, seed=8))
    assert full_ranking.user_sample(1000, None) is None and full_ranking.user_sample(50, 50) is None
    with pytest.raises(ValueError, match="at least 1 user"):
        full_ranking.user_sample(1000, 0)


def test_groups_are_scored_from_the_task_search():
    """A group's row is the metrics of its examples alone, from the one search over the whole task."""
    examples = [_example([0, 3], 1), _example([], 1), _example([1], 2), _example([], 0)]
    widths = []
    ev = _stub_evaluator(False, widths)
    masks = {"odd": np.array([False, True, False, True]), "none": np.zeros(4, bool)}
    everything, _, groups = ev.evaluate_task("genrec_x_sequential", examples, masks)
    calls = len(widths)
    alone, _, _ = _stub_evaluator(False, []).evaluate_task("genrec_x_sequential", examples[1::2])
    assert groups["odd"] == alone and groups["odd"]["examples"] == 2
    assert groups["none"] == {"examples": 0}  # no metric invented for an empty group
    assert everything["recall@1"] != alone["recall@1"]  # the groups are not the whole task
    _stub_evaluator(False, widths).evaluate_task("genrec_x_sequential", examples)
    assert len(widths) == 2 * calls  # groups cost no extra search
    with pytest.raises(ValueError, match="masks 3 examples"):
        ev.evaluate_task("genrec_x_sequential", examples, {"short": np.ones(3, bool)})
