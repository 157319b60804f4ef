import dataclasses

import gin
import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genrec.model import flops
from genrec.model.config import ModelConfig
from genrec.model.layers import Dropout, relative_position_bucket
from genrec.model.losses import cross_entropy_with_z_loss
from genrec.model.network import EncoderDecoder

ENC = jnp.array([[5, 6, 7, 8, 0], [9, 3, 0, 0, 0]], jnp.int32)
DEC = jnp.array([[0, 11, 12, 13], [0, 14, 15, 16]], jnp.int32)


def test_shapes_dtypes_and_logical_axes():
    model = helpers.tiny_t5_model()
    logits = helpers.t5_forward(model, ENC, DEC)
    assert logits.shape == (2, 4, helpers.TINY_T5.vocab_size) and logits.dtype == jnp.float32
    assert bool(jnp.all(jnp.isfinite(logits)))
    allowed = {"vocab", "embed", "mlp", "heads", "kv", "relpos_buckets"}
    for path, p in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        axes = p.get_metadata()["out_sharding"]
        assert len(axes) == p.value.ndim and set(axes) <= allowed, (path, axes)
        assert p.value.dtype == jnp.float32


def test_bfloat16_compute_keeps_float32_params_and_logits():
    ref, model = helpers.tiny_t5_model(), helpers.tiny_t5_model(dtype="bfloat16")
    logits = helpers.t5_forward(model, ENC, DEC)
    assert logits.dtype == jnp.float32
    np.testing.assert_allclose(logits, helpers.t5_forward(ref, ENC, DEC), atol=0.15, rtol=0.05)


def test_future_decoder_tokens_do_not_change_earlier_logits():
    model = helpers.tiny_t5_model()
    changed = DEC.at[:, 2:].set(jnp.array([[21, 22], [23, 24]]))
    a, b = helpers.t5_forward(model, ENC, DEC), helpers.t5_forward(model, ENC, changed)
    np.testing.assert_allclose(a[:, :2], b[:, :2], atol=1e-5)
    assert float(jnp.abs(a[:, 2:] - b[:, 2:]).max()) > 1e-3  # the mask is not hiding everything


def test_encoder_padding_is_ignored():
    model = helpers.tiny_t5_model()
    padded = jnp.pad(ENC, ((0, 0), (0, 3)))
    np.testing.assert_allclose(
        helpers.t5_forward(model, ENC, DEC), helpers.t5_forward(model, padded, DEC), atol=1e-5
    )


def test_packed_segments_equal_separate_examples():
    model = helpers.tiny_t5_model()
    enc_a, dec_a = jnp.array([[5, 6, 7]]), jnp.array([[0, 11, 12]])
    enc_b, dec_b = jnp.array([[9, 3]]), jnp.array([[0, 14]])
    packed = helpers.t5_forward(
        model,
        jnp.array([[5, 6, 7, 9, 3, 0]]),
        jnp.array([[0, 11, 12, 0, 14, 0]]),
        encoder_segment_ids=jnp.array([[1, 1, 1, 2, 2, 0]]),
        decoder_segment_ids=jnp.array([[1, 1, 1, 2, 2, 0]]),
        encoder_positions=jnp.array([[0, 1, 2, 0, 1, 0]]),
        decoder_positions=jnp.array([[0, 1, 2, 0, 1, 0]]),
    )
    np.testing.assert_allclose(packed[:, :3], helpers.t5_forward(model, enc_a, dec_a), atol=1e-5)
    np.testing.assert_allclose(packed[:, 3:5], helpers.t5_forward(model, enc_b, dec_b), atol=1e-5)


