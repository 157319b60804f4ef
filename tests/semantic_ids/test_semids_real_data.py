"""Real data (../shared/data) and the full run mode through TFDS loading: slow, run with -m slow."""
import json
import os

import gin
import numpy as np
import pytest

from genrec import main as genrec_main
from genrec.datasets import amazon
from genrec.semantic_ids import artifact, collaborative, text

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "semantic_ids")


@pytest.mark.slow
@pytest.mark.shared_data
def test_beauty_item_texts_and_collaborative_codes(raw_data_dir):
    ds = amazon.load(os.path.join(raw_data_dir, "amazon-2014-beauty"), "amazon-2014-beauty")
    texts = text.item_texts(ds.items)  # 7 titles are empty; attributes still give text
    assert len(texts) == 12101 and all(texts)
    codes = collaborative.collaborative_codes(ds, num_levels=2, branching=16)
    assert codes.shape == (12101, 2)
    assert len(np.unique(codes[:, 0])) == 16


@pytest.mark.slow
def test_build_ids_run_mode_through_tfds(tmp_path):
    gin.clear_config()
    try:
        genrec_main.parse_gin([os.path.join(CONFIGS, "rqkmeans.gin")],
                              ["load_dataset.name = 'synthetic'", "RQKMeansConfig.codebook_size = 32"])
        ctx = genrec_main.RunContext(workdir=str(tmp_path / "w"), raw_data_dir=None,
                                     data_dir=str(tmp_path / "tfds"))
        genrec_main.resolve("build_ids")(ctx)
    finally:
        gin.clear_config()
    out = tmp_path / "w" / "semantic_ids"
    ids = artifact.Identifiers.load(str(out))
    stats = json.loads((out / "stats.json").read_text())
    assert ids.scheme == "rqkmeans" and ids.num_items == stats["num_items"]
    assert list((tmp_path / "embeddings").glob("synthetic__tfidf-svd-64-s0__*.npy"))
