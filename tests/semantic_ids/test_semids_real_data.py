"""Real data (../shared/data) and the full run mode through TFDS loading: slow, run with -m slow."""

import dataclasses
import json
import os

import numpy as np
import pytest

from genrec.datasets import amazon
from genrec.semantic_ids import artifact, collaborative, text


@pytest.mark.slow
@pytest.mark.shared_data
def test_beauty_item_texts_and_collaborative_codes(raw_data_dir):
    ds = amazon.load(os.path.join(raw_data_dir, "amazon-2014-beauty"), "amazon-2014-beauty")
    texts = text.item_texts(ds.items)  # 7 titles are empty; attributes still give text
    assert len(texts) == 12101 and all(texts)
    codes = collaborative.collaborative_codes(ds, num_levels=2, branching=16)
    assert codes.shape == (12101, 2)
    assert len(np.unique(codes[:, 0])) == 16


@pytest.mark.shared_data
def test_musical_instruments_review_texts(raw_data_dir):
    """The raw 2014 review file has no metadata: item text comes from training-split summaries."""
    name = "amazon-2014-musical-instruments"
    ds = amazon.load(os.path.join(raw_data_dir, name), name)
    texts = text.review_texts(ds)
    assert len(texts) == 900 and all(texts)
    assert sum(t == "no reviews" for t in texts) == 9  # every review of these is a held-out target
    # Mark each user's validation and test summaries: no identifier text may contain them.
    marked = dataclasses.replace(
        ds,
        users=tuple(
            dataclasses.replace(u, summaries=u.summaries[:-2] + (f"HELD-OUT {u.user_id}",) * 2)
            for u in ds.users
        ),
    )
    assert not any("HELD-OUT" in t for t in text.review_texts(marked))
    assert text.review_texts(marked) == texts


@pytest.mark.slow
def test_build_ids_run_mode_through_tfds(run_build_ids, tmp_path):
    out = run_build_ids(
        "rqkmeans.gin", ["load_dataset.name = 'synthetic'", "RQKMeansConfig.codebook_size = 32"]
    )
    ids = artifact.Identifiers.load(str(out))
    stats = json.loads((out / "stats.json").read_text())
    assert ids.scheme == "rqkmeans" and ids.num_items == stats["num_items"]
    assert list((tmp_path / "embeddings").glob("synthetic__tfidf-svd-64-s0__*.npy"))
