"""GRPO fine-tuning (`--run_mode=rl`): the loss and advantages against a float64 hand computation,
a KL of zero at the reference, a reward only one item earns raising that item's probability, the
catalogue lookup of unconstrained samples, training-split-only data, and the run through the one
trainer: 8 devices like 1, exact resume, an RL checkpoint read back like any other."""

import os

import helpers
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx

from genrec.model import parallel_ids
from genrec.runtime import checkpoints, families, partitioning
from genrec.runtime.state import FunctionalModel
from genrec.train import grpo, rl, rl_data, rl_policies, run, trainer

LEVELS = (8, 8, 4)


# --- the GRPO arithmetic ---------------------------------------------------------------------------


def test_rewards_advantages_and_loss_against_a_float64_hand_computation():
    with jax.enable_x64(True):
        samples = jnp.asarray([[[1, 2], [3, 4], [5, 6]]])  # B=1, K=3, L=2
        targets = jnp.asarray([[1, 2]])
        valid = jnp.asarray([[True, True, False]])
        likelihood = jnp.asarray([[-1.0, -0.5, -2.0]], jnp.float64)  # list order: s1, s0, s2
        total, parts = grpo.rewards(samples, targets, valid, likelihood, {"ndcg": 1.0, "valid": 0.5})
        np.testing.assert_array_equal(parts["hit"], [[1, 0, 0]])
        np.testing.assert_allclose(parts["reciprocal_rank"], [[0.5, 0, 0]])
        ndcg = 1 / np.log2(3)  # the target is second in the list
        np.testing.assert_allclose(parts["ndcg"], [[ndcg, 0, 0]])
        np.testing.assert_allclose(total, [[ndcg + 0.5, 0.5, 0.0]], rtol=1e-12)

        r = np.array([ndcg + 0.5, 0.5, 0.0])
        mean, std = r.sum() / 3, np.sqrt(((r - r.sum() / 3) ** 2).sum() / 3)
        adv = np.asarray(grpo.group_advantages(jnp.asarray([r])))[0]
        np.testing.assert_allclose(adv, (r - mean) / (std + 1e-4), rtol=1e-12)

        rng = np.random.default_rng(0)
        old = rng.normal(-2.0, 0.5, (1, 3, 2))
        new = old + np.array([[[0.4, -0.1], [0.05, -0.5], [0.3, 0.0]]])  # ratios 1.49, 0.90, 1.05, 0.61 ...
        ref = old + rng.normal(0, 0.3, (1, 3, 2))
        mask = np.array([[[1, 1], [1, 1], [1, 0]]], np.float64)
        eps, beta = 0.2, 0.1
        loss, info = grpo.loss(
            jnp.asarray(new),
            jnp.asarray(old),
            jnp.asarray(ref),
            jnp.asarray([adv]),
            jnp.asarray(mask),
            clip_epsilon=eps,
            kl_coef=beta,
        )
        per_sample, kls, clipped = [], [], 0
        for k in range(3):
            terms, ks = [], []
            for t in range(2):
                if not mask[0, k, t]:
                    continue
                ratio = np.exp(new[0, k, t] - old[0, k, t])
                surrogate = min(ratio * adv[k], min(max(ratio, 1 - eps), 1 + eps) * adv[k])
                d = ref[0, k, t] - new[0, k, t]
                ks.append(np.exp(d) - d - 1)
                terms.append(-(surrogate - beta * ks[-1]))
                clipped += abs(ratio - 1) > eps
            per_sample.append(np.mean(terms))
            kls.append(np.mean(ks))
        np.testing.assert_allclose(loss, np.mean(per_sample), rtol=1e-12)
        np.testing.assert_allclose(info["kl"], np.mean(kls), rtol=1e-12)
        np.testing.assert_allclose(info["clip_fraction"], clipped / 5, rtol=1e-12)

        # where the ratio left the trust region in the advantage's direction, no gradient flows
        grad = jax.grad(
            lambda lp: grpo.loss(
                lp,
                jnp.asarray(old),
                jnp.asarray(old),
                jnp.asarray([adv]),
                jnp.asarray(mask),
                clip_epsilon=eps,
                kl_coef=0.0,
            )[0]
        )(jnp.asarray(new))
        ratio = np.exp(new - old)[0]
        for k in range(3):
            for t in range(2):
                outside = (adv[k] > 0 and ratio[k, t] > 1 + eps) or (adv[k] < 0 and ratio[k, t] < 1 - eps)
                if mask[0, k, t] and outside:
                    assert grad[0, k, t] == 0
                elif mask[0, k, t]:  # d/dlp of -ratio * A / (tokens * samples)
                    want = -ratio[k, t] * adv[k] / mask[0, k].sum() / 3
                    np.testing.assert_allclose(grad[0, k, t], want, rtol=1e-10)


