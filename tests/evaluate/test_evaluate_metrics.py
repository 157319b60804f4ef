"""Every metric against hand-worked examples, published examples, or a brute-force reference."""
import math

import numpy as np
import pytest

from genrec.evaluate import beyond_accuracy, postprocess, ranking, rating, results, text_metrics


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


def test_bleu_published_nltk_example():
    hyp1 = ("It is a guide to action which ensures that the military always obeys the commands of "
            "the party").split()
    ref1a = "It is a guide to action that ensures that the military will forever heed Party commands".split()
    ref1b = ("It is the guiding principle which guarantees the military forces always being under the "
             "command of the Party").split()
    ref1c = "It is the practical guide for the army always to heed the directions of the party".split()
    hyp2 = "he read the book because he was interested in world history".split()
    ref2a = "he was interested in world history because he read the book".split()
    # NLTK's corpus_bleu docstring (Papineni et al.'s example sentences).
    assert text_metrics.corpus_bleu([[ref1a, ref1b, ref1c], [ref2a]], [hyp1, hyp2]) == pytest.approx(
        0.5920778868801042, abs=1e-12)
    # hyp2 by hand: precisions 11/11, 9/10, 6/9, 4/8 and no brevity penalty.
    assert text_metrics.corpus_bleu([[ref2a]], [hyp2]) == pytest.approx((1 * 0.9 * 6 / 9 * 0.5) ** 0.25)
    assert text_metrics.corpus_bleu([[ref1a, ref1b, ref1c]], [hyp1]) == pytest.approx(0.5045666840058485)
    the7 = "the the the the the the the".split()
    assert text_metrics.modified_precision(
        ["the cat is on the mat".split(), "there is a cat on the mat".split()], the7, 1) == (2, 7)


def test_brevity_penalty_published_examples():
    assert text_metrics.brevity_penalty(28, 12) == pytest.approx(0.2635971381157267)
    assert text_metrics.closest_reference_length([["a"] * 13, ["a"] * 2], 12) == 13
    assert text_metrics.closest_reference_length([["a"] * 13, ["a"] * 11], 12) == 11  # tie → shorter
    assert text_metrics.brevity_penalty(8, 7) == pytest.approx(0.8668778997501817)
    assert text_metrics.corpus_bleu([[["x"]]], [["y"]]) == 0.0


def test_rouge_hand_example():
    ref = text_metrics.tokenize("The quick brown fox jumps over the lazy dog")
    hyp = text_metrics.tokenize("The quick brown dog jumps on the log.")
    assert text_metrics.rouge_n(ref, hyp, 1) == pytest.approx((6 / 8, 6 / 9, 12 / 17))
    assert text_metrics.rouge_n(ref, hyp, 2) == pytest.approx((2 / 7, 2 / 8, 4 / 15))
    assert text_metrics.rouge_l(ref, hyp) == pytest.approx((5 / 8, 5 / 9, 10 / 17))
    m = text_metrics.text_metrics(["The quick brown dog jumps on the log.", "a b"], [
        "The quick brown fox jumps over the lazy dog", "a b"])
    assert m["rouge1"] == pytest.approx(100 * (12 / 17 + 1) / 2)
    assert m["rougeL"] == pytest.approx(100 * (10 / 17 + 1) / 2)


def test_lcs_matches_brute_force():
    import itertools
    a, b = list("abcbdab"), list("bdcaba")
    best = max(n for n in range(len(a) + 1) for sub in itertools.combinations(a, n)
               if _is_subsequence(sub, b))
    assert text_metrics.lcs_length(a, b) == best == 4


def _is_subsequence(sub, seq):
    it = iter(seq)
    return all(x in it for x in sub)


def test_rating_metrics_hand_example():
    m = rating.rating_metrics(["4", "3.5 stars", "great", "7"], [5.0, 3.0, 4.0, 4.0])
    # parsed 4, 3.5, -, 7→5 (clipped): errors -1, 0.5, 1
    assert m["unparseable_rate"] == 0.25
    assert m["rmse"] == pytest.approx(math.sqrt(2.25 / 3))
    assert m["mae"] == pytest.approx(2.5 / 3)


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
    hist = [[1], [1]]
    np.testing.assert_array_equal(postprocess.postprocess(ranked, hist, 3), [[5, 2, 7], [-1, -1, -1]])
    np.testing.assert_array_equal(
        postprocess.postprocess(ranked, hist, 3, drop_history=False), [[5, 1, 2], [1, -1, -1]])
    no_two = lambda items, history: postprocess.exclude_items(items, history, excluded=[2])  # noqa
    np.testing.assert_array_equal(
        postprocess.postprocess(ranked[:1], hist[:1], 3, item_filter=no_two), [[5, 7, -1]])
    assert postprocess.decode_width(10, 20, True, 10) == 20
    assert postprocess.decode_width(20, 20, True, 10) == 30
    assert postprocess.decode_width(20, 20, False, 10) == 20


def test_results_written_and_tabulated(tmp_path):
    out = results.write_results(
        str(tmp_path), {"dataset": "synthetic"},
        {"genrec_synthetic_sequential": {"recall@5": 0.25}, "genrec_synthetic_sequential_heldout": {
            "recall@5": 0.125}},
        {"num_params": 10}, {"genrec_synthetic_sequential": {"seq-1": {"recall@5": 0.5}}})
    assert results.read_results(str(tmp_path)) == out
    md = (tmp_path / "results.md").read_text()
    assert "## genrec_synthetic_sequential (seen templates)" in md
    assert "## genrec_synthetic_sequential_heldout (held-out templates (zero-shot))" in md
    assert "| seq-1 | 0.5000 |" in md and "| all | 0.2500 |" in md
    # summary: one row per task, the held-out twin under its seen task, headline columns only
    assert "| task | templates | recall@5 |" in md
    assert "| genrec_synthetic_sequential | seen | 0.2500 |\n| genrec_synthetic_sequential | held-out | 0.1250 |" in md
