"""Every metric against hand-worked examples, published examples, or a brute-force reference."""

import math

import numpy as np
import pytest

from genrec.evaluate import beyond_accuracy, postprocess, ranking, results
from genrec.metrics import rating, text_metrics


def test_ranking_hand_example():
    topk = np.array([[3, 1, 2, 8, 9], [5, 6, 7, 8, 9], [4, 0, 0, 0, 0]])
    m = ranking.ranking_metrics(topk, np.array([1, 11, 4]), ks=(1, 5, 10))
    # ranks 1, miss, 0: recall@1 = 1/3, recall@5 = 2/3, ndcg@5 = (1/log2(3) + 1) / 3
    assert m["recall@1"] == pytest.approx(1 / 3)
    assert m["recall@5"] == pytest.approx(2 / 3)
    assert m["ndcg@5"] == pytest.approx((1 / math.log2(3) + 1) / 3)
    assert m["mrr"] == pytest.approx((1 / 2 + 1) / 3)
    assert "recall@10" not in m  # deeper than the list


def test_ranking_matches_brute_force():
    rng = np.random.default_rng(0)
    topk = np.stack([rng.permutation(50)[:20] for _ in range(40)])
    targets = rng.integers(0, 50, 40)
    m = ranking.ranking_metrics(topk, targets)
    for k in ranking.SEQUENTIAL_KS:
        hits, gains = [], []
        for row, t in zip(topk, targets):
            pos = list(row[:k]).index(t) if t in row[:k] else None
            hits.append(pos is not None)
            gains.append(0.0 if pos is None else 1.0 / math.log2(pos + 2))
        assert m[f"recall@{k}"] == pytest.approx(np.mean(hits))
        assert m[f"ndcg@{k}"] == pytest.approx(np.mean(gains))


def test_candidate_ranks_count_ties_against_target():
    scores = np.array([[0.1, 0.5, 0.5, 0.2], [0.1, 0.5, 0.5, 0.2], [-1.0, -2.0, -3.0, -0.5]])
    np.testing.assert_array_equal(ranking.candidate_ranks(scores, np.array([1, 0, 3])), [1, 3, 0])
    m = ranking.candidate_metrics(np.zeros((2, 100)), np.array([0, 7]))  # all equal → last
    assert m["recall@10"] == 0.0 and m["mrr"] == pytest.approx(1 / 100)


def test_bleu_is_sacrebleu_smoothed_hand_example():
    # 13a splits "log." into "log ."; 9 tokens each side (no brevity penalty); matches 6/9 unigrams,
    # 2/8 bigrams, 1/7 trigrams and no 4-gram, which exp smoothing counts as 1/(2*6) instead of 0.
    m = text_metrics.text_metrics(
        ["The quick brown dog jumps on the log."], ["The quick brown fox jumps over the lazy dog"]
    )
    assert m["bleu4"] == pytest.approx(100 * (6 / 9 * 2 / 8 * 1 / 7 * 1 / 12) ** 0.25, abs=1e-9)


def test_bleu_corpus_counts_and_brevity_penalty_hand_example():
    ref = "he was interested in world history because he read the book"
    # NLTK's example: precisions 11/11, 9/10, 6/9, 4/8 and equal lengths.
    assert text_metrics.text_metrics(["he read the book because he was interested in world history"], [ref])[
        "bleu4"
    ] == pytest.approx(100 * (9 / 10 * 6 / 9 * 4 / 8) ** 0.25, abs=1e-9)
    # every n-gram matches, but 4 tokens against 11: brevity penalty exp(1 - 11/4)
    assert text_metrics.text_metrics(["he read the book"], [ref])["bleu4"] == pytest.approx(
        100 * math.exp(1 - 11 / 4), abs=1e-9
    )
    # corpus level: n-gram counts and lengths are summed over the sentences before dividing
    whole = text_metrics.text_metrics(["a b c d e f", "g h i j"], ["a b c d e x", "g h i j"])["bleu4"]
    assert whole == pytest.approx(100 * (9 / 10 * 7 / 8 * 5 / 6 * 3 / 4) ** 0.25, abs=1e-9)


def test_rouge_is_rouge_score_hand_example():
    # rouge-score lower-cases and keeps alphanumeric runs: 9 reference and 8 hypothesis tokens;
    # 6 shared unigrams, 2 shared bigrams ("the quick", "quick brown"), LCS "the quick brown jumps the".
    m = text_metrics.text_metrics(
        ["The quick brown dog jumps on the log.", "a b"],
        ["The quick brown fox jumps over the lazy dog", "A B!"],
    )
    assert m["rouge1"] == pytest.approx(100 * (12 / 17 + 1) / 2)
    assert m["rouge2"] == pytest.approx(100 * (4 / 15 + 1) / 2)
    assert m["rougeL"] == pytest.approx(100 * (10 / 17 + 1) / 2)
    assert set(m) == {"bleu4", "rouge1", "rouge2", "rougeL"}
    assert text_metrics.text_metrics([], []) == {}
    with pytest.raises(ValueError, match="2 predictions but 1 references"):
        text_metrics.text_metrics(["a", "b"], ["a"])


def test_rating_metrics_hand_example():
    m = rating.rating_metrics(["4", "3.5 stars", "great", "7"], [5.0, 3.0, 4.0, 4.0])
    # parsed 4, 3.5, -, 7→5 (clipped); "great" scores as 1, the scale's end farthest from 4:
    # errors -1, 0.5, -3, 1
    assert m["unparseable_rate"] == 0.25
    assert m["rmse"] == pytest.approx(math.sqrt(11.25 / 4))
    assert m["mae"] == pytest.approx(5.5 / 4)
    with pytest.raises(ValueError, match=r"rating scale \[5, 1\] is empty"):
        rating.rating_metrics(["4"], [4.0], low=5, high=1)


