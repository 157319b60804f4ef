"""The collision level: hand-worked example and uniqueness on random codes."""

import numpy as np

from genrec.semantic_ids import collisions


def test_collision_level_hand_example():
    codes = np.array([[1, 2], [0, 0], [1, 2], [3, 3], [1, 2], [0, 0]])
    out, size, report = collisions.add_collision_level(codes)
    np.testing.assert_array_equal(out[:, :2], codes)
    np.testing.assert_array_equal(out[:, 2], [0, 0, 1, 0, 2, 1])  # by item id within a group
    assert size == 3
    assert report == collisions.CollisionReport(items_in_collisions=5, items_needing_code=3, largest_group=3)
    d = report.as_dict(6)
    assert d["collision_rate"] == 5 / 6 and d["needing_collision_code_fraction"] == 0.5


def test_collision_level_makes_every_tuple_unique():
    codes = np.random.default_rng(0).integers(0, 4, (500, 3))
    out, size, report = collisions.add_collision_level(codes)
    assert len({tuple(r) for r in out.tolist()}) == 500
    assert out[:, -1].max() == size - 1
    groups = {}
    for r in codes.tolist():
        groups[tuple(r)] = groups.get(tuple(r), 0) + 1
    assert report.largest_group == max(groups.values())
    assert report.items_needing_code == 500 - len(groups)


def test_no_collisions_gives_a_single_code_level():
    out, size, report = collisions.add_collision_level(np.arange(6).reshape(3, 2))
    assert size == 1 and (out[:, -1] == 0).all() and report.largest_group == 1
