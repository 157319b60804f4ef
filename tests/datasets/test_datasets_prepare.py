"""build_dataset (vectorised) against a plain per-row reference; ordering, remapping, drop policy."""

import collections
import logging

import numpy as np
import pytest

from genrec.datasets import prepare, records, synthetic


def reference_build(raw, items=None, k_core=None):
    """Slow, obvious version: {user_id: [(source item, timestamp, rating), ...]} in final order."""
    rows = [r for r in range(len(raw)) if items is None or raw.items[r] in items]
    while k_core:
        u = collections.Counter(raw.users[r] for r in rows)
        i = collections.Counter(raw.items[r] for r in rows)
        kept = [r for r in rows if u[raw.users[r]] >= k_core and i[raw.items[r]] >= k_core]
        if len(kept) == len(rows):
            break
        rows = kept
    by_user = collections.defaultdict(list)
    for r in rows:
        by_user[raw.users[r]].append(r)
    tie = raw.seq_pos if raw.seq_pos is not None else list(range(len(raw)))
    out = {}
    for user, rs in by_user.items():
        if len(rs) >= 3:
            rs = sorted(rs, key=lambda r: (raw.timestamps[r], tie[r], r))
            out[user] = [
                (raw.items[r], raw.timestamps[r], None if raw.ratings is None else raw.ratings[r]) for r in rs
            ]
    return out


def as_reference(ds):
    out = {}
    for u in ds.users:
        ratings = [None] * len(u) if u.ratings is None else u.ratings.tolist()
        out[u.user_id] = [
            (ds.items.source_ids[i], int(t), r) for i, t, r in zip(u.items, u.timestamps, ratings)
        ]
    return out


def test_matches_reference_on_synthetic():
    raw, items = synthetic.generate_raw(num_items=300, num_users=400, seed=3)
    ds = prepare.build_dataset("s", raw, items)
    assert as_reference(ds) == reference_build(raw, items)
    assert list(ds.items.source_ids) == sorted(ds.items.source_ids)  # our id = rank of source id
    assert [u.user_id for u in ds.users] == sorted(u.user_id for u in ds.users)


def test_kcore_matches_reference():
    raw, items = synthetic.generate_raw(num_items=300, num_users=200, seed=1)
    ds = prepare.build_dataset("s", raw, items, k_core=5)
    ref = reference_build(raw, items, k_core=5)
    assert as_reference(ds) == ref
    counts = collections.Counter(i for u in ds.users for i in u.items)
    assert min(counts.values()) >= 5 and min(len(u) for u in ds.users) >= 5


def test_hand_worked_order_ties_and_remap(caplog):
    # Same-time ties keep seq_pos order (never item id order); a 2-interaction user is dropped.
    raw = prepare.RawInteractions(
        users=["u2", "u1", "u1", "u1", "u2", "u2", "u3", "u3"],
        items=["Z", "B", "A", "C", "A", "C", "A", "B"],
        timestamps=[5, 10, 10, 5, 1, 9, 1, 2],
        seq_pos=[2, 2, 1, 0, 0, 1, 0, 1],
    )
    with caplog.at_level(logging.WARNING):
        ds = prepare.build_dataset("h", raw)
    assert ds.items.source_ids == ("A", "B", "C", "Z")
    assert [u.user_id for u in ds.users] == ["u1", "u2"]
    assert ds.users[0].items.tolist() == [2, 0, 1]  # C@5, then A(seq 1) before B(seq 2) at 10
    assert ds.users[1].items.tolist() == [0, 3, 2]  # A@1, Z@5, C@9
    assert "dropped 1 users with fewer than 3 interactions" in caplog.text


def test_unknown_item_error_names_file_and_line():
    raw = prepare.RawInteractions(
        users=["u"] * 3, items=["A", "B", "X"], timestamps=[1, 2, 3], source="f.tsv", lines=[2, 3, 7]
    )
    with pytest.raises(ValueError, match=r"f\.tsv:7: item 'X' is not in the item table"):
        prepare.build_dataset("x", raw, {"A": {}, "B": {}})


def test_leave_one_out_views(synthetic_small):
    u = synthetic_small.users[0]
    train, val, test = (synthetic_small.split(s)[0] for s in records.SPLITS)
    assert np.array_equal(test.items, u.items)
    assert np.array_equal(val.items, u.items[:-1]) and np.array_equal(train.items, u.items[:-2])
