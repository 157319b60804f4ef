"""Left padding, length buckets, negative sampling."""

import numpy as np

from genrec.baselines import trainer
from genrec.evaluate import sequences


def test_bucket_lengths():
    assert sequences.bucket_lengths(50) == [8, 16, 32, 50]
    assert sequences.bucket_lengths(8) == [8]
    assert sequences.bucket_lengths(64) == [8, 16, 32, 64]
    assert [sequences.window_for(n, 50) for n in (0, 1, 8, 9, 33, 50, 70)] == [8, 8, 8, 16, 50, 50, 50]


def test_left_pad_keeps_the_newest_items_right_aligned():
    out = sequences.left_pad([np.array([5, 6]), np.array([1, 2, 3, 4, 0])], 4)
    np.testing.assert_array_equal(out, [[0, 0, 6, 7], [3, 4, 5, 1]])


def test_batches_cover_every_sequence_once_in_its_bucket():
    rng = np.random.default_rng(0)
    seqs = [rng.integers(0, 50, n) for n in rng.integers(1, 70, 37)]
    seen = []
    for index, tokens in sequences.batches(seqs, 5, max_len=20, extra=1, rng=rng):
        assert tokens.shape[0] == 5 and tokens.shape[1] - 1 in sequences.bucket_lengths(20)
        for row, i in enumerate(index):
            if i < 0:
                assert (tokens[row] == 0).all()
                continue
            seen.append(i)
            kept = seqs[i][-21:]
            np.testing.assert_array_equal(tokens[row, -len(kept) :], kept + 1)
            assert (tokens[row, : -len(kept)] == 0).all()
    assert sorted(seen) == list(range(len(seqs)))


def test_negatives_avoid_the_rows_items():
    rng = np.random.default_rng(1)
    tokens = np.array([[0, 1, 2, 3], [4, 5, 6, 7]], np.int32)  # items 0..6 (token - 1)
    neg = trainer.sample_negatives(np.repeat(tokens, 50, 0), 8, rng)
    assert neg.min() >= 0 and neg.max() < 8
    for row, n in zip(np.repeat(tokens, 50, 0), neg):
        assert not set(n.tolist()) & set((row[row > 0] - 1).tolist())
