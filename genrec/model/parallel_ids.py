"""A decoder over item positions that predicts every digit of the next item's identifier at once.

The recipe of RPG (Hou et al., KDD'25), in genrec's layers: a user's history is one position per
item, each item's input vector the mean of its identifier digits' embeddings; causal self-attention
layers (the T5 pre-norm blocks of genrec/model/network.py, with unidirectional relative position
biases and segment masks, so packed rows of several users train in one pass); and at every position
a head that gives, for each digit m, logits over digit m's codebook: the hidden state projected per
digit and compared with that digit's (tied) code embeddings. The loss is the cross-entropy of every
digit of the next item at every position of the sequence, so one forward pass supervises every
(prefix -> next item) pair of a user.

An item's score is the sum of its digits' log-probabilities, so the catalogue is ranked exactly by
one gather (`item_scores`) — no beam search, and nothing outside the catalogue can be recommended.
Output-side, items exist only through their digits (no per-item output embedding); an optional
per-item input embedding (`item_input_embedding`) is the ablation that adds one on the input side.

Batches (genrec/tasks/item_sequences.py): `decoder_input_codes` / `decoder_target_codes`
[B, T, M] digit codes, `decoder_input_tokens` / `decoder_target_tokens` [B, T] item tokens
(item i = i + 1, 0 = padding; input 0 at a segment start is the begin-of-sequence position),
`decoder_loss_weights`, and with packing `decoder_segment_ids` / `decoder_positions`.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import gin
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genrec.model import catalogue_softmax, layer_stack
from genrec.model import config as config_lib
from genrec.model.config import BlockConfig, ModelConfig
from genrec.model.layers import (
    NEG_INF,
    Dropout,
    RelativePositionBias,
    RMSNorm,
    fan_in_init,
    mask_to_bias,
    matmul,
    param,
    token_index,
)
from genrec.model.network import EncoderLayer, _pair_mask
from genrec.runtime.state import CONSTANTS

HEADS = ("tied", "untied", "cosine")
CATALOGUE_SOFTMAXES = ("full", "sampled")


@gin.configurable
@dataclasses.dataclass(frozen=True)
class ParallelIdConfig:
    """Hyperparameters; `level_sizes` (codes per digit) and `num_items` come from the identifiers. The
    settings of each of the `num_layers` causal blocks are `block` (gin: `BlockConfig.d_model = ...`)."""

    level_sizes: tuple[int, ...] = ()
    num_items: int = 0
    # a factory, so gin's BlockConfig bindings apply to the block of every config built
    block: BlockConfig = dataclasses.field(default_factory=BlockConfig)
    num_layers: int = 2
    max_len: int = 50  # history items a user's sequence keeps (the newest)
    # 'tied': digit m's logits are <W_m h, E_m[c]> / sqrt(d) with E_m the input code embeddings;
    # 'cosine': cos(W_m h, E_m[c]) / temperature, tied the same way (RPG's head);
    # 'untied': a separate output table per digit.
    head: str = "tied"
    temperature: float = 0.05  # the 'cosine' head's softmax temperature
    # Add a learned per-item vector to each input position (an input-side ablation; the output
    # side still names items only through their digits).
    item_input_embedding: bool = False
    # RMS-normalise each position's input vector (the mean of M code vectors is ~1/sqrt(M) the scale
    # of one, and of the begin-of-sequence vector). Beauty, 450 steps: validation NDCG@10 0.0188 ->
    # 0.0216 (benchmarks/quality/RESULTS.md).
    input_norm: bool = True
    # A residual block per digit before the head, g_m = h + silu(W_m h) with W_m zero at init
    # (RPG's per-digit head): each digit gets its own non-linear features of the hidden state.
    digit_blocks: bool = False
    # > 0: add this x the catalogue cross-entropy of the next item to the loss, the item's score being
    # the sum of its digits' log-probabilities (what exact ranking sorts by), normalised over every
    # catalogue item. Items are still named only by their digits (no per-item parameters); the cost
    # is one [positions, items] matmul per step (the tied/untied head is linear: the digit sum of an
    # item's logits is h . e_item, e_item the sum of its digits' output columns). The default is the
    # recipe's (chosen on Beauty, MovieLens-100k and Musical Instruments validation); 0 turns it off.
    catalogue_loss_weight: float = 30.0
    # Train for the protocol that drops the user's history from the ranking (eSASRec, RecBole): the
    # catalogue softmax leaves out each position's earlier items (other than its target), so no
    # gradient pushes them down, and the train loop validates with history excluded. The model's
    # history-kept ranking is then not meaningful (its history items score high).
    catalogue_exclude_history: bool = False
    # How the catalogue softmax is computed (genrec/model/catalogue_softmax.py). 'full': every item,
    # `catalogue_chunk` items at a time per device (peak memory O(positions x chunk)), the item rows
    # split over the devices of the 'items' rule; 'sampled': the target against shared candidates,
    # the batch's targets (`catalogue_in_batch_negatives`) and `catalogue_negatives` draws from the
    # `catalogue_sampler` proposal ('uniform' or 'popularity'), logQ-corrected.
    catalogue_softmax: str = "full"
    catalogue_chunk: int = 8192
    catalogue_negatives: int = 1024
    catalogue_sampler: str = "uniform"
    catalogue_in_batch_negatives: bool = True
    # The catalogue softmax runs over the items with training interactions only: an item never seen in
    # training (a new or cold-start item) is not pushed down as a negative it could never win against,
    # so its score comes from its digits alone (the remedy for the generative model's bias against
    # unseen items, LIGER, arXiv 2411.18814). No effect on a catalogue whose every item was trained on.
    catalogue_trained_items_only: bool = False

    def __post_init__(self):
        object.__setattr__(self, "level_sizes", tuple(int(s) for s in self.level_sizes))
        if not isinstance(self.block, BlockConfig):
            raise TypeError(f"ParallelIdConfig.block must be a BlockConfig, got {type(self.block).__name__}")
        if self.head not in HEADS:
            raise ValueError(f"ParallelIdConfig.head={self.head!r}; expected one of {HEADS}")
        if self.head == "cosine" and not self.temperature > 0:
            raise ValueError(f"ParallelIdConfig.temperature={self.temperature}; must be > 0")
        if self.catalogue_loss_weight > 0 and (self.head == "cosine" or self.digit_blocks):
            raise ValueError(
                "ParallelIdConfig.catalogue_loss_weight needs a linear head: head 'tied' or "
                "'untied' without digit_blocks"
            )
        if self.catalogue_softmax not in CATALOGUE_SOFTMAXES:
            raise ValueError(
                f"ParallelIdConfig.catalogue_softmax={self.catalogue_softmax!r}; expected "
                f"one of {CATALOGUE_SOFTMAXES}"
            )
        if self.catalogue_sampler not in catalogue_softmax.SAMPLERS:
            raise ValueError(
                f"ParallelIdConfig.catalogue_sampler={self.catalogue_sampler!r}; expected "
                f"one of {catalogue_softmax.SAMPLERS}"
            )
        if self.catalogue_chunk < 1 or self.catalogue_negatives < 0:
            raise ValueError(
                f"ParallelIdConfig.catalogue_chunk={self.catalogue_chunk} must be >= 1 and "
                f"catalogue_negatives={self.catalogue_negatives} >= 0"
            )
        if (
            self.catalogue_softmax == "sampled"
            and not self.catalogue_negatives
            and not self.catalogue_in_batch_negatives
        ):
            raise ValueError(
                "ParallelIdConfig.catalogue_softmax='sampled' needs catalogue_negatives > 0 or "
                "catalogue_in_batch_negatives"
            )
        if self.catalogue_trained_items_only and not self.catalogue_loss_weight > 0:
            raise ValueError("ParallelIdConfig.catalogue_trained_items_only needs catalogue_loss_weight > 0")
        if self.catalogue_exclude_history and not self.catalogue_loss_weight > 0:
            raise ValueError("ParallelIdConfig.catalogue_exclude_history needs catalogue_loss_weight > 0")
        if self.item_input_embedding and self.num_items <= 0:
            raise ValueError("ParallelIdConfig.item_input_embedding needs num_items")

    @property
    def num_digits(self) -> int:
        return len(self.level_sizes)

    @property
    def codebook_size(self) -> int:
        """The widest digit; narrower digits (the collision digit) mask their unused codes."""
        return max(self.level_sizes)

    def layer_config(self) -> ModelConfig:
        """`block` as the ModelConfig that genrec/model/layers.py builds T5 layers from."""
        return ModelConfig(
            vocab_size=self.codebook_size,
            num_encoder_layers=self.num_layers,
            num_decoder_layers=1,
            **dataclasses.asdict(self.block),
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready (checkpoint meta), the block nested under 'block'."""
        d = dataclasses.asdict(self)
        d["level_sizes"], d["block"] = list(self.level_sizes), self.block.to_dict()
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ParallelIdConfig":
        """Reads `to_dict`'s form and the flat one of checkpoints and bundles written before `block`
        existed (the block's fields at the top level)."""
        d = dict(d)
        flat = {f.name: d.pop(f.name) for f in dataclasses.fields(BlockConfig) if f.name in d}
        if flat and "block" in d:
            raise ValueError(
                f"ParallelIdConfig: both 'block' and block fields {sorted(flat)} at the top level"
            )
        d["block"] = BlockConfig.from_dict(d.get("block", flat))
        return config_lib.from_dict(cls, d)


