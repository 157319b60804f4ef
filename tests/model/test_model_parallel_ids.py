"""The parallel-digit model: exact item scores against brute force, the one-pass every-position loss
against per-prefix examples (float64 reference), packed rows against separate rows, the history
layout of exact ranking."""

import dataclasses

import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genrec.model import parallel_ids
from genrec.model.losses import cross_entropy_with_z_loss

LEVELS = (8, 8, 8, 3)  # three digits of 8 codes + a collision digit of 3


def tiny(**overrides):
    return helpers.tiny_parallel_ids_config(
        **{"level_sizes": LEVELS, "num_items": 30, "num_layers": 2, **overrides}
    )


def item_codes(num_items=30, seed=0):
    rng = np.random.default_rng(seed)
    codes = np.stack([rng.integers(0, s, num_items) for s in LEVELS], axis=1).astype(np.int32)
    return codes


def test_item_scores_equal_brute_force():
    rng = np.random.default_rng(1)
    log_probs = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(3, 4, 8)), jnp.float32), axis=-1)
    codes = item_codes(30)
    scores = np.asarray(parallel_ids.item_scores(log_probs, jnp.asarray(codes)))
    lp = np.asarray(log_probs)
    brute = np.array([[sum(lp[b, m, codes[n, m]] for m in range(4)) for n in range(30)] for b in range(3)])
    np.testing.assert_allclose(scores, brute, rtol=1e-6)


def test_hand_example_of_item_scores():
    # Two digits, two codes each: p(digit0) = (0.75, 0.25), p(digit1) = (0.5, 0.5).
    log_probs = jnp.log(jnp.array([[[0.75, 0.25], [0.5, 0.5]]]))
    codes = jnp.array([[0, 1], [1, 0], [0, 0]])
    np.testing.assert_allclose(
        np.exp(parallel_ids.item_scores(log_probs, codes)), [[0.375, 0.125, 0.375]], rtol=1e-6
    )


def _sequences_batch(sequences, codes, length):
    """Rows of BOS + items (one sequence per row, right-padded), as the LM converter lays them out."""
    rows = len(sequences)
    targets = np.zeros((rows, length), np.int32)
    for r, s in enumerate(sequences):
        targets[r, : len(s)] = np.asarray(s) + 1
    inputs = np.concatenate([np.zeros((rows, 1), np.int32), targets[:, :-1]], axis=1)
    table = np.concatenate([np.zeros((1, codes.shape[1]), np.int32), codes])
    return {
        "decoder_input_tokens": inputs,
        "decoder_target_tokens": targets,
        "decoder_loss_weights": (targets > 0).astype(np.float32),
        "decoder_segment_ids": ((targets > 0) | (np.arange(length) == 0)).astype(np.int32),
        "decoder_input_codes": table[inputs],
        "decoder_target_codes": table[targets],
    }


@pytest.mark.slow  # ~75 s of eager float64 calls; CI's slow pass runs it
def test_one_pass_loss_equals_the_per_prefix_examples_in_float64():
    """The claim of the design: the loss of one pass over a user's sequence equals the summed loss of
    its (prefix -> next item) examples, each scored from its own history."""
    codes = item_codes()
    sequences = [[3, 7, 1, 20, 5], [11, 2]]
    with jax.enable_x64(True):
        model = parallel_ids.ParallelIdDecoder(tiny(dtype="float64"), rngs=nnx.Rngs(0))
        params = jax.tree.map(lambda x: x.astype(jnp.float64), nnx.state(model, nnx.Param))
        nnx.update(model, params)
        batch = {k: jnp.asarray(v) for k, v in _sequences_batch(sequences, codes, 6).items()}
        logits = model(batch)
        weights = batch["decoder_loss_weights"][..., None]
        one_pass, _, _ = cross_entropy_with_z_loss(logits, batch["decoder_target_codes"], weights)

        per_prefix = 0.0
        token_codes = jnp.asarray(np.concatenate([np.zeros((1, 4), np.int32), codes]))
        for s in sequences:
            for t in range(len(s)):  # history s[:t] (empty: begin-of-sequence only) -> s[t]
                tokens = jnp.asarray([[0] + [i + 1 for i in s[:t]]], jnp.int32)
                log_probs = model.next_item_log_probs(token_codes[tokens], tokens)
                per_prefix -= float(parallel_ids.item_scores(log_probs, jnp.asarray(codes[[s[t]]]))[0, 0])
        assert logits.dtype == jnp.float32 or logits.dtype == jnp.float64
        np.testing.assert_allclose(float(one_pass), per_prefix, rtol=1e-6)


