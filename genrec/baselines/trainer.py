"""Train a sequential baseline on split('train'), select by validation, report test.

Every position of a training sequence predicts the next item (SASRec's recipe). Loss 'ce' is the
full softmax over the catalogue; 'bce' is the original sampled loss with one negative per position,
drawn uniformly from the items not in the row's training window. The model is evaluated on the
validation split every `eval_every` epochs; the best parameters by `select_metric` are kept, training
stops after `patience` evaluations without improvement or past `max_wall_s`, and the kept parameters
are scored on the test split: `test` under the configured protocol, `test_other_protocol` with
history items excluded if they were not, and the reverse (the same parameters, for comparison).
"""
from __future__ import annotations

import dataclasses
import functools
import logging
import time
from typing import Optional

import gin
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from genrec.baselines import losses
from genrec.evaluate import full_ranking, sequences
from genrec.baselines.sasrec import SasRec, SasRecConfig
from genrec.datasets.records import RecDataset
from genrec.evaluate import protocol

LOSSES = ("ce", "bce")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class TrainConfig:
    loss: str = "ce"
    batch_size: int = 128
    learning_rate: float = 1e-3
    adam_b2: float = 0.98
    max_epochs: int = 200
    eval_every: int = 5
    patience: int = 5  # evaluations without a validation improvement before stopping
    max_wall_s: Optional[float] = None  # training time budget, checked after each epoch
    select_metric: str = "ndcg@10"
    exclude_history: bool = protocol.OFFLINE_DROP_HISTORY
    eval_batch_size: int = 512
    seed: int = 0

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"TrainConfig.loss={self.loss!r}; expected one of {LOSSES}")


def sample_negatives(tokens: np.ndarray, num_items: int, rng: np.random.Generator) -> np.ndarray:
    """[B, T] item ids (0-based), uniform over items absent from each row's window of tokens."""
    neg = rng.integers(0, num_items, tokens.shape)
    while True:
        clash = (neg[:, :, None] + 1 == tokens[:, None, :]).any(-1)
        if not clash.any():
            return neg.astype(np.int32)
        neg[clash] = rng.integers(0, num_items, int(clash.sum()))


def next_item_loss(model: SasRec, tokens, negatives, dropout_key, loss: str):
    """tokens [B, T + 1]: inputs are tokens[:, :-1], targets the next tokens."""
    inputs, targets = tokens[:, :-1], tokens[:, 1:]
    weights = ((inputs != sequences.PAD) & (targets != sequences.PAD)).astype(jnp.float32)
    hidden = model(inputs, dropout_key=dropout_key)
    target_items = jnp.maximum(targets - 1, 0)
    if loss == "ce":
        return losses.softmax_cross_entropy(hidden, model.item_embeddings(), target_items, weights)
    return losses.sampled_bce(hidden, model.item_embeddings(), target_items, negatives, weights)


@functools.partial(jax.jit, static_argnums=0)
def _last_position_scores(graphdef, params, tokens):
    model = nnx.merge(graphdef, params)
    return model(tokens)[:, -1] @ model.item_embeddings().T


def make_scorer(graphdef, params) -> full_ranking.Scorer:
    """Scores every item after each history's newest position (compiled once per graph)."""
    return lambda tokens: _last_position_scores(graphdef, params, tokens)


