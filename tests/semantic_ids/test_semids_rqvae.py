"""RQ-VAE: quantizer and loss against float64 numpy references, training behaviour, errors."""

import dataclasses

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genrec.semantic_ids import inputs, rqvae, stats


def _data(n=300, d=24, seed=0):
    rng = np.random.default_rng(seed)
    centers = rng.normal(size=(12, d))
    return (centers[rng.integers(0, 12, n)] + 0.3 * rng.normal(size=(n, d))).astype(np.float32)


@pytest.fixture(scope="module")
def fitted(item_vectors, small_rqvae_config):
    return rqvae.fit(item_vectors, small_rqvae_config, progress=False)


def _np_residual_quantize(codebooks, z):
    """Brute-force float64 residual quantization: loops over items and codes."""
    codebooks, z = np.float64(codebooks), np.float64(z)
    codes, residuals, quantized = [], [], []
    r = z.copy()
    for book in codebooks:
        c = np.array([np.argmin([np.sum((ri - e) ** 2) for e in book]) for ri in r])
        residuals.append(r.copy())
        quantized.append(book[c])
        codes.append(c)
        r = r - book[c]
    return np.stack(codes, 1), np.stack(quantized), np.stack(residuals)


def _np_mlp(layers, x):
    for i, layer in enumerate(layers):
        x = x @ np.float64(layer["w"]) + np.float64(layer["b"])
        if i < len(layers) - 1:
            x = np.maximum(x, 0)
    return x


