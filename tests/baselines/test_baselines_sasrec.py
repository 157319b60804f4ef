"""SASRec: causal masking, padding and length-bucket invariance, loss functions vs numpy."""

import jax
import numpy as np
import pytest
from flax import nnx

from genrec.baselines import losses
from genrec.baselines.sasrec import SasRec, SasRecConfig

NUM_ITEMS = 30


@pytest.fixture(scope="module")
def model():
    config = SasRecConfig(d_model=16, num_blocks=2, num_heads=2, max_len=12, dropout_rate=0.3)
    return SasRec(NUM_ITEMS, config, rngs=nnx.Rngs(0))


def test_future_items_do_not_change_earlier_outputs(model):
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, NUM_ITEMS + 1, (2, 8)).astype(np.int32)
    changed = tokens.copy()
    changed[:, 5:] = rng.integers(1, NUM_ITEMS + 1, (2, 3))
    a, b = np.asarray(model(tokens)), np.asarray(model(changed))
    np.testing.assert_allclose(a[:, :5], b[:, :5], atol=1e-5)
    assert np.abs(a[:, 5:] - b[:, 5:]).max() > 1e-3  # ...while later outputs do change


def test_padding_and_window_length_do_not_change_outputs(model):
    seq = np.array([[4, 9, 2, 17, 5]], np.int32)
    short = np.asarray(model(seq))
    padded = np.asarray(model(np.pad(seq, ((0, 0), (7, 0)))))  # window 12, left padding
    np.testing.assert_allclose(padded[:, 7:], short, atol=1e-5)


def test_dropout_key_makes_training_outputs_stochastic(model):
    seq = np.array([[4, 9, 2, 17, 5]], np.int32)
    a = model(seq, dropout_key=jax.random.key(1))
    b = model(seq, dropout_key=jax.random.key(2))
    assert np.abs(np.asarray(a) - np.asarray(b)).max() > 1e-3
    np.testing.assert_allclose(np.asarray(model(seq)), np.asarray(model(seq)))


def _reference_ce(h, emb, targets, weights):
    logits = h.astype(np.float64) @ emb.astype(np.float64).T
    logz = np.log(np.exp(logits - logits.max(-1, keepdims=True)).sum(-1)) + logits.max(-1)
    nll = logz - np.take_along_axis(logits, targets[..., None], -1)[..., 0]
    return (nll * weights).sum() / weights.sum()


def _reference_bce(h, emb, targets, negatives, weights):
    h, emb = h.astype(np.float64), emb.astype(np.float64)
    sig = lambda x: 1 / (1 + np.exp(-x))  # noqa: E731
    pos = (h * emb[targets]).sum(-1)
    neg = (h * emb[negatives]).sum(-1)
    per = -np.log(sig(pos)) - np.log(1 - sig(neg))
    return (per * weights).sum() / weights.sum()


def test_losses_match_numpy_reference():
    rng = np.random.default_rng(3)
    h = rng.normal(size=(3, 4, 8)).astype(np.float32)
    emb = rng.normal(size=(11, 8)).astype(np.float32)
    targets = rng.integers(0, 11, (3, 4))
    negatives = rng.integers(0, 11, (3, 4))
    weights = (rng.random((3, 4)) < 0.7).astype(np.float32)
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(h, emb, targets, weights),
        _reference_ce(h, emb, targets, weights),
        rtol=1e-5,
    )
    np.testing.assert_allclose(
        losses.sampled_bce(h, emb, targets, negatives, weights),
        _reference_bce(h, emb, targets, negatives, weights),
        rtol=1e-5,
    )


def test_losses_by_hand():
    # one position, two items with logits ln 3 and 0: softmax = (3/4, 1/4)
    h = np.array([[np.log(3.0)]], np.float32)
    emb = np.array([[1.0], [0.0]], np.float32)
    one = np.ones(1, np.float32)
    np.testing.assert_allclose(
        losses.softmax_cross_entropy(h, emb, np.array([1]), one), np.log(4.0), rtol=1e-6
    )
    # BCE: -log σ(ln 3) - log(1 - σ(0)) = -log(3/4) - log(1/2)
    np.testing.assert_allclose(
        losses.sampled_bce(h, emb, np.array([0]), np.array([1]), one), -np.log(0.75) + np.log(2.0), rtol=1e-6
    )


