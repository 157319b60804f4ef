"""The jitted train and eval steps: loss, microbatch gradient accumulation, optimizer update.

Losses are token sums divided by the batch's total loss weight, so accumulating the gradients of
`num_microbatches` slices and dividing once gives exactly the full-batch gradient.
"""

from __future__ import annotations

from typing import Callable

import jax
import jax.numpy as jnp
import optax

from genrec.runtime.state import CONSTANTS, FunctionalModel, TrainState

# (logits, targets, weights, z_loss) -> (summed loss incl. z-loss, summed z-loss, weight sum)
LossFn = Callable[..., tuple[jax.Array, jax.Array, jax.Array]]


def default_loss_fn() -> LossFn:
    from genrec.model.losses import cross_entropy_with_z_loss

    return cross_entropy_with_z_loss


def split_microbatches(batch: dict, n: int) -> dict:
    """[B, ...] → [n, B/n, ...] with microbatch m = examples m, m+n, m+2n, ... so every
    microbatch stays spread over all batch shards (no resharding). batch[CONSTANTS] is not split."""

    def split(x):
        if x.shape[0] % n:
            raise ValueError(f"batch of {x.shape[0]} does not split into {n} microbatches")
        return jnp.swapaxes(x.reshape(x.shape[0] // n, n, *x.shape[1:]), 0, 1)

    return jax.tree.map(split, {k: v for k, v in batch.items() if k != CONSTANTS})


def loss_and_grads(
    model: FunctionalModel,
    params: dict,
    batch: dict,
    key: jax.Array,
    *,
    z_loss: float,
    num_microbatches: int,
    loss_fn: LossFn,
    deterministic: bool = False,
):
    """Summed loss, summed z-loss, weight sum and summed gradients over the whole batch."""

    def summed(p, mb, k):
        logits = model(p, mb, k, deterministic=deterministic)
        loss, zl, weight = loss_fn(logits, *model.targets(mb), z_loss)
        return loss, (zl, weight)

    grad_fn = jax.value_and_grad(summed, has_aux=True)
    if num_microbatches == 1:
        (loss, (zl, weight)), grads = grad_fn(params, batch, key)
        return loss, zl, weight, grads

    def body(carry, xs):
        m, mb = xs
        if CONSTANTS in batch:  # the per-run inputs go whole with every microbatch
            mb = dict(mb, **{CONSTANTS: batch[CONSTANTS]})
        (loss, (zl, weight)), grads = grad_fn(params, mb, jax.random.fold_in(key, m))
        acc = (carry[0] + loss, carry[1] + zl, carry[2] + weight, jax.tree.map(jnp.add, carry[3], grads))
        return acc, None

    zero = (jnp.zeros((), jnp.float32),) * 3 + (jax.tree.map(jnp.zeros_like, params),)
    mbs = split_microbatches(batch, num_microbatches)
    (loss, zl, weight, grads), _ = jax.lax.scan(body, zero, (jnp.arange(num_microbatches), mbs))
    return loss, zl, weight, grads


def make_train_step(
    model: FunctionalModel,
    tx: optax.GradientTransformation,
    *,
    z_loss: float = 1e-4,
    num_microbatches: int = 1,
    loss_fn: LossFn | None = None,
):
    """train_step(state, batch) -> (state, metrics); metrics are means per loss token."""
    loss_fn = loss_fn or default_loss_fn()

    def train_step(state: TrainState, batch: dict):
        key = jax.random.fold_in(jax.random.wrap_key_data(state["rng"]), state["step"])
        loss, zl, weight, grads = loss_and_grads(
            model,
            state["params"],
            batch,
            key,
            z_loss=z_loss,
            num_microbatches=num_microbatches,
            loss_fn=loss_fn,
        )
        denom = jnp.maximum(weight, 1.0)
        grads = jax.tree.map(lambda g: g / denom, grads)
        updates, opt_state = tx.update(grads, state["opt_state"], state["params"])
        new_state = {
            "step": state["step"] + 1,
            "params": optax.apply_updates(state["params"], updates),
            "opt_state": opt_state,
            "rng": state["rng"],
        }
        metrics = {
            "loss": loss / denom,
            "z_loss": zl / denom,
            "weight_sum": weight,
            "grad_norm": optax.global_norm(grads),
        }
        return new_state, metrics

    return train_step


def make_eval_step(model: FunctionalModel, *, loss_fn: LossFn | None = None):
    """eval_step(params, batch) -> summed loss and weight (accumulate, then divide)."""
    loss_fn = loss_fn or default_loss_fn()

    def eval_step(params: dict, batch: dict):
        logits = model(params, batch, jax.random.key(0), deterministic=True)
        loss, _, weight = loss_fn(logits, *model.targets(batch), 0.0)
        return {"loss_sum": loss, "weight_sum": weight}

    return eval_step