def test_quantize_and_loss_match_float64_reference(small_rqvae_config):
    params = rqvae.init_params(jax.random.key(1), 24, small_rqvae_config)
    x = _data(40)
    codes, quantized, residuals = jax.jit(rqvae.quantize)(
        params["codebooks"], jax.jit(rqvae.encode)(params, x)
    )
    z = _np_mlp(params["encoder"], np.float64(x))
    ref_codes, ref_q, ref_r = _np_residual_quantize(params["codebooks"], z)
    np.testing.assert_array_equal(np.asarray(codes), ref_codes)
    np.testing.assert_allclose(np.asarray(quantized), ref_q, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(np.asarray(residuals), ref_r, rtol=1e-4, atol=1e-4)

    _, aux = jax.jit(rqvae.loss_fn, static_argnums=2)(params, x, 0.25)
    recon = np.mean((_np_mlp(params["decoder"], ref_q.sum(0)) - x) ** 2)
    per_level = np.mean((ref_r - ref_q) ** 2, axis=(1, 2)).sum()
    np.testing.assert_allclose(float(aux["recon"]), recon, rtol=1e-4)
    np.testing.assert_allclose(float(aux["codebook"]), per_level, rtol=1e-4)
    np.testing.assert_allclose(float(aux["commitment"]), per_level, rtol=1e-4)
    np.testing.assert_allclose(float(aux["loss"]), recon + 1.25 * per_level, rtol=1e-4)


def test_straight_through_gradients_reach_the_encoder_and_codebooks(small_rqvae_config):
    params = rqvae.init_params(jax.random.key(2), 24, small_rqvae_config)
    grads = jax.jit(jax.grad(lambda p: rqvae.loss_fn(p, _data(40), 0.25)[0]))(params)
    assert float(jnp.abs(grads["encoder"][0]["w"]).sum()) > 0
    # Only the codes that were chosen receive a codebook gradient.
    codes = np.asarray(rqvae.codes_for(params, _data(40)))
    used = np.abs(np.asarray(grads["codebooks"][0])).sum(-1) > 0
    np.testing.assert_array_equal(np.flatnonzero(used), np.unique(codes[:, 0]))


def test_fit_codes_in_range_and_reconstruction_falls(fitted, item_vectors):
    assert fitted.codes.shape == (len(item_vectors), 2) and fitted.codes.dtype == np.int32
    assert fitted.codes.min() >= 0 and fitted.codes.max() < 16
    recon = [h["recon"] for h in fitted.history]
    assert recon[-1] < 0.8 * recon[0]
    assert fitted.reconstruction_error < recon[0]
    assert all(u >= 0.9 for u in fitted.history[-1]["usage"])


def test_same_seed_same_codes(fitted, item_vectors, small_rqvae_config):
    again = rqvae.fit(item_vectors, small_rqvae_config, progress=False)
    np.testing.assert_array_equal(again.codes, fitted.codes)
    other = rqvae.fit(item_vectors, dataclasses.replace(small_rqvae_config, seed=1), progress=False)
    assert (other.codes != fitted.codes).any()


def test_dead_code_reset_revives_unused_codes(item_vectors, small_rqvae_config):
    config = small_rqvae_config  # resets every 25 steps
    x = jnp.asarray(inputs.Standardizer.fit(item_vectors)(item_vectors))
    params, *rest = rqvae.init_state(x, config)
    books = params["codebooks"].at[:, 4:].set(1e3)  # 12 codes per level nobody is near
    state = ({**params, "codebooks": books}, *rest)
    state, metrics = rqvae.train_chunk(state, x, config, config.reset_every)
    counts, resets = np.asarray(metrics["counts"]), np.asarray(metrics["resets"])
    assert counts[:, 0, 4:].sum() == 0  # dead during the first 25 steps ...
    np.testing.assert_array_equal(resets[:-1], 0)
    np.testing.assert_array_equal(resets[-1], [12, 12])  # ... and reset at the 25th
    assert np.abs(np.asarray(state[0]["codebooks"][0, 4:])).max() < 100
    codes = np.asarray(rqvae.codes_for(state[0], x))
    # Each revived code sits on a distinct training residual, so it is that item's nearest code.
    assert set(range(4, 16)) <= set(codes[:, 0].tolist())


def _with_far_codes(x, config, step):
    """A training state at `step` whose codes 4.. of every level are far from every item (dead)."""
    params, opt_state, usage, _, key = rqvae.init_state(x, config)
    books = params["codebooks"].at[:, 4:].set(1e3)
    return {**params, "codebooks": books}, opt_state, usage, jnp.int32(step), key


def _codebook_moments(opt_state):
    adam = opt_state[0]
    return np.asarray(adam.mu["codebooks"]), np.asarray(adam.nu["codebooks"])


def test_revived_codes_start_with_zero_adam_moments(item_vectors, small_rqvae_config):
    config = small_rqvae_config
    x = jnp.asarray(inputs.Standardizer.fit(item_vectors)(item_vectors))
    params, opt_state, *rest = _with_far_codes(x, config, 0)
    # Moments as if every code had been trained (a code that later died keeps decaying ones).
    opt_state = optax.tree_utils.tree_map_params(rqvae._optimizer(config), jnp.ones_like, opt_state)
    state, metrics = rqvae.train_chunk((params, opt_state, *rest), x, config, config.reset_every)
    np.testing.assert_array_equal(np.asarray(metrics["resets"])[-1], [12, 12])
    for moment in _codebook_moments(state[1]):
        np.testing.assert_array_equal(moment[:, 4:], 0)  # revived: reset with the code
        assert (moment[:, :4] != 0).all()  # live codes keep theirs
    assert (np.asarray(state[1][0].mu["encoder"][0]["w"]) != 0).any()


def test_no_reset_in_the_last_reset_period(item_vectors, small_rqvae_config):
    config = dataclasses.replace(small_rqvae_config, num_steps=50)  # resets every 25 steps
    assert rqvae.last_reset_step(config) == 25
    x = jnp.asarray(inputs.Standardizer.fit(item_vectors)(item_vectors))
    state, metrics = rqvae.train_chunk(_with_far_codes(x, config, 25), x, config, 25)
    np.testing.assert_array_equal(np.asarray(metrics["resets"]), 0)  # the final step resets nothing
    # so the codes still unused at the end are reported unused, as training left them
    codes = np.asarray(rqvae.codes_for(state[0], x))
    assert not set(codes[:, 0].tolist()) & set(range(4, 16))
    assert stats.level_stats(codes, (16, 16))[0]["usage"] <= 4 / 16
    assert rqvae.last_reset_step(dataclasses.replace(config, reset_until=0.2)) == 10


def test_bad_embeddings_give_clear_errors(small_rqvae_config):
    x = _data(50)
    x[7, 3] = np.nan
    with pytest.raises(ValueError, match=r"NaN or inf \(items \[7\]"):
        rqvae.fit(x, small_rqvae_config, progress=False)
    with pytest.raises(ValueError, match="10 items are fewer than the 16 codes"):
        rqvae.fit(_data(10), small_rqvae_config, progress=False)