def _numpy_forward(model, tokens):
    """A float64 re-implementation of SasRec's deterministic forward pass, for both layouts."""
    p = lambda a: np.asarray(a[...], np.float64)  # noqa: E731
    cfg = model.config

    def norm(layer, x):
        mean, var = x.mean(-1, keepdims=True), x.var(-1, keepdims=True)
        return (x - mean) / np.sqrt(var + layer.epsilon) * p(layer.scale) + p(layer.bias)

    def dense(layer, x):
        return x @ p(layer.kernel) + p(layer.bias)

    def attend(attn, x, kv, mask):
        b, t, d = x.shape
        heads = lambda a: a.reshape(b, t, attn.num_heads, -1).transpose(0, 2, 1, 3)  # noqa: E731
        q = heads(dense(attn.qkv, x)[..., :d])
        k, v = (heads(a) for a in np.split(dense(attn.qkv, kv)[..., d:], 2, -1))
        logits = np.where(mask, q @ k.transpose(0, 1, 3, 2) / np.sqrt(q.shape[-1]), -1e9)
        w = np.exp(logits - logits.max(-1, keepdims=True))
        w /= w.sum(-1, keepdims=True)
        return dense(attn.out, (w @ v).transpose(0, 2, 1, 3).reshape(b, t, d))

    t = tokens.shape[1]
    is_item = (tokens != 0)[..., None]
    mask = (np.tril(np.ones((t, t), bool))[None] & (tokens != 0)[:, None, :]) | np.eye(t, dtype=bool)
    x = (
        p(model.item_embed.embedding)[tokens] * np.sqrt(cfg.d_model)
        + p(model.pos_embed.embedding)[cfg.max_len - t :]
    ) * is_item
    for blk in model.blocks:
        q = norm(blk.attn_norm, x)
        if cfg.block_layout == "original":
            x = norm(blk.ffn_norm, q + attend(blk.attn, q, x, mask[:, None]))
            x = x + dense(blk.ffn_out, np.maximum(dense(blk.ffn_in, x), 0))
        else:
            x = x + attend(blk.attn, q, q, mask[:, None])
            x = x + dense(blk.ffn_out, np.maximum(dense(blk.ffn_in, norm(blk.ffn_norm, x)), 0))
        x = x * is_item
    return norm(model.final_norm, x)


@pytest.mark.parametrize("layout", ["pre_norm", "original"])
def test_forward_matches_float64_reference(layout):
    config = SasRecConfig(d_model=16, num_blocks=2, num_heads=2, max_len=12, block_layout=layout)
    model = SasRec(NUM_ITEMS, config, rngs=nnx.Rngs(4))
    tokens = np.array([[0, 0, 0, 4, 9, 2, 17, 5], [3, 8, 8, 1, 30, 12, 6, 2]], np.int32)
    np.testing.assert_allclose(np.asarray(model(tokens)), _numpy_forward(model, tokens), atol=2e-5)


def test_layouts_differ_and_the_original_keeps_causality_and_padding_invariance():
    config = SasRecConfig(d_model=16, num_blocks=2, num_heads=2, max_len=12, block_layout="original")
    original = SasRec(NUM_ITEMS, config, rngs=nnx.Rngs(0))
    pre_norm = SasRec(
        NUM_ITEMS, SasRecConfig(d_model=16, num_blocks=2, num_heads=2, max_len=12), rngs=nnx.Rngs(0)
    )
    seq = np.array([[4, 9, 2, 17, 5]], np.int32)
    assert np.abs(np.asarray(original(seq)) - np.asarray(pre_norm(seq))).max() > 1e-3
    test_future_items_do_not_change_earlier_outputs(original)
    test_padding_and_window_length_do_not_change_outputs(original)
    noisy = np.asarray(original(seq, dropout_key=jax.random.key(1)))
    assert np.isfinite(noisy).all() and np.abs(noisy - np.asarray(original(seq))).max() > 1e-3


def test_unknown_block_layout_is_refused():
    with pytest.raises(ValueError, match="block_layout='post_norm'.*pre_norm"):
        SasRecConfig(block_layout="post_norm")
