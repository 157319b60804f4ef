import dataclasses

import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genrec.model import decoding
from genrec.model.network import EncoderDecoder
from genrec.model.trie import build_trie

ENC = jnp.array([[5, 6, 7, 8, 0, 0], [9, 3, 0, 0, 0, 0], [4, 4, 4, 4, 4, 4]], jnp.int32)
ITEM_TOKENS = range(2, helpers.TINY_T5.vocab_size)  # everything but pad and eos


@pytest.fixture(scope="module")
def model():
    return helpers.tiny_t5_model(seed=1)


def teacher_forced_log_probs(model, enc, sequences):
    """Reference without a cache: log p(sequence | enc) from full forward passes. [B, M] scores."""
    b, m, length = sequences.shape
    dec_in = np.concatenate([np.zeros((b, m, 1), np.int32), sequences[..., :-1]], axis=-1)
    logits = helpers.t5_forward(model, jnp.repeat(enc, m, axis=0), jnp.asarray(dec_in.reshape(b * m, length)))
    log_probs = np.asarray(jax.nn.log_softmax(logits, axis=-1))
    picked = np.take_along_axis(log_probs, sequences.reshape(b * m, length, 1), axis=-1)[..., 0]
    return picked.reshape(b, m, length)


def random_catalogue(rng, num_items, length):
    """Distinct random identifiers; tokens may repeat across levels and are not contiguous."""
    level_tokens = [rng.choice(ITEM_TOKENS, size=rng.integers(2, 8), replace=False) for _ in range(length)]
    codes = set()
    while len(codes) < num_items:
        codes.add(tuple(int(rng.choice(t)) for t in level_tokens))
    return np.array(sorted(codes, key=lambda _: rng.random()), np.int32)


def test_trie_hand_worked():
    trie = build_trie(np.array([[5, 7], [5, 8], [6, 7], [4, 9]]))
    # root 0 → prefixes (4) (5) (6) = nodes 1 2 3; leaves (4,9) (5,7) (5,8) (6,7) = nodes 4..7
    assert trie.child_start.tolist() == [1, 4, 5, 7, 8, 8, 8, 8, 8]
    assert trie.node_token.tolist() == [-1, 4, 5, 6, 9, 7, 8, 7]
    assert trie.node_item.tolist() == [-1, -1, -1, -1, 3, 0, 1, 2]
    assert (trie.depth, trie.width, trie.num_items) == (2, 3, 4)
    children, valid = trie.children(jnp.array([2, 4]))
    assert children[0][valid[0]].tolist() == [5, 6] and not bool(valid[1].any())
    with pytest.raises(ValueError, match="items 0 and 2 share the identifier"):
        build_trie(np.array([[5, 7], [5, 8], [5, 7]]))


def test_beam_search_equals_brute_force_over_all_items(model):
    ids = random_catalogue(np.random.default_rng(0), 24, 3)
    items, scores = decoding.constrained_beam_search(model, ENC, build_trie(ids), beam_size=24, top_k=6)
    all_scores = teacher_forced_log_probs(model, ENC, np.repeat(ids[None], 3, axis=0)).sum(-1)
    expected = np.argsort(-all_scores, axis=1)[:, :6]
    np.testing.assert_array_equal(items, expected)
    np.testing.assert_allclose(scores, np.take_along_axis(all_scores, expected, 1), atol=1e-4)


def test_constrained_decoding_only_returns_catalogue_items():
    """Many random catalogues and models, including one whose output strongly prefers tokens
    outside the catalogue; the trie is padded to one shape so all seeds share a compilation."""
    for seed in range(12):
        rng = np.random.default_rng(seed)
        ids = random_catalogue(rng, int(rng.integers(5, 40)), 3)
        trie = build_trie(ids).padded(num_nodes=1 + 3 * 40, width=8)
        model = helpers.tiny_t5_model(seed=seed)
        if seed % 3 == 0:  # adversarial: huge logits for every token not in the catalogue
            outside = np.setdiff1d(np.arange(helpers.TINY_T5.vocab_size), ids)
            model.output.kernel[...] = model.output.kernel[...].at[:, outside].multiply(100.0)
        enc = jnp.asarray(rng.integers(2, helpers.TINY_T5.vocab_size, size=(3, 6)), jnp.int32)
        items, scores = decoding.constrained_beam_search(model, enc, trie, beam_size=6, top_k=5)
        items, scores = np.asarray(items), np.asarray(scores)
        assert ((items >= 0) & (items < len(ids))).all(), (seed, items)
        assert all(len(set(row)) == 5 for row in items.tolist()), (seed, items)
        assert np.isfinite(scores).all() and (np.diff(scores, axis=1) <= 1e-6).all()
        # Each score is the teacher-forced log-probability of the returned item's identifier.
        reference = teacher_forced_log_probs(model, enc, ids[items]).sum(-1)
        np.testing.assert_allclose(scores, reference, rtol=1e-5, atol=1e-4)


