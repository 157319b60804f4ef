"""The parallel-digit model's catalogue as a training input (genrec/model/catalogue_softmax.py through
ParallelIdDecoder, steps and the train loop): split over the 8 simulated devices it trains exactly like
the catalogue baked into the model, with microbatches and history exclusion; the sampled softmax
trains and is a different loss."""

import os

import helpers
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from genrec.model import losses, parallel_ids
from genrec.runtime import partitioning
from genrec.runtime import state as state_lib
from genrec.runtime.meta import CheckpointMeta
from genrec.train import steps, trainer

LEVELS = (8, 8, 3)
NUM_ITEMS = 45  # divides neither the 8 devices nor the chunk


def config(**overrides):
    return helpers.tiny_parallel_ids_config(
        LEVELS, NUM_ITEMS, **{"catalogue_loss_weight": 2.0, "catalogue_chunk": 4, **overrides}
    )


def codes():
    rng = np.random.default_rng(0)
    return np.stack([rng.integers(0, s, NUM_ITEMS) for s in LEVELS], axis=1).astype(np.int32)


def batch(seed=0, rows=8, length=9):
    """Packed rows of two users each (segments 1 and 2), item tokens = item + 1, repeats included."""
    rng = np.random.default_rng(seed)
    table = np.concatenate([np.zeros((1, len(LEVELS)), np.int32), codes()])
    targets = rng.integers(1, NUM_ITEMS + 1, size=(rows, length)).astype(np.int32)
    segments = np.where(np.arange(length) < 5, 1, 2)[None].repeat(rows, 0).astype(np.int32)
    inputs = np.concatenate([np.zeros((rows, 1), np.int32), targets[:, :-1]], axis=1)
    inputs[:, 5] = 0  # the second user's begin-of-sequence
    targets[-1, -2:] = 0  # padding
    segments[-1, -2:] = 0
    inputs[-1, -1] = 0
    return {
        "decoder_input_tokens": inputs,
        "decoder_target_tokens": targets,
        "decoder_segment_ids": segments,
        "decoder_loss_weights": (targets > 0).astype(np.float32),
        "decoder_input_codes": table[inputs],
        "decoder_target_codes": table[targets],
    }


@pytest.mark.parametrize("exclude_history", [False, True])
def test_sharded_catalogue_input_gives_the_gradients_of_the_baked_in_one(exclude_history):
    cfg = config(catalogue_exclude_history=exclude_history)
    mesh = partitioning.make_mesh(data=-1)
    baked = state_lib.FunctionalModel.from_factory(
        lambda r: parallel_ids.ParallelIdDecoder(cfg, rngs=r, item_codes=codes())
    )
    given = state_lib.FunctionalModel.from_factory(lambda r: parallel_ids.ParallelIdDecoder(cfg, rngs=r))
    params = state_lib.init_params(lambda r: parallel_ids.ParallelIdDecoder(cfg, rngs=r), seed=1)
    catalogue = parallel_ids.training_catalogue(codes(), cfg, mesh)
    assert catalogue.axes == ("data",) and catalogue.codes.shape == (64, 3)  # 8 shards x 2 chunks of 4
    data = {k: jnp.asarray(v) for k, v in batch().items()}
    loss_fn = losses.digit_and_catalogue_loss(cfg.catalogue_loss_weight)

    def run(model, batch, microbatches):
        return steps.loss_and_grads(
            model,
            params,
            batch,
            jax.random.key(0),
            z_loss=0.0,
            num_microbatches=microbatches,
            loss_fn=loss_fn,
            deterministic=True,
        )

    want = jax.jit(lambda b: run(baked, b, 1))(data)
    with_catalogue = dict(data, **{state_lib.CONSTANTS: {"catalogue": catalogue}})
    for microbatches in (1, 2):
        got = jax.jit(lambda b, mb=microbatches: run(given, b, mb))(with_catalogue)
        np.testing.assert_allclose(float(got[0]), float(want[0]), rtol=2e-6)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=2e-5), got[3], want[3])
    # the catalogue's term is there: without it the loss is the digits' alone
    plain = jax.jit(
        lambda b: steps.loss_and_grads(
            given,
            params,
            b,
            jax.random.key(0),
            z_loss=0.0,
            num_microbatches=1,
            loss_fn=steps.default_loss_fn(),
            deterministic=True,
        )
    )
    assert float(plain(data)[0]) < float(want[0])