class ParallelIdDecoder(nnx.Module):
    """Item-position decoder with a parallel multi-digit head; see the module docstring."""

    # The batch features the loss reads: (targets [B, T, M], per-position weights [B, T]).
    TARGETS = ("decoder_target_codes", "decoder_loss_weights")

    def __init__(self, config: ParallelIdConfig, *, rngs: nnx.Rngs, item_codes=None, item_popularity=None):
        """With the catalogue loss, `__call__` returns (logits, catalogue NLL) when it has a catalogue:
        the batch's `batch[CONSTANTS]['catalogue']` (a catalogue_softmax.Catalogue, what training passes:
        an input of the step, split over the devices), else `item_codes` [N, M] (and `item_popularity`
        [N], for the sampled softmax) given here, constants of the trace (small catalogues, tests).
        Ranking never needs them."""
        if not config.level_sizes:
            raise ValueError("ParallelIdConfig.level_sizes is empty: build identifiers first")
        self.config = config
        layer_config = config.layer_config()
        m, k, d = config.num_digits, config.codebook_size, config.block.d_model
        self.codes = param(rngs, nnx.initializers.normal(1.0), (m, k, d), ("digits", "vocab", "embed"))
        self.bos = param(rngs, nnx.initializers.normal(1.0), (d,), ("embed",))
        self.items = (
            param(rngs, nnx.initializers.normal(1.0), (config.num_items, d), ("vocab", "embed"))
            if config.item_input_embedding
            else None
        )
        self.input_norm = RMSNorm(layer_config, rngs=rngs) if config.input_norm else None
        self.relpos = RelativePositionBias(layer_config, bidirectional=False, rngs=rngs)
        self.layers = layer_stack.make_layers(
            lambda r: EncoderLayer(layer_config, rngs=r), config.num_layers, False, rngs
        )
        self.norm = RMSNorm(layer_config, rngs=rngs)
        self.dropout = Dropout(layer_config, rngs=rngs)
        tied = config.head != "untied"
        self.project = (
            param(rngs, fan_in_init(0, (1, 2)), (d, m, d), ("embed", "digits", "mlp")) if tied else None
        )
        self.out = (
            None if tied else param(rngs, fan_in_init(0, (1, 2)), (d, m, k), ("embed", "digits", "vocab"))
        )
        self.blocks = (
            param(rngs, nnx.initializers.zeros, (m, d, d), ("digits", "embed", "mlp"))
            if config.digit_blocks
            else None
        )
        self.dtype = layer_config.compute_dtype
        self.catalogue = (
            _Catalogue(item_codes, item_popularity)
            if item_codes is not None and config.catalogue_loss_weight > 0
            else None
        )
        # the sampled softmax's negatives: a stream of its own (only then, so other models' dropout
        # streams and hence their training runs stay exactly as they were)
        sampled = config.catalogue_loss_weight > 0 and config.catalogue_softmax == "sampled"
        self.negatives = rngs["negatives"].fork() if sampled else None

    # --- the network ----------------------------------------------------------------------------

    def embed(self, codes: jax.Array, tokens: jax.Array) -> jax.Array:
        """codes [B, T, M], tokens [B, T] (0: begin-of-sequence or padding) → inputs [B, T, d]."""
        table = self.codes[...].astype(self.dtype)
        digits = jnp.arange(self.config.num_digits)
        x = table[digits, jnp.clip(codes, 0, self.config.codebook_size - 1)].mean(axis=-2)  # gather: cheapest
        if self.items is not None:
            x = x + jnp.take(self.items[...].astype(self.dtype), jnp.maximum(tokens - 1, 0), axis=0)
        x = jnp.where((tokens > 0)[..., None], x, self.bos[...].astype(self.dtype))
        return x if self.input_norm is None else self.input_norm(x)

    def hidden(self, codes, tokens, segment_ids=None, *, deterministic: bool = True) -> jax.Array:
        """Causal layers over item positions → final hidden states [B, T, d]. Without segment ids,
        positions past a row's last item (token 0 after the first position) are padding."""
        batch, length = tokens.shape
        if segment_ids is None:
            segment_ids = jnp.where((tokens > 0) | (jnp.arange(length) == 0)[None], 1, 0)
        valid = segment_ids > 0
        causal = jnp.tril(jnp.ones((length, length), bool))[None]
        index = token_index(length)
        bias = self.relpos(index, index) + mask_to_bias(
            causal & _pair_mask(valid, valid, segment_ids, segment_ids)
        )
        x = self.dropout(self.embed(codes, tokens), deterministic=deterministic)
        x, _ = layer_stack.apply_layers(
            self.layers,
            lambda layer, x, _: (layer(x, bias, deterministic=deterministic), None),
            x,
            scanned=False,
        )
        return self.dropout(self.norm(x), deterministic=deterministic)

    def output_table(self) -> jax.Array:
        """[d, M, K]: logits = h @ table. Tied: <P_m h, E_m[c]> / sqrt(d) = h . (P_m^T E_m[c]) / sqrt(d),
        so the per-digit projection folds into the table once per step and the head is one 2-D
        matmul (on CPU ~6x faster than projecting every position and contracting per digit).
        Cosine: the same fold with unit-length code vectors; `digit_logits` divides by |P_m h|."""
        if self.out is not None:
            return self.out[...].astype(self.dtype)
        codes = self.codes[...]
        if self.config.head == "cosine":
            table = jnp.einsum("dme,mke->dmk", self.project[...], _unit(codes)) / self.config.temperature
        else:
            scale = math.sqrt(self.config.block.d_model)
            table = jnp.einsum("dme,mke->dmk", self.project[...], codes) / scale
        return table.astype(self.dtype)

    def digit_logits(self, h: jax.Array, table: jax.Array | None = None) -> jax.Array:
        """Hidden states [..., d] → float32 logits [..., M, K]; codes a narrower digit lacks are masked.
        table: `output_table()`, when the caller computed it once (ranking many users)."""
        c = self.config
        table = self.output_table() if table is None else table
        if self.blocks is None:
            logits = matmul(h, table)
            states = h
        else:  # per-digit states [..., M, d]; each digit's logits contract its own state
            w = self.blocks[...].astype(self.dtype)
            states = h[..., None, :] + jax.nn.silu(matmul(h, w.transpose(1, 0, 2)))
            logits = jnp.einsum("...md,dmk->...mk", states, table)
        logits = logits.astype(jnp.float32)
        if c.head == "cosine":  # divide by |P_m h|: one [d, M*d] matmul, half the cost of the logits
            project = self.project[...].astype(self.dtype)
            projected = (
                matmul(states, project)
                if self.blocks is None
                else jnp.einsum("...md,dme->...me", states, project)
            ).astype(jnp.float32)
            logits = logits * jax.lax.rsqrt(jnp.sum(projected * projected, axis=-1, keepdims=True) + 1e-12)
        valid = jnp.arange(c.codebook_size)[None, :] < jnp.asarray(c.level_sizes)[:, None]  # [M, K]
        return logits + jnp.where(valid, 0.0, NEG_INF)

    def __call__(self, batch: dict, *, deterministic: bool = True):
        """A training batch → logits [B, T, M, K] for the next item's digits at every position; with
        the catalogue loss, (those logits, the next item's catalogue NLL [B, T])."""
        tokens, segment_ids = batch["decoder_input_tokens"], batch.get("decoder_segment_ids")
        h = self.hidden(batch["decoder_input_codes"], tokens, segment_ids, deterministic=deterministic)
        logits = self.digit_logits(h)
        catalogue = batch.get(CONSTANTS, {}).get(catalogue_softmax.CATALOGUE)
        if catalogue is None and self.catalogue is None or not self.config.catalogue_loss_weight > 0:
            return logits
        history = (tokens, segment_ids) if self.config.catalogue_exclude_history else None
        return logits, self.catalogue_nll(h, batch["decoder_target_tokens"], history, catalogue)

    def catalogue_nll(
        self, h: jax.Array, target_tokens: jax.Array, history=None, catalogue=None
    ) -> jax.Array:
        """-log softmax over the catalogue of the target's digit-sum score; target tokens are item + 1
        (padding 0 gives a finite, unweighted value). Per-digit normalisers are constant over items
        and cancel, so the digit sum of raw logits is used: h . e_n, e_n = Σ_m table[:, m, codes[n, m]].
        history = (input tokens [B, T], segment ids [B, T] or None): leave each position's history
        items (see `history_items_mask`) out of the softmax. catalogue: a catalogue_softmax.Catalogue
        (default: the item codes the model was built with). Full or sampled per the config."""
        c = self.config
        catalogue = catalogue if catalogue is not None else self.catalogue.catalogue(c.catalogue_chunk)
        table = self.output_table()
        targets = target_tokens - 1  # padding: -1
        exclude = None if history is None else catalogue_softmax.history_columns(*history, target_tokens)
        if c.catalogue_softmax == "full":
            return catalogue_softmax.catalogue_nll(
                h, table, catalogue, targets, exclude, chunk=c.catalogue_chunk
            )
        items, log_count = catalogue_softmax.candidates(
            self.negatives(),
            catalogue,
            targets,
            num=c.catalogue_negatives,
            sampler=c.catalogue_sampler,
            in_batch=c.catalogue_in_batch_negatives,
        )
        return catalogue_softmax.sampled_nll(
            h, table, jnp.asarray(catalogue.codes), targets, items, log_count, exclude
        )

    # --- ranking ----------------------------------------------------------------------------------

    def input_table(self, token_codes: jax.Array, block: int = 4096) -> jax.Array:
        """[N + 1, M] codes of every input token (`token_code_table`) → [N + 1, d]: each token's `embed`
        (row 0 the begin-of-sequence), `block` tokens at a time. Ranking gathers these rows instead of
        averaging M code vectors at every position of every history."""
        n, m = token_codes.shape
        block = min(block, 1 << (n - 1).bit_length())  # a catalogue that grows a little keeps its shapes
        pad = -n % block
        codes = jnp.pad(token_codes, ((0, pad), (0, 0))).reshape(-1, 1, block, m)
        tokens = jnp.arange(n + pad, dtype=jnp.int32).reshape(-1, 1, block)
        rows = jax.lax.map(lambda x: self.embed(*x), (codes, tokens))  # [blocks, 1, block, d]
        return rows.reshape(-1, rows.shape[-1])[:n]

    def last_hidden(self, inputs: jax.Array, valid: jax.Array) -> jax.Array:
        """Left-padded histories → the final hidden state [B, d] at their last position. inputs
        [B, T, d]: `input_table` rows of each row's begin-of-sequence and items, the newest item at
        T - 1; valid [B, T]: False at padding. Padding is masked as a key and relative position biases
        see only distances, so the result does not depend on how much padding a row has (`hidden`'s
        at the row's last item); the last layer computes the last position alone."""
        t = inputs.shape[1]
        index = token_index(t)
        causal = jnp.tril(jnp.ones((t, t), bool))[None]
        bias = self.relpos(index, index) + mask_to_bias(causal & _pair_mask(valid, valid))
        x = inputs
        for i, layer in enumerate(self.layers):
            x = layer(x, bias, last_only=i == len(self.layers) - 1)
        return self.norm(x)[:, 0]

    def next_item_log_probs(self, codes: jax.Array, tokens: jax.Array) -> jax.Array:
        """Histories as [B, T] tokens (begin-of-sequence 0 first, then items, then padding) and their
        codes → per-digit log-probabilities [B, M, K] of the item after each history's last one."""
        h = self.hidden(codes, tokens)
        last = (tokens > 0).sum(axis=1)  # index of the last item (0: empty history)
        h_last = jnp.take_along_axis(h, last[:, None, None], axis=1)[:, 0]
        return jax.nn.log_softmax(self.digit_logits(h_last), axis=-1)


