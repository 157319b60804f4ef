"""Scanned layers (ModelConfig.scan_layers) compute exactly what unrolled layers compute."""

import dataclasses

import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genrec.model import decoding, layer_stack
from genrec.model.network import EncoderDecoder
from genrec.model.trie import build_trie
from genrec.runtime.state import FunctionalModel

ENC = jnp.array([[5, 6, 7, 8, 0, 0], [9, 3, 0, 0, 0, 0], [4, 4, 4, 4, 4, 4]], jnp.int32)
DEC = jnp.array([[0, 11, 12, 13], [0, 14, 15, 16], [0, 2, 3, 4]], jnp.int32)
CONFIG = dataclasses.replace(helpers.TINY_T5, num_encoder_layers=3, num_decoder_layers=2)


def _params(model):
    return nnx.to_pure_dict(nnx.state(model, nnx.Param))


@pytest.fixture(scope="module")
def pair():
    """An unrolled model and a scanned model holding the same parameters (stacked)."""
    unrolled = EncoderDecoder(CONFIG, rngs=nnx.Rngs(3))
    scanned = EncoderDecoder(dataclasses.replace(CONFIG, scan_layers=True), rngs=nnx.Rngs(0))
    nnx.update(scanned, layer_stack.stack_layer_params(_params(unrolled)))
    return unrolled, scanned


def test_scanned_parameters_are_stacked_and_annotated():
    model = helpers.tiny_t5_model(scan_layers=True, num_encoder_layers=3)
    state = dict(nnx.to_flat_state(nnx.state(model, nnx.Param)))
    query = state[("encoder_layers", "attention", "query")]
    assert query.value.shape == (
        3,
        helpers.TINY_T5.d_model,
        helpers.TINY_T5.num_heads,
        helpers.TINY_T5.head_dim,
    )
    assert query.get_metadata()["out_sharding"] == ("layers", "embed", "heads", "kv")
    wo = state[("decoder_layers", "mlp", "wo")]
    assert (
        wo.value.shape[0] == helpers.TINY_T5.num_decoder_layers
        and wo.get_metadata()["out_sharding"][0] == "layers"
    )
    # Layers are initialised independently (each gets its own split of the params stream).
    assert float(jnp.abs(query.value[0] - query.value[1]).max()) > 1e-3


def test_stack_and_unstack_are_inverse_and_check_the_layout(pair):
    unrolled, scanned = pair
    params = _params(unrolled)
    back = layer_stack.unstack_layer_params(layer_stack.stack_layer_params(params))
    jax.tree.map(np.testing.assert_array_equal, back, params)
    with pytest.raises(ValueError, match="already an unrolled layer stack"):
        layer_stack.unstack_layer_params(params)
    with pytest.raises(ValueError, match="not an unrolled layer stack"):
        layer_stack.stack_layer_params(_params(scanned))


def test_scanned_forward_equals_unrolled(pair):
    unrolled, scanned = pair
    np.testing.assert_allclose(
        helpers.t5_forward(scanned, ENC, DEC), helpers.t5_forward(unrolled, ENC, DEC), atol=1e-5
    )
    packing = dict(
        encoder_segment_ids=jnp.array([[1, 1, 2, 2, 0, 0]] * 3),
        decoder_segment_ids=jnp.array([[1, 1, 2, 2]] * 3),
    )
    np.testing.assert_allclose(
        helpers.t5_forward(scanned, ENC, DEC, **packing),
        helpers.t5_forward(unrolled, ENC, DEC, **packing),
        atol=1e-5,
    )


def _grads(config, params):
    """d/dparams of a scalar of the model's log-probs, through the trainer's functional model."""
    model = FunctionalModel.from_factory(lambda rngs: EncoderDecoder(config, rngs=rngs))
    batch = {"encoder_input_tokens": ENC, "decoder_input_tokens": DEC}

    def loss(p):
        return jnp.mean(jax.nn.log_softmax(model(p, batch, jax.random.key(0), True))[..., 5])

    return jax.jit(jax.grad(loss))(params)


@pytest.mark.parametrize("scan_layers", [False, True])
@pytest.mark.parametrize("policy", list(layer_stack.REMAT_POLICIES))
def test_remat_gradients_equal_plain_unrolled_gradients(pair, scan_layers, policy):
    unrolled, _ = pair
    params = _params(unrolled)
    config = dataclasses.replace(CONFIG, scan_layers=scan_layers, remat=True, remat_policy=policy)
    grads = _grads(config, layer_stack.stack_layer_params(params) if scan_layers else params)
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-7),
        layer_stack.unstack_layer_params(grads) if scan_layers else grads,
        _grads(CONFIG, params),
    )


def test_scanned_decoding_equals_unrolled(pair):
    unrolled, scanned = pair
    ids = np.array([[5, 7, 9], [5, 8, 9], [6, 7, 2], [4, 9, 3], [6, 6, 6], [5, 7, 3]], np.int32)
    trie = build_trie(ids)
    items_u, scores_u = decoding.constrained_beam_search(unrolled, ENC, trie, beam_size=4, top_k=3)
    items_s, scores_s = decoding.constrained_beam_search(scanned, ENC, trie, beam_size=4, top_k=3)
    np.testing.assert_array_equal(items_s, items_u)
    np.testing.assert_allclose(scores_s, scores_u, atol=1e-5)
    tokens_u, text_u = decoding.beam_search(unrolled, ENC, beam_size=3, max_length=5)
    tokens_s, text_s = decoding.beam_search(scanned, ENC, beam_size=3, max_length=5)
    np.testing.assert_array_equal(tokens_s, tokens_u)
    np.testing.assert_allclose(text_s, text_u, atol=1e-5)
    greedy_u, _ = decoding.greedy_decode(unrolled, ENC, max_length=5)
    np.testing.assert_array_equal(decoding.greedy_decode(scanned, ENC, max_length=5)[0], greedy_u)


def _program_size(config) -> int:
    """Characters of the lowered train-mode (dropout on) forward-and-backward program."""
    factory = lambda rngs: EncoderDecoder(config, rngs=rngs)  # noqa: E731
    functional = FunctionalModel.from_factory(factory)
    batch = {"encoder_input_tokens": ENC, "decoder_input_tokens": DEC}

    def loss(p):
        return jnp.sum(functional(p, batch, jax.random.key(0), False))

    return len(jax.jit(jax.grad(loss)).lower(functional.param_shapes()).as_text())


def test_scanned_program_does_not_grow_with_depth():
    def size(layers, scan):
        return _program_size(
            dataclasses.replace(
                helpers.TINY_T5,
                num_encoder_layers=layers,
                dropout_rate=0.1,
                num_decoder_layers=layers,
                scan_layers=scan,
            )
        )

    assert size(8, True) < 1.05 * size(2, True)  # one layer body per stack, whatever the depth
    assert size(8, False) > 2.5 * size(2, False)
