"""The catalogue softmax of the parallel-digit model at any catalogue size: chunked, sharded, or sampled.

An item's score at a position is h . e_n, with e_n = Σ_m table[:, m, codes[n, m]] the sum of its digits'
output columns (genrec/model/parallel_ids.py, `output_table`), so the catalogue loss is a softmax over
the N item vectors, a language model's vocabulary softmax whose vocabulary is built from digits.

Full softmax (`catalogue_nll`), never materialising [positions, N]:
  - inside a device the catalogue is scored `chunk` items at a time (a lax.scan with an online max and
    sum, each chunk's e_n rebuilt from the digits and its scores recomputed in the backward pass), so
    peak memory is O(positions x chunk), not O(positions x N);
  - over devices the item rows of the code table are split along the mesh axes of the 'items' rule
    (genrec/runtime/partitioning.py): every device scores all positions against its shard, then the
    log-sum-exp is combined with an all-reduce of the max and one of the rescaled sums, and the target
    logit with one all-reduce of the shard that holds it (the scheme of Megatron-LM's vocabulary-
    parallel cross entropy; positions are all-gathered first, [positions, d] is small).
  - history exclusion masks each chunk's columns of the position's history items (not its target);
  - items left out of the catalogue (`make_catalogue(live=...)`: e.g. items with no training
    interaction, which training must not push down as never-chosen negatives) have code rows of -1
    and score -inf, like padding.

Sampled softmax (`sampled_nll`, for catalogues too large to score every step): each position's softmax
runs over its target and a shared candidate set, the batch's targets (in-batch negatives, distributed
as item popularity) and/or `num` items drawn from a uniform or popularity proposal; every candidate's
logit is corrected by -log(its expected count in the candidate set) (the logQ correction of Yi et al.
2019, RecSys), candidates equal to the position's target (and, with history exclusion, its history
items) are dropped. exp(corrected log-sum-exp over the negatives) is then an unbiased estimate of the
sum of exp(score) over every non-target item, and candidates = every item once gives the full softmax.

The code table is data: a `Catalogue` (a pytree: codes and popularity are leaves, already placed on
the mesh; the item count, mesh and axes are static) rides in the batch under `CATALOGUE`.
"""

from __future__ import annotations

import dataclasses
import math

import jax
import jax.numpy as jnp
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from genrec.runtime import partitioning

CATALOGUE = "catalogue"  # the batch key of the training catalogue (state.CONSTANTS of the batch)
SAMPLERS = ("uniform", "popularity")


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Catalogue:
    """The item code table as training data: codes [N_pad, M] int32 (rows past num_items are padding
    and never count), optional popularity [N_pad] float32 (each item's probability as a training target,
    0 on padding; the sampled softmax's proposal), and where the rows live: `axes`, the mesh axes the
    item rows are split over (empty: one copy, or no mesh); `position_axes`, the batch rule's other
    mesh axes, over which the positions scored against each item shard are split."""

    codes: jax.Array
    popularity: jax.Array | None
    num_items: int = dataclasses.field(metadata=dict(static=True))
    mesh: jax.sharding.Mesh | None = dataclasses.field(default=None, metadata=dict(static=True))
    axes: tuple[str, ...] = dataclasses.field(default=(), metadata=dict(static=True))
    position_axes: tuple[str, ...] = dataclasses.field(default=(), metadata=dict(static=True))


