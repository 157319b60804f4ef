"""Identifier schemes, chosen in gin (`build_ids.scheme = @rqvae_scheme`); each returns raw codes
that `identifiers_from` turns into the one `Identifiers` artifact.

Only item text and TRAINING interactions shape an identifier: the collaborative scheme reads
`dataset.train_matrix_pairs()`, the OPQ scheme fits only on the items those pairs hold, the others
read no interactions at all.
"""

from __future__ import annotations

import dataclasses
from typing import Callable, Optional

import gin
import numpy as np

from genrec.datasets import records
from genrec.semantic_ids import (
    artifact,
    coder,
    collaborative,
    collisions,
    embeddings,
    opq,
    rqkmeans,
    rqvae,
    stats,
)

gin.external_configurable(rqvae.RQVAEConfig, module="genrec.semantic_ids")
gin.external_configurable(rqkmeans.RQKMeansConfig, module="genrec.semantic_ids")
gin.external_configurable(opq.OPQConfig, module="genrec.semantic_ids")

Embed = Callable[..., np.ndarray]


@dataclasses.dataclass
class SchemeCodes:
    scheme: str
    codes: np.ndarray  # int32 [N, L], possibly with shared tuples
    level_sizes: tuple[int, ...]
    collision_level: bool = True  # append TIGER's disambiguating level
    info: dict = dataclasses.field(default_factory=dict)  # goes into stats.json
    coder: Optional[coder.ItemCoder] = None  # text → codes for new items (text quantisers only)


def _embed(embed: Embed, dataset: records.RecDataset, cache_dir: Optional[str]):
    """(item embeddings, the text encoder frozen, or None for an embed function of one's own)."""
    if embed is embeddings.item_embeddings:
        return embed(dataset, cache_dir=cache_dir, with_text_encoder=True)
    return embed(dataset, cache_dir=cache_dir), None


def _coder(text_encoder, kind: str, result) -> Optional[coder.ItemCoder]:
    if text_encoder is None:
        return None
    return coder.ItemCoder(coder.item_texts_settings(), text_encoder, kind, result)


@gin.configurable
def atomic_scheme(dataset: records.RecDataset, cache_dir: Optional[str] = None) -> SchemeCodes:
    """One token per item."""
    n = dataset.num_items
    return SchemeCodes("atomic", np.arange(n, dtype=np.int32)[:, None], (n,), collision_level=False)


@gin.configurable
def random_scheme(
    dataset: records.RecDataset,
    cache_dir: Optional[str] = None,
    num_levels: int = 3,
    codebook_size: int = 256,
    seed: int = 0,
) -> SchemeCodes:
    """Uniformly random code tuples (the 'random ID' ablation of TIGER)."""
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, codebook_size, (dataset.num_items, num_levels)).astype(np.int32)
    return SchemeCodes("random", codes, (codebook_size,) * num_levels)


@gin.configurable
def rqvae_scheme(
    dataset: records.RecDataset,
    cache_dir: Optional[str] = None,
    config: Optional[rqvae.RQVAEConfig] = None,
    embed: Embed = embeddings.item_embeddings,
) -> SchemeCodes:
    """TIGER semantic IDs: RQ-VAE over item text embeddings."""
    config = config or rqvae.RQVAEConfig()
    x, text_encoder = _embed(embed, dataset, cache_dir)
    result = rqvae.fit(x, config)
    return SchemeCodes(
        "rqvae",
        result.codes,
        (config.codebook_size,) * config.num_levels,
        coder=_coder(text_encoder, "rqvae", result),
        info={
            "reconstruction_error": result.reconstruction_error,
            "config": dataclasses.asdict(config),
            "training": result.history,
        },
    )


@gin.configurable
def rqkmeans_scheme(
    dataset: records.RecDataset,
    cache_dir: Optional[str] = None,
    config: Optional[rqkmeans.RQKMeansConfig] = None,
    embed: Embed = embeddings.item_embeddings,
) -> SchemeCodes:
    """Semantic IDs from residual k-means over item text embeddings."""
    config = config or rqkmeans.RQKMeansConfig()
    x, text_encoder = _embed(embed, dataset, cache_dir)
    result = rqkmeans.fit(x, config)
    return SchemeCodes(
        "rqkmeans",
        result.codes,
        (config.codebook_size,) * config.num_levels,
        coder=_coder(text_encoder, "rqkmeans", result),
        info={"reconstruction_error": result.reconstruction_error, "config": dataclasses.asdict(config)},
    )


@gin.configurable
def opq_scheme(
    dataset: records.RecDataset,
    cache_dir: Optional[str] = None,
    config: Optional[opq.OPQConfig] = None,
    embed: Embed = embeddings.item_embeddings,
    max_fit_items: Optional[int] = None,
) -> SchemeCodes:
    """Long semantic IDs (RPG): optimized product quantisation of item text embeddings. The
    rotation, codebooks and standardisation are fitted on the items of the training split only
    (at most `max_fit_items` of them, drawn by `config.seed`: a million-item catalogue is fitted on
    a sample, as FAISS trains its quantisers); every item is then encoded."""
    config = config or opq.OPQConfig()
    train_items = np.unique(dataset.train_matrix_pairs()[1])
    if max_fit_items is not None and len(train_items) > max_fit_items:
        rng = np.random.default_rng(config.seed)
        train_items = np.sort(rng.choice(train_items, max_fit_items, replace=False))
    fit_rows = None if len(train_items) == dataset.num_items else train_items
    x, text_encoder = _embed(embed, dataset, cache_dir)
    result = opq.fit(x, config, fit_rows)
    return SchemeCodes(
        "opq",
        result.codes,
        (config.codebook_size,) * config.num_digits,
        coder=_coder(text_encoder, "opq", result),
        info={
            "reconstruction_error": result.reconstruction_error,
            "config": dataclasses.asdict(config),
            "training": result.history,
            "fit_items": len(train_items),
        },
    )


@gin.configurable
def collaborative_scheme(
    dataset: records.RecDataset,
    cache_dir: Optional[str] = None,
    num_levels: int = 3,
    branching: int = 32,
    seed: int = 0,
    balanced: bool = True,
) -> SchemeCodes:
    """Collaborative indexing: recursive spectral clustering of training co-occurrence."""
    codes = collaborative.collaborative_codes(dataset, num_levels, branching, seed, balanced)
    return SchemeCodes(
        "collaborative",
        codes,
        (branching,) * num_levels,
        info={
            "config": {"num_levels": num_levels, "branching": branching, "seed": seed, "balanced": balanced}
        },
    )


def identifiers_from(dataset: records.RecDataset, raw: SchemeCodes) -> tuple[artifact.Identifiers, dict]:
    """Adds the collision level (where the scheme wants one) and computes the statistics."""
    codes, sizes = raw.codes, tuple(raw.level_sizes)
    info = {"scheme": raw.scheme, "dataset": dataset.name, "num_items": dataset.num_items}
    if raw.collision_level:
        codes, size, report = collisions.add_collision_level(codes)
        sizes += (size,)
        info.update(report.as_dict(dataset.num_items))
    else:
        info.update(collisions.CollisionReport(0, 0, 1).as_dict(dataset.num_items))
    ids = artifact.Identifiers(raw.scheme, codes, sizes, dataset.items.source_ids, dataset.name, raw.coder)
    info["level_sizes"] = list(sizes)
    info["levels"] = stats.level_stats(ids.codes, sizes) if raw.scheme != "atomic" else []
    info.update(raw.info)
    return ids, info
