"""The catalogue softmax at scale (genrec/model/catalogue_softmax.py) against the dense softmax over
every item, in float64 on the 8 simulated devices: chunked == dense, sharded + chunked == dense (loss
and gradients wrt the hidden states and the output table), history exclusion, padding items that must
never count, and the sampled softmax (its full-candidate limit, a hand example, its expectation)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genrec.model import catalogue_softmax as cs
from genrec.model import parallel_ids
from genrec.runtime import partitioning

D, M, K = 6, 3, 5


def problem(n, p=(2, 7), seed=0):
    rng = np.random.default_rng(seed)
    h = rng.normal(size=p + (D,))
    table = rng.normal(size=(D, M, K))
    codes = rng.integers(0, K, size=(n, M)).astype(np.int32)
    targets = rng.integers(0, n, size=p).astype(np.int32)
    targets[0, -2:] = -1  # padding positions
    return jnp.asarray(h), jnp.asarray(table), codes, jnp.asarray(targets)


def history(targets, n, seed=1, width=4):
    """Random history items per position (-1: none), the target never among them, some repeated."""
    rng = np.random.default_rng(seed)
    items = rng.integers(-1, n, size=targets.shape + (width,)).astype(np.int32)
    items[..., 1] = items[..., 0]  # a repeated history item
    return jnp.asarray(np.where(items == np.asarray(targets)[..., None], -1, items))


def mesh8():
    return partitioning.make_mesh(data=-1)


@pytest.mark.parametrize("n,chunk", [(23, 4), (23, 64), (40, 8), (5, 3)])
def test_chunked_equals_dense(n, chunk):
    with jax.enable_x64(True):
        h, table, codes, targets = problem(n)
        want = cs.dense_nll(h, table, codes, targets)
        got = cs.catalogue_nll(h, table, cs.make_catalogue(codes, chunk=chunk), targets, chunk=chunk)
        valid = np.asarray(targets) >= 0
        np.testing.assert_allclose(np.asarray(got)[valid], np.asarray(want)[valid], rtol=1e-12)
        assert np.isfinite(np.asarray(got)).all()


@pytest.mark.parametrize("n,chunk", [(37, 2), (37, 16), (64, 8), (6, 4)])
def test_sharded_chunked_loss_and_gradients_equal_dense(n, chunk):
    """N = 37 and 6 divide neither the 8 devices nor the chunk: padded rows must not count (6 < 8
    leaves whole devices with padding only)."""
    with jax.enable_x64(True):
        h, table, codes, targets = problem(n)
        catalogue = cs.make_catalogue(codes, mesh=mesh8(), chunk=chunk)
        assert catalogue.axes == ("data",) and catalogue.codes.shape[0] % 8 == 0
        weights = jnp.asarray(np.random.default_rng(3).uniform(size=targets.shape)) * (targets >= 0)

        def loss(fn):
            return lambda h, table: jnp.sum(fn(h, table) * weights)

        dense = loss(lambda h, t: cs.dense_nll(h, t, codes, targets))
        sharded = loss(lambda h, t: cs.catalogue_nll(h, t, catalogue, targets, chunk=chunk))
        want, want_grads = jax.value_and_grad(dense, argnums=(0, 1))(h, table)
        got, got_grads = jax.jit(jax.value_and_grad(sharded, argnums=(0, 1)))(h, table)
        np.testing.assert_allclose(float(got), float(want), rtol=1e-12)
        for g, w in zip(got_grads, want_grads):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-10, atol=1e-12)


def test_items_over_one_axis_positions_over_the_other_equal_dense():
    """A pod layout: a rule table whose 'items' names only 'tensor' (4) of a data 2 x tensor 4 mesh;
    the positions split over 'data'. Loss and gradients as the dense softmax, history excluded."""
    rules = tuple(
        (name, ("tensor",) if name == "items" else axes) for name, axes in partitioning.LOGICAL_AXIS_RULES
    )
    with jax.enable_x64(True):
        n, chunk = 21, 2
        h, table, codes, targets = problem(n)
        exclude = history(targets, n)
        mesh = partitioning.make_mesh(data=2, tensor=4)
        catalogue = cs.make_catalogue(codes, mesh=mesh, chunk=chunk, rules=rules)
        assert (catalogue.axes, catalogue.position_axes) == (("tensor",), ("data",))
        weights = (targets >= 0).astype(h.dtype)

        def dense(h, t):
            return jnp.sum(cs.dense_nll(h, t, codes, targets, exclude) * weights)

        def split(h, t):
            return jnp.sum(cs.catalogue_nll(h, t, catalogue, targets, exclude, chunk=chunk) * weights)

        want, want_grads = jax.value_and_grad(dense, argnums=(0, 1))(h, table)
        got, got_grads = jax.jit(jax.value_and_grad(split, argnums=(0, 1)))(h, table)
        np.testing.assert_allclose(float(got), float(want), rtol=1e-12)
        for g, w in zip(got_grads, want_grads):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-10, atol=1e-12)


def test_history_exclusion_sharded_and_chunked_equals_dense_masked():
    with jax.enable_x64(True):
        n, chunk = 29, 3
        h, table, codes, targets = problem(n)
        exclude = history(targets, n)
        want = cs.dense_nll(h, table, codes, targets, exclude)
        full = cs.dense_nll(h, table, codes, targets)
        valid = np.asarray(targets) >= 0
        for mesh in (None, mesh8()):
            catalogue = cs.make_catalogue(codes, mesh=mesh, chunk=chunk)
            got = jax.jit(
                lambda h, c=catalogue: cs.catalogue_nll(h, table, c, targets, exclude, chunk=chunk)
            )(h)
            np.testing.assert_allclose(np.asarray(got)[valid], np.asarray(want)[valid], rtol=1e-12)
        # excluding items lowers the loss exactly where a position has history items
        has = (np.asarray(exclude) >= 0).any(-1) & valid
        assert (np.asarray(want)[has] < np.asarray(full)[has]).all()
        # the dense reference itself against a hand-built mask
        scores = np.asarray(h) @ np.asarray(cs.item_vectors(table, jnp.asarray(codes))).T
        b, t = np.argwhere(has)[0]
        keep = np.ones(n, bool)
        keep[[i for i in np.asarray(exclude)[b, t] if i >= 0]] = False
        s = scores[b, t]
        hand = np.log(np.exp(s[keep]).sum()) - s[int(targets[b, t])]
        np.testing.assert_allclose(float(want[b, t]), hand, rtol=1e-12)


def test_history_columns_follow_the_history_mask_rule():
    from genrec.model import parallel_ids

    tokens = jnp.asarray([[0, 4, 8, 0, 8, 3], [0, 12, 3, 12, 0, 0]])
    targets = jnp.asarray([[4, 8, 2, 8, 3, 8], [12, 3, 12, 6, 0, 0]])
    segments = jnp.asarray([[1, 1, 1, 2, 2, 2], [1, 1, 1, 1, 0, 0]])
    columns = cs.history_columns(tokens, segments, targets)
    mask = cs._columns_mask(columns.reshape(12, -1), 0, 20).reshape(2, 6, 20)
    np.testing.assert_array_equal(
        np.asarray(mask), np.asarray(parallel_ids.history_items_mask(tokens, segments, targets, 20))
    )


def test_sampled_softmax_with_every_item_once_is_the_full_softmax():
    with jax.enable_x64(True):
        n = 17
        h, table, codes, targets = problem(n)
        exclude = history(targets, n)
        items, log_count = jnp.arange(n), jnp.zeros(n)  # every item once: expected count 1
        for ex in (None, exclude):
            got = cs.sampled_nll(h, table, jnp.asarray(codes), targets, items, log_count, ex)
            want = cs.dense_nll(h, table, codes, targets, ex)
            valid = np.asarray(targets) >= 0
            np.testing.assert_allclose(np.asarray(got)[valid], np.asarray(want)[valid], rtol=1e-12)


def test_sampled_softmax_hand_example():
    """Two items, one position, h . e = (1, 2), target item 0; candidates: item 1 drawn with expected
    count 4 and item 0 (an accidental hit, dropped): NLL = log(e^1 + e^2 / 4) - 1."""
    table = jnp.zeros((1, 1, 2)).at[0, 0, :].set(jnp.asarray([1.0, 2.0]))
    codes = jnp.asarray([[0], [1]])
    got = cs.sampled_nll(
        jnp.ones((1, 1)),
        table,
        codes,
        jnp.asarray([0]),
        jnp.asarray([1, 0]),
        jnp.log(jnp.asarray([4.0, 1.0])),
    )
    np.testing.assert_allclose(float(got[0]), np.log(np.e + np.e**2 / 4) - 1, rtol=1e-6)


@pytest.mark.parametrize("sampler,in_batch", [("uniform", False), ("popularity", False), ("uniform", True)])
def test_sampled_negatives_estimate_the_partition_function(sampler, in_batch):
    """E[exp(corrected log-sum-exp over the negatives)] = Σ over non-target items of exp(score): the
    logQ correction makes the estimate unbiased. Checked by Monte Carlo over 4,000 draws (in-batch
    candidates come from the batch's targets; their expectation holds when targets ~ popularity, so
    here the targets themselves are drawn from it)."""
    with jax.enable_x64(True):
        n = 12
        rng = np.random.default_rng(5)
        h, table, codes, _ = problem(n)
        pop = rng.uniform(0.2, 3.0, size=n)
        catalogue = cs.make_catalogue(codes, popularity=pop)
        target = 3
        scores = h[0, 0] @ cs.item_vectors(table, jnp.asarray(codes)).T
        exact = float(jnp.exp(scores).sum() - jnp.exp(scores[target]))

        def estimate(key):
            k1, k2 = jax.random.split(key)
            batch_targets = jax.random.choice(k1, n, (6,), p=jnp.asarray(pop / pop.sum()))
            items, log_count = cs.candidates(
                k2, catalogue, batch_targets, num=5, sampler=sampler, in_batch=in_batch
            )
            s = scores[items] - log_count
            return jnp.sum(jnp.where(items == target, 0.0, jnp.exp(s)))

        draws = jax.vmap(estimate)(jax.random.split(jax.random.key(0), 4000))
        mean, err = float(draws.mean()), float(draws.std() / np.sqrt(len(draws)))
        assert abs(mean - exact) < 4 * err, (mean, exact, err)
        assert err < 0.05 * exact


def test_bad_catalogues_are_refused():
    with pytest.raises(ValueError, match="items, digits"):
        cs.make_catalogue(np.zeros((0, 3)))
    with pytest.raises(ValueError, match="popularity"):
        cs.make_catalogue(np.zeros((4, 3)), popularity=[1, 2])
    with pytest.raises(ValueError, match="needs the catalogue's item popularity"):
        cs.candidates(
            jax.random.key(0),
            cs.make_catalogue(np.zeros((4, 3))),
            jnp.zeros(3, jnp.int32),
            num=2,
            sampler="uniform",
            in_batch=True,
        )


def test_left_out_items_never_count_sharded_chunked_and_sampled():
    """make_catalogue(live=...): the items outside the mask (say, never trained on) drop out of the
    softmax on every path: sharded + chunked == the dense softmax over the live items (loss and
    gradients), and the sampled softmax never counts a left-out candidate."""
    with jax.enable_x64(True):
        n, chunk = 29, 4
        h, table, codes, targets = problem(n)
        live = np.ones(n, bool)
        live[[0, 5, 6, 28]] = False
        targets = jnp.where(jnp.isin(targets, jnp.asarray([0, 5, 6, 28])), 1, targets)  # targets are live
        catalogue = cs.make_catalogue(codes, mesh=mesh8(), chunk=chunk, live=live)

        def total(fn):
            return lambda h, t: jnp.sum(jnp.where(targets >= 0, fn(h, t), 0.0))

        dense = total(lambda h, t: cs.dense_nll(h, t, codes, targets, live=live))
        sharded = total(lambda h, t: cs.catalogue_nll(h, t, catalogue, targets, chunk=chunk))
        want, want_grads = jax.value_and_grad(dense, argnums=(0, 1))(h, table)
        got, got_grads = jax.jit(jax.value_and_grad(sharded, argnums=(0, 1)))(h, table)
        np.testing.assert_allclose(float(got), float(want), rtol=1e-12)
        for g, w in zip(got_grads, want_grads):
            np.testing.assert_allclose(np.asarray(g), np.asarray(w), rtol=1e-10, atol=1e-12)
        # the whole-table dense softmax differs: the mask matters
        assert (
            abs(float(total(lambda h, t: cs.dense_nll(h, t, codes, targets))(h, table)) - float(want)) > 1e-3
        )

        local = cs.make_catalogue(codes, live=live)
        items, log_count = jnp.arange(n), jnp.zeros(n)  # every item once: the full softmax over live items
        got = cs.sampled_nll(h, table, jnp.asarray(local.codes), targets, items, log_count)
        valid = np.asarray(targets) >= 0
        want = cs.dense_nll(h, table, codes, targets, live=live)
        np.testing.assert_allclose(np.asarray(got)[valid], np.asarray(want)[valid], rtol=1e-12)
    with pytest.raises(ValueError, match="live mask"):
        cs.make_catalogue(codes, live=np.zeros(n, bool))


def test_trained_items_only_leaves_out_the_items_without_training_targets():
    codes = np.arange(12, dtype=np.int32).reshape(4, 3) % K
    counts = np.asarray([3.0, 0.0, 2.0, 0.0])
    base = dict(level_sizes=(K,) * 3, num_items=4, catalogue_loss_weight=1.0)
    kept = parallel_ids.training_catalogue(codes, parallel_ids.ParallelIdConfig(**base), None, counts)
    only = parallel_ids.training_catalogue(
        codes, parallel_ids.ParallelIdConfig(**base, catalogue_trained_items_only=True), None, counts
    )
    np.testing.assert_array_equal(np.asarray(kept.codes)[:4], codes)
    np.testing.assert_array_equal(
        np.asarray(only.codes)[:4] < 0, [[False] * 3, [True] * 3, [False] * 3, [True] * 3]
    )
    with pytest.raises(ValueError, match="catalogue_loss_weight"):
        parallel_ids.ParallelIdConfig(
            level_sizes=(K,), num_items=4, catalogue_loss_weight=0.0, catalogue_trained_items_only=True
        )