def test_packed_rows_score_each_user_as_its_own_row():
    codes = item_codes()
    model = parallel_ids.ParallelIdDecoder(tiny(), rngs=nnx.Rngs(0))
    separate = _sequences_batch([[3, 7, 1], [11, 2, 9, 4]], codes, 8)
    logits = model({k: jnp.asarray(v) for k, v in separate.items()})
    # The same two users packed into one row: [BOS 3 7 1 | BOS 11 2 9 4] with segment ids 1 and 2.
    packed = {
        k: np.concatenate([v[0, :3], v[1, :4], np.zeros_like(v[0, :1])])[None] for k, v in separate.items()
    }
    packed["decoder_input_tokens"] = np.array([[0, 4, 8, 0, 12, 3, 10, 0]], np.int32)
    packed["decoder_segment_ids"] = np.array([[1, 1, 1, 2, 2, 2, 2, 0]], np.int32)
    table = np.concatenate([np.zeros((1, 4), np.int32), codes])
    packed["decoder_input_codes"] = table[packed["decoder_input_tokens"]]
    packed_logits = model({k: jnp.asarray(v) for k, v in packed.items()})
    np.testing.assert_allclose(packed_logits[0, :3], logits[0, :3], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(packed_logits[0, 3:7], logits[1, :4], rtol=1e-5, atol=1e-5)


def test_narrow_digits_never_give_probability_to_codes_they_lack():
    model = parallel_ids.ParallelIdDecoder(tiny(), rngs=nnx.Rngs(0))
    tokens = jnp.asarray([[0, 4, 8, 0]])
    token_codes = jnp.asarray(np.concatenate([np.zeros((1, 4), np.int32), item_codes()]))
    log_probs = np.asarray(model.next_item_log_probs(token_codes[tokens], tokens))
    probs = np.exp(log_probs)
    np.testing.assert_allclose(probs.sum(-1), 1.0, rtol=1e-5)
    assert (probs[0, 3, 3:] < 1e-30).all()  # the collision digit has 3 codes


def test_cosine_head_against_a_per_digit_float64_reference():
    config = tiny(head="cosine", temperature=0.07)
    model = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(2))
    h = np.random.default_rng(3).normal(size=(2, 5, 16))
    logits = np.asarray(model.digit_logits(jnp.asarray(h, jnp.float32)))
    project, codes = np.asarray(model.project[...], np.float64), np.asarray(model.codes[...], np.float64)
    for m, size in enumerate(LEVELS):
        q = h @ project[:, m, :]  # [2, 5, d]: digit m's projection of every position
        q /= np.linalg.norm(q, axis=-1, keepdims=True)
        e = codes[m, :size] / np.linalg.norm(codes[m, :size], axis=-1, keepdims=True)
        np.testing.assert_allclose(logits[..., m, :size], q @ e.T / 0.07, rtol=2e-4, atol=2e-4)
        assert (logits[..., m, size:] < -1e8).all()
    assert np.abs(logits[..., :3, :]).max() <= 1 / 0.07 + 1e-3  # cosines bound the logits


