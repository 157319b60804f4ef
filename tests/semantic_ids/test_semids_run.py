"""build_ids: artifact files, stats, plots; gin files; the run mode through genrec.main."""

import json
import math
import os

import gin
import numpy as np
import pytest

from genrec.semantic_ids import artifact, rqkmeans, run, schemes, stats

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "semantic_ids")


def test_level_stats_hand_example():
    codes = np.array([[0, 0], [0, 1], [1, 1], [1, 1]])
    s = stats.level_stats(codes, (2, 3))
    assert s[0]["usage"] == 1.0 and s[0]["codes_used"] == 2
    assert s[0]["perplexity"] == pytest.approx(2.0)
    assert s[0]["unique_prefix_fraction"] == 0.0
    assert s[1]["usage"] == pytest.approx(2 / 3)
    assert s[1]["perplexity"] == pytest.approx(math.exp(-(0.25 * math.log(0.25) + 0.75 * math.log(0.75))))
    assert s[1]["unique_prefix_fraction"] == 0.5  # (0,0) and (0,1) are unique, (1,1) is shared


def test_build_identifiers_writes_artifact_stats_and_plots(synthetic_small, tmp_path):
    scheme = lambda ds, cache_dir: schemes.rqkmeans_scheme(
        ds, cache_dir, rqkmeans.RQKMeansConfig(num_levels=2, codebook_size=16, iters=5)
    )
    out = tmp_path / "semantic_ids"
    info = run.build_identifiers(synthetic_small, scheme, str(out), cache_dir=str(tmp_path / "emb"))
    ids = artifact.Identifiers.load(str(out))
    assert ids.scheme == "rqkmeans" and ids.num_levels == 3
    saved = json.loads((out / "stats.json").read_text())
    for key in (
        "levels",
        "collision_rate",
        "items_needing_collision_code",
        "largest_group",
        "reconstruction_error",
        "level_sizes",
        "wall_s",
    ):
        assert key in saved, key
    assert saved["largest_group"] == ids.level_sizes[-1]
    assert [l["usage"] for l in saved["levels"]] == [l["usage"] for l in info["levels"]]
    index = json.loads((out / "item_index.json").read_text())
    src = synthetic_small.items.source_ids[5]
    assert index[src] == ids.text(5)
    for letter in "abc":
        assert (out / f"usage_level_{letter}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(list((tmp_path / "emb").glob("*.npy"))) == 1


@pytest.mark.parametrize("name", ["rqvae", "rqkmeans", "atomic", "random", "collaborative"])
def test_gin_files_bind_their_scheme(name):
    files = [os.path.join(CONFIGS, f"{name}.gin")]
    if name in ("rqvae", "rqkmeans"):
        files.append(os.path.join(CONFIGS, "minilm.gin"))
    gin.parse_config_files_and_bindings(files, [])
    scheme = gin.query_parameter("build_ids.scheme")
    assert scheme.selector.endswith(f"{name}_scheme")


def test_build_ids_run_mode(synthetic_small, run_build_ids, monkeypatch):
    """The run mode as genrec.main calls it (dataset loading stubbed with the synthetic set)."""
    from genrec import datasets

    monkeypatch.setattr(datasets, "load", lambda **kw: synthetic_small)
    out = run_build_ids("random.gin", ["random_scheme.codebook_size = 8", "build_ids.plots = False"])
    ids = artifact.Identifiers.load(str(out))
    assert ids.scheme == "random" and ids.level_sizes[:3] == (8, 8, 8)
    assert ids.num_items == synthetic_small.num_items


def test_build_ids_embeds_review_texts_when_gin_says_so(
    synthetic_small, run_build_ids, monkeypatch, tmp_path
):
    """`item_embeddings.recipe = @review_texts` reaches the encoder: the embedding cache holds the
    review texts' embedding, not the metadata one."""
    from genrec import datasets
    from genrec.semantic_ids import embeddings, encoders, text

    monkeypatch.setattr(datasets, "load", lambda **kw: synthetic_small)
    out = run_build_ids(
        "rqkmeans.gin",
        [
            "RQKMeansConfig.codebook_size = 8",
            "build_ids.plots = False",
            "item_embeddings.recipe = @review_texts",
        ],
    )
    assert artifact.Identifiers.load(str(out)).num_items == synthetic_small.num_items
    name = encoders.TfidfSvdEncoder().name
    cache = str(tmp_path / "embeddings")
    assert os.path.exists(
        embeddings.cache_path(cache, synthetic_small.name, name, text.review_texts(synthetic_small))
    )
    assert not os.path.exists(
        embeddings.cache_path(cache, synthetic_small.name, name, text.metadata_texts(synthetic_small))
    )