def history_items_mask(tokens: jax.Array, segment_ids, target_tokens: jax.Array, num_items: int) -> jax.Array:
    """[B, T, N] bool: item n is in position t's history (an input token at a position <= t of the
    same segment; tokens are item + 1, 0 the begin-of-sequence or padding) and is not t's target.
    Without segment ids a row is one user. This is the evaluator's rule (protocol.exclude_history) per
    position, built as a bool mask: calling that function's float scatter on the [B*T, N] scores
    instead measured ~30 ms slower per Beauty training step (~4 %) on the 2-core CPU."""
    b, t = tokens.shape
    if segment_ids is None:
        segment_ids = jnp.ones_like(tokens)
    seen = (
        jnp.tril(jnp.ones((t, t), bool))[None]
        & (segment_ids[:, :, None] == segment_ids[:, None, :])
        & (tokens[:, None, :] > 0)
        & (tokens[:, None, :] != target_tokens[:, :, None])
    )  # [B, T, T]
    column = jnp.where(seen, tokens[:, None, :] - 1, num_items)  # num_items: a spare column
    rows = jnp.arange(b)[:, None, None], jnp.arange(t)[None, :, None]
    return jnp.zeros((b, t, num_items + 1), bool).at[rows[0], rows[1], column].set(True)[..., :num_items]


