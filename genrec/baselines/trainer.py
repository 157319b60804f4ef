"""Train a sequential baseline on split('train'), select by validation, report test.

Every position of a training sequence predicts the next item (SASRec's recipe); with
`training_windows='all'` a user longer than the model's window is cut into windows so that every
training item is a target (`all_position_windows`), else only the last max_len + 1 items are read.
Loss 'ce' is the full softmax over the catalogue; 'bce' is the original sampled loss with one negative
per position, drawn uniformly from the items not in the row's training window; 'sampled_softmax' is
eSASRec's loss, a softmax over the target and `num_negatives` uniform items shared by the batch. The
model is evaluated on the validation split every `eval_every` epochs; the best parameters by
`select_metric` are kept, training stops after `patience` evaluations without improvement or past
`max_wall_s`, and the kept parameters are scored on the test split: `test` under the configured
protocol, `test_other_protocol` with history items excluded if they were not, and the reverse (the
same parameters, for comparison).
`score_test=False` stops after selection (a validation-only search, benchmarks/quality/PROTOCOL.md);
`per_user_dir` writes each user's NDCG@10 and hit@10 of the selected parameters there (.npz).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import os
import time
from typing import Optional

import gin
import jax
import jax.numpy as jnp
import numpy as np
import optax
from flax import nnx

from genrec.baselines import losses
from genrec.baselines.sasrec import SasRec, SasRecConfig
from genrec.datasets.records import RecDataset
from genrec.evaluate import full_ranking, protocol, sequences

LOSSES = ("ce", "bce", "sampled_softmax")
WINDOWS = ("last", "all")


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
    num_negatives: int = 256  # 'sampled_softmax': uniform negatives per batch
    training_windows: str = "last"  # 'last': each user's last max_len + 1 items; 'all': every target
    score_test: bool = True
    per_user_dir: Optional[str] = None

    def __post_init__(self):
        if self.loss not in LOSSES:
            raise ValueError(f"TrainConfig.loss={self.loss!r}; expected one of {LOSSES}")
        if self.training_windows not in WINDOWS:
            raise ValueError(
                f"TrainConfig.training_windows={self.training_windows!r}; expected one of {WINDOWS}"
            )


def sample_negatives(tokens: np.ndarray, num_items: int, rng: np.random.Generator) -> np.ndarray:
    """[B, T] item ids (0-based), uniform over items absent from each row's window of tokens."""
    neg = rng.integers(0, num_items, tokens.shape)
    while True:
        clash = (neg[:, :, None] + 1 == tokens[:, None, :]).any(-1)
        if not clash.any():
            return neg.astype(np.int32)
        neg[clash] = rng.integers(0, num_items, int(clash.sum()))


def all_position_windows(seqs, max_len: int) -> list[np.ndarray]:
    """Each sequence cut, from its end, into windows of at most max_len + 1 items overlapping by one
    item: every item after a sequence's first is a next-item target in exactly one window, read with
    up to max_len items before it. A sequence of at most max_len + 1 items stays whole."""
    out = []
    for s in seqs:
        s = np.asarray(s)
        out.append(s[max(0, len(s) - max_len - 1) :])
        for end in range(len(s) - max_len, 1, -max_len):
            out.append(s[max(0, end - max_len - 1) : end])
    return out


def draw_negatives(
    config: "TrainConfig", tokens: np.ndarray, num_items: int, rng: np.random.Generator
) -> np.ndarray:
    """The negatives a training batch's loss needs: per position for 'bce', [K] shared for
    'sampled_softmax', a placeholder for 'ce'."""
    if config.loss == "bce":
        return sample_negatives(tokens[:, 1:], num_items, rng)
    if config.loss == "sampled_softmax":
        return rng.integers(0, num_items, config.num_negatives).astype(np.int32)
    return np.zeros((1, 1), np.int32)


def real_positions(tokens):
    """bool [B, T] (numpy or jax, as given): where tokens[:, :-1] is a real item with a real next one."""
    return (tokens[:, :-1] != sequences.PAD) & (tokens[:, 1:] != sequences.PAD)


