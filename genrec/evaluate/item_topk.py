"""Exact top-k over a catalogue scored chunk by chunk, its items sharded over devices, then merged.

A user's score for every item is computed a chunk of items at a time (`chunk` columns), so memory is
O(users x chunk) whatever the catalogue size; each chunk's top-k is merged into the running top-k.
With a mesh, the item table is split over mesh axes (`item_axes`): each device sweeps its own
contiguous id range and the per-device top-k lists are gathered and merged. Users are replicated.

Scores come from one of two chunk scorers (genrec/evaluate/exact.py builds their queries):
- `vector_scores`: query (h [B, d], offset [B]), items e [N, d]: h . e_n - offset, one matmul. For
  the parallel-digit model's linear heads this is its log-probability of item n exactly (offset is
  the sum of the per-digit log-normalisers, the same for every item of a user).
- `digit_scores`: query per-digit log-probabilities [B, M, K], items codes [N, M]: the digit sum,
  one gather (parallel_ids.item_scores); for any head.

The protocol (genrec/evaluate/protocol.py) holds as in the dense ranking: the items of `history`
score -inf; equal scores rank the lower item id first (chunks and shards are swept in id order and
lax.top_k keeps the earlier of equal values), so the result equals `lax.top_k` of the dense
[B, N] scores, ties included; `ranks` counts ties against the target from the same chunk
arithmetic (the target's score is read from its own chunk, then a second sweep counts the items
scoring at least as high).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from genrec.evaluate import protocol
from genrec.model import parallel_ids
from genrec.runtime import partitioning

DEFAULT_CHUNK = 16384  # items per chunk: 128 users x 16k float32 scores = 8 MB
LAYOUT_GRANULE = 1024  # a chunk narrower than DEFAULT_CHUNK is a multiple of this (or a power of two)
ChunkScorer = Callable[..., jax.Array]  # (query, items chunk) → [B, chunk] scores


def vector_scores(query, vectors: jax.Array) -> jax.Array:
    """query = (h [B, d], offset [B]); vectors [C, d] → [B, C] = h . e - offset (float32)."""
    h, offset = query
    return jnp.matmul(h, vectors.T.astype(h.dtype), preferred_element_type=jnp.float32) - offset[:, None]


def digit_scores(query, codes: jax.Array) -> jax.Array:
    """query = per-digit log-probabilities [B, M, K]; codes [C, M] → [B, C] digit sums."""
    return parallel_ids.item_scores(query, codes).astype(jnp.float32)


def item_axes(mesh: jax.sharding.Mesh) -> tuple[str, ...]:
    """The mesh axes items are split over: the rules table's 'items' rule when it has one, else
    every mesh axis (users are replicated here); axes of size 1 are left out."""
    rules = dict(partitioning.LOGICAL_AXIS_RULES)
    names = rules["items"] if "items" in rules else tuple(mesh.axis_names)
    return tuple(a for a in names if mesh.shape[a] > 1)


def _merge(best, new, k: int):
    """Two (scores, ids) top lists, `best` holding lower ids at equal scores → their top k."""
    scores = jnp.concatenate([best[0], new[0]], axis=1)
    ids = jnp.concatenate([best[1], new[1]], axis=1)
    top, where = jax.lax.top_k(scores, k)
    return top, jnp.take_along_axis(ids, where, axis=1)


def _chunk_top(scores: jax.Array, k: int, approx: float | None):
    if approx is None:
        return jax.lax.top_k(scores, k)
    return jax.lax.approx_max_k(scores, k, recall_target=approx)


def _sweep(
    score_fn,
    query,
    items,
    first_id,
    *,
    num_items: int,
    k: int,
    chunk: int,
    history,
    targets,
    threshold,
    approx: float | None,
    with_targets: bool = True,
    with_count: bool = True,
):
    """One device's items (leaves [n, ...], n a multiple of chunk, global ids first_id + row) →
    (top scores [B, k], ids [B, k], target scores [B] (-inf where not here, or without
    `with_targets`), counts [B] of scores >= threshold (0 without `with_count`))."""
    n = jax.tree.leaves(items)[0].shape[0]
    batch = jax.tree.leaves(query)[0].shape[0]
    rows = jnp.arange(batch)[:, None]

    def body(carry, c):
        best, target_score, count = carry
        start = c * chunk
        part = jax.tree.map(lambda x: jax.lax.dynamic_slice_in_dim(x, start, chunk), items)
        scores = score_fn(query, part).astype(jnp.float32)
        base = first_id + start
        ids = base + jnp.arange(chunk, dtype=jnp.int32)
        scores = jnp.where(ids[None] < num_items, scores, -jnp.inf)  # padding rows are not items
        if history is not None:
            local = history - base
            local = jnp.where((history != protocol.NO_HISTORY) & (local >= 0) & (local < chunk), local, chunk)
            scores = scores.at[rows, local].set(-jnp.inf, mode="drop")
        if with_targets:
            local = targets - base
            here = (local >= 0) & (local < chunk)
            got = jnp.take_along_axis(scores, jnp.clip(local, 0, chunk - 1)[:, None], axis=1)[:, 0]
            target_score = jnp.maximum(target_score, jnp.where(here, got, -jnp.inf))
        if with_count:
            count = count + (scores >= threshold[:, None]).sum(axis=1, dtype=jnp.int32)
        top, where = _chunk_top(scores, min(k, chunk), approx)
        return (_merge(best, (top, jnp.take(ids, where)), k), target_score, count), None

    init = (
        (jnp.full((batch, k), -jnp.inf, jnp.float32), jnp.full((batch, k), -1, jnp.int32)),
        jnp.full((batch,), -jnp.inf, jnp.float32),
        jnp.zeros((batch,), jnp.int32),
    )
    (best, target_score, count), _ = jax.lax.scan(body, init, jnp.arange(n // chunk))
    return best[0], best[1], target_score, count


def _layout(num_items: int, shards: int, chunk: int) -> tuple[int, int]:
    """(chunk, padded item count): every shard a whole number of chunks; a chunk no wider than the
    shard's items rounded up to a power of two or to a multiple of LAYOUT_GRANULE, whichever is
    smaller, so a catalogue that grows or shrinks a little keeps its matmul shapes (and an item's
    score its bits) and little of a chunk is padding (12,101 items: 12,288 rows, not 16,384)."""
    per_shard = -(-num_items // shards)
    rounded = min(1 << (per_shard - 1).bit_length(), -(-per_shard // LAYOUT_GRANULE) * LAYOUT_GRANULE)
    chunk = max(1, min(chunk, rounded))
    per_shard = -(-per_shard // chunk) * chunk
    return chunk, per_shard * shards


def pad_items(items, num_rows: int):
    """Item table leaves [N, ...] → [num_rows, ...], zero rows appended (they score -inf in `_sweep`)."""

    def pad(x):
        extra = num_rows - x.shape[0]
        return x if extra == 0 else jnp.concatenate([x, jnp.zeros((extra,) + x.shape[1:], x.dtype)])

    return jax.tree.map(pad, items)


def place_items(items, *, num_items: int, chunk: int = DEFAULT_CHUNK, mesh: jax.sharding.Mesh | None = None):
    """The item table (leaves [N, ...]) padded to `sweep`'s layout and split over the mesh's item axes
    (`item_axes`): each device holds only its own rows. Done once per catalogue (serving) or step."""
    mesh = resolve_mesh(mesh)
    axes = item_axes(mesh)
    shards = math.prod(mesh.shape[a] for a in axes)
    _, rows = _layout(num_items, shards, chunk)
    spec = P(axes) if axes else P()
    return jax.tree.map(
        lambda x: jax.device_put(x, NamedSharding(mesh, spec)),
        pad_items(jax.tree.map(jnp.asarray, items), rows),
    )


def resolve_mesh(mesh: jax.sharding.Mesh | None = None) -> jax.sharding.Mesh:
    """`mesh`, else the one set by jax.set_mesh, else the first device alone (call outside jit)."""
    if mesh is not None:
        return mesh
    mesh = jax.sharding.get_mesh()
    return partitioning.make_mesh(devices=jax.devices()[:1]) if mesh.empty else mesh


def sweep(
    score_fn: ChunkScorer,
    query,
    items,
    *,
    num_items: int,
    k: int,
    chunk: int = DEFAULT_CHUNK,
    history=None,
    targets=None,
    threshold=None,
    approx: float | None = None,
    mesh: jax.sharding.Mesh | None = None,
):
    """Top-k of every user over `num_items` items, chunked and split over the mesh's item axes.

    score_fn(query, items chunk) → [B, chunk]; items: leaves [N or more rows, ...] (`place_items`
    pads and splits them; an unpadded table is padded here); history [B, H] item ids
    (protocol.padded_histories) scored -inf; targets [B] item ids. Returns (scores [B, k], ids [B, k]
    best first, equal scores lower id first; target scores [B] (-inf without targets); counts [B] of
    items scoring >= threshold [B] (zeros without one)). `approx`: each chunk's top-k is
    jax.lax.approx_max_k with this recall target (exact merges). Call it inside or outside jit.
    """
    mesh = resolve_mesh(mesh)
    axes = item_axes(mesh)
    shards = math.prod(mesh.shape[a] for a in axes)
    chunk, rows = _layout(num_items, shards, chunk)
    items = pad_items(items, rows)
    batch = jax.tree.leaves(query)[0].shape[0]
    wanted = dict(with_targets=targets is not None, with_count=threshold is not None)
    threshold = jnp.full((batch,), jnp.inf, jnp.float32) if threshold is None else threshold
    if history is None:  # arrays either way: one program shape under shard_map
        history = jnp.full((batch, 1), protocol.NO_HISTORY, jnp.int32)
    if targets is None:  # no item has id -1: every target score stays -inf
        targets = jnp.full((batch,), -1, jnp.int32)
    local = functools.partial(
        _sweep, score_fn, num_items=num_items, k=k, chunk=chunk, approx=approx, **wanted
    )
    if not axes:
        return local(query, items, 0, history=history, targets=targets, threshold=threshold)

    def shard(query, items, history, targets, threshold):
        first_id = jax.lax.axis_index(axes) * (rows // shards)
        scores, ids, target_score, count = local(
            query, items, first_id, history=history, targets=targets, threshold=threshold
        )
        scores = jax.lax.all_gather(scores, axes, axis=1, tiled=True)  # shards in id order
        ids = jax.lax.all_gather(ids, axes, axis=1, tiled=True)
        top, where = jax.lax.top_k(scores, k)
        return (
            top,
            jnp.take_along_axis(ids, where, axis=1),
            jax.lax.pmax(target_score, axes),
            jax.lax.psum(count, axes),
        )

    return jax.shard_map(
        shard, mesh=mesh, in_specs=(P(), P(axes), P(), P(), P()), out_specs=P(), check_vma=False
    )(query, items, history, targets, threshold)


def ranks(
    score_fn: ChunkScorer,
    query,
    items,
    targets,
    *,
    num_items: int,
    k: int,
    chunk: int = DEFAULT_CHUNK,
    history=None,
    mesh=None,
):
    """(top-k ids [B, k], each target's 0-based rank [B] over the catalogue, ties against it; an
    excluded target ranks num_items). Two sweeps of the same arithmetic: the first finds the
    targets' scores, the second counts the items scoring at least as high."""
    kw = dict(num_items=num_items, k=k, chunk=chunk, history=history, mesh=mesh)
    _, ids, target_score, _ = sweep(score_fn, query, items, targets=targets, **kw)
    _, _, _, count = sweep(score_fn, query, items, threshold=target_score, **kw)
    return ids, jnp.where(target_score == -jnp.inf, num_items, count - 1)


def recall(approximate: np.ndarray, exact: np.ndarray) -> float:
    """Mean fraction of each row of `exact` ids ([B, k]) found in the same row of `approximate`."""
    approximate, exact = np.asarray(approximate), np.asarray(exact)
    return float(np.mean([np.isin(e, a).mean() for a, e in zip(approximate, exact, strict=True)]))