class _Catalogue:
    """Item codes [N, M] (and popularity [N]) given to the constructor, as static model data (hashable
    by content, so jit caches by it): constants of the trace, not parameters, never checkpointed.
    Training passes the catalogue as an input instead (the batch's `CONSTANTS`)."""

    def __init__(self, codes, popularity=None):
        self.codes = np.asarray(codes, np.int32)
        self.popularity = None if popularity is None else np.asarray(popularity, np.float64)
        pop = b"" if self.popularity is None else self.popularity.tobytes()
        self._hash = hash((self.codes.shape, self.codes.tobytes(), pop))

    def catalogue(self, chunk: int) -> catalogue_softmax.Catalogue:
        return catalogue_softmax.make_catalogue(self.codes, chunk=chunk, popularity=self.popularity)

    def __hash__(self):
        return self._hash

    def __eq__(self, other):
        return (
            isinstance(other, _Catalogue)
            and np.array_equal(self.codes, other.codes)
            and (self.popularity is None) == (other.popularity is None)
            and (self.popularity is None or np.array_equal(self.popularity, other.popularity))
        )


def training_catalogue(
    item_codes, config: ParallelIdConfig, mesh: jax.sharding.Mesh, item_popularity=None
) -> catalogue_softmax.Catalogue:
    """The catalogue input of training (`trainer.train_loop(constants={'catalogue': ...})`): the code
    table padded to the config's chunk and split over the mesh's 'items' axes for the full softmax;
    whole on every device for the sampled one (it gathers its candidates' rows); with the item
    popularity (training-target counts) the sampled softmax's in-batch / popularity negatives need, and
    which `catalogue_trained_items_only` keeps (count > 0)."""
    full = config.catalogue_softmax == "full"
    live = None
    if config.catalogue_trained_items_only:
        if item_popularity is None:
            raise ValueError("ParallelIdConfig.catalogue_trained_items_only needs the items' training counts")
        live = np.asarray(item_popularity) > 0
    return catalogue_softmax.make_catalogue(
        item_codes,
        mesh=mesh,
        popularity=item_popularity,
        live=live,
        split=full,
        chunk=config.catalogue_chunk if full else 1,
    )


