"""Exact full ranking for models whose item score decomposes over identifier digits.

The parallel-digit model (genrec/model/parallel_ids.py) gives per-digit log-probabilities of the
next item; an item's score is the sum over its digits, so every catalogue item is scored exactly —
no beam, no invalid items. For the linear heads ('tied', 'untied' without digit_blocks) that sum is
h . e_n - sum_m logZ_m(h), e_n the sum of item n's digit columns of the output table, so ranking is
one [users, d] x [d, items] matmul over the item vectors e_n (`item_vectors`), computed once per
catalogue; other heads gather the digit log-probabilities per item. `Ranker` sweeps the catalogue in
chunks, split over the mesh (genrec/evaluate/item_topk.py), so memory stays O(users x chunk).
Histories, targets, history exclusion, ties and metrics are those of genrec/evaluate/full_ranking.py
(genrec/evaluate/protocol.py), so these rows and the SASRec rows rank the same users the same way.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence

import gin
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genrec.evaluate import data_parallel, full_ranking, item_topk, protocol, sequences
from genrec.evaluate.beyond_accuracy import NO_ITEM
from genrec.model import parallel_ids
from genrec.runtime import program_cache

EVAL_BATCH = 128  # users per call
SERVE_BATCH = 256  # users per serving call (benchmarks/scale/RESULTS.md, "Ranking")
SERVE_SMALLEST_WINDOW = 4  # serving's shortest history bucket (Amazon users: a third have 4 items)


def bos_first(tokens: jax.Array) -> jax.Array:
    """Left-padded histories [B, T] (full_ranking's layout) → [B, T + 1]: begin-of-sequence 0, the
    items oldest first, then padding (the parallel-digit model's layout)."""
    t = tokens.shape[1]
    n = (tokens > 0).sum(axis=1)
    slot = jnp.arange(t + 1)[None]
    source = jnp.clip(slot - 1 + (t - n)[:, None], 0, t - 1)
    items = jnp.take_along_axis(tokens, source, axis=1)
    return jnp.where((slot >= 1) & (slot <= n[:, None]), items, 0)


def last_hidden(model, token_codes: jax.Array, tokens: jax.Array) -> jax.Array:
    """Left-padded histories [B, T] → the final hidden state [B, d] at each history's last item
    (token_codes: parallel_ids.token_code_table of the catalogue)."""
    tokens = bos_first(tokens)
    h = model.hidden(jnp.take(token_codes, tokens, axis=0), tokens)
    last = (tokens > 0).sum(axis=1)  # index of the last item (0: empty history)
    return jnp.take_along_axis(h, last[:, None, None], axis=1)[:, 0]


def history_log_probs(model, token_codes: jax.Array, tokens: jax.Array) -> jax.Array:
    """Left-padded histories [B, T] → per-digit log-probabilities [B, M, K] of each user's next item."""
    return jax.nn.log_softmax(model.digit_logits(last_hidden(model, token_codes, tokens)), axis=-1)


def linear_head(config: parallel_ids.ParallelIdConfig) -> bool:
    """Whether an item's digit-sum score is h . e_n minus a per-user constant (`item_vectors`)."""
    return config.head in ("tied", "untied") and not config.digit_blocks


def item_vectors(model, codes) -> jax.Array:
    """[N, M] item codes → e [N, d] float32, e_n = sum_m output_table[:, m, codes[n, m]] (linear
    heads only: then h . e_n is the digit sum of item n's logits). One gather per digit."""
    if not linear_head(model.config):
        raise ValueError(
            f"item vectors need a linear head (head 'tied' or 'untied' without digit_blocks); "
            f"this model has head={model.config.head!r}, "
            f"digit_blocks={model.config.digit_blocks}"
        )
    graphdef, state = nnx.split(model)
    return _item_vectors(graphdef, state, jnp.asarray(codes, jnp.int32))


@functools.partial(jax.jit, static_argnums=0)
def _item_vectors(graphdef, state, codes):
    table = nnx.merge(graphdef, state).output_table().astype(jnp.float32).transpose(1, 2, 0)  # [M, K, d]
    out = jnp.zeros((codes.shape[0], table.shape[-1]), jnp.float32)
    for m in range(codes.shape[1]):
        out = out + jnp.take(table[m], codes[:, m], axis=0)
    return out


def item_table(model, codes, item_bonus: np.ndarray | None = None) -> np.ndarray:
    """float32 [N, d] item vectors (`item_vectors`), or [N, d + 1] with `item_bonus` [N] as the last
    coordinate: the rows `Ranker` ranks and a MIPS index holds (queries end in a 1)."""
    vectors = np.asarray(item_vectors(model, codes), np.float32)
    if item_bonus is None:
        return np.ascontiguousarray(vectors)
    item_bonus = np.asarray(item_bonus, np.float32).reshape(-1, 1)
    if len(item_bonus) != len(vectors):
        raise ValueError(f"item_bonus: {len(vectors)} items, got {len(item_bonus)} values")
    return np.ascontiguousarray(np.concatenate([vectors, item_bonus], axis=1))


def input_table(model, codes) -> jax.Array:
    """[N, M] item codes → the model's input vector of every token [N + 1, d] (row 0 the
    begin-of-sequence): ParallelIdDecoder.input_table, computed once per catalogue."""
    graphdef, state = nnx.split(model)
    return _input_table(graphdef, state, parallel_ids.token_code_table(codes))


@functools.partial(jax.jit, static_argnums=0)
def _input_table(graphdef, state, token_codes):
    return nnx.merge(graphdef, state).input_table(token_codes)


def history_hidden(model, inputs: jax.Array, tokens: jax.Array) -> jax.Array:
    """Left-padded histories [B, T] → the final hidden state [B, d] after each history's last item, by
    the model's ranking forward pass (ParallelIdDecoder.last_hidden: left-padded, the last layer at
    the last position only; equal to `last_hidden`'s). inputs: `input_table`."""
    tokens = jnp.pad(tokens, ((0, 0), (1, 0)))  # a slot for the begin-of-sequence
    t = tokens.shape[1]
    first = t - 1 - (tokens > 0).sum(axis=1)  # the begin-of-sequence's slot
    valid = jnp.arange(t)[None] >= first[:, None]
    return model.last_hidden(jnp.take(inputs, tokens, axis=0), valid)


def queries(model, inputs: jax.Array, tokens: jax.Array, *, vectors: bool, head=None, bonus: bool = False):
    """Histories → the chunk scorer's query: (h [B, d], sum_m logZ_m [B]) for `item_topk.vector_scores`,
    else per-digit log-probabilities [B, M, K] for `item_topk.digit_scores`. inputs: `input_table`;
    head: the model's output_table(), when computed once for many calls; bonus: h gets a last
    coordinate 1, which meets each item vector's bonus coordinate (`Ranker(item_bonus=...)`)."""
    h = history_hidden(model, inputs, tokens)
    logits = model.digit_logits(h, head)
    if vectors:
        h = h.astype(jnp.float32)
        if bonus:
            h = jnp.concatenate([h, jnp.ones((h.shape[0], 1), h.dtype)], axis=1)
        return h, jax.nn.logsumexp(logits, axis=-1).sum(axis=-1)
    return jax.nn.log_softmax(logits, axis=-1)


@gin.configurable
def unseen_item_bonus(bonus: float = 0.0) -> float:
    """The popularity-free prior on items the model never saw in training (LIGER: a generative model
    scores such items below the ones it trained on): `bonus` is added to the score of every item with
    no training interaction (cold-start items, items added by `genrec add-items`), the same for all
    of them; 0: no prior. Chosen on validation (benchmarks/quality/RESULTS.md, "Cold start");
    configs/runs/unseen_item_prior.gin binds it. Export writes it into the bundle's manifest."""
    return float(bonus)


def item_bonus(trained: np.ndarray, bonus: float) -> np.ndarray | None:
    """float32 [N]: `bonus` where `trained` [N] is False, else 0; None when the bonus is 0."""
    if not bonus:
        return None
    return np.where(np.asarray(trained, bool), 0.0, float(bonus)).astype(np.float32)


class Ranker:
    """A model and its catalogue made ready to rank: the input vector of every token and the item table
    (vectors e_n for a linear head, unless `matmul=False`, else the codes) computed once, the item
    table split over the mesh's item axes, and the ranking programs bound to this model (a call
    hashes no graph and flattens no module). `item_bonus` [N]: added to each item's score (a last
    coordinate of e_n met by a 1 in h; `unseen_item_bonus`), linear heads only."""

    def __init__(
        self,
        model,
        codes: np.ndarray,
        *,
        matmul: bool | None = None,
        chunk: int = item_topk.DEFAULT_CHUNK,
        mesh=None,
        item_bonus: np.ndarray | None = None,
    ):
        self.vectors = linear_head(model.config) if matmul is None else matmul
        self.max_len = model.config.max_len  # history items the model reads
        self.num_items, self.chunk, self.mesh = len(codes), chunk, item_topk.resolve_mesh(mesh)
        graphdef, state = nnx.split(model)
        self.params, treedef = jax.tree.flatten(state)
        self.inputs = input_table(model, codes)
        self.head = model.output_table()
        self.bonus = item_bonus is not None  # h . e_n + bonus_n as one inner product (`item_table`)
        if self.bonus and not self.vectors:
            raise ValueError("item_bonus needs a linear head's item vectors (exact.Ranker with matmul)")
        table = item_table(model, codes, item_bonus) if self.vectors else jnp.asarray(codes, jnp.int32)
        self.items = item_topk.place_items(table, num_items=self.num_items, chunk=chunk, mesh=self.mesh)
        bound = dict(graphdef=graphdef, treedef=treedef, vectors=self.vectors, bonus=self.bonus)
        sweep = dict(num_items=self.num_items, chunk=chunk, mesh=self.mesh)
        # what the programs close over, for program_cache (the graphdef follows from the config)
        salt = repr((type(model).__qualname__, model.config, treedef, self.vectors, self.bonus, sweep))
        program = functools.partial(program_cache.Program, salt=salt)
        self._queries = program(functools.partial(_queries, **bound))
        self._top_k = program(functools.partial(_top_k, **bound, **sweep), static_argnames=("k", "approx"))
        self._rank = program(functools.partial(_rank, **bound, **sweep), static_argnames=("k",))

    def queries(self, tokens: np.ndarray):
        """Left-padded history tokens [B, T] → the chunk scorer's query (see `queries`)."""
        return self._queries(self.params, self.inputs, self.head, tokens)

    def top_k(
        self, tokens: np.ndarray, history: np.ndarray | None, k: int, *, approx: float | None = None
    ) -> tuple[jax.Array, jax.Array]:
        """(scores [B, k], item ids [B, k]) best first, items of `history` [B, H] excluded."""
        return self._top_k(
            self.params, self.inputs, self.head, self.items, tokens, history, k=k, approx=approx
        )

    def lowered(
        self, tokens: np.ndarray, history: np.ndarray | None = None, k: int | None = None, *, approx=None
    ):
        """The program `top_k` (given k) or, without k, `queries` runs on inputs of these shapes,
        lowered: `.compile()` gives XLA's cost and memory analyses."""
        if k is None:
            return self._queries.lower(self.params, self.inputs, self.head, tokens)
        return self._top_k.lower(
            self.params, self.inputs, self.head, self.items, tokens, history, k=k, approx=approx
        )

    def rank(
        self, tokens: np.ndarray, history: np.ndarray | None, targets: np.ndarray, k: int
    ) -> tuple[jax.Array, jax.Array]:
        """(top-k ids [B, k], each target's rank over the catalogue [B], ties against it)."""
        return self._rank(self.params, self.inputs, self.head, self.items, tokens, history, targets, k=k)


def _model(params, graphdef, treedef):
    return nnx.merge(graphdef, jax.tree.unflatten(treedef, params))


def _queries(params, inputs, head, tokens, *, graphdef, treedef, vectors, bonus):
    return queries(_model(params, graphdef, treedef), inputs, tokens, vectors=vectors, head=head, bonus=bonus)


def _query_and_scores(params, inputs, head, tokens, graphdef, treedef, vectors, bonus):
    """The chunk scorer's query for these histories and the item_topk score function that takes it."""
    query = queries(
        _model(params, graphdef, treedef), inputs, tokens, vectors=vectors, head=head, bonus=bonus
    )
    return query, item_topk.vector_scores if vectors else item_topk.digit_scores


def _top_k(
    params,
    inputs,
    head,
    items,
    tokens,
    history,
    *,
    graphdef,
    treedef,
    vectors,
    bonus,
    num_items,
    chunk,
    mesh,
    k,
    approx,
):
    query, score_fn = _query_and_scores(params, inputs, head, tokens, graphdef, treedef, vectors, bonus)
    scores, ids, _, _ = item_topk.sweep(
        score_fn,
        query,
        items,
        num_items=num_items,
        k=k,
        chunk=chunk,
        history=history,
        approx=approx,
        mesh=mesh,
    )
    return scores, ids


def _rank(
    params,
    inputs,
    head,
    items,
    tokens,
    history,
    targets,
    *,
    graphdef,
    treedef,
    vectors,
    bonus,
    num_items,
    chunk,
    mesh,
    k,
):
    query, score_fn = _query_and_scores(params, inputs, head, tokens, graphdef, treedef, vectors, bonus)
    return item_topk.ranks(
        score_fn, query, items, targets, num_items=num_items, k=k, chunk=chunk, history=history, mesh=mesh
    )


@nnx.jit
def _scores(model, token_codes, item_codes, tokens):
    return parallel_ids.item_scores(history_log_probs(model, token_codes, tokens), item_codes)


def scorer(model: parallel_ids.ParallelIdDecoder, codes: np.ndarray) -> full_ranking.Scorer:
    """full_ranking's dense Scorer (left-padded tokens → [B, num_items] scores by the digit gather) for
    `model` and the item code table `codes` [num_items, M]; bound, so full_ranking splits its users
    over the mesh. `Ranker` is the scalable form."""
    return data_parallel.Bound(
        _scores, (model, parallel_ids.token_code_table(codes), jnp.asarray(codes, jnp.int32))
    )


def evaluate(
    model: parallel_ids.ParallelIdDecoder,
    codes: np.ndarray,
    dataset,
    split: str,
    *,
    exclude_history: bool = protocol.OFFLINE_DROP_HISTORY,
    batch_size: int = EVAL_BATCH,
    beyond: bool = False,
    chunk: int = item_topk.DEFAULT_CHUNK,
) -> dict[str, float]:
    """Ranking metrics of every user of `split`, every item scored exactly (`beyond`: and the
    coverage and popularity of the top 10): full_ranking.evaluate by a chunked `Ranker`."""
    return full_ranking.evaluate(
        Ranker(model, codes, chunk=chunk),
        dataset,
        split,
        max_len=model.config.max_len,
        batch_size=batch_size,
        exclude_history=exclude_history,
        beyond=beyond,
    )


def serve_top_k(
    ranker,
    histories: Sequence[Sequence[int]],
    k: int,
    *,
    max_len: int,
    drop_history: bool,
    batch_size: int = SERVE_BATCH,
    index=None,
    progress: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """The top lists of many users, for serving: ([U, W] item ids best first, NO_ITEM-padded; [U, W]
    their scores). `ranker`: a `Ranker` (or anything with its `top_k`); with `index` (anything with
    `search(h [B, d], k) -> (inner products, ids)`, e.g. genrec/export/mips_index.py) the ranker
    only computes each user's (h, offset) and the index ranks; W is then k plus the longest history
    when history is dropped (history items are dropped afterwards, in postprocess), else k.
    Users are ranked in order of history length, `batch_size` per call: a call's window is the length
    bucket (sequences.window_for) of its longest history and, when history is dropped on the device,
    its excluded-history width the power of two at least that window and that history. So a run
    compiles one program per bucket (and per width past max_len), only its last call has padding
    rows, and each call is dispatched before the previous one's results are read back."""
    from tqdm import tqdm

    lengths = np.fromiter(map(len, histories), np.int64, len(histories))
    order = np.argsort(lengths, kind="stable")
    extra = int(lengths.max(initial=0)) if index is not None and drop_history else 0
    ids = np.full((len(histories), k + extra), NO_ITEM, np.int64)
    scores = np.full((len(histories), k + extra), -np.inf, np.float32)
    pending = []

    def read_back(rows, result):
        best, found = result
        ids[rows], scores[rows] = np.asarray(found)[: len(rows)], np.asarray(best)[: len(rows)]

    for start in tqdm(range(0, len(order), batch_size), desc="recommend", unit="batch", disable=not progress):
        rows = order[start : start + batch_size]
        longest = int(lengths[rows[-1]])
        chunk = [histories[r] for r in rows]
        tokens = np.zeros(
            (batch_size, sequences.window_for(longest, max_len, SERVE_SMALLEST_WINDOW)), np.int32
        )
        tokens[: len(rows)] = sequences.left_pad(chunk, tokens.shape[1])
        if index is not None:
            h, offset = (np.asarray(x)[: len(rows)] for x in ranker.queries(tokens))
            best, found = index.search(h, k + (longest if drop_history else 0))
            ids[rows, : found.shape[1]], scores[rows, : found.shape[1]] = found, best - offset[:, None]
            continue
        excluded = None
        if drop_history:
            width = 1 << (max(longest, tokens.shape[1]) - 1).bit_length()
            excluded = protocol.padded_histories(chunk + [()] * (batch_size - len(rows)), width)
        pending.append((rows, ranker.top_k(tokens, excluded, k)))
        if len(pending) > 1:
            read_back(*pending.pop(0))
    for rows, result in pending:
        read_back(rows, result)
    return ids, scores
