"""Leave-one-out evaluation by full ranking over the catalogue, with genrec's ranking metrics.

A scorer maps a batch of left-padded history tokens [B, T] to scores over every item [B, num_items]
(padding is not an item, so it can never be recommended). Every ranker follows
genrec/evaluate/protocol.py: the target's rank is taken over the whole catalogue with ties against it,
and history items are kept by default (protocol.OFFLINE_DROP_HISTORY) or, with `exclude_history=True`,
the user's whole history is excluded (not only the max_len items the model reads). The metrics include
`target_in_history` and `history@10` (beyond_accuracy.history_repeats) over the whole history: on
Amazon Beauty no target is a history item, yet a converged SASRec-CE fills 13 % of its top-10 with
them (benchmarks/quality/RESULTS.md).
"""

from __future__ import annotations

import functools
from typing import Callable, Optional

import jax
import jax.numpy as jnp
import numpy as np

from genrec.datasets.records import RecDataset
from genrec.evaluate import data_parallel, protocol, sequences
from genrec.evaluate.beyond_accuracy import beyond_accuracy, history_repeats, train_popularity
from genrec.evaluate.ranking import SEQUENTIAL_KS, metrics_from_ranks

Scorer = Callable[[jax.Array], jax.Array]
KS = SEQUENTIAL_KS


def leave_one_out(
    dataset: RecDataset, split: str, users: Optional[np.ndarray] = None
) -> tuple[list[np.ndarray], np.ndarray]:
    """(histories, targets) of the validation or test split (of the users at indices `users`,
    default all): the last item is the target."""
    if split not in ("validation", "test"):
        raise ValueError(f"split {split!r} has no held-out target; use 'validation' or 'test'")
    chosen = dataset.split(split, users)
    return [u.items[:-1] for u in chosen], np.array([u.items[-1] for u in chosen], np.int32)


def user_sample(num_users: int, size: Optional[int], seed: int = 0) -> Optional[np.ndarray]:
    """Sorted indices of `size` users drawn without replacement from `num_users` by `seed` (the same
    users at every call); None (every user) when `size` is None or covers them all."""
    if size is None or size >= num_users:
        return None
    if size < 1:
        raise ValueError(f"a user sample needs at least 1 user, got {size}")
    return np.sort(np.random.default_rng(seed).choice(num_users, size, replace=False))


@functools.partial(jax.jit, static_argnames=("k",))
def rank_batch(scores: jax.Array, history: jax.Array, targets: jax.Array, k: int):
    """(top-k item ids [B, k], each target's rank [B]) once the items of `history` ([B, H] ids,
    protocol.padded_histories) score -inf; ranks count ties against the target."""
    scores = protocol.exclude_history(scores.astype(jnp.float32), history)
    target_scores = jnp.take_along_axis(scores, targets[:, None], axis=1)[:, 0]
    return jax.lax.top_k(scores, k)[1], protocol.pessimistic_ranks(scores, target_scores)


def _bound_rank_batch(*args, fn, k: int):
    """rank_batch of a data_parallel.Bound scorer: args are its bound arguments, then the batch."""
    *bound, tokens, history, targets = args
    return rank_batch(fn(*bound, tokens), history, targets, k)


def rank(
    scorer: Scorer,
    histories,
    targets,
    *,
    k: int,
    max_len: int,
    batch_size: int = 512,
    exclude_history: bool = protocol.OFFLINE_DROP_HISTORY,
) -> tuple[np.ndarray, np.ndarray]:
    """([len(histories), k] item ids best first (equal scores: lower item id first), [len] each
    target's 0-based rank over the whole catalogue, ties counted against it). `scorer`: a Scorer, or
    a ranker that ranks the catalogue itself, `rank(tokens, excluded, targets, k) -> (top-k ids,
    ranks)` (genrec/evaluate/exact.py:Ranker: chunked over the items, no [B, N] scores)."""
    targets = np.asarray(targets, np.int32)
    if hasattr(scorer, "rank"):
        return _rank_by_ranker(scorer, histories, targets, k, max_len, batch_size, exclude_history)
    split = isinstance(scorer, data_parallel.Bound)  # users split over the mesh's batch axes
    batch_size = data_parallel.rows_per_call(batch_size) if split else batch_size
    topk, ranks = np.zeros((len(histories), k), np.int32), np.zeros(len(histories), np.int64)
    for index, tokens in sequences.batches(histories, batch_size, max_len):
        real = index >= 0
        rows = np.where(real, index, 0)  # padding rows repeat user 0; dropped below
        excluded = protocol.excluded_histories([histories[r] for r in rows], exclude_history)
        batch = (tokens, excluded, targets[rows])
        if split:
            best, rank_ = data_parallel.run(_bound_rank_batch, scorer.args, batch, fn=scorer.fn, k=k)
        else:
            best, rank_ = rank_batch(scorer(jnp.asarray(tokens)), *map(jnp.asarray, batch[1:]), k)
        topk[index[real]], ranks[index[real]] = np.asarray(best)[real], np.asarray(rank_)[real]
    return topk, ranks


