"""Packing fill of a batch (examples per row, share of non-padding positions) and the hint that
names the feature length limiting it."""

import numpy as np

from genrec.train import packing, trainer


def packed_batch(input_segments, target_segments, input_len, target_len):
    """A packed batch from per-row lists of segment lengths (segment ids 1, 2, ...; 0 = padding)."""

    def row(lengths, size):
        ids = np.concatenate(
            [np.full(n, s + 1) for s, n in enumerate(lengths)] + [np.zeros(size - sum(lengths))]
        )
        return ids.astype(np.int32)

    enc = np.stack([row(r, input_len) for r in input_segments])
    dec = np.stack([row(r, target_len) for r in target_segments])
    return {
        "encoder_input_tokens": np.where(enc > 0, 7, 0),
        "encoder_segment_ids": enc,
        "decoder_target_tokens": np.where(dec > 0, 9, 0),
        "decoder_segment_ids": dec,
    }


def test_fill_counts_segments_positions_and_room_by_hand():
    # Row 0: one 30-token history and its 5-token identifier; row 1: two of them. Inputs 160, targets 8
    # (TIGER's old lengths): a second identifier fits in 8 positions only when it is short.
    batch = packed_batch([[30], [30, 30]], [[5], [5, 3]], 160, 8)
    report = packing.fill(batch)
    assert report["examples_per_row"] == 1.5 and trainer.count_examples(batch) == 3
    assert report["inputs_fill"] == 90 / 320 and report["targets_fill"] == 13 / 16
    # 30 input tokens per example, 230 free positions in 2 rows: room for 115 / 30 more per row.
    assert abs(report["inputs_room"] - 115 / 30) < 1e-9
    assert abs(report["targets_room"] - 1.5 / (13 / 3)) < 1e-9


def test_the_hint_names_the_feature_whose_padding_cannot_take_another_example():
    # TIGER at targets 8: 5-token identifiers leave 3 target positions, the inputs room for 3 more.
    targets_bound = packing.fill(packed_batch([[30], [40]], [[5], [5]], 160, 8))
    hint = packing.bound_hint(targets_bound)
    assert hint is not None and "bound by the targets length" in hint
    assert "task_feature_lengths.targets" in hint and "1.00 examples per row" in hint
    inputs_bound = packing.fill(packed_batch([[150], [140]], [[5], [5]], 160, 32))
    assert "bound by the inputs length" in packing.bound_hint(inputs_bound)
    balanced = packing.fill(packed_batch([[70, 70], [60, 80]], [[7, 7], [7, 6]], 160, 16))
    assert packing.bound_hint(balanced) is None  # neither has room for another example


def test_unpacked_rows_count_one_example_each():
    batch = {
        "encoder_input_tokens": np.array([[3, 4, 0], [5, 0, 0], [0, 0, 0]]),
        "decoder_target_tokens": np.array([[2, 1], [2, 1], [0, 0]]),
    }
    assert packing.fill(batch)["examples_per_row"] == 2 / 3
    assert trainer.count_examples(batch) == 2
