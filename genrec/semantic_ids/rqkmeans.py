"""RQ-KMeans: residual k-means on standardised embeddings, level by level (optionally balanced,
optionally on whitened principal components)."""

from __future__ import annotations

import dataclasses
import logging
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from genrec.semantic_ids import inputs, kmeans


@dataclasses.dataclass(frozen=True)
class RQKMeansConfig:
    num_levels: int = 3
    codebook_size: int = 256
    iters: int = 25
    balanced: bool = False  # cap every code at ceil(N / K) items
    pca_dim: Optional[int] = None  # quantize the top principal components, whitened
    seed: int = 0


@dataclasses.dataclass
class RQKMeansResult:
    codebooks: np.ndarray  # [L, K, d] in the space of `space()`
    standardizer: inputs.Standardizer
    codes: np.ndarray  # int32 [N, L]
    reconstruction_error: float  # mean squared error per dimension, in that space
    projection: Optional[np.ndarray] = None  # [D, pca_dim] principal directions
    whitener: Optional[inputs.Standardizer] = None

    def space(self, embeddings: np.ndarray) -> np.ndarray:
        """Embeddings mapped to the space the codebooks live in."""
        z = self.standardizer(embeddings)
        return z if self.projection is None else self.whitener(z @ self.projection)

    def candidates(self, embeddings: np.ndarray, count: int) -> np.ndarray:
        """int32 [N, count, L]: each row's residual codes, the last level's nearest `count` codes."""
        residual = jnp.asarray(self.space(embeddings))
        codes = []
        for book in jnp.asarray(self.codebooks):
            dist = kmeans.squared_distances(residual, book)
            code = jnp.argmin(dist, axis=-1)
            residual = residual - book[code]
            codes.append(np.asarray(code))
        return inputs.last_level_candidates(np.stack(codes, 1), np.asarray(dist), count)

    def to_arrays(self) -> dict[str, np.ndarray]:
        out = {"codebooks": self.codebooks, **inputs.standardizer_arrays(self.standardizer)}
        if self.projection is not None:
            out.update(projection=self.projection, **inputs.standardizer_arrays(self.whitener, "white_"))
        return out

    @classmethod
    def from_arrays(cls, arrays) -> "RQKMeansResult":
        books = np.asarray(arrays["codebooks"])
        return cls(
            codebooks=books,
            standardizer=inputs.standardizer_from(arrays),
            codes=np.zeros((0, len(books)), np.int32),
            reconstruction_error=float("nan"),
            projection=np.asarray(arrays["projection"]) if "projection" in arrays else None,
            whitener=inputs.standardizer_from(arrays, "white_"),
        )


def fit(
    embeddings: np.ndarray, config: RQKMeansConfig = RQKMeansConfig(), progress: bool = True
) -> RQKMeansResult:
    raw = inputs.check_embeddings(embeddings, config.codebook_size)
    standardizer = inputs.Standardizer.fit(raw)
    z = standardizer(raw)
    projection = whitener = None
    if config.pca_dim:
        projection = np.linalg.svd(z, full_matrices=False)[2][: config.pca_dim].T
        whitener = inputs.Standardizer.fit(z @ projection)
        z = whitener(z @ projection)
    residual = jnp.asarray(z)
    books, codes = [], []
    keys = jax.random.split(jax.random.key(config.seed), config.num_levels)
    for l in tqdm.trange(config.num_levels, desc="rq-kmeans", unit="level", disable=not progress):
        centers, a = kmeans.kmeans(
            residual, config.codebook_size, keys[l], iters=config.iters, balanced=config.balanced
        )
        residual = residual - centers[a]
        books.append(np.asarray(centers))
        codes.append(np.asarray(a, np.int32))
        logging.info("rq-kmeans level %d: residual mse %.4f", l, float(jnp.mean(residual**2)))
    return RQKMeansResult(
        codebooks=np.stack(books),
        standardizer=standardizer,
        codes=np.stack(codes, axis=1),
        reconstruction_error=float(jnp.mean(residual**2)),
        projection=projection,
        whitener=whitener,
    )
