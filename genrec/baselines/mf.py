"""Biased matrix factorization for the rating task: r̂(u, i) = μ + b_u + b_i + <p_u, q_i>.

Same leave-one-out protocol as every other row: fit on the ratings of split('train'), select the
epoch by validation RMSE (the rating of each user's second-to-last item), report test RMSE / MAE
(the rating of the last item). Predictions are clipped to the rating scale [1, 5], as the genrec
evaluator clips parsed ratings. Loss: mean squared error + l2 · (|p_u|² + |q_i|² + b_u² + b_i²) per
rating, minibatch Adam.
"""

from __future__ import annotations

import dataclasses
import logging
import time

import gin
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from genrec.datasets.records import RecDataset

RATING_RANGE = (1.0, 5.0)


@gin.configurable
@dataclasses.dataclass(frozen=True)
class MfConfig:
    dim: int = 32
    l2: float = 0.02
    learning_rate: float = 3e-3
    batch_size: int = 1024
    max_epochs: int = 200
    patience: int = 10  # epochs without a validation improvement before stopping
    seed: int = 0


class BiasedMF(nnx.Module):
    def __init__(self, num_users: int, num_items: int, dim: int, global_mean: float, *, rngs: nnx.Rngs):
        init = nnx.initializers.normal(stddev=0.01)
        self.global_mean = float(global_mean)
        self.user_vec = nnx.Param(init(rngs.params(), (num_users, dim)))
        self.item_vec = nnx.Param(init(rngs.params(), (num_items, dim)))
        self.user_bias = nnx.Param(jnp.zeros(num_users))
        self.item_bias = nnx.Param(jnp.zeros(num_items))

    def __call__(self, users: jax.Array, items: jax.Array) -> jax.Array:
        dot = (self.user_vec[...][users] * self.item_vec[...][items]).sum(-1)
        return self.global_mean + self.user_bias[...][users] + self.item_bias[...][items] + dot

    def penalty(self, users: jax.Array, items: jax.Array) -> jax.Array:
        """Per-rating L2 of the parameters it touches."""
        return (
            (self.user_vec[...][users] ** 2).sum(-1)
            + (self.item_vec[...][items] ** 2).sum(-1)
            + self.user_bias[...][users] ** 2
            + self.item_bias[...][items] ** 2
        )


def rmse_mae(predictions: np.ndarray, targets: np.ndarray) -> dict[str, float]:
    err = np.asarray(predictions, np.float64) - np.asarray(targets, np.float64)
    return {"rmse": float(np.sqrt(np.mean(err**2))), "mae": float(np.mean(np.abs(err)))}


def rating_triples(dataset: RecDataset, split: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(user index, item, rating): every training rating, or each user's held-out target rating."""
    if not dataset.has_ratings:
        raise ValueError(f"dataset {dataset.name!r} has no ratings; the MF baseline needs them")
    users = dataset.split(split)
    if split == "train":
        u = np.concatenate([np.full(len(h), k, np.int32) for k, h in enumerate(users)])
        return u, np.concatenate([h.items for h in users]), np.concatenate([h.ratings for h in users])
    return (
        np.arange(len(users), dtype=np.int32),
        np.array([h.items[-1] for h in users]),
        np.array([h.ratings[-1] for h in users], np.float32),
    )


def predict(model: BiasedMF, users, items) -> np.ndarray:
    return np.clip(np.asarray(model(jnp.asarray(users), jnp.asarray(items))), *RATING_RANGE)


def run_global_mean(dataset: RecDataset) -> dict:
    """The constant prediction μ (the training mean): the floor any rating model must beat."""
    mean = float(rating_triples(dataset, "train")[2].mean())
    metrics = {
        s: rmse_mae(np.full(len(t), mean), t)
        for s in ("validation", "test")
        for t in [rating_triples(dataset, s)[2]]
    }
    return {
        "name": "global-mean",
        "dataset": dataset.name,
        "metrics": metrics,
        "cost": {"epochs": 0, "steps": 0, "train_wall_s": 0.0},
        "config": {"mean": mean},
    }


@gin.configurable
def run_biased_mf(dataset: RecDataset, *, name: str = "biased-mf", config: MfConfig = None) -> dict:
    config = config or MfConfig()
    users, items, ratings = rating_triples(dataset, "train")
    val = rating_triples(dataset, "validation")
    test = rating_triples(dataset, "test")
    model = BiasedMF(
        len(dataset.users), dataset.num_items, config.dim, ratings.mean(), rngs=nnx.Rngs(config.seed)
    )
    graphdef, params = nnx.split(model)
    tx = optax.adam(config.learning_rate)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, u, i, r, w):
        def loss_fn(p):
            m = nnx.merge(graphdef, p)
            per = (m(u, i) - r) ** 2 + config.l2 * m.penalty(u, i)
            return (per * w).sum() / w.sum()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    rng = np.random.default_rng(config.seed)
    n, bs = len(ratings), config.batch_size
    best = {"rmse": np.inf, "epoch": 0, "params": params}
    start, cpu_start, steps, epoch = time.time(), time.process_time(), 0, 0
    for epoch in range(1, config.max_epochs + 1):
        order = rng.permutation(n)
        order = np.concatenate([order, np.full(-n % bs, -1)])  # pad to whole batches, weight 0
        for rows in order.reshape(-1, bs):
            w = (rows >= 0).astype(np.float32)
            rows = np.maximum(rows, 0)
            params, opt_state, _ = step(params, opt_state, users[rows], items[rows], ratings[rows], w)
            steps += 1
        val_rmse = rmse_mae(predict(nnx.merge(graphdef, params), val[0], val[1]), val[2])["rmse"]
        if val_rmse < best["rmse"]:
            best = {"rmse": val_rmse, "epoch": epoch, "params": params}
        if epoch % 10 == 0:
            logging.info(
                "%s epoch %d: validation rmse %.4f (best %.4f at %d)",
                name,
                epoch,
                val_rmse,
                best["rmse"],
                best["epoch"],
            )
        if epoch - best["epoch"] >= config.patience:
            break
    train_wall_s = time.time() - start
    model = nnx.merge(graphdef, best["params"])
    metrics = {
        s: rmse_mae(predict(model, t[0], t[1]), t[2]) for s, t in (("validation", val), ("test", test))
    }
    device = jax.devices()[0]
    return {
        "name": name,
        "dataset": dataset.name,
        "metrics": metrics,
        "cost": {
            "epochs": epoch,
            "best_epoch": best["epoch"],
            "steps": steps,
            "train_wall_s": train_wall_s,
            "train_cpu_s": time.process_time() - cpu_start,
            "device_kind": device.device_kind,
            "num_devices": 1,
        },
        "config": dataclasses.asdict(config),
    }
