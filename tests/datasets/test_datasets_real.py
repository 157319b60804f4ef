"""The real datasets in ../shared/data (skipped where absent): published statistics, formats agree."""

import os
import subprocess
import sys

import numpy as np
import pytest

from genrec.datasets import amazon, loading, records

pytestmark = pytest.mark.shared_data
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

PUBLISHED = {  # users, items, interactions (data/README.md, ../shared/data/README.md)
    "amazon-2014-beauty": (22_363, 12_101, 198_502),
    "amazon-2014-musical-instruments": (1_429, 900, 10_261),
    "amazon-2018-gift-cards": (458, 148, 2_972),
    "amazon-2018-magazine-subscriptions": (348, 157, 2_375),
    "movielens-100k": (943, 1_682, 100_000),
}


@pytest.mark.parametrize("name", list(PUBLISHED))
def test_published_counts(raw_data_dir, name):
    stats = loading.parse(name, raw_data_dir).stats()
    assert (stats["users"], stats["items"], stats["interactions"]) == PUBLISHED[name]
    if name == "amazon-2014-beauty":
        assert round(stats["mean_seq_len"], 2) == 8.88 and stats["median_seq_len"] == 6.0


def test_beauty_p5_format_equals_tsv(raw_data_dir):
    folder = os.path.join(raw_data_dir, "amazon-2014-beauty")
    tsv = amazon.load(folder, "beauty", format="tsv")
    p5 = amazon.load(folder, "beauty", format="p5")
    assert tsv.items.source_ids == p5.items.source_ids
    assert [u.user_id for u in tsv.users] == [u.user_id for u in p5.users]
    assert all(np.array_equal(a.items, b.items) for a, b in zip(tsv.users, p5.users))
    assert sum(bool(t) for t in tsv.items.field("title")) == 12_101 - 7  # README: 7 empty titles


def test_musical_instruments_through_tfds(raw_data_dir, tmp_path):
    name = "amazon-2014-musical-instruments"
    got = loading.load(name, data_dir=str(tmp_path), raw_data_dir=raw_data_dir)
    expected = loading.parse(name, raw_data_dir)
    assert got.items == expected.items and len(got.users) == 1_429
    for a, b in zip(got.users, expected.users):
        assert a.user_id == b.user_id and np.array_equal(a.items, b.items)
        assert np.array_equal(a.ratings, b.ratings) and a.reviews == b.reviews


@pytest.mark.slow
def test_beauty_tfds_build_and_stats_run_mode(raw_data_dir, tmp_path):
    """The issue's acceptance command, then `--run_mode=stats` on the prepared dataset (~1 min)."""
    build = [
        sys.executable,
        "-m",
        "genrec.datasets.build",
        "data/amazon",
        "--config=beauty_2014",
        f"--manual_dir={raw_data_dir}/amazon-2014-beauty",
        f"--data_dir={tmp_path}/tfds",
    ]
    out = subprocess.run(build, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    stats = [
        sys.executable,
        "-m",
        "genrec.main",
        "--run_mode=stats",
        "--gin.load_dataset.name='amazon-2014-beauty'",
        f"--workdir={tmp_path}/run",
        f"--data_dir={tmp_path}/tfds",
        f"--raw_data_dir={raw_data_dir}",
    ]
    out = subprocess.run(stats, cwd=REPO, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-3000:]
    assert (
        "amazon-2014-beauty: users=22,363 items=12,101 interactions=198,502 "
        "mean_seq_len=8.88 median_seq_len=6.0"
    ) in out.stdout
    assert "Downloading and preparing" not in out.stderr  # read the prepared data, not rebuilt


@pytest.mark.slow
@pytest.mark.parametrize(
    "name", ["amazon-2018-gift-cards", "amazon-2018-magazine-subscriptions", "movielens-100k"]
)
def test_tfds_equals_parse(raw_data_dir, tmp_path, name):
    got = loading.load(name, data_dir=str(tmp_path), raw_data_dir=raw_data_dir)
    expected = loading.parse(name, raw_data_dir)
    assert got.items == expected.items
    assert all(
        np.array_equal(a.items, b.items) and a.user_id == b.user_id for a, b in zip(got.users, expected.users)
    )
    assert records.format_stats(got.stats()) == records.format_stats(expected.stats())