def test_list_ranks_are_pessimistic_on_ties_and_advantages_vanish_in_a_uniform_group():
    ranks = np.asarray(grpo.list_ranks(jnp.asarray([[-1.0, -1.0, -3.0, 0.0]])))
    np.testing.assert_array_equal(ranks, [[3, 3, 4, 1]])
    np.testing.assert_array_equal(grpo.group_advantages(jnp.ones((2, 4))), np.zeros((2, 4)))
    assert float(grpo.kl_to_reference(jnp.asarray(-2.0), jnp.asarray(-2.0))) == 0.0
    with pytest.raises(ValueError, match="rewards"):
        grpo.check_rewards({"ndgc": 1.0})
    with pytest.raises(ValueError, match="group_size"):
        rl.RlConfig(group_size=1)


def test_catalogue_lookup_finds_every_item_and_nothing_else():
    rng = np.random.default_rng(1)
    codes = np.unique(rng.integers(0, 4, (200, 5)), axis=0).astype(np.int32)
    rng.shuffle(codes)
    queries = np.concatenate([codes[[3, 0, 57]], rng.integers(0, 4, (300, 5))]).astype(np.int32)
    found = np.asarray(rl_policies.catalogue_lookup(jnp.asarray(codes), jnp.asarray(queries)))
    for q, f in zip(queries, found):
        match = np.flatnonzero((codes == q).all(axis=1))
        assert f == (match[0] if len(match) else -1)
    assert list(found[:3]) == [3, 0, 57]


# --- one step on a tiny model ---------------------------------------------------------------------


def _tiny(num_items):
    return helpers.tiny_parallel_ids_config(LEVELS, num_items, dropout_rate=0.1)


