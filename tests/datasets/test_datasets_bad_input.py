"""Bad raw input: each case fails naming the file and line, or is a counted, logged drop."""

import gzip
import json
import logging
import os
import shutil

import pytest

from genrec.datasets import amazon, loading, movielens
from genrec.datasets.textio import DataError


def copy(fixtures_dir, tmp_path, folder):
    dst = tmp_path / folder
    shutil.copytree(os.path.join(fixtures_dir, folder), dst)
    return dst


def rewrite_gz(path, edit):
    with gzip.open(path, "rb") as f:
        lines = f.read().split(b"\n")
    with gzip.open(path, "wb") as f:
        f.write(b"\n".join(edit(lines)))


def test_malformed_json_line(fixtures_dir, tmp_path):
    d = copy(fixtures_dir, tmp_path, "amazon2014")
    path = d / "reviews_Tiny_5.json.gz"
    rewrite_gz(path, lambda ls: ls[:2] + [b'{"reviewerID": "A9", '] + ls[3:])
    with pytest.raises(DataError, match=rf"{path}:3: malformed line"):
        amazon.load(str(d), "x")


def test_malformed_literal_meta_line_is_never_evaluated(fixtures_dir, tmp_path):
    d = copy(fixtures_dir, tmp_path, "amazon2014")
    path = d / "meta_Tiny.json.gz"
    rewrite_gz(path, lambda ls: [ls[0], b"__import__('os').system('echo pwned')"] + ls[2:])
    with pytest.raises(DataError, match=rf"{path}:2: malformed line"):
        amazon.load(str(d), "x")


def test_missing_required_field(fixtures_dir, tmp_path):
    d = copy(fixtures_dir, tmp_path, "amazon2018")
    path = d / "Tiny_Cards_5.json.gz"

    def drop_asin(lines):
        record = json.loads(lines[4])
        del record["asin"]
        return lines[:4] + [json.dumps(record).encode()] + lines[5:]

    rewrite_gz(path, drop_asin)
    with pytest.raises(DataError, match=rf"{path}:5: missing required field 'asin'"):
        amazon.load(str(d), "x")


def test_non_numeric_field(fixtures_dir, tmp_path):
    d = copy(fixtures_dir, tmp_path, "movielens100k")
    lines = (d / "u.data").read_text().splitlines()
    lines[6] = "2\t4\tfour\t891717742"
    (d / "u.data").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{d / 'u.data'}:7: field 'rating' is not a number"):
        movielens.load(str(d), "x")


def test_wrong_field_count(fixtures_dir, tmp_path):
    d = copy(fixtures_dir, tmp_path, "amazon_tsv_p5")
    lines = (d / "interactions.tsv").read_text().splitlines()
    lines[4] = lines[4] + "\textra"
    (d / "interactions.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=rf"{d / 'interactions.tsv'}:5: malformed line, 7 "):
        amazon.load(str(d), "x", format="tsv")


def test_tsv_header_without_required_column(fixtures_dir, tmp_path):
    d = copy(fixtures_dir, tmp_path, "amazon_tsv_p5")
    text = (d / "items.tsv").read_text().replace("title", "name", 1)
    (d / "items.tsv").write_text(text)
    with pytest.raises(DataError, match=r"items.tsv:1: header lacks required column\(s\) \['title'\]"):
        amazon.load(str(d), "x", format="tsv")


def test_item_missing_from_item_table(fixtures_dir, tmp_path):
    d = copy(fixtures_dir, tmp_path, "amazon_tsv_p5")
    lines = (d / "items.tsv").read_text().splitlines()
    (d / "items.tsv").write_text("\n".join(l for l in lines if "B00000000D" not in l) + "\n")
    # The first interaction with B00000000D is on line 7 of interactions.tsv.
    with pytest.raises(ValueError, match=r"interactions.tsv:7: item 'B00000000D' is not in the item table"):
        amazon.load(str(d), "x", format="tsv")


def test_p5_item_missing_from_datamaps(fixtures_dir, tmp_path):
    d = copy(fixtures_dir, tmp_path, "amazon_tsv_p5")
    (d / "sequential_data.txt").write_text("1 1 2 3\n2 2 9 1 3\n")
    with pytest.raises(DataError, match=r"sequential_data.txt:2: item '9' is not in the item table"):
        amazon.load(str(d), "x", format="p5")


def test_movielens_rating_of_unknown_movie(fixtures_dir, tmp_path):
    d = copy(fixtures_dir, tmp_path, "movielens1m")
    with open(d / "ratings.dat", "a") as f:
        f.write("1::999::5::881250999\n")
    with pytest.raises(ValueError, match=r"ratings.dat:11: item '999' is not in the item table"):
        movielens.load(str(d), "x")


def test_short_users_are_a_counted_logged_drop(fixtures_dir, caplog):
    with caplog.at_level(logging.WARNING):
        ds = movielens.load(os.path.join(fixtures_dir, "movielens100k"), "ml")
    assert "4" not in {u.user_id for u in ds.users}
    assert "ml: dropped 1 users with fewer than 3 interactions" in caplog.text


def test_no_user_left_is_an_error(fixtures_dir, tmp_path):
    d = copy(fixtures_dir, tmp_path, "movielens100k")
    (d / "u.data").write_text("1\t2\t3\t100\n1\t3\t3\t101\n")
    with pytest.raises(ValueError, match="no user has 3 or more interactions"):
        movielens.load(str(d), "x")


def test_non_utf8_text(fixtures_dir, tmp_path):
    d = copy(fixtures_dir, tmp_path, "amazon2018")
    path = d / "Tiny_Cards_5.json.gz"
    rewrite_gz(path, lambda ls: ls[:1] + [ls[1].replace(b"review 1", b"review \xff")] + ls[2:])
    with pytest.raises(DataError, match=rf"{path}:2: not valid utf-8 text"):
        amazon.load(str(d), "x")


def test_missing_and_empty_manual_dir(tmp_path):
    with pytest.raises(DataError, match=rf"{tmp_path / 'nope'} does not exist; expected .*interactions.tsv"):
        amazon.load(str(tmp_path / "nope"), "x")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=rf"{tmp_path / 'empty'} is empty; expected .*u.data \+ u.item"):
        movielens.load(str(tmp_path / "empty"), "x")
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "notes.txt").write_text("hi")
    with pytest.raises(DataError, match=r"no Amazon data found \(has \['notes.txt'\]\)"):
        amazon.load(str(tmp_path / "other"), "x")


def test_loading_names_the_expected_raw_folder(tmp_path):
    with pytest.raises(DataError, match=rf"{tmp_path / 'movielens-100k'} does not exist; .*u.data"):
        loading.manual_dir("movielens-100k", str(tmp_path))
    with pytest.raises(ValueError, match=r"unknown dataset 'beauty'; known: synthetic, .*movielens-100k"):
        loading.load("beauty")