def batch_capacity(tokens: np.ndarray) -> int:
    """The compacted positions of a training batch (losses.position_capacity of its real ones)."""
    return losses.position_capacity(int(real_positions(tokens).sum()), tokens[:, :-1].size)


def next_item_loss(model: SasRec, tokens, negatives, dropout_key, loss: str, capacity: Optional[int] = None):
    """tokens [B, T + 1]: inputs are tokens[:, :-1], targets the next tokens. capacity: score only
    the real positions, compacted into this many slots (losses.compact_positions; the same value)."""
    weights = real_positions(tokens).astype(jnp.float32)
    hidden = model(tokens[:, :-1], dropout_key=dropout_key)
    target_items = jnp.maximum(tokens[:, 1:] - 1, 0)
    if capacity is not None:
        hidden, target_items, negatives, weights = losses.compact_positions(
            hidden, target_items, negatives, weights, capacity
        )
    if loss == "ce":
        return losses.softmax_cross_entropy(hidden, model.item_embeddings(), target_items, weights)
    if loss == "sampled_softmax":
        return losses.sampled_softmax(hidden, model.item_embeddings(), target_items, negatives, weights)
    return losses.sampled_bce(hidden, model.item_embeddings(), target_items, negatives, weights)


@functools.partial(jax.jit, static_argnums=0)
def _last_position_scores(graphdef, params, tokens):
    model = nnx.merge(graphdef, params)
    return model(tokens)[:, -1] @ model.item_embeddings().T


def make_scorer(graphdef, params) -> full_ranking.Scorer:
    """Scores every item after each history's newest position (compiled once per graph)."""
    return lambda tokens: _last_position_scores(graphdef, params, tokens)


def make_step(graphdef, tx: optax.GradientTransformation, loss: str):
    """The jitted training step (params, opt_state, tokens, negatives, dropout key, capacity) →
    (params, opt_state, loss); capacity (static) as in next_item_loss."""

    @functools.partial(jax.jit, static_argnames="capacity")
    def step(params, opt_state, tokens, negatives, key, capacity=None):
        def loss_fn(p):
            return next_item_loss(nnx.merge(graphdef, p), tokens, negatives, key, loss, capacity)

        value, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state, value

    return step


def training_sequences(dataset: RecDataset, config: TrainConfig, max_len: int) -> list[np.ndarray]:
    """The training split's sequences as the config reads them (`training_windows`)."""
    train_seqs = [u.items for u in dataset.split("train")]
    return all_position_windows(train_seqs, max_len) if config.training_windows == "all" else train_seqs