def _unit(x: jax.Array) -> jax.Array:
    """x scaled to unit length along its last axis."""
    return x * jax.lax.rsqrt(jnp.sum(x * x, axis=-1, keepdims=True) + 1e-12)


def token_code_table(item_codes) -> jax.Array:
    """[N, M] item codes → [N + 1, M] codes of each input token: row 0 (begin-of-sequence and
    padding) all zeros, row i + 1 item i's digits, so `table[tokens]` feeds `next_item_log_probs`."""
    item_codes = jnp.asarray(item_codes, jnp.int32)
    return jnp.concatenate([jnp.zeros((1, item_codes.shape[1]), jnp.int32), item_codes])


def item_scores(log_probs: jax.Array, item_codes: jax.Array) -> jax.Array:
    """Exact scores of every item: log_probs [B, M, K], item_codes [N, M] → [B, N] where
    score[b, n] = Σ_m log_probs[b, m, item_codes[n, m]], by one gather from the flattened table."""
    b, m, k = log_probs.shape
    flat_index = item_codes + (jnp.arange(m) * k)[None, :]  # [N, M] into the [M * K] row
    gathered = jnp.take(log_probs.reshape(b, m * k), flat_index.reshape(-1), axis=1)
    return gathered.reshape(b, item_codes.shape[0], m).sum(axis=-1)