@pytest.mark.parametrize("head", ["tied", "cosine", "untied"])
def test_digit_blocks_against_a_per_digit_float64_reference(head):
    """g_m = h + silu(W_m h), then digit m's head on g_m; zero W_m (the init) is the plain head."""
    config = tiny(head=head, temperature=0.1, digit_blocks=True)
    model = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(2))
    rng = np.random.default_rng(4)
    h = rng.normal(size=(2, 3, 16))
    plain = parallel_ids.ParallelIdDecoder(dataclasses.replace(config, digit_blocks=False), rngs=nnx.Rngs(2))
    np.testing.assert_allclose(
        model.digit_logits(jnp.asarray(h, jnp.float32)),
        plain.digit_logits(jnp.asarray(h, jnp.float32)),
        rtol=1e-5,
        atol=1e-5,
    )
    w = rng.normal(size=model.blocks[...].shape) * 0.3
    model.blocks[...] = jnp.asarray(w, jnp.float32)
    logits = np.asarray(model.digit_logits(jnp.asarray(h, jnp.float32)))
    codes = np.asarray(model.codes[...], np.float64)
    for m, size in enumerate(LEVELS):
        a = h @ w[m]
        g = h + a / (1 + np.exp(-a))  # [2, 3, d]: digit m's state
        if head == "untied":
            want = g @ np.asarray(model.out[...], np.float64)[:, m, :size]
        else:
            q = g @ np.asarray(model.project[...], np.float64)[:, m, :]
            if head == "cosine":
                e = codes[m, :size] / np.linalg.norm(codes[m, :size], axis=-1, keepdims=True)
                want = (q / np.linalg.norm(q, axis=-1, keepdims=True)) @ e.T / 0.1
            else:
                want = q @ codes[m, :size].T / np.sqrt(16)
        np.testing.assert_allclose(logits[..., m, :size], want, rtol=2e-4, atol=2e-4)


@pytest.mark.parametrize(
    "head,blocks", [("tied", False), ("untied", False), ("cosine", False), ("tied", True)]
)
def test_parameter_count_matches_the_model(head, blocks):
    config = tiny(head=head, item_input_embedding=True, digit_blocks=blocks)
    model = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(0))
    actual = sum(np.size(x) for x in jax.tree.leaves(nnx.state(model, nnx.Param)))
    assert parallel_ids.num_params(config) == actual


def test_bad_config_is_refused():
    with pytest.raises(ValueError, match="head"):
        tiny(head="shared")
    with pytest.raises(ValueError, match="temperature"):
        tiny(head="cosine", temperature=0.0)
    with pytest.raises(ValueError, match=r"unknown ParallelIdConfig fields \['heads'\]"):
        parallel_ids.ParallelIdConfig.from_dict(dict(tiny().to_dict(), heads=4))
    assert parallel_ids.ParallelIdConfig.from_dict(tiny().to_dict()) == tiny()
    with pytest.raises(ValueError, match="level_sizes is empty"):
        parallel_ids.ParallelIdDecoder(tiny(level_sizes=()), rngs=nnx.Rngs(0))
    with pytest.raises(ValueError, match="BlockConfig.num_heads must be positive, got 0"):
        tiny(num_heads=0)
    with pytest.raises(ValueError, match=r"BlockConfig.mlp_activations \('swish',\)"):
        tiny(mlp_activations=("swish",))
    with pytest.raises(ValueError, match=r"BlockConfig.dropout_rate must be in \[0, 1\)"):
        tiny(dropout_rate=1.0)
    with pytest.raises(TypeError, match="ParallelIdConfig.block must be a BlockConfig, got dict"):
        parallel_ids.ParallelIdConfig(block={"d_model": 8})


