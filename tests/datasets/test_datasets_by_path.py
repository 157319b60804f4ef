"""Your own interaction log by path (load_dataset.path / .format): readers, gin, one-line errors."""

import os

import gin
import numpy as np
import pytest

from genrec.datasets import loading
from genrec.datasets.textio import DataError

FIXTURES = os.path.join(os.path.dirname(__file__), "..", "..", "data", "fixtures")
PLAIN = os.path.join(FIXTURES, "plain_tsv", "interactions.tsv")


def sequences(dataset):
    names = dataset.items.source_ids
    return {u.user_id: [names[i] for i in u.items] for u in dataset.users}


def test_plain_tsv_by_gin_binding_orders_by_time_then_file_order():
    with gin.unlock_config():
        gin.bind_parameter("load_dataset.path", PLAIN)
        gin.bind_parameter("load_dataset.format", "tsv")
    dataset = loading.load()
    assert dataset.name == "interactions"  # named after the file
    assert sequences(dataset) == {  # u4 has one interaction: dropped (counted)
        "u1": ["song_a", "song_b", "song_c"],
        "u2": ["song_a", "song_b", "song_c"],  # song_b and song_c share a time: file order
        "u3": ["song_a", "song_d", "song_b", "song_c"],
    }
    assert dataset.items.text == {} and dataset.users[0].ratings is None


def test_p5_format_without_text():
    dataset = loading.load("my-p5", path=os.path.join(FIXTURES, "p5_no_text"), format="p5")
    assert dataset.name == "my-p5" and dataset.items.text == {}
    assert sequences(dataset) == {
        "listener-a": ["track-x", "track-y", "track-z"],
        "listener-b": ["track-y", "track-z", "track-x", "track-w"],
        "listener-c": ["track-w", "track-x", "track-y"],
    }


def test_the_amazon_formats_by_path_give_one_dataset():
    folder = os.path.join(FIXTURES, "amazon_tsv_p5")
    tsv = loading.load(path=folder, format="amazon-tsv")
    p5 = loading.load(path=folder, format="p5")
    detected = loading.load(path=folder, format="amazon")
    assert sequences(tsv) == sequences(p5) == sequences(detected)
    assert "title" in tsv.items.text and p5.items.text == {}
    raw = loading.load(path=os.path.join(FIXTURES, "amazon2014"), format="amazon-raw")
    assert raw.has_ratings and raw.num_items > 0


def test_ratings_column_is_read(tmp_path):
    path = tmp_path / "log.tsv"
    path.write_text("a\tx\t1\t4.5\na\ty\t2\t3\na\tz\t3\t5\n")
    dataset = loading.load(path=str(path), format="tsv")
    np.testing.assert_allclose(dataset.users[0].ratings, [4.5, 3, 5])


@pytest.mark.parametrize(
    "text,message",
    [
        ("a\tx\t1\na\ty\n", r"log.tsv:2: malformed line, 2 tab-separated fields"),
        ("a\tx\t1\na\ty\tnoon\n", r"log.tsv:2: field 'timestamp' is not an integer: 'noon'"),
        ("a\tx\t1\n\tz\t3\n", r"log.tsv:2: missing required field 'user'"),
        ("a\tx\t1\na\ty\t2\t5\n", r"log.tsv:2: 4 fields where earlier lines have 3"),
        ("a\tx\t1\t4\na\ty\t2\tgood\n", r"log.tsv:2: field 'rating' is not a number: 'good'"),
        ("user\titem\ttimestamp\n", r"log.tsv:1: no interactions"),
        ("a x 1\n", r"log.tsv:1: malformed line, 1 tab-separated fields"),
    ],
)
def test_malformed_plain_tsv_names_file_and_line(tmp_path, text, message):
    path = tmp_path / "log.tsv"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        loading.load(path=str(path), format="tsv")


def test_bad_path_settings_say_what_is_expected(tmp_path):
    with pytest.raises(ValueError, match=r"load_dataset.format='csv'.*expected one of: 'tsv'"):
        loading.load(path=PLAIN, format="csv")
    with pytest.raises(ValueError, match="needs load_dataset.path"):
        loading.load("amazon-2014-beauty", format="tsv")
    with pytest.raises(DataError, match="does not exist or is not a file"):
        loading.load(path=str(tmp_path / "absent.tsv"), format="tsv")
    (tmp_path / "p5").mkdir()
    (tmp_path / "p5" / "sequential_data.txt").write_text("1 1 9\n")
    (tmp_path / "p5" / "datamaps.json").write_text('{"id2user": {"1": "u"}, "id2item": {"1": "i"}}')
    with pytest.raises(DataError, match=r"sequential_data.txt:1: item '9' is not in the item table"):
        loading.load(path=str(tmp_path / "p5"), format="p5")


def test_default_names_are_safe():
    assert loading.path_dataset_name("/x/My Log (2024).tsv.gz") == "My-Log--2024-"
    assert loading.path_dataset_name("/data/ml-20m/") == "ml-20m"
