"""The item-sequence Task and its converter: every training (history -> next item) pair is a target
exactly once per epoch, windows keep the pair's history, packed rows carry the right digit codes."""

import collections

import numpy as np
import pytest

from genrec.tasks import item_sequences


@pytest.mark.parametrize("length, window", [(3, 5), (5, 5), (6, 5), (13, 5), (9, 2)])
def test_windows_make_every_pair_a_target_exactly_once(length, window):
    items = np.arange(100, 100 + length)
    pieces = item_sequences.windows(items, window)
    assert all(2 <= len(p) <= window for p in pieces) or length < 2
    targets = collections.Counter(int(t) for p in pieces for t in p[1:])
    assert targets == collections.Counter(int(t) for t in items[1:])
    newest = pieces[-1]
    np.testing.assert_array_equal(newest, items[-min(window, length) :])  # the newest history is whole


def test_task_serves_each_users_training_items_and_converter_adds_their_codes(synthetic_small):
    import seqio

    from genrec.train import data

    dataset = synthetic_small
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 16, (dataset.num_items, 3)).astype(np.int32)
    name = item_sequences.register(dataset, window=9)
    try:
        served = [
            ex["targets"]
            for ex in seqio.get_mixture_or_task(name)
            .get_dataset({"targets": 9}, split="train", shuffle=False, num_epochs=1)
            .as_numpy_iterator()
        ]
        expected = item_sequences.training_sequences(dataset, 9)
        assert len(served) == len(expected)
        for got, want in zip(served, expected):
            np.testing.assert_array_equal(got, want + 1)  # item i is token i + 1
        per_epoch = sum(len(s) - 1 for s in expected)
        assert per_epoch == sum(len(u.items) - 1 for u in dataset.split("train") if len(u.items) >= 2)

        converter = item_sequences.ItemSequenceConverter(codes)
        batch = next(data.batches(name, {"targets": 9}, 8, seed=0, converter=converter))
        table = np.concatenate([np.zeros((1, 3), np.int32), codes])
        np.testing.assert_array_equal(batch["decoder_target_codes"], table[batch["decoder_target_tokens"]])
        np.testing.assert_array_equal(batch["decoder_input_codes"], table[batch["decoder_input_tokens"]])
        seg, inputs = batch["decoder_segment_ids"], batch["decoder_input_tokens"]
        starts = (seg > 0) & (np.concatenate([np.zeros((8, 1), seg.dtype), seg[:, :-1]], 1) != seg)
        assert (inputs[starts] == 0).all()  # each packed segment begins with begin-of-sequence
        assert batch["decoder_segment_ids"].max() > 1  # several users share a row
    finally:
        seqio.TaskRegistry.remove(name)