def _rank_by_ranker(ranker, histories, targets, k, max_len, batch_size, exclude_history):
    topk, ranks = np.zeros((len(histories), k), np.int32), np.zeros(len(histories), np.int64)
    for index, tokens in sequences.batches(histories, batch_size, max_len):
        real = index >= 0
        rows = np.where(real, index, 0)  # padding rows repeat user 0; dropped below
        excluded = protocol.excluded_histories([histories[r] for r in rows], exclude_history)
        best, rank_ = ranker.rank(tokens, excluded, targets[rows], k)
        topk[index[real]], ranks[index[real]] = np.asarray(best)[real], np.asarray(rank_)[real]
    return topk, ranks


PER_USER_K = 10  # the cutoff of the per-user arrays (benchmarks/quality/PROTOCOL.md)


def per_user_metrics(ranks: np.ndarray, k: int = PER_USER_K) -> dict[str, np.ndarray]:
    """Each user's NDCG@k and hit@k (float64 [N]) from 0-based target ranks; their means are
    metrics_from_ranks' ndcg@k and recall@k (genrec/evaluate/significance.py tests them paired)."""
    ranks = np.asarray(ranks, np.float64)
    hit = ranks < k
    return {f"ndcg@{k}": np.where(hit, 1.0 / np.log2(ranks + 2.0), 0.0), f"hit@{k}": hit.astype(np.float64)}


def evaluate_per_user(
    scorer: Scorer,
    dataset: RecDataset,
    split: str,
    *,
    max_len: int,
    batch_size: int = 512,
    exclude_history: bool = protocol.OFFLINE_DROP_HISTORY,
    beyond: bool = False,
    users: Optional[np.ndarray] = None,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """`evaluate`'s metrics and, per user of `split` in its order, NDCG@10 and hit@10 arrays
    (of the users at indices `users` only, e.g. `user_sample`'s; default all)."""
    histories, targets = leave_one_out(dataset, split, users)
    k = min(max(KS), dataset.num_items)
    topk, ranks = rank(
        scorer,
        histories,
        targets,
        k=k,
        max_len=max_len,
        batch_size=batch_size,
        exclude_history=exclude_history,
    )
    out = {**metrics_from_ranks(ranks, k, ks=KS), **history_repeats(topk, histories, targets)}
    if beyond:
        out.update(beyond_accuracy(topk, targets, train_popularity(dataset)))
    return out, per_user_metrics(ranks)


def evaluate(
    scorer: Scorer,
    dataset: RecDataset,
    split: str,
    *,
    max_len: int,
    batch_size: int = 512,
    exclude_history: bool = protocol.OFFLINE_DROP_HISTORY,
    beyond: bool = False,
    users: Optional[np.ndarray] = None,
) -> dict[str, float]:
    """Ranking metrics of every user of `split` (or of the users at indices `users`); with `beyond`,
    also coverage@10 and the mean training popularity of the recommended items
    (genrec/evaluate/beyond_accuracy.py)."""
    return evaluate_per_user(
        scorer,
        dataset,
        split,
        max_len=max_len,
        batch_size=batch_size,
        exclude_history=exclude_history,
        beyond=beyond,
        users=users,
    )[0]


def save_per_user(path: str, per_user: dict[str, np.ndarray]) -> None:
    """Writes the per-user arrays as a compressed .npz (mostly zeros: misses; no pickled objects,
    np.load(path) reads them back)."""
    np.savez_compressed(path, **per_user)
