"""`--run_mode=build_ids`: dataset → identifier scheme → <workdir>/semantic_ids/.

Writes codes.npy + identifiers.json (the artifact), item_index.json (source id → tokens),
stats.json (per-level usage, perplexity, unique-prefix fraction, collision rate, largest group,
reconstruction error, training curve) and usage_level_<x>.png plots.
"""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Callable, Optional

import gin
import numpy as np

from genrec import datasets
from genrec.datasets import records
from genrec.semantic_ids import schemes, stats

OUT_DIR = "semantic_ids"


def build_identifiers(
    dataset: records.RecDataset,
    scheme: Callable[..., schemes.SchemeCodes],
    out_dir: str,
    cache_dir: Optional[str] = None,
    plots: bool = True,
) -> dict:
    """Runs `scheme` on `dataset` and writes the artifact, stats and plots into out_dir."""
    start = time.time()
    raw = scheme(dataset, cache_dir=cache_dir)
    ids, info = schemes.identifiers_from(dataset, raw)
    info["wall_s"] = round(time.time() - start, 2)
    os.makedirs(out_dir, exist_ok=True)
    ids.save(out_dir)
    with open(os.path.join(out_dir, "item_index.json"), "w") as f:
        json.dump({src: ids.text(i) for i, src in enumerate(dataset.items.source_ids)}, f, indent=0)
    with open(os.path.join(out_dir, "stats.json"), "w") as f:
        json.dump(info, f, indent=1, default=lambda o: o.tolist() if isinstance(o, np.ndarray) else str(o))
    if plots and raw.scheme != "atomic":
        stats.plot_usage(ids.codes, ids.level_sizes, out_dir)
    logging.info(
        "%s identifiers for %d items: level sizes %s, usage %s, %d items needed a "
        "collision code, largest group %d -> %s",
        raw.scheme,
        dataset.num_items,
        ids.level_sizes,
        [round(l["usage"], 4) for l in info["levels"]],
        info["items_needing_collision_code"],
        info["largest_group"],
        out_dir,
    )
    return info


@gin.configurable
def build_ids(
    ctx,
    scheme: Callable[..., schemes.SchemeCodes] = schemes.rqvae_scheme,
    embedding_cache_dir: Optional[str] = None,
    plots: bool = True,
) -> dict:
    """Run mode. The dataset is `genrec.datasets.load` (gin: load_dataset.name = '...').

    Embeddings are cached in `embedding_cache_dir` (default <workdir>/../embeddings).
    """
    dataset = datasets.load(data_dir=ctx.data_dir, raw_data_dir=ctx.raw_data_dir)
    cache_dir = embedding_cache_dir or os.path.join(ctx.workdir, "..", "embeddings")
    return build_identifiers(dataset, scheme, os.path.join(ctx.workdir, OUT_DIR), cache_dir, plots)