def num_params(config: ParallelIdConfig) -> int:
    b = config.block
    d, a, f, n = b.d_model, b.num_heads * b.head_dim, b.mlp_dim, len(b.mlp_activations)
    layer = 4 * d * a + (n + 1) * d * f + 2 * d
    m, k = config.num_digits, config.codebook_size
    return (
        m * k * d
        + d
        + (config.num_items * d if config.item_input_embedding else 0)
        + (d if config.input_norm else 0)
        + b.relative_attention_num_buckets * b.num_heads
        + config.num_layers * layer
        + d
        + (d * m * k if config.head == "untied" else d * m * d)
        + (m * d * d if config.digit_blocks else 0)
    )


def forward_flops(config: ParallelIdConfig, length: int, head_positions: int | None = None) -> int:
    """Forward FLOPs of one row of `length` positions (model FLOPs: layer matmuls, attention over the
    full masked matrix, and the per-digit head at `head_positions` of them, default all)."""
    b = config.block
    d, a, f, n = b.d_model, b.num_heads * b.head_dim, b.mlp_dim, len(b.mlp_activations)
    m, k = config.num_digits, config.codebook_size
    head = d * m * k  # the head: one matmul
    head += d * m * d if config.head == "cosine" else 0  # and |P_m h| for the cosine head
    head += m * d * d if config.digit_blocks else 0  # the per-digit blocks
    layers = config.num_layers * (4 * d * a + (n + 1) * d * f)
    heads = length if head_positions is None else head_positions
    return 2 * (layers * length + head * heads) + 4 * a * config.num_layers * length * length