def test_the_default_block_is_the_parallel_digit_models_and_builds_its_layers():
    """ParallelIdConfig() keeps the block it had when these settings were its own fields, and its T5
    layers are built from exactly the block's settings."""
    config = parallel_ids.ParallelIdConfig(level_sizes=(8, 3), num_layers=3)
    assert dataclasses.asdict(config.block) == dict(
        d_model=128,
        num_heads=4,
        head_dim=32,
        mlp_dim=512,
        mlp_activations=("gelu",),
        dropout_rate=0.2,
        relative_attention_num_buckets=32,
        relative_attention_max_distance=64,
        dtype="float32",
        dropout_rng_impl="hash",
    )
    layers = config.layer_config()
    assert (layers.vocab_size, layers.num_encoder_layers) == (8, 3)
    assert {k: getattr(layers, k) for k in dataclasses.asdict(config.block)} == dataclasses.asdict(
        config.block
    )


def test_top_digit_tuples_equal_brute_force():
    import itertools

    rng = np.random.default_rng(5)
    log_probs = jax.nn.log_softmax(jnp.asarray(rng.normal(size=(2, 3, 5)), jnp.float32), axis=-1)
    tuples, scores = parallel_ids.top_digit_tuples(log_probs, 7)
    for b in range(2):
        every = sorted(
            (
                (float(sum(log_probs[b, m, c] for m, c in enumerate(t))), t)
                for t in itertools.product(range(5), repeat=3)
            ),
            reverse=True,
        )[:7]
        np.testing.assert_allclose(np.asarray(scores[b]), [s for s, _ in every], rtol=1e-5)
        assert [tuple(int(c) for c in t) for t in tuples[b]] == [t for _, t in every]


@pytest.mark.parametrize("head", ["tied", "untied"])
def test_catalogue_loss_against_a_brute_force_softmax_over_item_scores(head):
    """The catalogue term is -log softmax over every item of Σ_m log p_m(code) (the score exact
    ranking sorts by), computed by hand in float64 from the model's own digit log-probs; the loss adds
    w x its weighted sum; padding positions get no gradient."""
    from genrec.model import losses

    codes = item_codes()
    sequences = [[3, 7, 1, 20, 5], [11, 2]]
    config = tiny(head=head, catalogue_loss_weight=0.5, dropout_rate=0.0)
    model = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(0), item_codes=codes)
    batch = {k: jnp.asarray(v) for k, v in _sequences_batch(sequences, codes, 6).items()}
    logits, item_nll = model(batch)
    lp = np.asarray(jax.nn.log_softmax(np.asarray(logits, np.float64), axis=-1))
    targets, weights = np.asarray(batch["decoder_target_tokens"]), np.asarray(batch["decoder_loss_weights"])
    for b, t in zip(*np.nonzero(weights)):
        scores = np.array([sum(lp[b, t, m, c[m]] for m in range(len(LEVELS))) for c in codes])
        expected = np.log(np.exp(scores - scores.max()).sum()) + scores.max() - scores[targets[b, t] - 1]
        np.testing.assert_allclose(float(item_nll[b, t]), expected, rtol=2e-5, atol=1e-5)

    fn = losses.digit_and_catalogue_loss(0.5)
    w = batch["decoder_loss_weights"][..., None]
    total, _, weight_sum = fn((logits, item_nll), batch["decoder_target_codes"], w)
    digits, _, _ = cross_entropy_with_z_loss(logits, batch["decoder_target_codes"], w)
    assert float(weight_sum) == weights.sum()
    np.testing.assert_allclose(
        float(total), float(digits) + 0.5 * float((item_nll * weights).sum()), rtol=1e-6
    )

    def item_term(h):
        return (model.catalogue_nll(h, batch["decoder_target_tokens"]) * batch["decoder_loss_weights"]).sum()

    h = model.hidden(
        batch["decoder_input_codes"], batch["decoder_input_tokens"], batch["decoder_segment_ids"]
    )
    grads = np.asarray(jax.grad(item_term)(h))
    assert np.isfinite(grads).all() and not grads[weights == 0].any() and grads[weights > 0].any()
    # without the catalogue (inference, export) the model returns plain logits
    plain = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(0))
    np.testing.assert_allclose(np.asarray(plain(batch)), np.asarray(logits), rtol=1e-6)
    with pytest.raises(ValueError, match="catalogue_loss_weight needs a linear head"):
        tiny(head="cosine", catalogue_loss_weight=1.0)