def test_unparseable_ratings_never_score_better_than_any_parseable_answer():
    targets = [1.0, 2.0, 3.0, 3.5, 4.0, 5.0]
    silent = rating.rating_metrics(["no idea"] * len(targets), targets)
    assert silent["unparseable_rate"] == 1.0
    for guess in ("1", "2.5", "3", "4", "5", "9", "-2"):
        answered = rating.rating_metrics([guess] * len(targets), targets)
        assert answered["unparseable_rate"] == 0.0
        assert silent["rmse"] >= answered["rmse"] and silent["mae"] >= answered["mae"], guess
    assert silent["mae"] == pytest.approx((4 + 3 + 2 + 2.5 + 3 + 4) / 6)


def test_beyond_accuracy_hand_example():
    pop = np.array([5, 0, 3, 3, 1])
    np.testing.assert_array_equal(beyond_accuracy.head_mask(pop), [1, 0, 0, 0, 0])
    np.testing.assert_array_equal(beyond_accuracy.head_mask(pop, 0.4), [1, 0, 1, 0, 0])
    m = beyond_accuracy.beyond_accuracy(np.array([[0, 2, 1], [3, -1, 4]]), np.array([2, 4]), pop, k=2)
    assert m["coverage@2"] == pytest.approx(3 / 5)
    assert m["mean_pop_rec@2"] == pytest.approx(11 / 3)
    assert m["mean_pop_target"] == 2.0
    assert m["head_target_share"] == 0.0
    assert m["recall@2_tail"] == 0.5 and "recall@2_head" not in m
    assert beyond_accuracy.invalid_rate(np.array([[0, -1], [4, 5]]), 5) == 0.5


def test_history_repeats_hand_example():
    histories = [np.array([0, 1, 1, 2]), np.array([1, 2, 4]), np.array([3, 4])]
    targets = np.array([1, 3, 2])
    topk = np.array([[1, 0, 3], [0, 4, 3], [2, 0, 1]])
    m = beyond_accuracy.history_repeats(topk, histories, targets, k=3)
    # u0's target 1 is in its history; history items in the top 3: u0 {1, 0}, u1 {4}, u2 none.
    assert m == {"target_in_history": pytest.approx(1 / 3), "history@3": pytest.approx(3 / 9)}
    assert beyond_accuracy.history_repeats(topk, histories, targets, k=1)["history@1"] == pytest.approx(1 / 3)


def test_train_popularity_counts_train_split(synthetic_small):
    pop = beyond_accuracy.train_popularity(synthetic_small)
    expected = np.zeros(synthetic_small.num_items, np.int64)
    for u in synthetic_small.users:
        for item in u.items[:-2]:
            expected[item] += 1
    np.testing.assert_array_equal(pop, expected)


def test_postprocess_drops_history_dedupes_and_filters():
    ranked = np.array([[5, 1, 5, 2, 7, -1], [1, 1, 1, 1, 1, 1]])
    scores = -np.arange(12, dtype=np.float32).reshape(2, 6)
    hist = [[1], [1]]
    items, kept = postprocess.postprocess(ranked, scores, hist, 3, drop_history=True)
    np.testing.assert_array_equal(items, [[5, 2, 7], [-1, -1, -1]])
    np.testing.assert_array_equal(kept, [[0, -3, -4], [-np.inf] * 3])
    items, kept = postprocess.postprocess(ranked, scores, hist, 3, drop_history=False)
    np.testing.assert_array_equal(items, [[5, 1, 2], [1, -1, -1]])
    np.testing.assert_array_equal(kept, [[0, -1, -3], [-6, -np.inf, -np.inf]])
    no_two = lambda items, history: postprocess.exclude_items(items, history, excluded=[2])  # noqa
    items, _ = postprocess.postprocess(
        ranked[:1], scores[:1], hist[:1], 3, drop_history=True, item_filter=no_two
    )
    np.testing.assert_array_equal(items, [[5, 7, -1]])
    with pytest.raises(ValueError, match="2 ranked lists, 1 score lists, 2 histories"):
        postprocess.postprocess(ranked, scores[:1], hist, 3, drop_history=True)


def test_the_search_does_not_depend_on_history_dropping():
    assert postprocess.decode_width(10, 20) == 20
    assert postprocess.decode_width(20, 20) == 20
    assert postprocess.decode_width(30, 20) == 30


def test_results_written_and_tabulated(tmp_path):
    out = results.write_results(
        str(tmp_path),
        {"dataset": "synthetic"},
        {
            "genrec_synthetic_sequential": {"recall@5": 0.25},
            "genrec_synthetic_sequential_heldout": {"recall@5": 0.125},
        },
        {"num_params": 10},
        {"genrec_synthetic_sequential": {"seq-1": {"recall@5": 0.5}}},
    )
    assert results.read_results(str(tmp_path)) == out
    md = (tmp_path / "results.md").read_text()
    assert "## genrec_synthetic_sequential (seen templates)" in md
    assert "## genrec_synthetic_sequential_heldout (held-out templates (zero-shot))" in md
    assert "| seq-1 | 0.5000 |" in md and "| all | 0.2500 |" in md
    # summary: one row per task, the held-out twin under its seen task, headline columns only
    assert "| task | templates | recall@5 |" in md
    assert (
        "| genrec_synthetic_sequential | seen | 0.2500 |\n| genrec_synthetic_sequential | held-out | 0.1250 |"
        in md
    )
