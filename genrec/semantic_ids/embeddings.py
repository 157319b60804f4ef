"""Item embeddings of a dataset, cached on disk keyed by dataset, encoder and recipe."""

from __future__ import annotations

import hashlib
import logging
import os
import time
from typing import Callable, Optional

import gin
import numpy as np

from genrec.datasets import records
from genrec.semantic_ids import coder, encoders, text


def cache_path(cache_dir: str, dataset: str, encoder_name: str, texts: list[str]) -> str:
    """`<dataset>__<encoder>__<hash of the recipe's texts>.npy`: a new recipe is a new file."""
    digest = hashlib.sha256("\n".join(texts).encode()).hexdigest()[:16]
    safe = lambda s: "".join(c if c.isalnum() or c in "-_." else "_" for c in s)
    return os.path.join(cache_dir, f"{safe(dataset)}__{safe(encoder_name)}__{digest}.npy")


@gin.configurable
def item_embeddings(
    dataset: records.RecDataset,
    cache_dir: Optional[str] = None,
    encoder: Optional[encoders.TextEncoder] = None,
    recipe: Callable[[records.RecDataset], list[str]] = text.metadata_texts,
    with_text_encoder: bool = False,
):
    """float32 [num_items, D]: the encoder's embedding of each item's recipe text. With
    `with_text_encoder`: (that, the encoder frozen as it embedded them, or None where new items could
    not be embedded alike: a recipe other than the item metadata, an encoder that cannot be frozen)."""
    encoder = encoder or encoders.TfidfSvdEncoder()
    texts = recipe(dataset)
    if with_text_encoder:
        frozen = coder.freeze_text_encoder(encoder, texts) if recipe is text.metadata_texts else None
        return item_embeddings(dataset, cache_dir, encoder, recipe), frozen
    path = cache_path(cache_dir, dataset.name, encoder.name, texts) if cache_dir else None
    if path and os.path.exists(path):
        x = np.load(path, allow_pickle=False)
        if x.shape[0] == dataset.num_items:
            logging.info("item embeddings from cache %s %s", path, x.shape)
            return x
        logging.warning("%s holds %d rows for %d items; recomputing", path, x.shape[0], dataset.num_items)
    start = time.time()
    logging.info("embedding %d item texts with %s, e.g. %r", len(texts), encoder.name, texts[0])
    x = np.asarray(encoder.encode(texts), np.float32)
    logging.info("embedded in %.1f s: %s", time.time() - start, x.shape)
    if path:
        os.makedirs(cache_dir, exist_ok=True)
        tmp = path + ".tmp.npy"
        np.save(tmp, x)
        os.replace(tmp, path)
    return x