@pytest.mark.parametrize("tie", [True, False])
def test_tied_and_untied_output(tie):
    model = helpers.tiny_t5_model(tie_embeddings=tie)
    params = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
    assert (("output", "kernel") in params) != tie
    # Zeroing token 7's output vector (the embedding row when tied) zeroes its logit everywhere.
    if tie:
        model.embed.embedding[...] = model.embed.embedding[...].at[7].set(0.0)
    else:
        model.output.kernel[...] = model.output.kernel[...].at[:, 7].set(0.0)
    logits = helpers.t5_forward(model, ENC, jnp.array([[0, 1, 2, 3], [0, 4, 5, 6]]))
    np.testing.assert_allclose(logits[..., 7], 0.0, atol=1e-6)
    assert float(jnp.abs(logits[..., 8]).min()) > 0


def test_relative_position_buckets_hand_worked():
    # T5 defaults: 32 buckets, max distance 128. rel = key_pos - query_pos.
    rel = jnp.array([0, -1, -7, -8, -16, -32, -64, -127, -128, -1000, 1, 8, 16])
    bi = relative_position_bucket(rel, bidirectional=True, num_buckets=32, max_distance=128)
    # exact 0..7; then 8 + floor(log(n/8)/log(16) * 8); keys after the query add 16.
    assert bi.tolist() == [0, 1, 7, 8, 10, 12, 14, 15, 15, 15, 17, 24, 26]
    causal = relative_position_bucket(rel, bidirectional=False, num_buckets=32, max_distance=128)
    # exact 0..15; then 16 + floor(log(n/16)/log(8) * 16); keys after the query → 0.
    assert causal.tolist() == [0, 1, 7, 8, 16, 21, 26, 31, 31, 31, 0, 0, 0]


@pytest.mark.parametrize("overrides", [{}, {"tie_embeddings": True, "mlp_activations": ("relu",)}])
def test_num_params_matches_model(overrides):
    config = dataclasses.replace(helpers.TINY_T5, **overrides)
    model = helpers.tiny_t5_model(**overrides)
    actual = sum(p.value.size for _, p in nnx.to_flat_state(nnx.state(model, nnx.Param)))
    assert flops.num_params(config) == actual


def _dot_flops(jaxpr) -> int:
    """2 × multiply-adds of every dot_general in a jaxpr (recursing into sub-jaxprs)."""
    total = 0
    for eqn in jaxpr.eqns:
        if eqn.primitive.name == "dot_general":
            (lhs_contract, _), _ = eqn.params["dimension_numbers"]
            lhs = eqn.invars[0].aval.shape
            total += (
                2 * int(np.prod(eqn.outvars[0].aval.shape)) * int(np.prod([lhs[i] for i in lhs_contract]))
            )
        for sub in jax.core.jaxprs_in_params(eqn.params):
            total += _dot_flops(sub)
    return total


def test_train_flops_match_counted_matmuls():
    config = dataclasses.replace(helpers.TINY_T5, embedding_lookup="take", num_decoder_layers=3)
    model = helpers.tiny_t5_model(embedding_lookup="take", num_decoder_layers=3)
    graphdef, state = nnx.split(model)
    enc, dec = jnp.ones((1, 7), jnp.int32), jnp.ones((1, 5), jnp.int32)
    jaxpr = jax.make_jaxpr(lambda s: nnx.merge(graphdef, s)(enc, dec))(state).jaxpr
    assert flops.train_flops_per_example(config, 7, 5) == 3 * _dot_flops(jaxpr)


def test_remat_gives_same_logits_and_grads():
    def loss_and_grads(model):
        def loss(m):
            return jnp.sum(m(ENC, DEC, deterministic=True) ** 2)

        return nnx.jit(nnx.value_and_grad(loss))(model)

    one_layer = dict(num_encoder_layers=1, num_decoder_layers=1)
    (l1, g1), (l2, g2) = (
        loss_and_grads(helpers.tiny_t5_model(**one_layer)),
        loss_and_grads(helpers.tiny_t5_model(remat=True, **one_layer)),
    )
    np.testing.assert_allclose(l1, l2, rtol=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), g1, g2)


