"""Jitted decoding with an explicit KV cache: trie-constrained beam search over item identifiers,
trie-constrained or free sampling, and greedy / beam search for text.

Everything runs on device in one `lax.while_loop`; beams live in a [batch, beam] layout, and
reordering the beams is a gather of the cache along the beam axis.

Memory (bytes, b = bytes of the compute dtype; see `decode_memory_bytes`):
  per user × beam  self-attention cache   2 · Ld · T · H · Dh · b     (T = decode steps)
                   step log-probs          ~3 · V · 4                  (logits, log-softmax, scores)
  per user         encoder output          S · D · b
                   cross-attention K/V     2 · Ld · S · H · Dh · b     (computed once, shared by beams)
The cross-attention keys/values are never copied per beam (beams are that user's query positions),
so memory grows with the beam only through the short self-attention cache and the step scores.
"""

from __future__ import annotations

import functools
from typing import Callable, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genrec.model.config import ModelConfig
from genrec.model.network import EncoderDecoder, KVCache
from genrec.model.trie import Trie

PAD_ID, EOS_ID = 0, 1  # the vocabulary contract: pad = 0 (also the decoder's start token), eos = 1


class _Beams(NamedTuple):
    tokens: jax.Array  # [B, N, steps + 1] int32; column 0 is the start token
    scores: jax.Array  # [B, N] float32 sum of token log-probs
    aux: jax.Array  # [B, N] per-beam state: trie node (constrained) or finished flag (text)
    cache: KVCache
    step: jax.Array  # scalar int32


# expand(log_probs [B, N, V], aux [B, N]) → candidate tokens, log-probs, aux, each [B, N, W].
Expand = Callable[[jax.Array, jax.Array], tuple[jax.Array, jax.Array, jax.Array]]


def _rebuilder(model: EncoderDecoder) -> Callable[[], EncoderDecoder]:
    """A function that rebuilds `model` where it is called. A loop body is its own trace level and
    NNX refuses to use a module from another (scanned layers run an nnx.scan inside the body), so
    the rebuilt module holds new Variables (a tree_map copy), not the outer ones."""
    graphdef, state = nnx.split(model)
    return lambda: nnx.merge(graphdef, jax.tree.map(lambda x: x, state))


def _beam_search(
    model: EncoderDecoder,
    encoder_input_tokens: jax.Array,
    *,
    beam_size: int,
    num_steps: int,
    init_aux: jax.Array,
    expand: Expand,
    is_done: Callable[[jax.Array], jax.Array],
) -> _Beams:
    """Generic beam search: each step scores every beam's candidates and keeps the best N."""
    batch, n = encoder_input_tokens.shape[0], beam_size
    cross_kv = model.cross_key_values(model.encode(encoder_input_tokens))
    rebuild = _rebuilder(model)
    first_beam_only = jnp.where(jnp.arange(n) == 0, 0.0, -jnp.inf)  # all beams start identical
    init = _Beams(
        tokens=jnp.full((batch, n, num_steps + 1), PAD_ID, jnp.int32),
        scores=jnp.broadcast_to(first_beam_only, (batch, n)).astype(jnp.float32),
        aux=init_aux,
        cache=model.init_cache(batch, n, num_steps),
        step=jnp.zeros((), jnp.int32),
    )

    def step(beams: _Beams) -> _Beams:
        model = rebuild()
        inputs = jax.lax.dynamic_index_in_dim(beams.tokens, beams.step, axis=2, keepdims=False)
        logits, cache = model.decode_step(inputs, beams.step, beams.cache, cross_kv, encoder_input_tokens)
        cand_tokens, cand_logp, cand_aux = expand(jax.nn.log_softmax(logits, axis=-1), beams.aux)
        width = cand_tokens.shape[-1]
        totals = (beams.scores[..., None] + cand_logp).reshape(batch, n * width)
        scores, flat = jax.lax.top_k(totals, n)
        parent = flat // width

        def pick(x):
            flat_x = jnp.broadcast_to(x, (batch, n, width)).reshape(batch, n * width)
            return jnp.take_along_axis(flat_x, flat, axis=1)

        parent_tokens = jnp.take_along_axis(beams.tokens, parent[..., None], axis=1)
        tokens = jax.lax.dynamic_update_index_in_dim(parent_tokens, pick(cand_tokens), beams.step + 1, axis=2)
        return _Beams(tokens, scores, pick(cand_aux), model.reorder_cache(cache, parent), beams.step + 1)

    return jax.lax.while_loop(lambda b: (b.step < num_steps) & ~is_done(b.aux), step, init)


@functools.partial(jax.jit, static_argnames=("graphdef", "beam_size", "top_k"))
def _constrained(graphdef, state, encoder_input_tokens, trie: Trie, beam_size: int, top_k: int):
    model = nnx.merge(graphdef, state)

    def expand(log_probs, nodes):
        children, valid = trie.children(nodes)
        tokens = jnp.maximum(trie.node_token[children], 0)
        logp = jnp.where(valid, jnp.take_along_axis(log_probs, tokens, axis=-1), -jnp.inf)
        return tokens, logp, children

    batch = encoder_input_tokens.shape[0]
    beams = _beam_search(
        model,
        encoder_input_tokens,
        beam_size=beam_size,
        num_steps=trie.depth,
        init_aux=jnp.zeros((batch, beam_size), jnp.int32),
        expand=expand,
        is_done=lambda nodes: jnp.zeros((), bool),
    )
    return trie.node_item[beams.aux[:, :top_k]], beams.scores[:, :top_k]


