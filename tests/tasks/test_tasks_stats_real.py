"""Examples per family and split on the real datasets, checked against closed forms of the histories."""

import pytest

from genrec.datasets import loading
from genrec.tasks import stats


@pytest.mark.shared_data
@pytest.mark.parametrize(
    "name, families",
    [
        ("amazon-2014-beauty", {"sequential", "direct"}),  # no ratings, no reviews
        ("amazon-2014-musical-instruments", {"rating", "sequential", "explanation", "review", "direct"}),
        ("movielens-100k", {"rating", "sequential", "direct"}),  # ratings, no review text
    ],
)
def test_family_example_counts_on_real_data(raw_data_dir, name, families, capsys):
    dataset = loading.parse(name, raw_data_dir)
    counts = stats.family_example_counts(dataset)
    print(stats.format_family_counts(counts, name))
    assert set(counts) == families
    users = len(dataset.users)
    interactions = sum(len(u) for u in dataset.users)
    assert counts["sequential"] == {"train": interactions - 3 * users, "validation": users, "test": users}
    assert counts["direct"] == {"train": users, "validation": users, "test": users}
    if "rating" in families:
        assert counts["rating"]["train"] == interactions - 2 * users
    if "review" in families:
        with_text = [bool(u.reviews[-1].strip()) for u in dataset.users]
        assert counts["review"]["test"] == 2 * sum(with_text)
        assert counts["explanation"]["test"] == sum(with_text)
    assert name in capsys.readouterr().out


def test_counts_reach_the_stats_run_mode(synthetic_small):
    from genrec.datasets import run

    got = run.dataset_stats(synthetic_small)["examples_per_task_family"]
    assert got == stats.family_example_counts(synthetic_small)
