"""Paired tests of genrec/evaluate/significance.py against hand values, scipy and normal theory."""

import numpy as np
import pytest
from scipy import stats

from genrec.evaluate import full_ranking, significance
from genrec.evaluate.ranking import metrics_from_ranks


def test_sign_test_hand_values():
    six_wins = significance.sign_test(np.ones(6), np.zeros(6))
    assert six_wins["p_value"] == pytest.approx(2 / 64, rel=1e-12)
    assert (six_wins["positive"], six_wins["negative"], six_wins["ties"]) == (6, 0, 0)
    # Ties are dropped: 5 wins and 3 ties is the 5-user test, p = 2/32.
    five = significance.sign_test(np.array([1, 1, 1, 1, 1, 0, 0, 0.5]), np.array([0, 0, 0, 0, 0, 0, 0, 0.5]))
    assert five["p_value"] == pytest.approx(2 / 32, rel=1e-12) and five["ties"] == 3
    assert significance.sign_test(np.zeros(4), np.zeros(4))["p_value"] == 1.0
    # 3 against 3 is the middle of the distribution: p capped at 1.
    assert (
        significance.sign_test(np.array([1, 1, 1, 0, 0, 0.0]), np.array([0, 0, 0, 1, 1, 1.0]))["p_value"]
        == 1.0
    )


@pytest.mark.parametrize("positive,negative", [(80, 120), (9800, 10200), (3, 17), (501, 499)])
def test_sign_test_matches_scipy_binomtest(positive, negative):
    a = np.concatenate([np.ones(positive), np.zeros(negative), np.full(7, 0.3)])
    b = np.concatenate([np.zeros(positive), np.ones(negative), np.full(7, 0.3)])
    expected = stats.binomtest(positive, positive + negative, 0.5, alternative="two-sided").pvalue
    assert significance.sign_test(a, b)["p_value"] == pytest.approx(expected, rel=1e-9)


def test_bootstrap_interval_matches_normal_theory():
    rng = np.random.default_rng(3)
    d = rng.normal(0.3, 1.0, 900)
    out = significance.paired_bootstrap(d, np.zeros_like(d), num_resamples=4000, seed=1)
    se = d.std(ddof=1) / np.sqrt(len(d))
    assert out["mean_difference"] == pytest.approx(d.mean(), abs=1e-15)
    assert out["low"] == pytest.approx(d.mean() - 1.96 * se, abs=0.15 * se)
    assert out["high"] == pytest.approx(d.mean() + 1.96 * se, abs=0.15 * se)
    assert out["p_value"] < 1e-3  # the mean is 9 standard errors above 0


def test_bootstrap_constant_difference_and_seed():
    out = significance.paired_bootstrap(np.full(50, 0.2), np.full(50, 0.1), num_resamples=300)
    assert out["low"] == pytest.approx(0.1) and out["high"] == pytest.approx(0.1) and out["p_value"] == 0.0
    a, b = np.random.default_rng(0).random((2, 200))
    first = significance.paired_bootstrap(a, b, num_resamples=500, seed=7)
    assert first == significance.paired_bootstrap(a, b, num_resamples=500, seed=7)
    assert first != significance.paired_bootstrap(a, b, num_resamples=500, seed=8)


def test_bootstrap_chunks_equal_one_draw_per_resample():
    d = np.random.default_rng(5).normal(size=37)
    means = significance.bootstrap_means(d, num_resamples=450, seed=2)  # 3 chunks, the last partial
    rng = np.random.default_rng(2)
    expected = np.concatenate([d[rng.integers(0, 37, (n, 37))].mean(axis=1) for n in (200, 200, 50)])
    np.testing.assert_allclose(means, expected, rtol=0, atol=0)


def test_verdicts_need_both_tests():
    win = significance.compare(np.r_[np.ones(40), np.zeros(60)], np.zeros(100), num_resamples=1000)
    assert win["verdict"] == significance.WIN
    loss = significance.compare(np.zeros(100), np.r_[np.ones(40), np.zeros(60)], num_resamples=1000)
    assert loss["verdict"] == significance.LOSS
    # A few large gains against many small losses: the mean favours A, the sign test favours B.
    a = np.r_[np.ones(30), np.zeros(70)]
    b = np.r_[np.zeros(30), np.full(70, 0.1)]
    mixed = significance.compare(a, b, num_resamples=1000)
    assert mixed["bootstrap"]["low"] > 0 and mixed["sign_test"]["negative"] > mixed["sign_test"]["positive"]
    assert mixed["verdict"] == significance.NONE
    small = significance.compare(np.r_[np.ones(3), np.zeros(97)], np.zeros(100), num_resamples=1000)
    assert small["verdict"] == significance.NONE  # 3 users: sign test p = 0.25


def test_holm_hand_example():
    adjusted = significance.holm([0.01, 0.04, 0.03, 0.005])
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert significance.holm([0.5, 0.9]) == pytest.approx([1.0, 1.0])


def test_bad_pairs_and_seed_mean():
    with pytest.raises(ValueError, match="same length|one length"):
        significance.sign_test(np.zeros(3), np.zeros(4))
    np.testing.assert_allclose(significance.seed_mean([[1.0, 0.0], [0.0, 0.0], [0.5, 1.0]]), [0.5, 1 / 3])


def test_per_user_metrics_average_to_the_reported_metrics(tmp_path):
    ranks = np.array([0, 3, 9, 10, 250, 1])
    per_user = full_ranking.per_user_metrics(ranks)
    means = metrics_from_ranks(ranks, 20)
    assert per_user["ndcg@10"].mean() == pytest.approx(means["ndcg@10"], rel=1e-15)
    assert per_user["hit@10"].mean() == pytest.approx(means["recall@10"], rel=1e-15)
    np.testing.assert_allclose(per_user["ndcg@10"][:4], [1.0, 1 / np.log2(5), 1 / np.log2(11), 0.0])
    full_ranking.save_per_user(str(tmp_path / "u.npz"), per_user)
    with np.load(tmp_path / "u.npz") as back:
        np.testing.assert_array_equal(back["hit@10"], per_user["hit@10"])
