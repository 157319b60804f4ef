"""Cold-start rows in results: only when a protocol is configured, from the per-user arrays."""

import gin
import numpy as np

from genrec.datasets import cold_start as cold_split
from genrec.datasets import synthetic
from genrec.evaluate import cold_start


def test_rows_appear_only_under_a_configured_protocol_and_average_their_users():
    raw = synthetic.generate(num_items=60, num_users=120, seed=3, name="cold-rows")
    users = len(raw.split("test"))
    per_user = {"ndcg@10": np.linspace(0.0, 1.0, users), "hit@10": (np.arange(users) % 2).astype(float)}
    assert cold_start.configured_rows(raw, "test", per_user) == {}

    gin.bind_parameter("cold_start_split.protocol", "seeded")
    gin.bind_parameter("cold_start_split.fraction", 0.2)
    dataset = cold_split.cold_start_dataset(raw)
    users = len(dataset.split("test"))
    per_user = {"ndcg@10": np.linspace(0.0, 1.0, users), "hit@10": (np.arange(users) % 2).astype(float)}
    rows = cold_start.configured_rows(dataset, "test", per_user)
    targets = np.array([u.items[-1] for u in dataset.split("test")])
    cold = np.isin(targets, cold_split.unseen_target_items(dataset))
    assert 0 < cold.sum() < users and rows["cold_items"]["examples"] == cold.sum()
    assert rows["warm_items"]["examples"] == users - cold.sum()
    np.testing.assert_allclose(rows["cold_items"]["ndcg@10"], per_user["ndcg@10"][cold].mean())
    np.testing.assert_allclose(rows["warm_items"]["recall@10"], per_user["hit@10"][~cold].mean())


def test_example_groups_follow_each_examples_user_and_refuse_foreign_targets():
    """The beam-search evaluator's groups: masks over next-item examples (any users, any order) that
    match the per-user groups of the split."""
    import pytest

    raw = synthetic.generate(num_items=60, num_users=120, seed=3, name="cold-rows")
    examples_of = lambda data, users: [  # noqa: E731
        {"user_index": u, "target_item": data.split("test")[u].items[-1]} for u in users
    ]
    assert cold_start.example_groups(raw, "test", examples_of(raw, [0, 1])) == {}

    gin.bind_parameter("cold_start_split.protocol", "seeded")
    gin.bind_parameter("cold_start_split.fraction", 0.2)
    dataset = cold_split.cold_start_dataset(raw)
    users = np.random.default_rng(0).permutation(len(dataset.split("test")))[:50]
    groups = cold_start.example_groups(dataset, "test", examples_of(dataset, users))
    masks = cold_start.group_masks(dataset, "test", cold_split.unseen_target_items(dataset))
    assert set(groups) == {"cold_items", "warm_items", "cold_users"}
    for name, mask in groups.items():
        np.testing.assert_array_equal(mask, masks[name][users])
    assert groups["cold_items"].any() and groups["warm_items"].any()

    wrong = examples_of(dataset, users)
    wrong[3] = dict(wrong[3], target_item=(wrong[3]["target_item"] + 1) % dataset.num_items)
    with pytest.raises(ValueError, match="example 3 .* is not the user's test target"):
        cold_start.example_groups(dataset, "test", wrong)
