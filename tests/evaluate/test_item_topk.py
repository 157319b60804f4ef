"""Chunked, sharded top-k over items (genrec/evaluate/item_topk.py) against the dense ranking, and
the parallel-digit model's matmul path against its digit gather (genrec/evaluate/exact.py)."""

import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genrec.evaluate import exact, item_topk, protocol
from genrec.model import parallel_ids
from genrec.runtime import partitioning


def _integer_problem(num_users=6, num_items=53, dim=4, seed=0):
    """Integer-valued queries and items: float32 scores are exact, with many ties."""
    rng = np.random.default_rng(seed)
    h = rng.integers(-2, 3, (num_users, dim)).astype(np.float32)
    offset = rng.integers(0, 3, num_users).astype(np.float32)
    vectors = rng.integers(-1, 2, (num_items, dim)).astype(np.float32)
    histories = [rng.choice(num_items, size=rng.integers(0, 6), replace=False) for _ in range(num_users)]
    targets = rng.integers(0, num_items, num_users)
    targets[0] = histories[1][0] if len(histories[1]) else targets[0]
    histories[0] = np.append(histories[0], targets[0])  # one target excluded: a miss (rank N)
    return (jnp.asarray(h), jnp.asarray(offset)), jnp.asarray(vectors), histories, targets


def _meshes():
    devices = jax.devices()
    return [
        None,
        partitioning.make_mesh(data=8, devices=devices[:8]),
        partitioning.make_mesh(data=4, fsdp=2, devices=devices[:8]),
    ]


@pytest.mark.parametrize("mesh_index", [0, 1, 2])
@pytest.mark.parametrize("chunk", [5, 64])
def test_sweep_equals_dense_top_k_and_ranks_ties_included(mesh_index, chunk):
    query, vectors, histories, targets = _integer_problem()
    history = jnp.asarray(protocol.padded_histories(histories))
    dense = protocol.exclude_history(item_topk.vector_scores(query, vectors), history)
    dense_scores, dense_ids = jax.lax.top_k(dense, 12)
    dense_ranks = protocol.pessimistic_ranks(dense, dense[jnp.arange(len(targets)), targets])
    assert len(np.unique(np.asarray(dense_scores))) < dense_scores.size  # the problem has ties
    mesh = _meshes()[mesh_index]
    kw = dict(num_items=vectors.shape[0], k=12, chunk=chunk, history=history, mesh=mesh)
    scores, ids, _, _ = item_topk.sweep(item_topk.vector_scores, query, vectors, **kw)
    np.testing.assert_array_equal(ids, dense_ids)
    np.testing.assert_array_equal(scores, dense_scores)
    ranked, ranks = item_topk.ranks(item_topk.vector_scores, query, vectors, jnp.asarray(targets), **kw)
    np.testing.assert_array_equal(ranked, dense_ids)
    np.testing.assert_array_equal(ranks, dense_ranks)
    assert int(ranks[0]) == vectors.shape[0]  # the excluded target


def test_placed_items_are_split_over_the_mesh():
    mesh = _meshes()[1]
    _, vectors, _, _ = _integer_problem(num_items=53)
    placed = item_topk.place_items(vectors, num_items=53, chunk=4, mesh=mesh)
    assert placed.shape[0] % (8 * 4) == 0 and placed.shape[0] >= 53
    assert {s.data.shape[0] for s in placed.addressable_shards} == {placed.shape[0] // 8}


def _model(head="tied", digit_blocks=False, num_items=300, seed=0):
    levels = (16, 16, 16, 4)
    config = helpers.tiny_parallel_ids_config(
        levels,
        num_items,
        d_model=32,
        head_dim=16,
        mlp_dim=64,
        head=head,
        digit_blocks=digit_blocks,
        max_len=10,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=64,
    )
    model = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(seed))
    rng = np.random.default_rng(seed)
    codes = np.stack([rng.integers(0, s, num_items) for s in levels], 1).astype(np.int32)
    tokens = np.zeros((5, 8), np.int32)
    for row in range(5):
        n = row + 2
        tokens[row, -n:] = rng.integers(1, num_items + 1, n)
    return model, codes, tokens


@pytest.mark.parametrize("head", ["tied", "untied"])
def test_matmul_scores_equal_the_digit_gather_for_linear_heads(head):
    model, codes, tokens = _model(head)
    gathered = exact.scorer(model, codes)(jnp.asarray(tokens))  # [B, N] by the digit gather
    query = exact.queries(model, exact.input_table(model, codes), jnp.asarray(tokens), vectors=True)
    by_matmul = item_topk.vector_scores(query, exact.item_vectors(model, codes))
    np.testing.assert_allclose(by_matmul, gathered, rtol=1e-5, atol=1e-4)
    ranker = exact.Ranker(model, codes, chunk=64)
    assert ranker.vectors
    history = protocol.padded_histories([[1, 2], [], [3], [4, 5, 6], [7]])
    scores, ids = ranker.top_k(tokens, history, 10)
    dense_scores, dense_ids = jax.lax.top_k(protocol.exclude_history(gathered, jnp.asarray(history)), 10)
    np.testing.assert_array_equal(ids, dense_ids)  # random float scores: no near-ties at this size
    np.testing.assert_allclose(scores, dense_scores, rtol=1e-5, atol=1e-4)