def train_sequential(
    dataset: RecDataset, model: SasRec, config: TrainConfig, *, name: str = "sasrec"
) -> dict:
    """Trains `model`'s parameters (functionally; `model` itself is left as built) and scores them."""
    max_len = model.config.max_len
    tx = optax.adam(config.learning_rate, b2=config.adam_b2)
    graphdef, params = nnx.split(model)
    opt_state = tx.init(params)
    step = make_step(graphdef, tx, config.loss)
    train_seqs = training_sequences(dataset, config, max_len)
    rng = np.random.default_rng(config.seed)
    key = jax.random.key(config.seed)
    best = {"score": -1.0, "epoch": 0, "params": params, "validation": {}, "per_user": None}
    evaluate = functools.partial(
        full_ranking.evaluate_per_user, dataset=dataset, max_len=max_len, batch_size=config.eval_batch_size
    )
    history, steps, evals_since_best = [], 0, 0
    start, cpu_start = time.time(), time.process_time()
    epoch = 0
    for epoch in range(1, config.max_epochs + 1):
        epoch_start, total, count = time.time(), 0.0, 0
        for _, tokens in sequences.batches(train_seqs, config.batch_size, max_len, extra=1, rng=rng):
            negatives = draw_negatives(config, tokens, dataset.num_items, rng)
            key, sub = jax.random.split(key)
            capacity = batch_capacity(tokens)
            params, opt_state, loss = step(params, opt_state, tokens, negatives, sub, capacity=capacity)
            total, count, steps = total + float(loss), count + 1, steps + 1
        if not np.isfinite(total):
            raise FloatingPointError(f"{name}: non-finite loss in epoch {epoch}")
        line = (
            f"{name} epoch {epoch}: loss={total / count:.4f} {time.time() - epoch_start:.1f}s "
            f"(cpu {time.process_time() - cpu_start:.0f}s in all)"
        )
        if epoch % config.eval_every == 0 or epoch == config.max_epochs:
            val, per_user = evaluate(
                make_scorer(graphdef, params), split="validation", exclude_history=config.exclude_history
            )
            history.append({"epoch": epoch, "loss": total / count, **val})
            line += f" val recall@10={val['recall@10']:.4f} ndcg@10={val['ndcg@10']:.4f}"
            if val[config.select_metric] > best["score"]:
                best = {
                    "score": val[config.select_metric],
                    "epoch": epoch,
                    "params": params,
                    "validation": val,
                    "per_user": per_user,
                }
                evals_since_best = 0
            else:
                evals_since_best += 1
        logging.info(line)
        if evals_since_best >= config.patience:
            logging.info("%s: no validation improvement in %d evaluations; stopping", name, config.patience)
            break
        if config.max_wall_s is not None and time.time() - start > config.max_wall_s:
            logging.info("%s: wall-clock budget %.0fs reached; stopping", name, config.max_wall_s)
            break
    train_wall_s, train_cpu_s = time.time() - start, time.process_time() - cpu_start
    if not best["validation"]:  # budget ran out before the first scheduled evaluation
        best["validation"], best["per_user"] = evaluate(
            make_scorer(graphdef, params), split="validation", exclude_history=config.exclude_history
        )
        best.update(epoch=epoch, params=params)
    scorer = make_scorer(graphdef, best["params"])
    test, per_user = {}, {"validation": best["per_user"]}
    if config.score_test:
        for key, exclude in (
            ("test", config.exclude_history),
            ("test_other_protocol", not config.exclude_history),
        ):
            test[key], per_user[key] = evaluate(scorer, split="test", exclude_history=exclude)
    per_user_files = {}
    if config.per_user_dir:
        os.makedirs(config.per_user_dir, exist_ok=True)
        excluded = {
            "validation": config.exclude_history,
            "test": config.exclude_history,
            "test_other_protocol": not config.exclude_history,
        }
        for key, arrays in per_user.items():  # PROTOCOL.md: per_user_<split>_<protocol>.npz
            split = key.split("_")[0]
            protocol_name = "excluded" if excluded[key] else "kept"
            path = os.path.join(config.per_user_dir, f"per_user_{split}_{protocol_name}.npz")
            full_ranking.save_per_user(path, arrays)
            per_user_files[key] = path
    num_params = sum(int(np.prod(x.shape)) for x in jax.tree.leaves(params))
    device = jax.devices()[0]
    return {
        "name": name,
        "dataset": dataset.name,
        "metrics": {"validation": best["validation"], **test},
        "cost": {
            "epochs": epoch,
            "best_epoch": best["epoch"],
            "steps": steps,
            "train_wall_s": train_wall_s,
            "train_cpu_s": train_cpu_s,
            "wall_s": time.time() - start,
            "cpu_s": time.process_time() - cpu_start,
            "device_kind": device.device_kind,
            "num_devices": 1,
            "num_params": num_params,
        },
        "config": {**dataclasses.asdict(model.config), **dataclasses.asdict(config)},
        "protocol": protocol.describe(config.exclude_history),  # of "validation" and "test"
        "validation_history": history,
        "per_user_files": per_user_files,  # {"validation" / "test" / "test_other_protocol": .npz path}
        "history_items_read": max_len,
        "ranking": "exact over the catalogue",
    }


@gin.configurable
def run_sasrec(
    dataset: RecDataset,
    *,
    name: str = "sasrec",
    model_config: SasRecConfig = None,
    train_config: TrainConfig = None,
) -> dict:
    """SASRec with the gin-bound configs (scoped per baseline, e.g. `sasrec_bce/TrainConfig.loss`)."""
    model_config = model_config or SasRecConfig()
    train_config = train_config or TrainConfig()
    model = SasRec(dataset.num_items, model_config, rngs=nnx.Rngs(train_config.seed))
    return train_sequential(dataset, model, train_config, name=name)
