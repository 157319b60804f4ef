"""GRPO for the encoder-decoder (`--run_mode=rl` from a TIGER-task checkpoint): a reward only one
item earns raises that item's probability (trie-constrained and free sampling); the rollout prompts
are the very inputs the seqio task feeds the model; and the run through the one trainer: 8 devices
like 1, exact resume, validation by beam search, and an RL checkpoint evaluated and exported like
any other."""

import dataclasses
import os

import helpers
import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest
from flax import nnx
from tiny_run import tiny_sequential_config

from genrec.model.network import EncoderDecoder
from genrec.model.trie import build_trie
from genrec.runtime import families, partitioning
from genrec.runtime.state import FunctionalModel
from genrec.train import rl, rl_data, rl_policies, run, trainer

LEVELS = (8, 8, 4)
TIGER_TASK = """
prepare_tasks.mixture = 'tiger'
prepare_tasks.user_tokens = True
prepare_tasks.user_token_buckets = 8
"""


def _catalogue(num_items, seed=0):
    """Distinct identifiers of 2 tokens from ids 2 .. 11 (the tiny model's vocabulary is 12)."""
    pairs = np.random.default_rng(seed).permutation(100)[:num_items]
    return np.stack([2 + pairs // 10, 2 + pairs % 10], axis=1).astype(np.int32)


def _state(tx, params):
    return {
        "step": jnp.zeros((), jnp.int32),
        "params": params,
        "opt_state": tx.init(params),
        "rng": jax.random.key_data(jax.random.key(7)),
        "ref_params": params,
    }


def _catalogue_log_prob(model, params, encoder_tokens, item_tokens, item):
    """Mean over the batch of the item's log-probability among the catalogue's items, each scored
    by its teacher-forced log p(tokens | input) (what constrained beam search ranks by)."""
    b, n = encoder_tokens.shape[0], len(item_tokens)
    samples = jnp.broadcast_to(jnp.asarray(item_tokens), (b, n, item_tokens.shape[1]))
    policy = rl_policies.EncoderDecoderPolicy(item_tokens, build_trie(item_tokens))
    scores = policy.token_log_probs(
        model.module(params, jax.random.key(0)), {"encoder_input_tokens": encoder_tokens}, samples
    ).sum(-1)
    return float(jax.nn.log_softmax(scores, axis=-1)[:, item].mean())


def test_token_log_probs_are_the_full_forward_passes():
    """The policy's cached, encoder-once teacher forcing against the plain forward pass per sample."""
    model = EncoderDecoder(dataclasses.replace(helpers.TINY_T5, vocab_size=12), rngs=nnx.Rngs(0))
    item_tokens = _catalogue(30)
    rng = np.random.default_rng(1)
    encoder_tokens = jnp.asarray(
        np.where(np.arange(7) < rng.integers(2, 8, (3, 1)), rng.integers(2, 12, (3, 7)), 0), jnp.int32
    )
    samples = jnp.asarray(item_tokens[rng.integers(0, 30, (3, 5))])  # [B=3, K=5, L=2]
    policy = rl_policies.EncoderDecoderPolicy(item_tokens, build_trie(item_tokens))
    ours = policy.token_log_probs(model, {"encoder_input_tokens": encoder_tokens}, samples)
    decoder_inputs = jnp.concatenate([jnp.zeros((15, 1), jnp.int32), samples.reshape(15, 2)[:, :1]], axis=1)
    logits = model(jnp.repeat(encoder_tokens, 5, axis=0), decoder_inputs)
    want = jnp.take_along_axis(jax.nn.log_softmax(logits, -1), samples.reshape(15, 2, 1), -1).reshape(3, 5, 2)
    np.testing.assert_allclose(np.asarray(ours), np.asarray(want), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("constrained", [True, False])
def test_a_reward_only_one_item_earns_raises_that_items_probability(constrained):
    item_tokens, rewarded = _catalogue(30), 4
    factory = lambda rngs: EncoderDecoder(dataclasses.replace(helpers.TINY_T5, vocab_size=12), rngs=rngs)  # noqa: E731
    model = FunctionalModel.from_factory(factory)
    params = nnx.to_pure_dict(nnx.state(factory(nnx.Rngs(0)), nnx.Param))
    rng = np.random.default_rng(0)
    encoder_tokens = jnp.asarray(rng.integers(2, 12, (16, 6)), jnp.int32)
    batch = {"encoder_input_tokens": encoder_tokens, "target_item": jnp.full((16,), rewarded, jnp.int32)}
    policy = rl_policies.EncoderDecoderPolicy(item_tokens, build_trie(item_tokens))
    config = rl.RlConfig(
        group_size=8,
        rewards=(("hit", 1.0),),
        constrained=constrained,
        kl_coef=0.0,
        temperature=1.0 if constrained else 2.0,
    )
    tx = optax.adam(3e-2)
    step = jax.jit(rl.make_rl_step(model, tx, policy, config))
    state, before = (
        _state(tx, params),
        _catalogue_log_prob(model, params, encoder_tokens, item_tokens, rewarded),
    )
    rewards, invalid = [], []
    for _ in range(25):
        state, metrics = step(state, batch)
        rewards.append(float(metrics["reward"]))
        invalid.append(float(metrics["invalid_rate"]))
    after = _catalogue_log_prob(model, state["params"], encoder_tokens, item_tokens, rewarded)
    assert after > before + 1.0 and after > np.log(0.5), (before, after)
    assert np.mean(rewards[-5:]) > np.mean(rewards[:5])
    if constrained:
        assert max(invalid) == 0.0
    else:  # 30 items among 100 token pairs: most free samples start out invalid
        assert np.mean(invalid[:5]) > 0.5 and np.mean(invalid[-5:]) < np.mean(invalid[:5])


# --- the run mode from a TIGER-task checkpoint ------------------------------------------------------


@pytest.fixture(scope="module")
def dataset():
    from genrec.datasets import synthetic

    return synthetic.generate(num_items=60, num_users=40, seed=0, name="synthetic-rl-encdec")


@pytest.fixture(scope="module")
def supervised(tmp_path_factory, dataset):
    """A tiny encoder-decoder trained 4 steps on TIGER's task (hashed user tokens, identifiers only)."""
    from genrec.semantic_ids.artifact import Identifiers

    workdir = str(tmp_path_factory.mktemp("supervised_encdec"))
    rng = np.random.default_rng(0)
    codes = np.array([[i % 8, (i // 8) % 8, i // 64] for i in rng.permutation(dataset.num_items)], np.int32)
    Identifiers("random", codes, LEVELS, dataset.items.source_ids, dataset.name).save(
        os.path.join(workdir, run.SEMANTIC_IDS_DIR)
    )
    loop = trainer.LoopConfig(num_steps=4, batch_size=8, log_every=2, checkpoint_every=4)
    with tiny_sequential_config(TIGER_TASK):
        run.train_family(
            families.get("encoder_decoder"),
            workdir,
            dataset,
            loop,
            mesh=partitioning.make_mesh(devices=jax.devices()[:1]),
        )
    return os.path.join(workdir, "checkpoints")


def test_rollout_prompts_are_the_inputs_the_seqio_task_feeds_the_model(supervised, dataset):
    from genrec import tasks
    from genrec.evaluate.run import task_examples
    from genrec.runtime import checkpoints
    from genrec.semantic_ids.artifact import Identifiers
    from genrec.tasks import pipeline, prompts, registry

    _, meta = checkpoints.read_meta(supervised)
    identifiers = Identifiers.load(meta.identifiers_dir)
    tasks.clear()
    try:
        pipeline.register_as_trained(meta.vocabulary, dataset, identifiers, meta.dataset)
        name = registry.task_name(dataset.name, "sequential", variant=registry.TIGER)
        examples = task_examples(name, "validation", meta.task_feature_lengths, None)
    finally:
        tasks.clear()
    rendered = prompts.trained_prompts(meta, dataset, identifiers)
    assert rendered.template.id == "tiger" and rendered.config.user_tokens == 8
    views = dataset.split("validation")
    for example in examples:
        u = int(example["user_index"])
        ours = rendered.tokens(u, views[u], len(views[u].items) - 1)
        np.testing.assert_array_equal(ours, example["inputs"])
    assert len(examples) == len(views)
    # RL batches: the prompt of a cut training part, padded to the task's input length
    batch = next(rl_data.batches(dataset, 4, rl_data.prompt_features(rendered), seed=1))
    assert batch["encoder_input_tokens"].shape == (4, meta.task_feature_lengths["inputs"])
    assert (batch["encoder_input_tokens"][:, 0] > 0).all() and (batch["target_item"] >= 0).all()


def _rl(workdir, dataset, init_from, mesh, steps, validate=False):
    loop = trainer.LoopConfig(
        num_steps=steps, batch_size=8, log_every=1, checkpoint_every=2, keep_checkpoints=4
    )
    config = rl.RlConfig(group_size=4, rewards=(("ndcg", 1.0),), updates_per_rollout=2)
    tx = optax.adam(1e-2, eps=1e-3)  # see test_train_rl.py: rounding-error gradients stay small
    from genrec import tasks

    tasks.clear()
    try:
        return rl.train_rl(
            str(workdir),
            dataset,
            init_from,
            loop=loop,
            config=config,
            mesh=mesh,
            validate=validate,
            tx=tx,
            validation_users=8,
        )
    finally:
        tasks.clear()


# slow: the parallel-digit twin of this test (test_train_rl.py) covers the trainer path on 8 devices in
# the default run; this one adds the encoder-decoder's adapter, beam-search validation and export
@pytest.mark.slow
def test_encoder_decoder_rl_on_8_devices_equals_1_device_resumes_exactly_and_evaluates(
    supervised, dataset, tmp_path
):
    from genrec.evaluate import evaluator
    from genrec.evaluate.run import evaluate_checkpoint
    from genrec.export import recommender as recommender_lib
    from genrec.export import run as export_run
    from genrec.runtime import checkpoints

    state_8, summary_8 = _rl(
        tmp_path / "eight",
        dataset,
        supervised,
        partitioning.make_mesh(data=2, fsdp=2, tensor=2),
        4,
        validate=True,
    )
    assert [p["step"] for p in summary_8["validation"]] == [2, 4]
    assert all(0.0 <= p["ndcg@10"] <= 1.0 and p["invalid_rate"] == 0.0 for p in summary_8["validation"])
    one = partitioning.make_mesh(devices=jax.devices()[:1])
    _rl(tmp_path / "one", dataset, supervised, one, 2)  # "killed" after the step-2 checkpoint
    state_1, summary_1 = _rl(tmp_path / "one", dataset, supervised, one, 4)  # resumes at 2
    assert [p[0] for p in summary_1["curves"]["reward"]] == [1, 2, 3, 4]
    for name in ("params", "ref_params"):
        jax.tree.map(
            lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-6),
            jax.device_get(state_1[name]),
            jax.device_get(state_8[name]),
        )
    moved = jax.tree.map(
        lambda a, b: float(np.abs(np.asarray(a) - np.asarray(b)).max()),
        jax.device_get(state_1["params"]),
        jax.device_get(state_1["ref_params"]),
    )
    assert max(jax.tree.leaves(moved)) > 0

    # the evaluation run mode and export read the RL checkpoint like a supervised one
    rl_checkpoints = str(tmp_path / "one" / "checkpoints")
    _, meta = checkpoints.read_meta(rl_checkpoints)
    assert meta.mixture.endswith("_tiger") and meta.rl["group_size"] == 4
    from genrec import tasks

    tasks.clear()
    try:
        out = evaluate_checkpoint(
            rl_checkpoints,
            dataset=dataset,
            mesh=one,
            out_dir=str(tmp_path / "eval"),
            split="test",
            max_eval_examples=8,
            config=evaluator.EvalConfig(beam_size=10),
        )
    finally:
        tasks.clear()
    metrics = out["metrics"][f"genrec_{dataset.name.replace('-', '_')}_tiger_sequential"]
    assert 0.0 <= metrics["ndcg@10"] <= 1.0 and metrics["examples"] == 8
    bundle = export_run.export_checkpoint(rl_checkpoints, str(tmp_path / "bundle"), dataset=dataset)
    recommender = recommender_lib.load(bundle, beam_size=10)
    history = [dataset.items.source_ids[i] for i in dataset.users[0].items[:3]]
    recs = recommender.recommend(history, top_k=5, user=dataset.users[0].user_id, drop_history=False)
    assert len(recs) == 5 and len({r.item for r in recs}) == 5
