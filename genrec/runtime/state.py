"""The train state (a plain pytree, what checkpoints hold) and the functional view of an NNX model.

TrainState = {'step': int32, 'params': pure dict of arrays, 'opt_state': optax state,
              'rng': uint32[2] raw key}
Non-parameter model state (the dropout RNG streams of nnx.Dropout) is not stored: each step rebuilds
it from fold_in(rng, step), so a resumed run draws exactly the dropout masks of an uninterrupted one.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Callable

import jax
import jax.numpy as jnp
import optax
from flax import nnx

from genrec.runtime import partitioning

TrainState = dict[str, Any]
# The features an EncDecFeatureConverter batch carries that the model reads.
DEFAULT_TARGETS = ("decoder_target_tokens", "decoder_loss_weights")  # the encoder-decoder's
SEGMENT_FEATURES = ("encoder_segment_ids", "decoder_segment_ids", "encoder_positions", "decoder_positions")
# The batch key of per-run model inputs that are not per-example (the parallel-digit model's catalogue):
# device arrays placed once, passed with every batch as arguments of the compiled step (so they are
# data, not constants of its program) and never split into microbatches.
CONSTANTS = "constants"


@dataclasses.dataclass(frozen=True)
class FunctionalModel:
    """An NNX model split into (graphdef, params, other state), callable on pure-dict params."""

    graphdef: Any
    abstract_params: nnx.State  # Param variables with ShapeDtypeStruct values and logical axes
    abstract_other: nnx.State  # RngKey / RngCount variables (dropout streams), rebuilt per step
    # Models with a `TARGETS` class attribute take the whole batch (`model(batch, deterministic=)`)
    # and name the (targets, weights) features their loss reads; the encoder-decoder takes tokens.
    reads_batch: bool = False
    target_keys: tuple[str, str] = DEFAULT_TARGETS

    @classmethod
    def from_factory(cls, factory: Callable[[nnx.Rngs], nnx.Module]) -> "FunctionalModel":
        with nnx.use_eager_sharding(False):
            model = nnx.eval_shape(lambda: factory(nnx.Rngs(0)))
        graphdef, params, other = nnx.split(model, nnx.Param, ...)
        for path, var in jax.tree_util.tree_flatten_with_path(
            other, is_leaf=lambda x: isinstance(x, nnx.Variable)
        )[0]:
            if not isinstance(var, (nnx.RngKey, nnx.RngCount)):
                raise TypeError(
                    f"model state {jax.tree_util.keystr(path)} ({type(var).__name__}) is "
                    "neither a Param nor an RNG stream; the trainer does not carry it"
                )
        targets = getattr(type(model), "TARGETS", None)
        return cls(graphdef, params, other, targets is not None, targets or DEFAULT_TARGETS)

    def param_shapes(self) -> dict:
        return nnx.to_pure_dict(self.abstract_params)

    def module(self, params: dict, key: jax.Array) -> nnx.Module:
        """The model with `params`; its dropout streams seeded from `key` (call inside the trace).
        A stream of scanned layers holds one key per layer (a split of its folded key)."""
        leaves, treedef = jax.tree_util.tree_flatten(
            self.abstract_other, is_leaf=lambda x: isinstance(x, nnx.Variable)
        )

        def fresh_variable(i, var):
            shape = var.get_value().shape
            if not isinstance(var, nnx.RngKey):
                return var.replace(jnp.zeros(shape, var.get_value().dtype))
            stream = jax.random.fold_in(key, i)
            return var.replace(jax.random.split(stream, shape) if shape else stream)

        fresh = [fresh_variable(i, var) for i, var in enumerate(leaves)]
        return nnx.merge(self.graphdef, params, jax.tree_util.tree_unflatten(treedef, fresh))

    def targets(self, batch: dict) -> tuple[jax.Array, jax.Array]:
        """(targets, loss weights) of a batch, as the model class names them (`TARGETS`); weights
        broadcast over any trailing target axes (digits of an identifier)."""
        targets, weights = batch[self.target_keys[0]], batch[self.target_keys[1]]
        return targets, weights.reshape(weights.shape + (1,) * (targets.ndim - weights.ndim))

    def __call__(self, params: dict, batch: dict, key: jax.Array, deterministic: bool) -> jax.Array:
        model = self.module(params, key)
        if self.reads_batch:
            return model(batch, deterministic=deterministic)
        kwargs = {k: batch[k] for k in SEGMENT_FEATURES if k in batch}
        return model(
            batch["encoder_input_tokens"],
            batch["decoder_input_tokens"],
            deterministic=deterministic,
            **kwargs,
        )


def init_params(factory: Callable[[nnx.Rngs], nnx.Module], seed: int) -> dict:
    with nnx.use_eager_sharding(False):
        model = factory(nnx.Rngs(seed))
    return nnx.to_pure_dict(nnx.state(model, nnx.Param))


def init_state(factory, tx: optax.GradientTransformation, seed: int) -> TrainState:
    params = init_params(factory, seed)
    return {
        "step": jnp.zeros((), jnp.int32),
        "params": params,
        "opt_state": tx.init(params),
        "rng": jax.random.key_data(jax.random.key(seed + 1)),
    }


def abstract_state(factory, tx, seed: int = 0) -> TrainState:
    return jax.eval_shape(lambda: init_state(factory, tx, seed))


def state_specs(model: FunctionalModel, abstract: TrainState, mesh) -> TrainState:
    """PartitionSpecs for every leaf of the train state, from the parameters' logical axes."""
    specs = partitioning.param_specs(model.abstract_params, mesh)
    P = jax.sharding.PartitionSpec
    return {
        "step": P(),
        "params": specs,
        "rng": P(),
        "opt_state": partitioning.optimizer_specs(abstract["opt_state"], abstract["params"], specs),
    }


def create_sharded_state(factory, tx, seed: int, shardings: TrainState) -> TrainState:
    """Initializes the state directly into its shardings (no full copy on one device)."""
    return jax.jit(lambda: init_state(factory, tx, seed), out_shardings=shardings)()