def train_sequential(dataset: RecDataset, model: SasRec, config: TrainConfig, *,
                     name: str = "sasrec") -> dict:
    """Trains `model`'s parameters (functionally; `model` itself is left as built) and scores them."""
    max_len = model.config.max_len
    tx = optax.adam(config.learning_rate, b2=config.adam_b2)
    graphdef, params = nnx.split(model)
    opt_state = tx.init(params)

    @jax.jit
    def step(params, opt_state, tokens, negatives, key):
        def loss_fn(p):
            return next_item_loss(nnx.merge(graphdef, p), tokens, negatives, key, config.loss)

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, loss

    train_seqs = [u.items for u in dataset.split("train")]
    rng = np.random.default_rng(config.seed)
    key = jax.random.key(config.seed)
    best = {"score": -1.0, "epoch": 0, "params": params, "validation": {}}
    history, steps, evals_since_best = [], 0, 0
    start, cpu_start = time.time(), time.process_time()
    epoch = 0
    for epoch in range(1, config.max_epochs + 1):
        epoch_start, total, count = time.time(), 0.0, 0
        for _, tokens in sequences.batches(train_seqs, config.batch_size, max_len, extra=1, rng=rng):
            negatives = (sample_negatives(tokens[:, 1:], dataset.num_items, rng)
                         if config.loss == "bce" else np.zeros((1, 1), np.int32))
            key, sub = jax.random.split(key)
            params, opt_state, loss = step(params, opt_state, tokens, negatives, sub)
            total, count, steps = total + float(loss), count + 1, steps + 1
        if not np.isfinite(total):
            raise FloatingPointError(f"{name}: non-finite loss in epoch {epoch}")
        line = (f"{name} epoch {epoch}: loss={total / count:.4f} {time.time() - epoch_start:.1f}s "
                f"(cpu {time.process_time() - cpu_start:.0f}s in all)")
        if epoch % config.eval_every == 0 or epoch == config.max_epochs:
            val = full_ranking.evaluate(make_scorer(graphdef, params), dataset, "validation",
                                        max_len=max_len, batch_size=config.eval_batch_size,
                                        exclude_history=config.exclude_history)
            history.append({"epoch": epoch, "loss": total / count, **val})
            line += f" val recall@10={val['recall@10']:.4f} ndcg@10={val['ndcg@10']:.4f}"
            if val[config.select_metric] > best["score"]:
                best = {"score": val[config.select_metric], "epoch": epoch, "params": params,
                        "validation": val}
                evals_since_best = 0
            else:
                evals_since_best += 1
        logging.info(line)
        if evals_since_best >= config.patience:
            logging.info("%s: no validation improvement in %d evaluations; stopping", name,
                         config.patience)
            break
        if config.max_wall_s is not None and time.time() - start > config.max_wall_s:
            logging.info("%s: wall-clock budget %.0fs reached; stopping", name, config.max_wall_s)
            break
    train_wall_s, train_cpu_s = time.time() - start, time.process_time() - cpu_start
    if not best["validation"]:  # budget ran out before the first scheduled evaluation
        best["validation"] = full_ranking.evaluate(
            make_scorer(graphdef, params), dataset, "validation", max_len=max_len,
            batch_size=config.eval_batch_size, exclude_history=config.exclude_history)
        best.update(epoch=epoch, params=params)
    scorer = make_scorer(graphdef, best["params"])
    test = {key: full_ranking.evaluate(scorer, dataset, "test", max_len=max_len,
                                       batch_size=config.eval_batch_size, exclude_history=exclude)
            for key, exclude in (("test", config.exclude_history),
                                 ("test_other_protocol", not config.exclude_history))}
    num_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
    device = jax.devices()[0]
    return {
        "name": name, "dataset": dataset.name,
        "metrics": {"validation": best["validation"], **test},
        "cost": {"epochs": epoch, "best_epoch": best["epoch"], "steps": steps,
                 "train_wall_s": train_wall_s, "train_cpu_s": train_cpu_s,
                 "wall_s": time.time() - start,
                 "device_kind": device.device_kind, "num_devices": 1, "num_params": num_params},
        "config": {**dataclasses.asdict(model.config), **dataclasses.asdict(config)},
        "protocol": protocol.describe(config.exclude_history),  # of "validation" and "test"
        "validation_history": history,
    }


@gin.configurable
def run_sasrec(dataset: RecDataset, *, name: str = "sasrec", model_config: SasRecConfig = None,
               train_config: TrainConfig = None) -> dict:
    """SASRec with the gin-bound configs (scoped per baseline, e.g. `sasrec_bce/TrainConfig.loss`)."""
    model_config = model_config or SasRecConfig()
    train_config = train_config or TrainConfig()
    model = SasRec(dataset.num_items, model_config, rngs=nnx.Rngs(train_config.seed))
    return train_sequential(dataset, model, train_config, name=name)