def constrained_beam_search(
    model: EncoderDecoder, encoder_input_tokens, trie: Trie, beam_size: int, top_k: int
) -> tuple[jax.Array, jax.Array]:
    """The top_k distinct catalogue items per input, best first.

    Beam search over identifier tokens where each step may only extend a beam along the trie, so
    every hypothesis is a valid identifier prefix and every result a catalogue item (distinct,
    since identifiers are). Scores are the identifier's total log-probability under the model
    (softmax over the full vocabulary). With top_k <= beam_size and top_k <= num_items every
    returned score is finite: a beam holds min(beam, #valid prefixes) live hypotheses at each depth.

    encoder_input_tokens [B, S] → (item ids [B, top_k] int32, scores [B, top_k] float32).
    """
    if not 1 <= top_k <= beam_size:
        raise ValueError(f"need 1 <= top_k <= beam_size, got top_k={top_k}, beam_size={beam_size}")
    if top_k > trie.num_items:
        raise ValueError(f"top_k={top_k} exceeds the catalogue's {trie.num_items} items")
    if trie.max_token >= model.config.vocab_size:
        raise ValueError(f"the trie holds token ids >= the model's vocab_size {model.config.vocab_size}")
    graphdef, state = nnx.split(model)
    return _constrained(graphdef, state, jnp.asarray(encoder_input_tokens, jnp.int32), trie, beam_size, top_k)


class Samples(NamedTuple):
    items: jax.Array  # [B, K] int32 catalogue item of each sample; -1 when drawn without the trie
    tokens: jax.Array  # [B, K, L] int32 identifier tokens
    log_probs: jax.Array  # [B, K, L] float32 each token's log-probability under the model itself
    entropy: jax.Array  # [B, K] float32 mean entropy (nats) of the model's next-token distributions


@functools.partial(jax.jit, static_argnames=("graphdef", "num_samples", "length"))
def _sample(graphdef, state, encoder_input_tokens, trie, key, num_samples: int, length: int, temperature):
    model = nnx.merge(graphdef, state)
    batch, k = encoder_input_tokens.shape[0], num_samples
    cross_kv = model.cross_key_values(model.encode(encoder_input_tokens))
    rebuild = _rebuilder(model)

    def step(carry, t):
        tokens, nodes, cache = carry  # tokens [B, K] (the last chosen), nodes [B, K] (trie only)
        logits, cache = rebuild().decode_step(tokens, t, cache, cross_kv, encoder_input_tokens)
        log_probs = jax.nn.log_softmax(logits, axis=-1)
        step_key = jax.random.fold_in(key, t)
        if trie is None:
            token = jax.random.categorical(step_key, log_probs / temperature, axis=-1).astype(jnp.int32)
        else:
            children, valid = trie.children(nodes)  # [B, K, W]
            child_tokens = jnp.maximum(trie.node_token[children], 0)
            logp = jnp.where(valid, jnp.take_along_axis(log_probs, child_tokens, axis=-1), -jnp.inf)
            pick = jax.random.categorical(step_key, logp / temperature, axis=-1)
            nodes = jnp.take_along_axis(children, pick[..., None], axis=-1)[..., 0]
            token = trie.node_token[nodes]
        token_logp = jnp.take_along_axis(log_probs, token[..., None], axis=-1)[..., 0]
        p = jnp.exp(log_probs)
        entropy = -jnp.sum(jnp.where(p > 0, p * log_probs, 0.0), axis=-1)
        return (token, nodes, cache), (token, token_logp, entropy)

    init = (
        jnp.full((batch, k), PAD_ID, jnp.int32),
        jnp.zeros((batch, k), jnp.int32),
        model.init_cache(batch, k, length),
    )
    (_, nodes, _), (tokens, token_logp, entropy) = jax.lax.scan(step, init, jnp.arange(length))
    items = jnp.full((batch, k), -1, jnp.int32) if trie is None else trie.node_item[nodes]
    return Samples(items, jnp.moveaxis(tokens, 0, -1), jnp.moveaxis(token_logp, 0, -1), entropy.mean(0))