def make_catalogue(
    codes,
    *,
    mesh: jax.sharding.Mesh | None = None,
    chunk: int = 1,
    popularity=None,
    live=None,
    split: bool = True,
    rules=partitioning.LOGICAL_AXIS_RULES,
) -> Catalogue:
    """Host codes [N, M] (and item popularity [N], counts or probabilities) → a Catalogue: rows padded
    to a multiple of (item shards x chunk) and, with a mesh, placed split over the 'items' rule's mesh
    axes (`split`; else whole on every device; popularity always whole). Without a mesh the arrays
    stay numpy (constants of a trace). With the default rules the items take every device and each
    device scores all positions; a table whose 'items' rule names fewer axes (say 'tensor' of a
    data x tensor pod mesh) leaves the positions split over the batch rule's remaining axes. `live`
    ([N] bool): only these items take part in the softmax (as targets or negatives); the others'
    rows become -1 (never a candidate, never in a log-sum-exp)."""
    codes = np.array(codes, np.int32)
    if codes.ndim != 2 or not len(codes):
        raise ValueError(f"catalogue codes must be a non-empty [items, digits] table, got {codes.shape}")
    n = len(codes)
    if live is not None:
        live = np.asarray(live, bool).reshape(-1)
        if live.shape != (n,) or not live.any():
            raise ValueError(f"catalogue live mask must be {n} booleans with at least one True")
        codes[~live] = -1
    shards = 1
    axes: tuple[str, ...] = ()
    if mesh is not None and split:
        shards = math.prod(mesh.shape[a] for a in dict(rules)["items"] if mesh.shape[a] > 1)
    padded = _round_up(n, shards * max(1, min(chunk, -(-n // shards))))
    codes = np.concatenate([codes, np.zeros((padded - n, codes.shape[1]), np.int32)])
    pop = None
    if popularity is not None:
        pop = np.asarray(popularity, np.float64).reshape(-1)
        if pop.shape != (n,) or (pop < 0).any() or not pop.sum() > 0:
            raise ValueError(f"catalogue popularity must be {n} non-negative values with a positive sum")
        pop = np.concatenate([pop / pop.sum(), np.zeros(padded - n)]).astype(np.float32)
    if mesh is None:
        return Catalogue(codes, pop, n)
    spec = (
        partitioning.logical_to_spec(("items", None), codes.shape, mesh, rules, name="catalogue codes")
        if split
        else P()
    )
    first = spec[0] if len(spec) else None
    axes = () if first is None else (first,) if isinstance(first, str) else tuple(first)
    placed = jax.device_put(codes, NamedSharding(mesh, spec))
    pop = None if pop is None else jax.device_put(pop, NamedSharding(mesh, P()))
    position_axes = (
        tuple(a for a in dict(rules)["batch"] if mesh.shape[a] > 1 and a not in axes) if axes else ()
    )
    return Catalogue(placed, pop, n, mesh, axes, position_axes)


def _acc(x) -> jnp.dtype:
    """The accumulation dtype for scores from x: float32, or float64 when x is."""
    return jnp.promote_types(x.dtype, jnp.float32)


def _round_up(n: int, multiple: int) -> int:
    return -(-n // multiple) * multiple


def item_vectors(table: jax.Array, codes: jax.Array) -> jax.Array:
    """table [d, M, K], codes [n, M] → e [n, d], e_n = Σ_m table[:, m, codes[n, m]] (rows of -1, items
    left out of the catalogue, give the vector of code 0: callers mask their scores)."""
    d, m, k = table.shape
    rows = table.reshape(d, m * k).T  # [M*K, d]
    flat = jnp.maximum(codes, 0) + (jnp.arange(m) * k)[None, :]
    return jnp.take(rows, flat, axis=0).sum(axis=1)


def history_columns(tokens: jax.Array, segment_ids, target_tokens: jax.Array) -> jax.Array:
    """[B, T, T] item index of each history entry of each position, -1 where none: input token s of the
    same segment at s <= t, not padding, not t's target (tokens are item + 1). The rule of
    parallel_ids.history_items_mask, as indices instead of an [.., N] mask."""
    t = tokens.shape[1]
    if segment_ids is None:
        segment_ids = jnp.ones_like(tokens)
    seen = (
        jnp.tril(jnp.ones((t, t), bool))[None]
        & (segment_ids[:, :, None] == segment_ids[:, None, :])
        & (tokens[:, None, :] > 0)
        & (tokens[:, None, :] != target_tokens[:, :, None])
    )
    return jnp.where(seen, tokens[:, None, :] - 1, -1)


def _columns_mask(items: jax.Array, start, width: int) -> jax.Array:
    """items [P, H] (item indices, -1: none) → [P, width] bool: column j is item start + j of the list."""
    local = items - start
    column = jnp.where((local >= 0) & (local < width), local, width)  # width: a spare column
    rows = jnp.arange(items.shape[0])[:, None]
    return jnp.zeros((items.shape[0], width + 1), bool).at[rows, column].set(True)[:, :width]


def _chunk_stats(h, table, codes, first, num_items: int, chunk: int, exclude, axes=()):
    """Online (max, Σ exp(score - max)) over `codes` rows (global indices first, first + 1, ...) in
    chunks of `chunk`; padding rows (index >= num_items), rows left out (code -1) and excluded items do
    not count. The max is a
    constant for autodiff (the log-sum-exp does not depend on it); each chunk is recomputed in the
    backward pass, so nothing of size [P, chunk] is kept per chunk."""
    n = codes.shape[0]
    if n % chunk:
        codes = jnp.pad(codes, ((0, chunk - n % chunk), (0, 0)))
    chunks = codes.reshape(-1, chunk, codes.shape[1])
    starts = first + jnp.arange(chunks.shape[0]) * chunk

    @jax.checkpoint
    def body(carry, xs):
        top, total = carry
        block, start = xs
        scores = (h @ item_vectors(table, block).T).astype(_acc(h))  # [P, chunk]
        drop = ((start + jnp.arange(chunk) >= num_items) | (block[:, 0] < 0))[None, :]
        if exclude is not None:
            drop = drop | _columns_mask(exclude, start, chunk)
        scores = jnp.where(drop, -jnp.inf, scores)
        new_top = jnp.maximum(top, jax.lax.stop_gradient(scores.max(axis=-1)))
        shift = jnp.where(jnp.isfinite(new_top), new_top, 0.0)
        total = total * jnp.exp(top - shift) + jnp.exp(scores - shift[:, None]).sum(axis=-1)
        return (new_top, total), None

    p = h.shape[0]
    init = (jnp.full((p,), -jnp.inf, _acc(h)), jnp.zeros((p,), _acc(h)))
    if axes:  # inside shard_map the carry varies over the item (and position) shards
        init = jax.lax.pcast(init, axes, to="varying")
    (top, total), _ = jax.lax.scan(body, init, (chunks, starts))
    return top, total


def _target_scores(h, table, codes, first, targets):
    """h . e_target for the targets whose rows [first, first + len(codes)) holds, 0 elsewhere."""
    local = targets - first
    held = (local >= 0) & (local < codes.shape[0])
    e = item_vectors(table, codes[jnp.clip(local, 0, codes.shape[0] - 1)])
    return jnp.where(held, jnp.sum(h.astype(_acc(h)) * e.astype(_acc(h)), axis=-1), 0.0)


def catalogue_nll(
    h: jax.Array,
    table: jax.Array,
    catalogue: Catalogue,
    targets: jax.Array,
    exclude: jax.Array | None = None,
    *,
    chunk: int = 8192,
) -> jax.Array:
    """-log softmax over the catalogue of each position's target: h [..., d], table [d, M, K], targets
    [...] item indices (-1: padding, a finite unweighted value), exclude [..., H] item indices left out
    of that position's softmax (-1: none) → NLL [...] float32."""
    lead = targets.shape
    hp = h.reshape(-1, h.shape[-1])
    tp = targets.reshape(-1)
    ep = None if exclude is None else exclude.reshape(tp.shape[0], -1)
    codes = catalogue.codes
    n_local = codes.shape[0] // max(
        1, math.prod(catalogue.mesh.shape[a] for a in catalogue.axes) if catalogue.axes else 1
    )
    size = max(1, min(chunk, n_local))

    def local(hp, table, codes, tp, *ep):
        first = jax.lax.axis_index(catalogue.axes) * codes.shape[0] if catalogue.axes else 0
        top, total = _chunk_stats(
            hp,
            table,
            codes,
            first,
            catalogue.num_items,
            size,
            ep[0] if ep else None,
            catalogue.axes + catalogue.position_axes,
        )
        target = _target_scores(hp, table, codes, first, tp)
        if catalogue.axes:  # combine the shards: max, then the sums rescaled to it; the target's shard
            top_all = jax.lax.pmax(top, catalogue.axes)
            total = jax.lax.psum(
                total * jnp.exp(top - jnp.where(jnp.isfinite(top_all), top_all, 0.0)), catalogue.axes
            )
            top, target = top_all, jax.lax.psum(target, catalogue.axes)
        return top + jnp.log(total) - target

    if catalogue.axes:
        items = P(_axis_spec(catalogue.axes))
        rows = P(_axis_spec(catalogue.position_axes))  # [] : every device has every position
        in_specs = (rows, P(), items, rows) + (rows,) * (ep is not None)
        local = jax.shard_map(local, mesh=catalogue.mesh, in_specs=in_specs, out_specs=rows)
    return local(hp, table, jnp.asarray(codes), tp, *(() if ep is None else (ep,))).reshape(lead)


def _axis_spec(axes: tuple[str, ...]):
    """One PartitionSpec entry for a dimension split over `axes`."""
    return None if not axes else axes[0] if len(axes) == 1 else axes


def dense_nll(h, table, codes, targets, exclude=None, live=None):
    """The reference: every item's score materialised, [..., N]; same arguments as catalogue_nll with
    unpadded codes [N, M] and the `live` mask of make_catalogue."""
    scores = (h @ item_vectors(table, jnp.asarray(codes)).T).astype(_acc(h))
    target = jnp.take_along_axis(scores, jnp.maximum(targets, 0)[..., None], axis=-1)[..., 0]
    if live is not None:
        scores = jnp.where(jnp.asarray(live), scores, -jnp.inf)
    if exclude is not None:
        n = scores.shape[-1]
        mask = _columns_mask(exclude.reshape(-1, exclude.shape[-1]), 0, n).reshape(scores.shape)
        scores = jnp.where(mask, -jnp.inf, scores)
    return jax.nn.logsumexp(scores, axis=-1) - target


# --- the sampled softmax ---------------------------------------------------------------------------


def candidates(
    key: jax.Array, catalogue: Catalogue, targets: jax.Array, *, num: int, sampler: str, in_batch: bool
) -> tuple[jax.Array, jax.Array]:
    """The shared candidate set of one step: (item indices [C], log expected count of each in the set
    [C]). In-batch: every valid target of the batch (popularity-distributed, so each entry's expected
    count is num_targets x popularity); sampled: `num` draws with replacement from the uniform or
    popularity proposal q (expected count num x q). Both: counts add."""
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler {sampler!r}; expected one of {SAMPLERS}")
    n = catalogue.num_items
    pop = catalogue.popularity
    needs_pop = in_batch or sampler == "popularity"
    if needs_pop and pop is None:
        raise ValueError(
            "the sampled catalogue softmax with in-batch or popularity negatives needs the "
            "catalogue's item popularity (make_catalogue(popularity=...))"
        )
    pop = None if pop is None else jnp.asarray(pop)[:n]
    q = jnp.full((n,), 1.0 / n, jnp.float32) if sampler == "uniform" else pop

    def expected(items):
        count = num * q[items]
        if in_batch:
            count = count + jnp.sum(targets >= 0) * pop[items]
        return jnp.where(count > 0, jnp.log(jnp.maximum(count, 1e-30)), jnp.inf)  # never expected: dropped

    parts = []
    if in_batch:
        parts.append(targets.reshape(-1))
    if num > 0:
        if sampler == "uniform":
            drawn = jax.random.randint(key, (num,), 0, n)
        else:
            cdf = jnp.cumsum(pop)
            drawn = jnp.searchsorted(cdf, jax.random.uniform(key, (num,)) * cdf[-1], side="right")
        parts.append(jnp.clip(drawn, 0, n - 1).astype(jnp.int32))
    items = jnp.concatenate(parts)
    valid = items >= 0
    return items, jnp.where(valid, expected(jnp.maximum(items, 0)), jnp.inf)


def sampled_nll(
    h: jax.Array,
    table: jax.Array,
    codes: jax.Array,
    targets: jax.Array,
    items: jax.Array,
    log_count: jax.Array,
    exclude: jax.Array | None = None,
) -> jax.Array:
    """The sampled catalogue NLL: h [..., d], table [d, M, K], codes [N(_pad), M], targets [...] (-1:
    padding), candidates (items [C], log expected counts [C], +inf: not a candidate), exclude [..., H]
    → log(exp(s_target) + Σ_c exp(s_c - log_count_c)) - s_target over candidates c that are neither the
    target nor excluded."""
    lead = targets.shape
    hp = h.reshape(-1, h.shape[-1])
    tp = targets.reshape(-1)
    cand = jnp.maximum(items, 0)
    scores = (hp @ item_vectors(table, codes[cand]).T).astype(_acc(h)) - log_count[None, :]  # [P, C]
    drop = (cand[None, :] == tp[:, None]) | (codes[cand][:, 0] < 0)[None, :]  # the target; left-out items
    if exclude is not None:  # is candidate c in position p's history: a binary search of its sorted row
        history = jnp.sort(exclude.reshape(tp.shape[0], -1), axis=-1)  # [P, H]
        at = jax.vmap(lambda row: jnp.searchsorted(row, cand))(history)  # [P, C]
        found = jnp.take_along_axis(history, jnp.minimum(at, history.shape[1] - 1), axis=1) == cand[None, :]
        drop = drop | found
    scores = jnp.where(drop | ~jnp.isfinite(log_count)[None, :], -jnp.inf, scores)
    e_target = item_vectors(table, codes[jnp.maximum(tp, 0)]).astype(_acc(h))
    target = jnp.sum(hp.astype(_acc(h)) * e_target, axis=-1)
    lse = jnp.logaddexp(target, jax.nn.logsumexp(scores, axis=-1))
    return (lse - target).reshape(lead)
