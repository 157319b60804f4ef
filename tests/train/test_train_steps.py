"""The train step: microbatching is exact, sharding does not change the numbers, schedules, bf16/remat."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from train_helpers import factory_for, random_batch, run_steps, standard_setup, tiny_config

from genrec.runtime import partitioning
from genrec.runtime import state as state_lib
from genrec.train import optimizers, steps


def _reference_mean_loss(model, params, batch):
    """Per-token cross-entropy written out directly, averaged over loss tokens (no z-loss)."""
    logits = model(params, batch, jax.random.key(0), deterministic=True).astype(jnp.float32)
    logp = jax.nn.log_softmax(logits, axis=-1)
    nll = -jnp.take_along_axis(logp, batch["decoder_target_tokens"][..., None], axis=-1)[..., 0]
    w = batch["decoder_loss_weights"]
    return jnp.sum(nll * w) / jnp.sum(w)


def test_microbatched_gradients_equal_full_batch_gradients():
    factory = factory_for(tiny_config())
    model = state_lib.FunctionalModel.from_factory(factory)
    params = state_lib.init_params(factory, seed=3)
    batch = {k: jnp.asarray(v) for k, v in random_batch(0, batch_size=8).items()}
    loss_fn = steps.default_loss_fn()

    @jax.jit
    def both(params, batch):
        loss, _, weight, grads = steps.loss_and_grads(
            model,
            params,
            batch,
            jax.random.key(0),
            z_loss=0.0,
            num_microbatches=4,
            loss_fn=loss_fn,
            deterministic=True,
        )
        ref = jax.value_and_grad(_reference_mean_loss, argnums=1)(model, params, batch)
        return (loss / weight, jax.tree.map(lambda g: g / weight, grads)), ref

    (loss, grads), (ref_loss, ref_grads) = both(params, batch)
    np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=2e-4, atol=1e-6), grads, ref_grads)
    # Microbatches hold different (interleaved) examples: weights per slice differ, so a per-slice
    # mean would be wrong; the sums are exact.
    with pytest.raises(ValueError, match="does not split into 3"):
        steps.split_microbatches(batch, 3)


@pytest.mark.parametrize("scan_layers", [False, pytest.param(True, marks=pytest.mark.slow)])  # scanned: ~35 s
def test_one_device_and_a_2x2x2_mesh_give_the_same_training(scan_layers):
    factory, tx, _ = standard_setup()  # dropout on: the masks must not depend on the mesh
    if scan_layers:
        factory = factory_for(
            tiny_config(dropout_rate=0.1, num_encoder_layers=2, num_decoder_layers=2, scan_layers=True)
        )
    one = partitioning.make_mesh(data=1, fsdp=1, tensor=1, devices=jax.devices()[:1])
    three_d = partitioning.make_mesh(data=2, fsdp=2, tensor=2)
    losses_1, state_1 = run_steps(one, factory, tx)
    losses_8, state_8 = run_steps(three_d, factory, tx)
    params_1, params_8 = jax.device_get(state_1["params"]), jax.device_get(state_8["params"])
    np.testing.assert_allclose(losses_8, losses_1, rtol=1e-5)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), params_8, params_1)
    emb = state_8["params"]["embed"]["embedding"]
    assert emb.sharding.spec == jax.sharding.PartitionSpec("tensor", "fsdp")
    assert {s.data.shape for s in emb.addressable_shards} == {(emb.shape[0] // 2, emb.shape[1] // 2)}
    mu = state_8["opt_state"][1][0].mu["embed"]["embedding"]  # AdamW moment sharded like its param
    assert mu.sharding.spec == emb.sharding.spec


def test_learning_rate_schedules_hand_values():
    inv = optimizers.learning_rate_schedule(1.0, 4, "inverse_sqrt", 100)
    np.testing.assert_allclose([inv(0), inv(3), inv(15)], [0.25, 1.0, 0.5], rtol=1e-6)
    cos = optimizers.learning_rate_schedule(2.0, 0, "cosine", 10)
    np.testing.assert_allclose([cos(0), cos(5), cos(10)], [2.0, 1.0, 0.0], atol=1e-6)
    const = optimizers.learning_rate_schedule(1.0, 2, "constant", 10)
    np.testing.assert_allclose([const(0), const(1), const(9)], [0.5, 1.0, 1.0])
    with pytest.raises(ValueError, match="unknown learning-rate schedule"):
        optimizers.learning_rate_schedule(1.0, 2, "linear", 10)
    with pytest.raises(ValueError, match="unknown optimizer"):
        optimizers.make_optimizer(10, name="sgd")


def test_both_optimizers_descend_along_the_gradient():
    params = {"w": jnp.ones((4, 3))}
    grads = {"w": jnp.full((4, 3), 100.0)}
    for name in ("adamw", "adafactor"):
        tx = optimizers.make_optimizer(10, name=name, learning_rate=0.1, warmup_steps=0, weight_decay=0.0)
        updates, _ = tx.update(grads, tx.init(params), params)
        assert np.all(np.asarray(updates["w"]) < 0), name


@pytest.mark.slow
def test_bf16_compute_with_remat_tracks_float32():
    batch = {k: jnp.asarray(v) for k, v in random_batch(1).items()}
    losses = []
    for overrides in ({}, {"dtype": "bfloat16", "remat": True}):
        factory = factory_for(tiny_config(**overrides))
        model = state_lib.FunctionalModel.from_factory(factory)
        params = state_lib.init_params(factory, seed=0)
        fn = jax.jit(
            lambda p, b: steps.loss_and_grads(
                model,
                p,
                b,
                jax.random.key(0),
                z_loss=0.0,
                num_microbatches=1,
                loss_fn=steps.default_loss_fn(),
            )
        )
        loss, _, weight, grads = fn(params, batch)
        assert all(g.dtype == jnp.float32 for g in jax.tree.leaves(grads))  # params/grads stay float32
        losses.append(float(loss / weight))
    np.testing.assert_allclose(losses[1], losses[0], rtol=2e-2)