def sample(
    model: EncoderDecoder,
    encoder_input_tokens,
    key: jax.Array,
    *,
    num_samples: int,
    trie: Trie | None = None,
    length: int | None = None,
    temperature: float = 1.0,
) -> Samples:
    """K ancestral samples of an identifier per input (independent, with replacement), each token
    drawn with probability proportional to p(token | prefix)^(1/temperature):
      trie given  among the trie's children of the prefix only, so every sample is a catalogue
                  item (`items`); `length` is the trie's depth;
      no trie     from the full vocabulary, `length` tokens, so a sample may name no item (`items`
                  is -1: look the tokens up).
    encoder_input_tokens [B, S] → `Samples`; the log-probabilities are the model's own (full-
    vocabulary softmax, as beam scores; their sum is the identifier's score). The policy half of RL
    for this model."""
    if temperature <= 0:
        raise ValueError(f"temperature={temperature}; must be > 0")
    if trie is not None and length not in (None, trie.depth):
        raise ValueError(f"length={length} differs from the trie's identifier length {trie.depth}")
    if trie is None and not length:
        raise ValueError("sampling without a trie needs the identifier length")
    graphdef, state = nnx.split(model)
    return _sample(
        graphdef,
        state,
        jnp.asarray(encoder_input_tokens, jnp.int32),
        trie,
        key,
        num_samples,
        trie.depth if trie is not None else length,
        jnp.float32(temperature),
    )


@functools.partial(jax.jit, static_argnames=("graphdef", "beam_size", "max_length", "eos_id"))
def _text_beam(graphdef, state, encoder_input_tokens, beam_size: int, max_length: int, eos_id: int):
    model = nnx.merge(graphdef, state)

    def expand(log_probs, finished):
        tokens = jnp.arange(log_probs.shape[-1], dtype=jnp.int32)
        # A finished beam continues only with padding, at no cost, and keeps competing on its score.
        frozen = jnp.where(tokens == PAD_ID, 0.0, -jnp.inf)
        logp = jnp.where(finished[..., None], frozen, log_probs)
        return tokens, logp, finished[..., None] | (tokens == eos_id)

    batch = encoder_input_tokens.shape[0]
    beams = _beam_search(
        model,
        encoder_input_tokens,
        beam_size=beam_size,
        num_steps=max_length,
        init_aux=jnp.zeros((batch, beam_size), bool),
        expand=expand,
        is_done=jnp.all,
    )
    return beams.tokens[:, :, 1:], beams.scores


def beam_search(
    model: EncoderDecoder, encoder_input_tokens, *, beam_size: int, max_length: int, eos_id: int = EOS_ID
) -> tuple[jax.Array, jax.Array]:
    """Unconstrained text beam search (EOS-terminated, no length penalty).

    → (tokens [B, beam, max_length] int32, best first, padded with 0 after EOS;
       scores [B, beam] total log-probabilities)."""
    graphdef, state = nnx.split(model)
    return _text_beam(
        graphdef, state, jnp.asarray(encoder_input_tokens, jnp.int32), beam_size, max_length, eos_id
    )


@functools.partial(jax.jit, static_argnames=("graphdef", "max_length", "eos_id"))
def _greedy(graphdef, state, encoder_input_tokens, max_length: int, eos_id: int):
    model = nnx.merge(graphdef, state)
    batch = encoder_input_tokens.shape[0]
    cross_kv = model.cross_key_values(model.encode(encoder_input_tokens))
    rebuild = _rebuilder(model)

    def step(carry):
        t, tokens, score, finished, cache = carry
        logits, cache = rebuild().decode_step(tokens[:, t][:, None], t, cache, cross_kv, encoder_input_tokens)
        log_probs = jax.nn.log_softmax(logits[:, 0], axis=-1)
        best = jnp.argmax(log_probs, axis=-1).astype(jnp.int32)
        gain = jnp.take_along_axis(log_probs, best[:, None], axis=-1)[:, 0]
        score = score + jnp.where(finished, 0.0, gain)
        best = jnp.where(finished, PAD_ID, best)
        return t + 1, tokens.at[:, t + 1].set(best), score, finished | (best == eos_id), cache

    init = (
        jnp.zeros((), jnp.int32),
        jnp.full((batch, max_length + 1), PAD_ID, jnp.int32),
        jnp.zeros((batch,), jnp.float32),
        jnp.zeros((batch,), bool),
        model.init_cache(batch, 1, max_length),
    )
    _, tokens, score, _, _ = jax.lax.while_loop(lambda c: (c[0] < max_length) & ~jnp.all(c[3]), step, init)
    return tokens[:, 1:], score


def greedy_decode(
    model: EncoderDecoder, encoder_input_tokens, *, max_length: int, eos_id: int = EOS_ID
) -> tuple[jax.Array, jax.Array]:
    """Greedy text decoding → (tokens [B, max_length], 0 after EOS; scores [B] log-probabilities)."""
    graphdef, state = nnx.split(model)
    return _greedy(graphdef, state, jnp.asarray(encoder_input_tokens, jnp.int32), max_length, eos_id)


def decode_memory_bytes(config: ModelConfig, *, encoder_len: int, decode_len: int) -> dict:
    """The formula in the module docstring, per user and per user × beam."""
    b = np.dtype(config.compute_dtype).itemsize
    heads = config.num_heads * config.head_dim
    per_beam_cache = 2 * config.num_decoder_layers * decode_len * heads * b
    return {
        "kv_cache_per_user_beam": per_beam_cache,
        "step_scores_per_user_beam": 3 * config.vocab_size * 4,
        "per_user_beam": per_beam_cache + 3 * config.vocab_size * 4,
        "per_user": encoder_len * config.d_model * b
        + 2 * config.num_decoder_layers * encoder_len * heads * b,
    }
