"""Parsers on the fixtures in data/fixtures/, every supported format, against hand-worked datasets."""

import logging
import os

import numpy as np
import pytest

from genrec.datasets import amazon, movielens


def sequences(ds):
    return {u.user_id: [ds.items.source_ids[i] for i in u.items] for u in ds.users}


def test_amazon_2014_raw_reviews_and_literal_meta(fixtures_dir, caplog):
    folder = os.path.join(fixtures_dir, "amazon2014")
    assert amazon.detect_format(folder) == "raw"
    with caplog.at_level(logging.WARNING):
        ds = amazon.load(folder, "tiny")
    assert ds.items.source_ids == tuple(f"B00000000{i}" for i in range(1, 6))  # B..06 unreviewed
    assert {u.user_id: u.items.tolist() for u in ds.users} == {
        "A1": [0, 3, 1, 2],  # 100, 150, then the two 200s in file order
        "A2": [0, 3, 2],
        "A3": [1, 4, 0],
    }  # A4 (2 reviews) dropped
    a1 = ds.users[0]
    assert a1.timestamps.tolist() == [100, 150, 200, 200]
    assert a1.ratings.tolist() == [5.0, 5.0, 4.0, 5.0]
    assert a1.reviews[0] == "A1 on B000000001: fine." and a1.summaries[1] == "5 stars"
    assert ds.items.field("title") == ("Rose Lip Balm", "Mint Shampoo", "Clay Mask", "Nail File", "")
    assert ds.items.field("categories")[0] == "Beauty|Skin Care|Lips|Makeup"
    assert ds.items.field("brand")[:3] == ("Petalo", "", "Terra")
    assert ds.items.field("price")[0] == "4.99"
    assert ds.items.field("description")[0] == "It's a balm."
    assert "1 reviewed items have no metadata" in caplog.text
    assert "dropped 1 users with fewer than 3 interactions" in caplog.text


def test_amazon_2018_raw_reviews_and_json_meta(fixtures_dir):
    ds = amazon.load(os.path.join(fixtures_dir, "amazon2018"), "cards")
    assert ds.items.source_ids == ("C1", "C2", "C3", "C4")
    assert {u.user_id: u.items.tolist() for u in ds.users} == {
        "U1": [0, 1, 2],
        "U2": [2, 1, 0],
        "U3": [0, 0, 3],
    }  # a repeated purchase is kept
    assert ds.users[1].reviews == ("", "review 3", "review 5")  # U2's C3 review has no text
    assert ds.items.field("title") == ("Cafe Card & more", "Book Card", "Spa Card", "Movie Card")
    assert ds.items.field("description")[0] == "Good for coffee. Never expires."
    assert ds.items.field("categories")[2] == "Gift Cards|Spa"
    assert ds.items.field("price") == ("$25.00", "", "", "$10.00")


def test_amazon_tsv_hand_worked(fixtures_dir):
    ds = amazon.load(os.path.join(fixtures_dir, "amazon_tsv_p5"), "b", format="tsv")
    assert ds.items.source_ids == ("B00000000A", "B00000000B", "B00000000C", "B00000000D")
    assert {u.user_id: u.items.tolist() for u in ds.users} == {
        "AXU1": [2, 0, 1],
        "AXU2": [0, 3, 2, 1],
        "AXU3": [3, 1, 0],
    }  # ties by seq_pos
    assert ds.items.field("title") == ("", "Argan Hair Oil", "Coral Nail Polish", "Sea Salt Scrub")
    assert ds.items.field("categories")[2] == "Nailco|Makeup|Nails"
    assert not ds.has_ratings and not ds.has_reviews


def test_amazon_p5_equals_tsv(fixtures_dir):
    folder = os.path.join(fixtures_dir, "amazon_tsv_p5")
    assert amazon.detect_format(folder) == "tsv"  # both present: TSV (it has times and text)
    tsv = amazon.load(folder, "b", format="tsv")
    p5 = amazon.load(folder, "b", format="p5")
    assert_same_interactions(tsv, p5)


def assert_same_interactions(a, b):
    """Same users, items and ordered histories (P5 has no timestamps and no item text)."""
    assert a.items.source_ids == b.items.source_ids
    assert [u.user_id for u in a.users] == [u.user_id for u in b.users]
    for ua, ub in zip(a.users, b.users):
        assert np.array_equal(ua.items, ub.items), ua.user_id
    assert {k: v for k, v in a.stats().items() if k != "dataset"} == {
        k: v for k, v in b.stats().items() if k != "dataset"
    }


def test_amazon_kcore_on_raw(fixtures_dir, caplog):
    with caplog.at_level(logging.WARNING):
        ds = amazon.load(os.path.join(fixtures_dir, "amazon2014"), "tiny", k_core=2)
    # By hand: the 2-core drops B05 (1 review); A3 and A4 are then left with 2 (< 3) and go.
    assert {u.user_id: [ds.items.source_ids[i][-1] for i in u.items] for u in ds.users} == {
        "A1": ["1", "4", "2", "3"],
        "A2": ["1", "4", "3"],
    }
    assert "dropped 1 interactions outside the 2-core" in caplog.text
    assert "dropped 2 users with fewer than 3 interactions" in caplog.text
    with pytest.raises(ValueError, match="k_core applies to raw review files"):
        amazon.load(os.path.join(fixtures_dir, "amazon_tsv_p5"), "b", k_core=5)


@pytest.mark.parametrize("folder,fmt", [("movielens100k", "100k"), ("movielens1m", "1m")])
def test_movielens(fixtures_dir, folder, fmt):
    path = os.path.join(fixtures_dir, folder)
    assert movielens.detect_format(path) == fmt
    ds = movielens.load(path, "ml")
    assert ds.items.source_ids == ("10", "2", "3", "4")  # movie 11 unrated, user 4 (1 rating) gone
    assert {u.user_id: u.items.tolist() for u in ds.users} == {
        "1": [2, 0, 1],
        "2": [0, 1, 3],
        "3": [1, 2, 3],
    }  # same-second ties in file order
    assert ds.users[0].ratings.tolist() == [1.0, 4.0, 3.0]
    assert ds.users[0].timestamps.tolist() == [881250000, 881250949, 881250949]
    assert ds.items.title(0) == "Café au lait (1993)"  # latin-1 decoded
    assert ds.items.field("categories")[1] == "Action|Adventure|Thriller"
    assert ds.stats()["interactions"] == 9
