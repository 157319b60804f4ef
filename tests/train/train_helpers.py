"""Tiny model + deterministic random batches shared by the trainer tests."""

import helpers
import numpy as np

VOCAB = 48
ENC_LEN, DEC_LEN = 10, 5


def tiny_config(**overrides):
    return helpers.tiny_t5_config(VOCAB, **overrides)


def factory_for(config):
    from genrec.model.network import EncoderDecoder

    return lambda rngs: EncoderDecoder(config, rngs=rngs)


def random_batch(step: int, batch_size: int = 8, seed: int = 0) -> dict:
    """Batch number `step` of a fixed stream: a function of (seed, step) only."""
    rng = np.random.default_rng([seed, step])
    dec_len = rng.integers(2, DEC_LEN + 1, batch_size)
    weights = (np.arange(DEC_LEN)[None, :] < dec_len[:, None]).astype(np.float32)
    targets = rng.integers(3, VOCAB, (batch_size, DEC_LEN)).astype(np.int32) * weights.astype(np.int32)
    inputs = np.concatenate([np.zeros((batch_size, 1), np.int32), targets[:, :-1]], axis=1)
    return {
        "encoder_input_tokens": rng.integers(3, VOCAB, (batch_size, ENC_LEN)).astype(np.int32),
        "decoder_input_tokens": inputs,
        "decoder_target_tokens": targets,
        "decoder_loss_weights": weights,
    }


def random_source(batch_size: int = 8, seed: int = 0, hook=None, poison=()):
    """BatchSource: start_step -> iterator of random_batch(start_step), random_batch(start_step+1), ...
    `hook(step)` runs before batch `step` is handed out (to inject failures); batches in `poison`
    get NaN loss weights."""

    def source(start):
        step = start
        while True:
            if hook is not None:
                hook(step)
            batch = random_batch(step, batch_size, seed)
            if step in poison:
                batch["decoder_loss_weights"] = batch["decoder_loss_weights"] * np.nan
            yield batch
            step += 1

    return source


def standard_setup(dropout_rate: float = 0.1):
    """The (factory, optimizer, model config) most trainer tests use: identical programs share the
    session's compilation cache."""
    from genrec.train import optimizers

    config = tiny_config(dropout_rate=dropout_rate)
    tx = optimizers.make_optimizer(10, name="adamw", learning_rate=1e-2, warmup_steps=1)
    return factory_for(config), tx, config


def run_steps(mesh, factory, tx, num_steps: int = 3, local_batch=random_batch):
    """`num_steps` jitted train steps on `mesh` from a fresh state; batch i is this process's part
    `local_batch(i)`. Returns (per-step losses, final state)."""
    import jax

    from genrec.runtime import partitioning
    from genrec.runtime import state as state_lib
    from genrec.train import steps

    model = state_lib.FunctionalModel.from_factory(factory)
    abstract = state_lib.abstract_state(factory, tx, seed=0)
    shardings = partitioning.named(mesh, state_lib.state_specs(model, abstract, mesh))
    state = state_lib.create_sharded_state(factory, tx, 0, shardings)
    batch_sharding = jax.sharding.NamedSharding(mesh, partitioning.batch_spec(mesh))
    step = jax.jit(
        steps.make_train_step(model, tx, z_loss=1e-4),
        in_shardings=(shardings, batch_sharding),
        out_shardings=(shardings, None),
        donate_argnums=(0,),
    )
    losses = []
    for i in range(num_steps):
        state, metrics = step(state, partitioning.global_batch(local_batch(i), mesh))
        losses.append(float(metrics["loss"]))
    return losses, state