def train_flops_per_row(config: ParallelIdConfig, length: int, batch_size: int = 1) -> int:
    """Training FLOPs (forward + backward) of one packed row of `length` positions, every position
    supervised (with the catalogue loss, also its [positions, candidates] matmul: every item for the
    full softmax; the shared negatives and, in-batch, the batch's `batch_size` x `length` targets for
    the sampled one)."""
    d = config.block.d_model
    candidates = config.num_items
    if config.catalogue_softmax == "sampled":
        in_batch = batch_size * length if config.catalogue_in_batch_negatives else 0
        candidates = min(config.num_items, config.catalogue_negatives + in_batch)
    catalogue = 2 * d * candidates * length if config.catalogue_loss_weight > 0 else 0
    return 3 * (forward_flops(config, length) + catalogue)


def top_digit_tuples(log_probs: jax.Array, k: int) -> tuple[jax.Array, jax.Array]:
    """Unconstrained decoding: the k best digit tuples of each row, [B, M, K] per-digit log-probs →
    (tuples [B, k, M], scores [B, k]), best first, whether or not a tuple names an item. A beam of k
    over the digits in order is exact here: a tuple's score is a sum over its digits, so every prefix
    of a top-k tuple is a top-k prefix."""
    b, m, _ = log_probs.shape
    scores = jnp.zeros((b, 1), log_probs.dtype)
    tuples = jnp.zeros((b, 1, 0), jnp.int32)
    for digit in range(m):
        cand = scores[:, :, None] + log_probs[:, None, digit, :]  # [B, beam, K]
        width = min(k, cand.shape[1] * cand.shape[2])
        scores, flat = jax.lax.top_k(cand.reshape(b, -1), width)
        parent, code = flat // cand.shape[2], (flat % cand.shape[2]).astype(jnp.int32)
        tuples = jnp.concatenate(
            [jnp.take_along_axis(tuples, parent[..., None], axis=1), code[..., None]], axis=-1
        )
    return tuples, scores