def test_incremental_decoding_matches_full_forward(model):
    """decode_step with the KV cache, fed 2 beams of different sequences, reproduces the
    teacher-forced logits of a full forward pass at every position."""
    enc = ENC[:2]
    seqs = jnp.array(
        [[[0, 11, 12, 13, 14], [0, 15, 16, 17, 18]], [[0, 21, 22, 23, 24], [0, 25, 26, 27, 28]]], jnp.int32
    )
    full = helpers.t5_forward(model, jnp.repeat(enc, 2, axis=0), seqs.reshape(4, 5)).reshape(2, 2, 5, -1)

    @nnx.jit
    def incremental(model):
        cross_kv = model.cross_key_values(model.encode(enc))
        cache = model.init_cache(2, 2, 5)
        steps = []
        for t in range(5):
            logits, cache = model.decode_step(seqs[:, :, t], jnp.int32(t), cache, cross_kv, enc)
            steps.append(logits)
        return jnp.stack(steps, axis=2)

    np.testing.assert_allclose(incremental(model), full, atol=1e-4)


def test_beam_one_equals_greedy_and_greedy_matches_uncached_reference():
    model = helpers.tiny_t5_model(seed=2)
    # Make EOS likely so that sequences terminate at different steps.
    model.output.kernel[...] = model.output.kernel[...].at[:, 1].multiply(3.0)
    greedy_tokens, greedy_scores = decoding.greedy_decode(model, ENC, max_length=6)
    beam_tokens, beam_scores = decoding.beam_search(model, ENC, beam_size=1, max_length=6)
    np.testing.assert_array_equal(beam_tokens[:, 0], greedy_tokens)
    np.testing.assert_allclose(beam_scores[:, 0], greedy_scores, atol=1e-5)
    # Reference: argmax of full forward passes over the growing prefix, no cache.
    # The decoder is causal, so a fixed-length input (one compilation) can grow in place.
    prefix = np.zeros((3, 7), np.int32)
    for t in range(6):
        prefix[:, t + 1] = np.asarray(helpers.t5_forward(model, ENC, jnp.asarray(prefix))[:, t].argmax(-1))
    expected = prefix[:, 1:].copy()
    for row in expected:  # after EOS, padding
        eos = np.flatnonzero(row == 1)
        if eos.size:
            row[eos[0] + 1 :] = 0
    assert (expected == 1).any(), "the test needs at least one EOS"
    np.testing.assert_array_equal(greedy_tokens, expected)


def test_text_beam_search_scores_are_sequence_log_probs(model):
    tokens, scores = decoding.beam_search(model, ENC, beam_size=4, max_length=4)
    tokens, scores = np.asarray(tokens), np.asarray(scores)
    assert tokens.shape == (3, 4, 4) and (np.diff(scores, axis=1) <= 1e-6).all()
    assert len({tuple(t) for t in tokens[0].tolist()}) == 4  # distinct hypotheses
    per_token = teacher_forced_log_probs(model, ENC, tokens)
    after_eos = np.cumsum(tokens == 1, axis=-1) - (tokens == 1) > 0
    np.testing.assert_allclose(np.where(after_eos, 0, per_token).sum(-1), scores, atol=1e-4)


def test_decode_memory_formula_matches_arrays():
    config = dataclasses.replace(helpers.TINY_T5, dtype="bfloat16")
    model = EncoderDecoder(config, rngs=nnx.Rngs(0))
    mem = decoding.decode_memory_bytes(config, encoder_len=6, decode_len=4)
    cache = jax.eval_shape(lambda: model.init_cache(3, 5, 4))
    cache_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(cache))
    assert cache_bytes == mem["kv_cache_per_user_beam"] * 3 * 5
    cross = jax.eval_shape(model.cross_key_values, jax.ShapeDtypeStruct((3, 6, 32), jnp.bfloat16))
    cross_bytes = sum(x.size * x.dtype.itemsize for x in jax.tree.leaves(cross))
    assert cross_bytes + 3 * 6 * 32 * 2 == mem["per_user"] * 3


