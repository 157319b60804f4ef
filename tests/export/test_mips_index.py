"""The MIPS index over item vectors (genrec/export/mips_index.py): recall against brute force, the
save/load round trip, and ExactRecommender serving through it."""

import json
import os

import helpers
import numpy as np
import pytest
from flax import nnx

from genrec.evaluate import exact
from genrec.export import mips_index
from genrec.export.recommender import ExactRecommender
from genrec.model import parallel_ids


def _vectors(n=3000, d=16, users=64, seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)).astype(np.float32), rng.normal(size=(users, d)).astype(np.float32)


def _brute_force(vectors, queries, k=10):
    scores = queries @ vectors.T
    return np.argsort(-scores, axis=1, kind="stable")[:, :k]


@pytest.mark.parametrize("kind,least", [("flat", 1.0), ("ivf", 0.3), ("hnsw", 0.8), ("ivf_pq", 0.3)])
def test_recall_against_brute_force(kind, least):
    vectors, queries = _vectors()
    exact_ids = _brute_force(vectors, queries)
    index = mips_index.build(vectors, kind=kind)
    recall = mips_index.recall_at_k(index, queries, exact_ids)
    _, found = index.search(queries, 10)
    by_hand = np.mean([len(set(f) & set(e)) / 10 for f, e in zip(found, exact_ids, strict=True)])
    assert recall == pytest.approx(by_hand) and recall >= least
    if kind == "ivf":  # more cells searched: recall does not fall, and all cells is brute force
        wider = mips_index.build(vectors, kind="ivf", nprobe=index.params["nlist"])
        assert mips_index.recall_at_k(wider, queries, exact_ids) == 1.0 >= recall


def test_ivf_pq_searching_everything_is_brute_force():
    """Every cell searched and every item re-scored: the quantised index is brute force, with exact
    scores (an odd width: one code per dimension)."""
    vectors, queries = _vectors(n=2000, d=17)
    exact_ids = _brute_force(vectors, queries)
    index = mips_index.build(vectors, kind="ivf_pq")
    narrow = mips_index.recall_at_k(index, queries, exact_ids)
    index.set_search_params(nprobe=index.params["nlist"], rerank=len(vectors) / 10)
    scores, found = index.search(queries, 10)
    np.testing.assert_array_equal(found, exact_ids)
    np.testing.assert_allclose(scores, np.take_along_axis(queries @ vectors.T, found, 1), rtol=1e-5)
    assert narrow < 1.0
    with pytest.raises(ValueError, match="17-d"):
        index.search(queries[:, :16], 10)


@pytest.mark.parametrize("kind", ["ivf", "ivf_pq"])
def test_added_vectors_get_the_next_ids(kind):
    vectors, queries = _vectors(n=2000, d=17)
    index = mips_index.build(vectors[:1500], kind=kind, nprobe=1000)
    index.add(vectors[1500:])
    if kind == "ivf_pq":
        index.set_search_params(rerank=200)
    assert index.num_items == 2000 == index.index.ntotal
    with pytest.raises(ValueError, match=r"vectors of shape \(3, 16\); this index holds 17-d"):
        index.add(vectors[:3, :16])
    assert index.num_items == 2000 == index.index.ntotal  # nothing added
    assert mips_index.recall_at_k(index, queries, _brute_force(vectors, queries)) == 1.0