def _loop(tmp_path, name, factory, cfg, constants=None, steps_=2):
    mesh = partitioning.make_mesh(data=-1)
    loop = trainer.LoopConfig(
        num_steps=steps_, batch_size=8, log_every=1, checkpoint_every=100, async_checkpoints=False
    )
    meta = CheckpointMeta(model="parallel_ids", model_config=cfg.to_dict(), dataset="synthetic")
    state, summary = trainer.train_loop(
        factory=factory,
        tx=optax.adam(1e-2),
        mesh=mesh,
        workdir=os.path.join(tmp_path, name),
        config=loop,
        meta=meta,
        batch_source=lambda start: (batch(seed=start + i) for i in range(1000)),
        loss_fn=losses.digit_and_catalogue_loss(cfg.catalogue_loss_weight),
        constants=constants,
    )
    return jax.device_get(state["params"]), summary


def test_train_loop_with_the_catalogue_as_input_trains_like_the_baked_in_catalogue(tmp_path):
    cfg = config(catalogue_exclude_history=True)
    mesh = partitioning.make_mesh(data=-1)
    baked = lambda r: parallel_ids.ParallelIdDecoder(cfg, rngs=r, item_codes=codes())  # noqa: E731
    want, _ = _loop(tmp_path, "baked", baked, cfg)
    got, summary = _loop(
        tmp_path,
        "input",
        lambda r: parallel_ids.ParallelIdDecoder(cfg, rngs=r),
        cfg,
        {"catalogue": parallel_ids.training_catalogue(codes(), cfg, mesh)},
    )
    assert summary["steps"] == 2 and np.isfinite(summary["final_loss"])
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5), got, want)


def test_sampled_softmax_gives_finite_gradients_on_the_mesh_and_differs_from_the_full_one():
    full = config()
    sampled = config(catalogue_softmax="sampled", catalogue_negatives=16, catalogue_sampler="popularity")
    mesh = partitioning.make_mesh(data=-1)
    popularity = np.arange(1, NUM_ITEMS + 1, dtype=np.float64)
    catalogue = parallel_ids.training_catalogue(codes(), sampled, mesh, item_popularity=popularity)
    assert catalogue.axes == () and catalogue.codes.shape == (NUM_ITEMS, 3)
    factory = lambda r: parallel_ids.ParallelIdDecoder(sampled, rngs=r)  # noqa: E731
    model = state_lib.FunctionalModel.from_factory(factory)
    params = state_lib.init_params(factory, seed=1)
    data = {k: jnp.asarray(v) for k, v in batch().items()}
    loss, _, weight, grads = jax.jit(
        lambda b: steps.loss_and_grads(
            model,
            params,
            b,
            jax.random.key(0),
            z_loss=0.0,
            num_microbatches=2,
            loss_fn=losses.digit_and_catalogue_loss(sampled.catalogue_loss_weight),
        )
    )(dict(data, **{state_lib.CONSTANTS: {"catalogue": catalogue}}))
    assert np.isfinite(float(loss)) and float(weight) == float(data["decoder_loss_weights"].sum())
    assert all(np.isfinite(np.asarray(g)).all() for g in jax.tree.leaves(grads))
    assert np.abs(np.asarray(grads["codes"])).sum() > 0
    # per position, the sampled NLL (over a subset of the items) differs from the full one
    model_full = state_lib.FunctionalModel.from_factory(
        lambda r: parallel_ids.ParallelIdDecoder(full, rngs=r, item_codes=codes())
    )
    model_sampled = state_lib.FunctionalModel.from_factory(
        lambda r: parallel_ids.ParallelIdDecoder(
            sampled, rngs=r, item_codes=codes(), item_popularity=popularity
        )
    )
    nll_full, nll_sampled = jax.jit(
        lambda p, b: [m(p, b, jax.random.key(0), deterministic=True)[1] for m in (model_full, model_sampled)]
    )(params, data)
    w = np.asarray(data["decoder_loss_weights"]) > 0
    assert np.isfinite(np.asarray(nll_sampled)).all()
    assert not np.allclose(np.asarray(nll_sampled)[w], np.asarray(nll_full)[w])


def test_bad_catalogue_settings_are_refused():
    with pytest.raises(ValueError, match="catalogue_softmax='exact'"):
        config(catalogue_softmax="exact")
    with pytest.raises(ValueError, match="catalogue_sampler"):
        config(catalogue_sampler="zipf")
    with pytest.raises(ValueError, match="needs catalogue_negatives > 0"):
        config(catalogue_softmax="sampled", catalogue_negatives=0, catalogue_in_batch_negatives=False)
