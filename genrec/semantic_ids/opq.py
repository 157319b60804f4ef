"""OPQ: product quantisation with a learned rotation (Ge et al., "Optimized Product Quantization",
the non-parametric alternating version), for long semantic IDs such as RPG's 32 digits x 256 codes.

An item's embedding x (standardised, zero-padded to a multiple of `num_digits`) is rotated, z = x R,
and cut into `num_digits` equal sub-vectors; digit m is the nearest of `codebook_size` centroids of
subspace m. Fitting alternates (a) k-means in every subspace of the rotated data, warm-started from
the previous codebooks, and (b) the orthogonal Procrustes update R = U V^T from the SVD of X^T Y,
Y the reconstruction in the rotated space. Neither step can increase the distortion, so `history`
never rises (up to float32 rounding).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from typing import Optional

import jax
import jax.numpy as jnp
import numpy as np
import tqdm

from genrec.semantic_ids import inputs, kmeans


@dataclasses.dataclass(frozen=True)
class OPQConfig:
    num_digits: int = 32
    codebook_size: int = 256
    iters: int = 20  # outer alternations (k-means, then the rotation update)
    kmeans_iters: int = 10  # Lloyd steps per subspace per alternation
    standardize: bool = True  # per-dimension zero mean / unit variance (fitted on the fit rows)
    seed: int = 0


@dataclasses.dataclass
class OPQResult:
    codes: np.ndarray  # int32 [N, num_digits]
    rotation: np.ndarray  # [Dp, Dp] orthogonal; Dp = D rounded up to a multiple of num_digits
    codebooks: np.ndarray  # [num_digits, codebook_size, Dp / num_digits], in the rotated space
    reconstruction_error: float  # squared error per row / D over all rows, in the standardised space
    history: list  # the same on the fit rows, after each alternation's k-means
    standardizer: Optional[inputs.Standardizer] = None
    pad: int = 0  # zero columns appended to the (standardised) embeddings

    def space(self, embeddings: np.ndarray) -> np.ndarray:
        """Embeddings mapped to the rotated space the codebooks live in."""
        return _prepare(embeddings, self.standardizer, self.pad) @ self.rotation

    def encode(self, embeddings: np.ndarray) -> np.ndarray:
        """int32 [N, num_digits]: the nearest centroid of every subspace."""
        return _encode(self.space(embeddings), self.codebooks)

    def reconstruct(self, codes: np.ndarray) -> np.ndarray:
        """[N, Dp] rotated-space reconstruction of code tuples."""
        return np.concatenate([book[c] for book, c in zip(self.codebooks, codes.T)], axis=1)

    def candidates(self, embeddings: np.ndarray, count: int) -> np.ndarray:
        """int32 [N, count, num_digits]: each row's code tuple, then the `count - 1` tuples one digit
        away whose distortion grows least (a new item's fallbacks when its tuple is taken)."""
        z = self.space(embeddings)
        parts = z.reshape(len(z), len(self.codebooks), -1)  # [N, m, d]
        books = np.asarray(self.codebooks, np.float32)  # [m, K, d]
        dist = (
            (parts * parts).sum(-1)[..., None]
            - 2.0 * np.einsum("nmd,mkd->nmk", parts, books)
            + (books * books).sum(-1)[None]
        )  # [N, m, K], as kmeans.squared_distances per subspace
        return inputs.one_digit_candidates(dist, count)

    def to_arrays(self) -> dict[str, np.ndarray]:
        """The frozen quantiser (what `encode` needs), as plain arrays."""
        return {
            "rotation": self.rotation,
            "codebooks": self.codebooks,
            "pad": np.int32(self.pad),
            **inputs.standardizer_arrays(self.standardizer),
        }

    @classmethod
    def from_arrays(cls, arrays) -> "OPQResult":
        books = np.asarray(arrays["codebooks"])
        return cls(
            codes=np.zeros((0, len(books)), np.int32),
            rotation=np.asarray(arrays["rotation"]),
            codebooks=books,
            reconstruction_error=float("nan"),
            history=[],
            standardizer=inputs.standardizer_from(arrays),
            pad=int(arrays["pad"]),
        )


def _prepare(x: np.ndarray, standardizer: Optional[inputs.Standardizer], pad: int) -> np.ndarray:
    x = standardizer(x) if standardizer is not None else np.asarray(x, np.float32)
    return np.pad(x, ((0, 0), (0, pad)))


def _split(z: jax.Array, m: int) -> jax.Array:
    """[N, Dp] → [m, N, Dp / m]: the sub-vectors of every subspace."""
    return z.reshape(z.shape[0], m, -1).transpose(1, 0, 2)


def _merge(parts: jax.Array) -> jax.Array:
    """Inverse of `_split`."""
    return parts.transpose(1, 0, 2).reshape(parts.shape[1], -1)


@jax.jit
def _assign_all(parts: jax.Array, books: jax.Array) -> jax.Array:
    """[m, N] nearest-centroid index per subspace (parts [m, N, d], books [m, K, d])."""
    return jax.lax.map(lambda pb: kmeans.assign(*pb), (parts, books))


def _encode(z: np.ndarray, books: np.ndarray) -> np.ndarray:
    """int32 [N, m]: the nearest centroid of every subspace of rotated rows z [N, Dp]."""
    return np.asarray(_assign_all(_split(jnp.asarray(z), len(books)), jnp.asarray(books)), np.int32).T


def _lloyd(x: jax.Array, centers: jax.Array, iters: int) -> tuple[jax.Array, jax.Array]:
    """`iters` Lloyd steps on one subspace from `centers`, then the nearest-centroid assignment.

    Warm-started, so the distortion never exceeds that of `centers`; an empty centroid stays put.
    """
    k = centers.shape[0]

    def step(c, _):
        a = kmeans.assign(x, c)
        sums = jax.ops.segment_sum(x, a, num_segments=k)
        counts = jax.ops.segment_sum(jnp.ones(x.shape[0], x.dtype), a, num_segments=k)
        return jnp.where(counts[:, None] > 0, sums / jnp.maximum(counts, 1)[:, None], c), None

    centers, _ = jax.lax.scan(step, centers, None, length=iters)
    return centers, kmeans.assign(x, centers)


@functools.partial(jax.jit, static_argnames=("k",))
def _seed(parts: jax.Array, k: int, key: jax.Array) -> jax.Array:
    """k-means++ codebooks [m, k, d], one per subspace."""
    keys = jax.random.split(key, parts.shape[0])
    return jax.vmap(lambda x, kk: kmeans.kmeans_plus_plus(x, k, kk))(parts, keys)


@functools.partial(jax.jit, static_argnames=("iters",))
def _quantize(z: jax.Array, books: jax.Array, iters: int):
    """k-means in every subspace of z [N, Dp]; returns (codebooks, codes [m, N], reconstruction
    [N, Dp], summed squared error). Subspaces run one after another (`lax.map`): on CPU that is
    3x faster than vmap, whose [m, N, K] distance tensors do not stay in cache."""
    books, codes = jax.lax.map(lambda xc: _lloyd(*xc, iters), (_split(z, books.shape[0]), books))
    recon = _merge(jax.vmap(lambda c, a: c[a])(books, codes))
    return books, codes, recon, jnp.sum((z - recon) ** 2)


def polar(cross: np.ndarray) -> np.ndarray:
    """U V^T from the SVD U S V^T of `cross` (in float64): the orthogonal factor of its polar
    decomposition, i.e. the orthogonal R maximising trace(R^T cross)."""
    u, _, vt = np.linalg.svd(np.asarray(cross, np.float64))
    return u @ vt


def procrustes(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """The orthogonal R minimising ||x R - y||_F = ||x||^2 + ||y||^2 - 2 trace(R^T x^T y)."""
    return polar(np.asarray(x, np.float64).T @ np.asarray(y, np.float64))


def fit(
    embeddings: np.ndarray,
    config: OPQConfig = OPQConfig(),
    fit_rows: Optional[np.ndarray] = None,
    progress: bool = True,
) -> OPQResult:
    """Fits the rotation and codebooks on `fit_rows` (default: all rows; pass the training items),
    then encodes every row.

    When D is not a multiple of `num_digits`, zero columns are appended to the standardised
    embeddings (the rotation may mix them in), so `rotation` is [Dp, Dp] with Dp the next multiple.
    The rotation starts at the identity: the first alternation's k-means is plain PQ.
    """
    if config.iters < 1:
        raise ValueError(f"OPQConfig.iters must be at least 1, got {config.iters}")
    raw = inputs.check_embeddings(embeddings, 1)
    rows = np.arange(len(raw)) if fit_rows is None else np.unique(np.asarray(fit_rows, np.int64))
    if rows.size and (rows[0] < 0 or rows[-1] >= len(raw)):
        raise ValueError(f"fit_rows must index the {len(raw)} embedding rows")
    inputs.check_embeddings(raw[rows], config.codebook_size, what="OPQ fit rows")
    m, k = config.num_digits, config.codebook_size
    standardizer = inputs.Standardizer.fit(raw[rows]) if config.standardize else None
    pad = -raw.shape[1] % m
    x = _prepare(raw, standardizer, pad)
    xf = jnp.asarray(x[rows])
    scale = 1.0 / (len(rows) * raw.shape[1])  # per-dimension MSE of the unpadded embedding
    rotation = np.eye(x.shape[1], dtype=np.float32)
    books = _seed(_split(xf, m), k, jax.random.key(config.seed))
    history = []
    for it in tqdm.trange(config.iters, desc="opq", unit="iter", disable=not progress):
        books, _, recon, err = _quantize(xf @ rotation, books, config.kmeans_iters)
        history.append(float(err) * scale)
        logging.info("opq alternation %d: distortion %.5f", it, history[-1])
        if it + 1 < config.iters:  # the last k-means is fitted to the rotation it returns
            # Procrustes; x^T y in float32 on device (N x Dp x Dp), the SVD in float64.
            rotation = polar(np.asarray(xf.T @ recon)).astype(np.float32)
    result = OPQResult(
        codes=np.zeros((len(raw), m), np.int32),
        rotation=rotation,
        codebooks=np.asarray(books),
        reconstruction_error=0.0,
        history=history,
        standardizer=standardizer,
        pad=pad,
    )
    z = x @ rotation
    result.codes = _encode(z, result.codebooks)  # every row, fit or not
    err = np.sum((z - result.reconstruct(result.codes)) ** 2)
    result.reconstruction_error = float(err / (len(raw) * raw.shape[1]))
    return result
