"""A maximum-inner-product index over the parallel-digit model's item vectors, for CPU serving.

For a linear head an item's score is h . e_n minus a constant per user (genrec/evaluate/exact.py),
so the best items are the best inner products with the item vectors e_n: a MIPS index over them
serves in time sublinear in the catalogue, approximately. Built with FAISS (`faiss-cpu`, the `mips`
extra); chosen over ScaNN by measurement (benchmarks/scale/RESULTS.md, "Ranking"). Kinds:
  flat   brute force (exact; the reference)
  ivf    an inverted file: k-means cells of the vectors, `nprobe` cells searched per query
  hnsw   a graph (HNSW), `ef_search` candidates kept per query
  ivf_pq the same cells, scanned as 4-bit product-quantised codes (FAISS fast-scan, one code per
         dimension: 1/8 of the float vectors' bytes), and the best `rerank` x k candidates re-scored
         exactly with the float vectors
Its top-10 recall against exact ranking is measured on users' histories when it is built, printed,
and kept with it. On disk: a folder with `index.faiss` (FAISS's own format: write_index/read_index,
no pickle) and `index.json` (kind, parameters, catalogue size, measured recall).
"""

from __future__ import annotations

import json
import logging
import math
import os
import time
from collections.abc import Sequence

import numpy as np

from genrec.evaluate import exact, item_topk

KINDS = ("flat", "ivf", "hnsw", "ivf_pq")
INDEX_FILE, META_FILE = "index.faiss", "index.json"
RECALL_USERS = 2000  # users whose exact top-10 the recall is measured against


def _faiss():
    try:
        import faiss
    except ImportError as e:  # an optional dependency: pip install -e '.[mips]'
        raise ImportError("the MIPS index needs faiss-cpu: pip install -e '.[mips]'") from e
    return faiss


class MipsIndex:
    """A FAISS inner-product index over item vectors [N, d]; ids are item ids."""

    def __init__(
        self, index, *, kind: str, params: dict, num_items: int, dim: int, recall: dict | None = None
    ):
        self.index, self.kind, self.params = index, kind, dict(params)
        self.num_items, self.dim, self.recall = num_items, dim, recall
        self._apply_search_params()

    def _apply_search_params(self):
        if self.kind in ("ivf", "ivf_pq"):
            _faiss().extract_index_ivf(self.index).nprobe = int(self.params["nprobe"])
        if self.kind == "ivf_pq":
            self.index.k_factor = float(self.params["rerank"])
        elif self.kind == "hnsw":
            self.index.hnsw.efSearch = int(self.params["ef_search"])

    def set_search_params(self, **params) -> None:
        """Changes search-time settings (nprobe, ef_search, rerank) of the built index."""
        self.params.update(params)
        self._apply_search_params()

    def _rows(self, x: np.ndarray, what: str) -> np.ndarray:
        """x as the contiguous float32 [B, dim] rows FAISS takes; any other shape is refused."""
        x = np.ascontiguousarray(x, np.float32)
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"{what} of shape {x.shape}; this index holds {self.dim}-d vectors")
        return x

    def add(self, vectors: np.ndarray) -> None:
        """Appends item vectors [B, dim]; they get ids num_items, num_items + 1, ..."""
        vectors = self._rows(vectors, "vectors")
        self.index.add(vectors)
        self.num_items += len(vectors)

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """queries [B, d] → (inner products [B, k] float32, item ids [B, k] int64) best first; -1
        (genrec's NO_ITEM) fills a list the index cannot."""
        scores, ids = self.index.search(self._rows(queries, "queries"), min(k, self.num_items))
        return scores, ids.astype(np.int64)

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "params": self.params,
            "num_items": self.num_items,
            "dim": self.dim,
            "recall": self.recall,
        }

    def save(self, directory: str) -> None:
        """`directory`/index.faiss and index.json (written beside, then renamed)."""
        os.makedirs(directory, exist_ok=True)
        faiss = _faiss()
        faiss.write_index(self.index, os.path.join(directory, INDEX_FILE + ".tmp"))
        os.replace(os.path.join(directory, INDEX_FILE + ".tmp"), os.path.join(directory, INDEX_FILE))
        with open(os.path.join(directory, META_FILE + ".tmp"), "w") as f:
            json.dump(self.describe(), f, indent=1)
        os.replace(os.path.join(directory, META_FILE + ".tmp"), os.path.join(directory, META_FILE))

    @classmethod
    def load(cls, directory: str) -> MipsIndex:
        """The index `save` wrote; its size and dimension are checked against index.json."""
        meta_path, index_path = os.path.join(directory, META_FILE), os.path.join(directory, INDEX_FILE)
        for path in (meta_path, index_path):
            if not os.path.isfile(path):
                raise FileNotFoundError(
                    f"{path}: missing (a MIPS index folder holds {INDEX_FILE} and {META_FILE})"
                )
        with open(meta_path) as f:
            meta = json.load(f)
        missing = [key for key in ("kind", "params", "num_items", "dim") if key not in meta]
        if missing or meta["kind"] not in KINDS:
            raise ValueError(
                f"{meta_path}: needs kind (one of {KINDS}), params, num_items and dim; "
                f"missing {missing or 'nothing'}, kind {meta.get('kind')!r}"
            )
        index = _faiss().read_index(index_path)
        if index.ntotal != meta["num_items"] or index.d != meta["dim"]:
            raise ValueError(
                f"{index_path}: {index.ntotal} vectors of dimension {index.d}, but {meta_path} "
                f"says {meta['num_items']} of {meta['dim']}"
            )
        return cls(
            index,
            kind=meta["kind"],
            params=meta["params"],
            num_items=meta["num_items"],
            dim=meta["dim"],
            recall=meta.get("recall"),
        )