def test_dropout_only_in_training_mode():
    config = dataclasses.replace(
        helpers.TINY_T5, dropout_rate=0.3, num_encoder_layers=1, num_decoder_layers=1
    )
    # unsafe_rbg dropout keys: same semantics, far quicker to compile on CPU than threefry.
    model = EncoderDecoder(config, rngs=nnx.Rngs(params=0, dropout=jax.random.key(1, impl="unsafe_rbg")))
    np.testing.assert_array_equal(helpers.t5_forward(model, ENC, DEC), helpers.t5_forward(model, ENC, DEC))
    a, b = (
        helpers.t5_forward(model, ENC, DEC, deterministic=False),
        helpers.t5_forward(model, ENC, DEC, deterministic=False),
    )
    assert float(jnp.abs(a - b).max()) > 1e-3  # fresh masks each call


@pytest.mark.parametrize("impl", ["hash", "rbg", "threefry2x32"])
def test_dropout_keeps_one_minus_rate_and_rescales(impl):
    config = dataclasses.replace(helpers.TINY_T5, dropout_rate=0.25, dropout_rng_impl=impl)
    dropout = Dropout(config, rngs=nnx.Rngs(dropout=3))
    x = jnp.ones((64, 1000))
    y = nnx.jit(lambda d, x: d(x, deterministic=False))(dropout, x)
    np.testing.assert_allclose(np.unique(np.asarray(y)), [0.0, 1 / 0.75], rtol=1e-6)
    assert abs(float(jnp.mean(y > 0)) - 0.75) < 0.01
    assert dropout(x, deterministic=True) is x
    with pytest.raises(ValueError, match="dropout_rng_impl"):
        dataclasses.replace(helpers.TINY_T5, dropout_rng_impl="philox")


def test_cross_entropy_with_z_loss_matches_float64():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(2, 3, 6)).astype(np.float32) * 3
    targets = rng.integers(0, 6, size=(2, 3))
    weights = np.array([[1, 1, 0], [1, 0, 0]], np.float32)
    loss, z, wsum = cross_entropy_with_z_loss(
        jnp.asarray(logits), jnp.asarray(targets), jnp.asarray(weights), z_loss=1e-2
    )
    x = logits.astype(np.float64)
    log_z = np.log(np.exp(x).sum(-1))
    nll = log_z - np.take_along_axis(x, targets[..., None], -1)[..., 0]
    np.testing.assert_allclose(z, (1e-2 * log_z**2 * weights).sum(), rtol=1e-5)
    np.testing.assert_allclose(loss, ((nll + 1e-2 * log_z**2) * weights).sum(), rtol=1e-5)
    assert float(wsum) == 3.0


def test_gin_size_files(tmp_path):
    gin.parse_config_file("configs/models/tiger.gin")
    tiger = ModelConfig(vocab_size=1024)
    assert (tiger.d_model, tiger.num_heads, tiger.mlp_dim, tiger.num_encoder_layers) == (128, 6, 1024, 4)
    gin.clear_config()
    gin.parse_config_file("configs/models/base.gin")
    base = ModelConfig(vocab_size=32128)
    assert flops.num_params(base) == pytest.approx(247.6e6, rel=0.01)  # T5.1.1-base, untied
    assert base.scan_layers and base.remat and base.remat_policy == "weight_dots"
    assert not tiger.scan_layers and not tiger.remat
    gin.clear_config()
    gin.parse_config_file("configs/models/small.gin")
    small = ModelConfig(vocab_size=32128)
    assert small.scan_layers and small.remat and small.remat_policy == "weight_dots"


def test_config_round_trips_and_rejects_bad_values():
    assert ModelConfig.from_dict(helpers.TINY_T5.to_dict()) == helpers.TINY_T5
    with pytest.raises(ValueError, match="mlp_activations"):
        dataclasses.replace(helpers.TINY_T5, mlp_activations=("swish",))
    with pytest.raises(ValueError, match="remat_policy must be one of .*got 'weights'"):
        dataclasses.replace(helpers.TINY_T5, remat_policy="weights")
    with pytest.raises(ValueError, match="unknown ModelConfig fields"):
        ModelConfig.from_dict({"d_modle": 3})
