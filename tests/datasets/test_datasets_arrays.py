"""The numpy-column storage of prepared datasets (genrec/datasets/arrays.py): the same RecDataset as
the parser and as TFDS, for every optional column; named datasets stored that way by `loading`."""

import json
import os

import gin
import numpy as np
import pytest
from helpers import assert_same_dataset

from genrec.datasets import arrays, loading, run, tfds_format


def test_round_trip_keeps_every_column(synthetic_small, tmp_path):
    arrays.save(synthetic_small, str(tmp_path))
    got = arrays.load(str(tmp_path))
    assert_same_dataset(got, synthetic_small)
    assert got.has_ratings and got.has_reviews
    assert sorted(got.items.text) == sorted(synthetic_small.items.text)
    for split in ("train", "validation", "test"):  # the leave-one-out views follow
        for a, b in zip(got.split(split), synthetic_small.split(split)):
            np.testing.assert_array_equal(a.items, b.items)
    # reviews repeat texts: the column stores each distinct text once, and an index per interaction
    distinct = len(np.load(tmp_path / "reviews.offsets.npy")) - 1
    rows = len(np.load(tmp_path / "reviews.index.npy"))
    assert rows == sum(len(u) for u in synthetic_small.users)
    assert distinct == len({r for u in synthetic_small.users for r in u.reviews}) < rows


@pytest.mark.parametrize("builder_name,config,folder", [("amazon", "custom", "amazon2014")])
def test_same_dataset_as_the_tfds_storage(fixtures_dir, tmp_path, builder_name, config, folder):
    """One builder's parse, stored both ways, reads back the same (ratings, reviews, item text, and
    non-ASCII text included)."""
    import tensorflow_datasets as tfds

    manual = os.path.join(fixtures_dir, folder)
    builder = loading.builder_class(builder_name)(config=config, data_dir=str(tmp_path / "tfds"))
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=manual))
    from_tfds = tfds_format.read_dataset(builder)
    arrays.save(builder.make_dataset(manual), str(tmp_path / "arrays"))
    assert_same_dataset(arrays.load(str(tmp_path / "arrays")), from_tfds)


def test_named_dataset_prepares_once_as_arrays(tmp_path):
    data_dir = str(tmp_path)
    directory = loading.arrays_dir("synthetic", data_dir)
    dataset = loading.load("synthetic", data_dir=data_dir, storage="arrays")
    assert arrays.is_saved(directory) and not os.path.exists(os.path.join(data_dir, "synthetic"))
    assert_same_dataset(dataset, loading.parse("synthetic"))
    written = os.path.getmtime(os.path.join(directory, arrays.META_FILE))
    assert loading.prepare("synthetic", data_dir=data_dir, storage="arrays") == directory
    assert os.path.getmtime(os.path.join(directory, arrays.META_FILE)) == written  # not rebuilt
    with open(os.path.join(directory, arrays.META_FILE)) as f:
        assert json.load(f)["stats"] == dataset.stats()


def test_large_synthetic_catalogues_default_to_arrays():
    assert loading.storage_of("synthetic-1m") == loading.storage_of("synthetic-100k") == "arrays"
    assert loading.storage_of("synthetic") == "tfds"
    assert loading.storage_of("synthetic", "arrays") == "arrays"
    with pytest.raises(ValueError, match="load_dataset.storage='parquet'; expected one of"):
        loading.storage_of("synthetic", "parquet")


def test_data_run_mode_honours_the_storage_binding(tmp_path, capsys):
    gin.parse_config(["load_dataset.name = 'synthetic'", "load_dataset.storage = 'arrays'"])

    class Ctx:
        data_dir, raw_data_dir = str(tmp_path), None

    run.prepare_data(Ctx())
    assert arrays.is_saved(loading.arrays_dir("synthetic", str(tmp_path)))
    assert "prepared in" in capsys.readouterr().out


def test_incomplete_or_inconsistent_folders_are_errors(synthetic_small, tmp_path):
    with pytest.raises(FileNotFoundError, match="meta.json: missing"):
        arrays.load(str(tmp_path))
    arrays.save(synthetic_small, str(tmp_path))
    np.save(tmp_path / "user_offsets.npy", np.array([0, 3], np.int64))
    with pytest.raises(ValueError, match="disagree with meta.json"):
        arrays.load(str(tmp_path))
