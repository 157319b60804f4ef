"""Serving the parallel-digit model (`genrec recommend` over its bundle): the ranking forward pass
(left-padded, last position only) equals the training forward pass whatever the padding, and a
bundle's recommendations equal a brute-force ranking of every user alone, history kept or dropped;
and the persistent compilation cache."""

import os

import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genrec.evaluate import exact, sequences
from genrec.export import bundle as bundle_lib
from genrec.export import compilation_cache
from genrec.export import recommender as recommender_lib
from genrec.model import parallel_ids
from genrec.semantic_ids.artifact import Identifiers

LEVELS = (16, 16, 4)
NUM_ITEMS = 300
MAX_LEN = 10


def _model(seed=0):
    config = helpers.tiny_parallel_ids_config(
        LEVELS,
        NUM_ITEMS,
        num_layers=2,  # the last layer computes one position, the first all of them
        max_len=MAX_LEN,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=64,
    )
    model = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(seed))
    model.project.value = model.project.value * 4.0  # sharper logits: no near-ties among the top items
    items = np.arange(NUM_ITEMS)
    codes = np.stack([items % 16, (items // 16) % 16, items // 256], 1).astype(np.int32)
    return model, codes


def _histories(seed=0):
    """Short and long ones (past max_len), one with a repeated item."""
    rng = np.random.default_rng(seed)
    lengths = [1, 2, 3, 4, 4, 5, 7, 8, 9, 10, 11, 13, 17, 25, 3, 6]
    out = [[int(i) for i in rng.choice(NUM_ITEMS, size=n, replace=False)] for n in lengths]
    out[5][2] = out[5][0]
    return out


def _left_padded(histories, window):
    return jnp.asarray(sequences.left_pad([np.asarray(h[-MAX_LEN:]) for h in histories], window))


def test_ranking_forward_equals_training_forward_whatever_the_padding():
    model, codes = _model()
    histories = _histories()
    # the training forward pass (`hidden`) over [begin-of-sequence, items, padding], at the last item
    want = nnx.jit(exact.last_hidden)(
        model, parallel_ids.token_code_table(codes), _left_padded(histories, MAX_LEN)
    )
    forward = nnx.jit(exact.history_hidden)
    inputs = exact.input_table(model, codes)
    got = [forward(model, inputs, _left_padded(histories, w)) for w in (MAX_LEN, 16, 37)]
    for h in got:
        np.testing.assert_allclose(h, want, rtol=1e-5, atol=1e-5)
    for h in got[1:]:  # more padding: the same state (padding is masked, positions are distances)
        np.testing.assert_allclose(h, got[0], rtol=1e-6, atol=1e-6)


def _brute_force(model, codes, histories, drop: bool, k: int):
    """Every item's digit-sum log-probability (the dense digit gather after the training forward pass,
    exact.scorer); history at -inf when dropped; the top k, equal scores lower id first."""
    scores = np.asarray(exact.scorer(model, codes)(_left_padded(histories, MAX_LEN)), np.float64)
    if drop:
        for row, history in zip(scores, histories, strict=True):
            row[np.asarray(history)] = -np.inf
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return top, np.take_along_axis(scores, top, axis=1)


@pytest.mark.parametrize("drop", [True, False])
def test_bundle_recommends_the_brute_force_top_items(tmp_path, drop):
    model, codes = _model()
    ids = [f"item{n}" for n in range(NUM_ITEMS)]
    bundle = bundle_lib.write_bundle(
        str(tmp_path / "bundle"),
        model=model,
        model_config=model.config.to_dict(),
        identifiers=Identifiers("test", codes, LEVELS),
        source_ids=ids,
        titles=[f"title {n}" for n in range(NUM_ITEMS)],
        provenance={},
        model_kind="parallel_ids",
    )
    rec = recommender_lib.load(bundle)
    histories = _histories()
    requests = [[ids[i] for i in h] for h in histories]
    got = rec.recommend_batch(requests, 10, batch_size=4, drop_history=drop)  # 4 calls, several windows
    assert len(got) == len(histories)
    brute_items, brute_scores = _brute_force(model, codes, histories, drop, 10)
    for recs, history, want_items, want_scores in zip(got, histories, brute_items, brute_scores, strict=True):
        assert [r.item for r in recs] == want_items.tolist()
        assert [r.source_id for r in recs] == [ids[i] for i in want_items]
        np.testing.assert_allclose([r.score for r in recs], want_scores, rtol=1e-5, atol=1e-5)
        if drop:
            assert not {r.item for r in recs} & set(history)
    alone = rec.recommend(requests[12], 10, drop_history=drop)  # one user, one call
    assert [r.item for r in alone] == [r.item for r in got[12]]


def test_compilation_cache_holds_what_this_process_compiles(tmp_path, monkeypatch):
    monkeypatch.setenv(compilation_cache.ENV, "")
    assert compilation_cache.enable() is None  # turned off
    folder = str(tmp_path / "jax_cache")
    try:
        assert compilation_cache.enable(folder) == folder
        assert jax.config.jax_compilation_cache_dir == folder
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 0.0)
        jax.jit(lambda x: jnp.cumsum(jnp.sin(x) * 3.0))(jnp.arange(37.0)).block_until_ready()
        assert os.listdir(folder)
    finally:
        jax.config.update("jax_compilation_cache_dir", None)
        jax.config.update("jax_persistent_cache_min_compile_time_secs", 1.0)
        compilation_cache.compilation_cache.reset_cache()