@pytest.mark.parametrize("kind", ["ivf", "hnsw", "ivf_pq"])
def test_save_load_round_trip(kind, tmp_path):
    vectors, queries = _vectors()
    index = mips_index.build(vectors, kind=kind, **({"nprobe": 3} if kind.startswith("ivf") else {}))
    index.recall = {"top10": 0.5}
    index.save(str(tmp_path / "index"))
    assert sorted(os.listdir(tmp_path / "index")) == ["index.faiss", "index.json"]
    loaded = mips_index.MipsIndex.load(str(tmp_path / "index"))
    assert loaded.describe() == index.describe()
    for a, b in zip(index.search(queries, 10), loaded.search(queries, 10), strict=True):
        np.testing.assert_array_equal(a, b)
    meta = json.loads((tmp_path / "index" / "index.json").read_text())
    meta["num_items"] = 7
    (tmp_path / "index" / "index.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match="3000 vectors"):
        mips_index.MipsIndex.load(str(tmp_path / "index"))
    with pytest.raises(FileNotFoundError, match="index.faiss"):
        mips_index.MipsIndex.load(str(tmp_path))


def _ranker(num_items=400, seed=0):
    levels = (16, 16, 4)
    config = helpers.tiny_parallel_ids_config(
        levels, num_items, relative_attention_num_buckets=32, relative_attention_max_distance=64
    )
    rng = np.random.default_rng(seed)
    codes = np.stack([rng.integers(0, s, num_items) for s in levels], 1).astype(np.int32)
    model = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(seed))
    histories = [list(rng.choice(num_items, size=rng.integers(1, 7), replace=False)) for _ in range(40)]
    return model, codes, exact.Ranker(model, codes, chunk=128), histories


def test_build_index_measures_recall_against_exact_and_prints_it(capsys):
    model, codes, ranker, histories = _ranker()
    index = mips_index.build_index(ranker, histories, kind="hnsw", batch_size=40)  # h as below
    assert "top-10 recall against exact" in capsys.readouterr().out
    # the same recall by brute force: per-digit log-probabilities summed over each item's digits
    from genrec.evaluate import sequences

    tokens = sequences.left_pad([np.asarray(h) for h in histories], 8)
    scores = np.asarray(exact.scorer(model, codes)(tokens))
    brute = np.argsort(-scores, axis=1, kind="stable")[:, :10]
    h, _ = exact.queries(model, exact.input_table(model, codes), tokens, vectors=True)
    assert index.recall["top10"] == pytest.approx(mips_index.recall_at_k(index, np.asarray(h), brute))
    assert index.recall["users"] == len(histories)


def test_exact_recommender_serves_through_the_index():
    model, codes, ranker, histories = _ranker()
    ids = [f"i{n}" for n in range(len(codes))]
    plain = ExactRecommender(ranker, max_len=8, source_ids=ids, titles=ids)
    dense = ExactRecommender(exact.scorer(model, codes), max_len=8, source_ids=ids, titles=ids)
    flat = ExactRecommender(
        ranker,
        max_len=8,
        source_ids=ids,
        titles=ids,
        index=mips_index.build_index(ranker, histories, kind="flat"),
    )
    by_ranker = plain.recommend_batch(histories, 10, batch_size=16)
    for other in (dense.recommend_batch(histories, 10, batch_size=8), flat.recommend_batch(histories, 10)):
        # the same lists up to near-ties (a random model scores items within 1e-6 of each other)
        for a, b in zip(other, by_ranker, strict=True):
            np.testing.assert_allclose([r.score for r in a], [r.score for r in b], rtol=1e-5, atol=1e-5)
        overlap = np.mean(
            [
                len({r.item for r in a} & {r.item for r in b}) / 10
                for a, b in zip(other, by_ranker, strict=True)
            ]
        )
        assert overlap >= 0.95
    for recs, history in zip(by_ranker, histories, strict=True):
        assert len(recs) == 10 and not {r.item for r in recs} & set(history)  # history dropped
    kept = flat.recommend_batch(histories, 10, drop_history=False)
    kept_exact = plain.recommend_batch(histories, 10, drop_history=False)
    assert (
        np.mean(
            [
                len({r.item for r in a} & {r.item for r in b}) / 10
                for a, b in zip(kept, kept_exact, strict=True)
            ]
        )
        >= 0.95
    )
    # history kept: some of it comes back
    assert any({r.item for r in a} & set(h) for a, h in zip(kept, histories, strict=True))
    with pytest.raises(ValueError, match="MIPS index needs"):
        ExactRecommender(exact.scorer(model, codes), max_len=8, source_ids=ids, titles=ids, index=flat.index)