def test_constrained_search_rejects_bad_arguments(model):
    trie = build_trie(np.array([[5, 7], [5, 8]]))
    with pytest.raises(ValueError, match="top_k"):
        decoding.constrained_beam_search(model, ENC, trie, beam_size=2, top_k=3)
    with pytest.raises(ValueError, match="vocab_size"):
        decoding.constrained_beam_search(model, ENC, build_trie(np.array([[5, 70]])), 2, 1)


def test_constrained_samples_are_items_with_the_models_log_probs_and_its_distribution(model):
    """Every sample is a catalogue item; its token log-probs are the teacher-forced ones; and the
    sample frequencies match the exact trie-renormalised distribution (brute force over items)."""
    rng = np.random.default_rng(3)
    ids = random_catalogue(rng, 12, 3)
    trie = build_trie(ids)
    enc = ENC[:2]
    out = decoding.sample(model, enc, jax.random.key(0), num_samples=4000, trie=trie)
    items, tokens, logp = np.asarray(out.items), np.asarray(out.tokens), np.asarray(out.log_probs)
    assert ((items >= 0) & (items < 12)).all()
    np.testing.assert_array_equal(tokens, ids[items])
    np.testing.assert_allclose(
        logp[:, :50], teacher_forced_log_probs(model, enc, tokens[:, :50]), rtol=1e-4, atol=1e-5
    )

    every = teacher_forced_log_probs(model, enc, np.repeat(ids[None], 2, axis=0))  # [2, 12, 3]
    for b in range(2):
        exact = np.ones(12)
        for depth in range(3):  # p(token | prefix) renormalised over the trie's children of the prefix
            for i in range(12):
                siblings = [j for j in range(12) if (ids[j, :depth] == ids[i, :depth]).all()]
                children = {int(ids[j, depth]): every[b, j, depth] for j in siblings}
                exact[i] *= np.exp(every[b, i, depth]) / np.exp(list(children.values())).sum()
        freq = np.bincount(items[b], minlength=12) / items.shape[1]
        np.testing.assert_allclose(freq, exact, atol=0.03)
        assert abs(exact.sum() - 1) < 1e-5
    with pytest.raises(ValueError, match="temperature"):
        decoding.sample(model, enc, jax.random.key(0), num_samples=2, trie=trie, temperature=0.0)
    with pytest.raises(ValueError, match="length"):
        decoding.sample(model, enc, jax.random.key(0), num_samples=2)


def test_free_samples_follow_the_models_full_distribution_and_report_its_entropy(model):
    """Without a trie every token comes from the full vocabulary: the first token's frequencies
    match the model's softmax, log-probs are the teacher-forced ones, and the entropy is the
    teacher-forced distributions' (float64 reference)."""
    enc = ENC[:1]
    out = decoding.sample(model, enc, jax.random.key(1), num_samples=6000, length=2)
    tokens, logp = np.asarray(out.tokens), np.asarray(out.log_probs)
    assert (np.asarray(out.items) == -1).all() and tokens.shape == (1, 6000, 2)
    np.testing.assert_allclose(
        logp[:, :40], teacher_forced_log_probs(model, enc, tokens[:, :40]), rtol=1e-4, atol=1e-5
    )
    first = np.asarray(
        jax.nn.log_softmax(helpers.t5_forward(model, enc, jnp.zeros((1, 1), jnp.int32))[0, 0]), np.float64
    )
    freq = np.bincount(tokens[0, :, 0], minlength=first.shape[0]) / tokens.shape[1]
    np.testing.assert_allclose(freq, np.exp(first), atol=0.02)
    # entropy of sample 0: mean over its two steps of the teacher-forced next-token entropies
    dec = jnp.asarray([[decoding.PAD_ID, tokens[0, 0, 0]]])
    steps = np.asarray(jax.nn.log_softmax(helpers.t5_forward(model, enc, dec)[0]), np.float64)
    want = np.mean([-(np.exp(s) * s).sum() for s in steps])
    np.testing.assert_allclose(float(out.entropy[0, 0]), want, rtol=1e-4)
