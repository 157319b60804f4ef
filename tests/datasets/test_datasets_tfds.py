"""TFDS builders in data/ on the fixtures: build, read back, splits, CLI, run modes."""

import json
import os
import subprocess
import sys

import gin
import pytest
from helpers import assert_same_dataset

from genrec.datasets import loading, run, tfds_format

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def build(builder_name, config, data_dir, manual_dir=None):
    import tensorflow_datasets as tfds

    builder = loading.builder_class(builder_name)(config=config, data_dir=str(data_dir))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual_dir))
    return builder


@pytest.mark.parametrize(
    "builder_name,config,folder",
    [
        ("amazon", "custom", "amazon2014"),
        ("amazon", "custom", "amazon2018"),
        ("amazon", "beauty_2014", "amazon_tsv_p5"),
        ("movielens", "100k", "movielens100k"),
        ("movielens", "1m", "movielens1m"),
    ],
)
def test_builder_round_trip(fixtures_dir, tmp_path, builder_name, config, folder):
    manual = os.path.join(fixtures_dir, folder)
    builder = build(builder_name, config, tmp_path, manual)
    expected = builder.make_dataset(manual)
    got = tfds_format.read_dataset(builder)
    assert_same_dataset(got, expected)
    # Each split holds what is visible at that split: train = all but 2, validation = all but 1.
    import tensorflow_datasets as tfds

    for split, hidden in (("train", 2), ("validation", 1), ("test", 0)):
        examples = list(tfds.as_numpy(builder.as_dataset(split=split)))
        assert [e["user_index"] for e in examples] == list(range(len(expected.users)))
        for e, user in zip(examples, expected.users):
            assert e["items"].tolist() == user.items[: len(user) - hidden].tolist()
    assert builder.info.metadata["stats"] == expected.stats()


def test_synthetic_builder_is_the_generator(tmp_path):
    from genrec.datasets import synthetic

    builder = build("synthetic", "1k", tmp_path)
    assert_same_dataset(tfds_format.read_dataset(builder), synthetic.generate(1000, seed=0))


def test_tfds_build_command(fixtures_dir, tmp_path):
    """The documented `tfds build` equivalent, as a user runs it from the repo root."""
    cmd = [
        sys.executable,
        "-m",
        "genrec.datasets.build",
        "data/amazon",
        "--config=custom",
        f"--manual_dir={fixtures_dir}/amazon_tsv_p5",
        f"--data_dir={tmp_path}",
    ]
    out = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    folder = tmp_path / "amazon" / "custom" / "1.0.0"
    assert (folder / "items.tfrecord").exists()
    meta = json.loads((folder / "metadata.json").read_text())
    assert meta["stats"]["users"] == 3 and meta["stats"]["interactions"] == 10
    assert meta["columns"] == [] and meta["item_fields"] == ["categories", "title"]


def test_run_modes_prepare_then_stats(fixtures_dir, tmp_path, capsys):
    from genrec.main import RunContext

    raw = tmp_path / "raw"
    raw.mkdir()
    os.symlink(os.path.join(fixtures_dir, "movielens100k"), raw / "movielens-100k")
    ctx = RunContext(workdir=str(tmp_path), raw_data_dir=str(raw), data_dir=str(tmp_path / "tfds"))
    try:
        gin.bind_parameter("load_dataset.name", "movielens-100k")
        run.prepare_data(ctx)
        assert (tmp_path / "tfds" / "movielens" / "100k" / "1.0.0" / "items.tfrecord").exists()
        run.register_stats_provider("ratings_seen", lambda ds: {"n": int(sum(len(u) for u in ds.users))})
        stats = run.print_stats(ctx)
    finally:
        run._STATS_PROVIDERS.pop("ratings_seen", None)
    printed = capsys.readouterr().out
    assert "movielens-100k: users=3 items=4 interactions=9 mean_seq_len=3.00 median_seq_len=3.0" in printed
    saved = json.loads((tmp_path / "data_stats.json").read_text())
    assert saved == stats and saved["ratings_seen"] == {"n": 9}
    assert saved["density"] == pytest.approx(9 / 12)