def test_catalogue_loss_without_history_items_against_brute_force():
    """catalogue_exclude_history: in packed rows, each position's softmax runs over the catalogue less
    the items its own user had up to that position (checked by hand in float64), except its target,
    which stays in when it repeats a history item; other users' items in the same row stay in."""
    codes = item_codes()
    # row 0 packs user A (3, 7, 1) and user B (7, 2, 7: the last target repeats a history item)
    inputs = np.array([[0, 4, 8, 0, 8, 3], [0, 12, 3, 12, 0, 0]], np.int32)
    targets = np.array([[4, 8, 2, 8, 3, 8], [12, 3, 12, 6, 0, 0]], np.int32)
    segments = np.array([[1, 1, 1, 2, 2, 2], [1, 1, 1, 1, 0, 0]], np.int32)
    table = np.concatenate([np.zeros((1, codes.shape[1]), np.int32), codes])
    batch = {
        "decoder_input_tokens": inputs,
        "decoder_target_tokens": targets,
        "decoder_segment_ids": segments,
        "decoder_loss_weights": (targets > 0).astype(np.float32),
        "decoder_input_codes": table[inputs],
        "decoder_target_codes": table[targets],
    }
    batch = {k: jnp.asarray(v) for k, v in batch.items()}
    config = tiny(catalogue_loss_weight=1.0, catalogue_exclude_history=True)
    model = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(0), item_codes=codes)
    logits, item_nll = model(batch)
    _, full_nll = parallel_ids.ParallelIdDecoder(
        tiny(catalogue_loss_weight=1.0), rngs=nnx.Rngs(0), item_codes=codes
    )(batch)
    lp = np.asarray(jax.nn.log_softmax(np.asarray(logits, np.float64), axis=-1))
    for b, t in zip(*np.nonzero(targets)):
        seen = {
            int(inputs[b, s]) for s in range(t + 1) if segments[b, s] == segments[b, t] and inputs[b, s] > 0
        }
        seen.discard(int(targets[b, t]))
        scores = np.array([sum(lp[b, t, m, c[m]] for m in range(len(LEVELS))) for c in codes])
        kept = np.array([n + 1 not in seen for n in range(len(codes))])
        expected = (
            np.log(np.exp(scores[kept] - scores.max()).sum()) + scores.max() - scores[targets[b, t] - 1]
        )
        np.testing.assert_allclose(float(item_nll[b, t]), expected, rtol=2e-5, atol=1e-5)
        assert (float(item_nll[b, t]) < float(full_nll[b, t])) == bool(seen)
    with pytest.raises(ValueError, match="catalogue_exclude_history needs catalogue_loss_weight"):
        tiny(catalogue_exclude_history=True)


def test_training_flops_count_the_candidates_the_catalogue_softmax_scores():
    """Per row of 10 positions, the catalogue term is 3 x 2 x d x candidates x 10: every item for the
    full softmax; the shared negatives plus the batch's targets (in-batch) for the sampled one."""
    digits_only = helpers.tiny_parallel_ids_config((4, 4), 1000)
    full = dataclasses.replace(digits_only, catalogue_loss_weight=1.0)
    sampled = dataclasses.replace(full, catalogue_softmax="sampled", catalogue_negatives=16)
    extra = lambda c, batch=1: (  # noqa: E731
        parallel_ids.train_flops_per_row(c, 10, batch) - parallel_ids.train_flops_per_row(digits_only, 10)
    )
    assert extra(full) == extra(full, 4) == 3 * 2 * 16 * 1000 * 10
    assert extra(sampled, 4) == 3 * 2 * 16 * (16 + 4 * 10) * 10
    no_in_batch = dataclasses.replace(sampled, catalogue_in_batch_negatives=False)
    assert extra(no_in_batch, 4) == 3 * 2 * 16 * 16 * 10