def _codes(num_items, seed=0):
    rng = np.random.default_rng(seed)  # distinct code tuples
    return np.array([[i % 8, (i // 8) % 8, i // 64] for i in rng.permutation(num_items)], np.int32)


def _state(model, tx, params, ref_params):
    return {
        "step": jnp.zeros((), jnp.int32),
        "params": params,
        "opt_state": tx.init(params),
        "rng": jax.random.key_data(jax.random.key(7)),
        "ref_params": ref_params,
    }


def test_kl_is_zero_at_the_reference_and_positive_away_from_it():
    codes = _codes(40)
    factory = lambda rngs: parallel_ids.ParallelIdDecoder(_tiny(40), rngs=rngs)  # noqa: E731
    model = FunctionalModel.from_factory(factory)
    params = nnx.to_pure_dict(nnx.state(factory(nnx.Rngs(0)), nnx.Param))
    other = nnx.to_pure_dict(nnx.state(factory(nnx.Rngs(1)), nnx.Param))
    tx = optax.adam(1e-2)
    batch = {
        "decoder_input_tokens": jnp.asarray([[0, 3, 9, 0, 0, 0, 0, 0, 0], [0, 12, 0, 0, 0, 0, 0, 0, 0]]),
        "decoder_target_tokens": jnp.asarray([[5], [17]]),
    }
    step = jax.jit(rl.make_rl_step(model, tx, rl_policies.ParallelIdPolicy(codes), rl.RlConfig(group_size=4)))
    _, metrics = step(_state(model, tx, params, params), batch)
    assert float(metrics["kl"]) == 0.0 and float(metrics["invalid_rate"]) == 0.0
    _, metrics = step(_state(model, tx, params, other), batch)
    assert float(metrics["kl"]) > 1e-3


@pytest.mark.parametrize("constrained", [True, False])
def test_a_reward_only_one_item_earns_raises_that_items_probability(constrained):
    num_items, rewarded = 40, 5
    codes = _codes(num_items)
    factory = lambda rngs: parallel_ids.ParallelIdDecoder(_tiny(num_items), rngs=rngs)  # noqa: E731
    model = FunctionalModel.from_factory(factory)
    params = nnx.to_pure_dict(nnx.state(factory(nnx.Rngs(0)), nnx.Param))
    tx = optax.adam(3e-2)
    rng = np.random.default_rng(0)
    tokens = np.zeros((16, 9), np.int32)
    for i in range(16):
        n = rng.integers(1, 8)
        tokens[i, 1 : 1 + n] = rng.integers(0, num_items, n) + 1
    batch = {
        "decoder_input_tokens": jnp.asarray(tokens),
        "decoder_target_tokens": jnp.full((16, 1), rewarded + 1, jnp.int32),
    }
    config = rl.RlConfig(
        group_size=8,
        rewards=(("hit", 1.0),),
        constrained=constrained,
        kl_coef=0.0,
        temperature=1.0 if constrained else 3.0,
    )
    step = jax.jit(rl.make_rl_step(model, tx, rl_policies.ParallelIdPolicy(codes), config))

    def mean_log_likelihood(p):  # of the rewarded item among the catalogue's (what ranking sees)
        tokens = batch["decoder_input_tokens"]
        token_codes = jnp.concatenate([jnp.zeros((1, 3), jnp.int32), jnp.asarray(codes)])
        log_probs = model.module(p, jax.random.key(0)).next_item_log_probs(
            jnp.take(token_codes, tokens, axis=0), tokens
        )
        scores = parallel_ids.item_scores(log_probs, jnp.asarray(codes))
        return float(jax.nn.log_softmax(scores, axis=-1)[:, rewarded].mean())

    state = _state(model, tx, params, params)
    before = mean_log_likelihood(params)
    rewards = []
    for _ in range(25):
        state, metrics = step(state, batch)
        rewards.append(float(metrics["reward"]))
    after = mean_log_likelihood(state["params"])
    assert after > before + 1.0 and after > np.log(0.5), (before, after)
    assert np.mean(rewards[-5:]) > np.mean(rewards[:5])


# --- data -----------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dataset():
    from genrec.datasets import synthetic

    return synthetic.generate(num_items=60, num_users=80, seed=0, name="synthetic-rl")


def test_rl_batches_read_training_parts_only_and_resume_at_the_same_batch(dataset):
    parts = [list(v.items) for _, v in rl_data.training_views(dataset)]
    featurize = rl_data.item_sequence_features(4)
    first = list(zip(range(6), rl_data.batches(dataset, 16, featurize, seed=3)))
    for _, b in first:
        for tokens, target in zip(b["decoder_input_tokens"], b["decoder_target_tokens"][:, 0]):
            assert tokens[0] == 0 and target > 0
            history = [t - 1 for t in tokens[1:] if t > 0]
            # some user's training part holds history + [target] contiguously, ending before its end
            assert any(
                any(
                    p[c] == target - 1 and p[max(0, c - len(history)) : c] == history and c < len(p)
                    for c in range(1, len(p))
                )
                for p in parts
            )
    assert len(parts) == sum(len(u.items) >= 2 for u in dataset.split("train"))
    resumed = next(rl_data.batches(dataset, 16, featurize, start_step=4, seed=3))
    for key in resumed:
        np.testing.assert_array_equal(resumed[key], first[4][1][key])
    # epoch 0 is every user once, in its drawn order, cut at its drawn points
    order, cuts = rl_data.epoch_examples(np.array([len(p) for p in parts]), 3, 0)
    assert sorted(order) == list(range(len(parts)))
    seen = np.concatenate([b["decoder_target_tokens"][:, 0] for _, b in first])[: len(parts)]
    np.testing.assert_array_equal(seen, [parts[u][c] + 1 for u, c in zip(order, cuts)])


# --- the run mode through the one trainer ----------------------------------------------------------


@pytest.fixture(scope="module")
def supervised(tmp_path_factory, dataset):
    from genrec.semantic_ids.artifact import Identifiers

    workdir = str(tmp_path_factory.mktemp("supervised"))
    Identifiers("random", _codes(dataset.num_items), LEVELS, dataset.items.source_ids, dataset.name).save(
        os.path.join(workdir, run.SEMANTIC_IDS_DIR)
    )
    loop = trainer.LoopConfig(num_steps=4, batch_size=8, log_every=2, checkpoint_every=4)
    run.train_family(
        families.get("parallel_ids"),
        workdir,
        dataset,
        loop,
        mesh=partitioning.make_mesh(devices=jax.devices()[:1]),
        model_config=_tiny(dataset.num_items),
    )
    return os.path.join(workdir, "checkpoints")


def _rl(workdir, dataset, init_from, mesh, steps, validate=False):
    loop = trainer.LoopConfig(
        num_steps=steps, batch_size=8, log_every=1, checkpoint_every=2, keep_checkpoints=4
    )
    config = rl.RlConfig(group_size=4, rewards=(("ndcg", 1.0),), updates_per_rollout=2)
    # Adam's epsilon well above float noise: gradients that are rounding error (the zero-mean
    # advantages leave many) stay rounding error instead of becoming full steps, so 8 devices and 1
    # can be compared tightly
    tx = optax.adam(1e-2, eps=1e-3)
    return rl.train_rl(
        str(workdir), dataset, init_from, loop=loop, config=config, mesh=mesh, validate=validate, tx=tx
    )


def test_rl_on_8_devices_equals_1_device_and_a_resumed_run_equals_an_uninterrupted_one(
    supervised, dataset, tmp_path
):
    state_8, summary_8 = _rl(
        tmp_path / "eight",
        dataset,
        supervised,
        partitioning.make_mesh(data=2, fsdp=2, tensor=2),
        4,
        validate=True,
    )
    assert summary_8["steps"] == 4 and [p["step"] for p in summary_8["validation"]] == [2, 4]
    one = partitioning.make_mesh(devices=jax.devices()[:1])
    _rl(tmp_path / "one", dataset, supervised, one, 2)  # "killed" after the step-2 checkpoint
    state_1, summary_1 = _rl(tmp_path / "one", dataset, supervised, one, 4)  # resumes at 2
    assert summary_1["steps"] == 4
    # the resumed run's loss and reward curves hold the killed run's points too
    assert (
        [p[0] for p in summary_1["curves"]["reward"]]
        == [p[0] for p in summary_1["curves"]["loss"]]
        == [1, 2, 3, 4]
    )
    for name in ("params", "ref_params"):
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-6),
            jax.device_get(state_1[name]),
            jax.device_get(state_8[name]),
        )
    # the reference stayed the supervised parameters; the policy moved away from them
    start = checkpoints.load_for_inference(supervised, one)[0]
    ref = jax.device_get(state_1["ref_params"])
    moved = jax.tree.map(
        lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max()),
        jax.device_get(state_1["params"]),
        ref,
    )
    assert max(jax.tree.leaves(moved)) > 0
    np.testing.assert_array_equal(ref["codes"], np.asarray(nnx.state(start, nnx.Param)["codes"][...]))
    assert os.path.getsize(tmp_path / "eight" / "reward_curve.png") > 1000

    # the evaluation and export path reads the RL checkpoint like a supervised one
    model, meta = checkpoints.load_for_inference(str(tmp_path / "one" / "checkpoints"), one)
    assert meta.model == "parallel_ids" and meta.rl["group_size"] == 4 and meta.rl_init_step == 4
    from genrec.evaluate import exact
    from genrec.semantic_ids.artifact import Identifiers

    with jax.set_mesh(one):
        metrics = exact.evaluate(
            model, Identifiers.load(meta.identifiers_dir).codes, dataset, "validation", beyond=True
        )
    assert 0.0 <= metrics["ndcg@10"] <= 1.0 and 10 / dataset.num_items <= metrics["coverage@10"] <= 1.0
    assert metrics["mean_pop_rec@10"] > 0


def test_rl_refuses_a_checkpoint_of_another_dataset(supervised, tmp_path):
    from genrec.datasets import synthetic

    other = synthetic.generate(num_items=60, num_users=80, seed=1, name="synthetic-other")
    with pytest.raises(ValueError, match="synthetic-rl"):
        _rl(tmp_path, other, supervised, partitioning.make_mesh(devices=jax.devices()[:1]), 2)