def test_the_lowered_ranking_program_counts_the_item_matmul_beyond_the_queries():
    """Ranker.lowered (benchmarks read XLA's cost analysis from it): top_k's program does the queries'
    work plus at least the [B, d] x [d, N] item matmul, and its memory analysis is available. One chunk
    holds the catalogue: XLA counts a loop body once, so a multi-chunk sweep shows one chunk's work."""
    model, codes, tokens = _model("tied")
    ranker = exact.Ranker(model, codes, chunk=512)

    def cost(compiled):
        analysis = compiled.cost_analysis()
        return (analysis[0] if isinstance(analysis, list) else analysis)["flops"]

    queries, top_k = ranker.lowered(tokens).compile(), ranker.lowered(tokens, None, 10).compile()
    batch, d = tokens.shape[0], model.config.block.d_model
    assert cost(top_k) - cost(queries) >= 2 * batch * d * len(codes)
    assert top_k.memory_analysis().argument_size_in_bytes > 0


def test_an_item_bonus_adds_to_exactly_its_items_scores_in_top_k_and_ranks():
    """exact.Ranker(item_bonus=): the unseen-item prior is the dense digit-gather score plus the bonus
    of each item (a last coordinate of e_n met by a 1 in h), in top-k and in the targets' ranks."""
    model, codes, tokens = _model("tied")
    trained = np.ones(len(codes), bool)
    trained[::7] = False  # every seventh item never trained on
    bonus = exact.item_bonus(trained, 3.0)
    assert exact.item_bonus(trained, 0.0) is None and bonus[0] == 3.0 and bonus[1] == 0.0
    dense = exact.scorer(model, codes)(jnp.asarray(tokens)) + bonus[None]
    ranker = exact.Ranker(model, codes, chunk=64, item_bonus=bonus)
    history = protocol.padded_histories([[1, 2], [], [3], [4, 5, 6], [7]])
    scores, ids = ranker.top_k(tokens, history, 10)
    dense_scores, dense_ids = jax.lax.top_k(protocol.exclude_history(dense, jnp.asarray(history)), 10)
    np.testing.assert_array_equal(ids, dense_ids)
    np.testing.assert_allclose(scores, dense_scores, rtol=1e-5, atol=1e-4)
    assert (np.asarray(ids) % 7 == 0).mean() > (
        np.asarray(exact.Ranker(model, codes).top_k(tokens, history, 10)[1]) % 7 == 0
    ).mean()
    targets = np.array([0, 7, 8, 14, 20], np.int32)
    _, ranks = ranker.rank(tokens, history, targets, 10)
    excluded = protocol.exclude_history(dense, jnp.asarray(history))
    np.testing.assert_array_equal(
        ranks, protocol.pessimistic_ranks(excluded, excluded[jnp.arange(5), targets])
    )
    gather_only = helpers.tiny_parallel_ids_config((4, 4), 10, head="cosine")
    with pytest.raises(ValueError, match="linear head"):
        exact.Ranker(
            parallel_ids.ParallelIdDecoder(gather_only, rngs=nnx.Rngs(0)),
            codes[:10, :2],
            item_bonus=bonus[:10],
        )


@pytest.mark.parametrize("head,digit_blocks", [("cosine", False), ("tied", True)])
def test_nonlinear_heads_rank_by_the_gather(head, digit_blocks):
    model, codes, tokens = _model(head, digit_blocks)
    assert not exact.linear_head(model.config)
    with pytest.raises(ValueError, match="linear head"):
        exact.item_vectors(model, codes)
    ranker = exact.Ranker(model, codes, chunk=64)
    assert not ranker.vectors
    gathered = exact.scorer(model, codes)(jnp.asarray(tokens))
    scores, ids = ranker.top_k(tokens, None, 10)
    dense_scores, dense_ids = jax.lax.top_k(gathered, 10)
    np.testing.assert_array_equal(ids, dense_ids)
    np.testing.assert_allclose(scores, dense_scores, rtol=1e-6)


def test_approx_max_k_recall_against_exact():
    model, codes, tokens = _model(num_items=300)
    ranker = exact.Ranker(model, codes, chunk=300)
    _, exact_ids = ranker.top_k(tokens, None, 10)
    _, approx_ids = ranker.top_k(tokens, None, 10, approx=0.9)
    assert item_topk.recall(approx_ids, exact_ids) >= 0.9
    assert item_topk.recall(exact_ids[:, :5], exact_ids) == 0.5  # recall itself: half of each row found