def default_params(kind: str, num_items: int) -> dict:
    """Parameters chosen on the catalogues of benchmarks/scale/rank_index.py (ivf_pq: on the trained
    synthetic-1m bundle, rank_index_1m_trained_pq.json)."""
    if kind in ("ivf", "ivf_pq"):
        nlist = max(1, min(num_items // 39, int(4 * math.sqrt(num_items))))
        if kind == "ivf_pq":
            return {"nlist": nlist, "nprobe": max(1, nlist // 32), "rerank": 4}
        return {"nlist": nlist, "nprobe": max(1, nlist // 16)}
    if kind == "hnsw":
        return {"m": 32, "ef_construction": 80, "ef_search": 128}
    return {}


def build(vectors: np.ndarray, *, kind: str = "hnsw", seed: int = 0, **params) -> MipsIndex:
    """An index of `kind` over vectors [N, d] (row n = item n); `params` override `default_params`."""
    if kind not in KINDS:
        raise ValueError(f"MIPS index kind {kind!r}; expected one of {KINDS}")
    faiss = _faiss()
    vectors = np.ascontiguousarray(vectors, np.float32)
    n, d = vectors.shape
    params = {**default_params(kind, n), **params}
    if kind == "flat":
        index = faiss.IndexFlatIP(d)
    elif kind in ("ivf", "ivf_pq"):
        cells = int(params["nlist"])
        if kind == "ivf":
            index = faiss.IndexIVFFlat(faiss.IndexFlatIP(d), d, cells, faiss.METRIC_INNER_PRODUCT)
        else:
            index = faiss.index_factory(d, f"IVF{cells},PQ{d}x4fs,RFlat", faiss.METRIC_INNER_PRODUCT)
        ivf = faiss.extract_index_ivf(index)
        ivf.cp.seed = seed
        sample = np.random.default_rng(seed).permutation(n)[: min(n, 64 * cells)]
        index.train(vectors[sample])
    else:
        index = faiss.IndexHNSWFlat(d, int(params["m"]), faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = int(params["ef_construction"])
    index.add(vectors)
    return MipsIndex(index, kind=kind, params=params, num_items=n, dim=d)


def recall_at_k(index: MipsIndex, queries: np.ndarray, exact_ids: np.ndarray, k: int = 10) -> float:
    """Mean share of each query's exact top-k ([B, k] ids) that the index's top-k holds."""
    _, found = index.search(queries, k)
    return item_topk.recall(found, np.asarray(exact_ids)[:, :k])


def build_index(
    ranker: exact.Ranker,
    histories: Sequence[Sequence[int]],
    *,
    kind: str = "hnsw",
    k: int = 10,
    users: int = RECALL_USERS,
    batch_size: int = exact.SERVE_BATCH,
    seed: int = 0,
    **params,
) -> MipsIndex:
    """The index over `ranker`'s item vectors, its top-k recall against the ranker's exact top-k
    measured on (up to `users` of) `histories` (history kept: recall of the inner-product search
    itself), printed and kept in `index.recall`."""
    if not ranker.vectors:
        raise ValueError("a MIPS index needs a linear head's item vectors (exact.Ranker with vectors)")
    start = time.perf_counter()
    index = build(np.asarray(ranker.items)[: ranker.num_items], kind=kind, seed=seed, **params)
    built_s = time.perf_counter() - start
    rng = np.random.default_rng(seed)
    sample = [histories[i] for i in rng.permutation(len(histories))[:users]]
    max_len = ranker.max_len
    kw = dict(max_len=max_len, drop_history=False, batch_size=batch_size)
    exact_ids, _ = exact.serve_top_k(ranker, sample, k, **kw)
    found, _ = exact.serve_top_k(ranker, sample, k, index=index, **kw)
    index.recall = {f"top{k}": item_topk.recall(found, exact_ids), "users": len(sample), "build_s": built_s}
    message = (
        f"MIPS index ({kind} {index.params}, {index.num_items} items): top-{k} recall against exact "
        f"{index.recall[f'top{k}']:.4f} on {len(sample)} users; built in {built_s:.1f} s"
    )
    print(message)
    logging.info(message)
    return index
