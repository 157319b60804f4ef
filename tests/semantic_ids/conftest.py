"""Shared semantic-ID fixtures: one small RQ-VAE config and one embedding matrix, so every test
that trains reuses the same compiled training chunk."""

import os

import gin
import pytest

from genrec import main as genrec_main
from genrec.semantic_ids import embeddings, rqvae

# 2 levels × 16 codes; chunks of 25 steps (the reset period), 8 chunks.
SMALL_RQVAE = rqvae.RQVAEConfig(
    hidden_dims=(32, 16),
    latent_dim=8,
    num_levels=2,
    codebook_size=16,
    batch_size=100,
    num_steps=200,
    log_every=25,
    reset_every=25,
    kmeans_iters=5,
    learning_rate=3e-3,
)


@pytest.fixture(scope="session")
def small_rqvae_config():
    return SMALL_RQVAE


@pytest.fixture(scope="session")
def item_vectors(synthetic_small):
    """TF-IDF/SVD embeddings of the 200-item synthetic catalogue (what the schemes embed)."""
    return embeddings.item_embeddings(synthetic_small)


CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "semantic_ids")


@pytest.fixture
def run_build_ids(tmp_path):
    """Runs `--run_mode=build_ids` as genrec.main does (configs/semantic_ids/<gin_name> + bindings);
    returns the semantic_ids folder it wrote."""

    def run(gin_name: str, bindings: list[str]):
        gin.clear_config()
        try:
            genrec_main.parse_gin([os.path.join(CONFIGS, gin_name)], bindings)
            ctx = genrec_main.RunContext(
                workdir=str(tmp_path / "w"), raw_data_dir=None, data_dir=str(tmp_path / "tfds")
            )
            genrec_main.resolve("build_ids")(ctx)
        finally:
            gin.clear_config()
        return tmp_path / "w" / "semantic_ids"

    return run
