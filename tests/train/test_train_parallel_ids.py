"""The parallel-digit model through the one trainer, evaluator and bundle: sharded on a 2x2x2 mesh
like one device, exact resume, validation curve, exact ranking equal to a per-user brute force,
and `genrec recommend` from its bundle."""

import dataclasses
import json
import os

import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from genrec.model import parallel_ids
from genrec.runtime import checkpoints, families, partitioning
from genrec.train import run, trainer

LEVELS = (8, 8, 4)


def _config(dataset):
    return helpers.tiny_parallel_ids_config(LEVELS, dataset.num_items, dropout_rate=0.1)


@pytest.fixture(scope="module")
def dataset():
    from genrec.datasets import synthetic

    return synthetic.generate(num_items=60, num_users=80, seed=0, name="synthetic-parallel-ids")


def _workdir(path, dataset):
    from genrec.semantic_ids.artifact import Identifiers

    rng = np.random.default_rng(0)  # distinct random code tuples
    codes = np.array([[i % 8, (i // 8) % 8, i // 64] for i in rng.permutation(dataset.num_items)], np.int32)
    Identifiers("random", codes, LEVELS, dataset.items.source_ids, dataset.name).save(
        os.path.join(path, run.SEMANTIC_IDS_DIR)
    )
    return str(path)


def _train(workdir, dataset, mesh, steps, validate=False):
    loop = trainer.LoopConfig(
        num_steps=steps, batch_size=8, log_every=2, checkpoint_every=4, keep_checkpoints=4
    )
    return run.train_family(
        families.get("parallel_ids"),
        workdir,
        dataset,
        loop,
        mesh=mesh,
        model_config=_config(dataset),
        validate=validate,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory, dataset):
    workdir = _workdir(tmp_path_factory.mktemp("parallel"), dataset)
    state, summary = _train(
        workdir, dataset, partitioning.make_mesh(data=2, fsdp=2, tensor=2), 8, validate=True
    )
    return workdir, jax.device_get(state["params"]), summary


def test_trains_sharded_with_a_validation_curve_and_the_shared_contract(trained, dataset):
    workdir, params, summary = trained
    assert summary["steps"] == 8 and np.isfinite(summary["final_loss"])
    assert [p["step"] for p in summary["validation"]] == [4, 8]
    assert all(0.0 <= p["ndcg@10"] <= 1.0 and p["train_wall_s"] > 0 for p in summary["validation"])
    assert os.path.getsize(os.path.join(workdir, "validation_curve.png")) > 1000
    _, meta = checkpoints.read_meta(os.path.join(workdir, "checkpoints"))
    assert meta.model == "parallel_ids" and meta.model_config["level_sizes"] == list(LEVELS)
    info = open(os.path.join(workdir, "model-info.txt")).read()
    assert "('digits', 'vocab', 'embed')" in info and "P(None, 'tensor', 'fsdp')" in info


def test_one_device_trains_like_the_2x2x2_mesh_and_a_resumed_run_like_an_uninterrupted_one(
    trained, dataset, tmp_path
):
    _, params_8, summary_8 = trained
    workdir = _workdir(tmp_path, dataset)
    one = partitioning.make_mesh(devices=jax.devices()[:1])
    _train(workdir, dataset, one, 4)  # "killed" after the step-4 checkpoint
    state, summary = _train(workdir, dataset, one, 8)  # resumes at step 4: data position and state
    assert summary["steps"] == 8
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-6),
        jax.device_get(state["params"]),
        params_8,
    )


def _brute_force_top10(model, codes, histories, exclude):
    """Per user: the model on its own unpadded history, each item's digit log-probs summed in Python."""
    token_codes = np.concatenate([np.zeros((1, codes.shape[1]), np.int32), codes])
    out = []
    for history in histories:
        tokens = jnp.asarray([[0] + [i + 1 for i in history[-model.config.max_len :]]], jnp.int32)
        lp = np.asarray(model.next_item_log_probs(jnp.asarray(token_codes)[tokens], tokens))[0]
        scores = np.array([sum(lp[m, c[m]] for m in range(len(c))) for c in codes])
        if exclude:
            scores[np.asarray(history, int)] = -np.inf  # the whole history, not only the window
        out.append(np.argsort(-scores, kind="stable")[:10])
    return np.array(out)


@pytest.mark.slow  # ~85 s (a compile per history length); CI's slow pass runs it
@pytest.mark.parametrize("exclude", [False, True])
def test_exact_evaluation_equals_a_per_user_brute_force(trained, dataset, tmp_path, exclude):
    from genrec.evaluate import full_ranking
    from genrec.evaluate.evaluator import EvalConfig
    from genrec.evaluate.ranking import ranking_metrics
    from genrec.evaluate.run import evaluate_checkpoint
    from genrec.semantic_ids.artifact import Identifiers

    workdir, _, _ = trained
    ckpt = os.path.join(workdir, "checkpoints")
    out = evaluate_checkpoint(
        ckpt,
        dataset=dataset,
        mesh=partitioning.make_mesh(),
        out_dir=str(tmp_path),
        config=EvalConfig(drop_history=exclude),
    )
    task, floor = sorted(out["metrics"])  # the model's task, then most-popular on the same users
    metrics = out["metrics"][task]
    assert task.endswith("_item_sequences") and floor.startswith("most_popular")
    assert metrics["examples"] == out["metrics"][floor]["examples"] == len(dataset.split("test"))
    assert out["run"]["ranking"].startswith("exact")
    assert out["run"]["users"] == len(dataset.split("test"))
    model, meta = checkpoints.load_for_inference(ckpt)
    codes = Identifiers.load(meta.identifiers_dir).codes
    histories, targets = full_ranking.leave_one_out(dataset, "test")
    brute = ranking_metrics(_brute_force_top10(model, codes, histories, exclude), targets, ks=(10,))
    assert metrics["recall@10"] == pytest.approx(brute["recall@10"], abs=1e-9)
    assert metrics["ndcg@10"] == pytest.approx(brute["ndcg@10"], rel=1e-5)
    assert json.load(open(tmp_path / "results.json"))["run"]["model"] == "parallel_ids"


def test_bundle_serves_recommend_with_exact_ranking(trained, dataset, tmp_path):
    from genrec.export import recommender as recommender_lib
    from genrec.export.recommender import ExactRecommender
    from genrec.export.run import export_checkpoint

    workdir, _, _ = trained
    bundle = export_checkpoint(
        os.path.join(workdir, "checkpoints"), str(tmp_path / "bundle"), dataset=dataset
    )
    assert not os.path.exists(os.path.join(bundle, "trie.npz"))  # nothing to constrain: items are ranked
    rec = recommender_lib.load(bundle)
    assert isinstance(rec, ExactRecommender)
    history = [int(i) for i in dataset.split("test")[0].items[:-1]]
    got = rec.recommend([dataset.items.source_ids[i] for i in history], top_k=5)
    model, meta = checkpoints.load_for_inference(os.path.join(workdir, "checkpoints"))
    from genrec.semantic_ids.artifact import Identifiers

    want = _brute_force_top10(model, Identifiers.load(meta.identifiers_dir).codes, [history], True)[0][:5]
    assert [r.item for r in got] == [int(i) for i in want]
    assert not set(r.item for r in got) & set(history)
    batch = rec.recommend_batch([history, history[:1]], top_k=5, batch_size=2)
    assert [r.item for r in batch[0]] == [r.item for r in got]
    with pytest.raises(ValueError, match="unknown items in history: NOPE"):
        rec.recommend(["NOPE"])


def test_catalogue_loss_trains_sharded_like_one_device_and_restores_for_ranking(dataset, tmp_path):
    """`catalogue_loss_weight` through the one trainer: the 2x2x2 mesh matches one device, the loss
    carries the item term, and the checkpoint restores for ranking without the catalogue."""
    from genrec.semantic_ids.artifact import Identifiers

    def train(name, mesh):
        config = dataclasses.replace(_config(dataset), catalogue_loss_weight=1.0)
        loop = trainer.LoopConfig(num_steps=3, batch_size=8, log_every=1, checkpoint_every=3)
        workdir = _workdir(tmp_path / name, dataset)
        state, summary = run.train_family(
            families.get("parallel_ids"), workdir, dataset, loop, mesh=mesh, model_config=config
        )
        return workdir, jax.device_get(state["params"]), summary

    workdir, params_8, summary_8 = train("eight", partitioning.make_mesh(data=2, fsdp=2, tensor=2))
    _, params_1, _ = train("one", partitioning.make_mesh(devices=jax.devices()[:1]))
    jax.tree.map(
        lambda a, b: np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=2e-4, atol=2e-6),
        params_1,
        params_8,
    )
    # three steps in, the digit term is still near uniform (Σ log level sizes); the item term adds
    # about log(60 items) per position, which a digit-only loss cannot reach
    uniform_digits = float(np.sum(np.log(LEVELS)))
    assert summary_8["final_loss"] > uniform_digits + 0.5 * np.log(dataset.num_items)
    model, meta = checkpoints.load_for_inference(os.path.join(workdir, "checkpoints"))
    assert meta.model_config["catalogue_loss_weight"] == 1.0 and model.catalogue is None
    tokens = jnp.asarray([[0, 1, 2, 0]], jnp.int32)
    codes = parallel_ids.token_code_table(Identifiers.load(meta.identifiers_dir).codes)
    assert np.isfinite(np.asarray(model.next_item_log_probs(codes[tokens], tokens))).all()


def test_training_without_history_items_validates_with_history_excluded(dataset, tmp_path):
    """`catalogue_exclude_history` trains for the history-excluded protocol, so the train loop's
    validation ranks with history excluded: its last point equals that evaluation of the checkpoint."""
    from genrec.evaluate import exact
    from genrec.semantic_ids.artifact import Identifiers

    config = dataclasses.replace(_config(dataset), catalogue_loss_weight=1.0, catalogue_exclude_history=True)
    loop = trainer.LoopConfig(num_steps=3, batch_size=8, log_every=1, checkpoint_every=3)
    workdir, mesh = _workdir(tmp_path, dataset), partitioning.make_mesh()
    _, summary = run.train_family(
        families.get("parallel_ids"), workdir, dataset, loop, mesh=mesh, model_config=config, validate=True
    )
    model, meta = checkpoints.load_for_inference(os.path.join(workdir, "checkpoints"))
    codes = Identifiers.load(meta.identifiers_dir).codes
    with jax.set_mesh(mesh):
        excluded = exact.evaluate(model, codes, dataset, "validation", exclude_history=True)
        kept = exact.evaluate(model, codes, dataset, "validation")
    assert summary["validation"][-1]["ndcg@10"] == pytest.approx(excluded["ndcg@10"], rel=1e-6)
    assert summary["validation"][-1]["history@10"] == 0.0 < kept["history@10"]


def test_evaluation_of_a_seeded_user_sample_ranks_those_users_exactly(trained, dataset, tmp_path):
    """evaluate.user_sample: the same users at every run, counted in results.json, and their metrics
    those of the dense digit-gather scorer on exactly those users (the Ranker's chunked sweep)."""
    from genrec.evaluate import exact, full_ranking
    from genrec.evaluate.evaluator import EvalConfig
    from genrec.evaluate.ranking import metrics_from_ranks
    from genrec.evaluate.run import evaluate_checkpoint
    from genrec.semantic_ids.artifact import Identifiers

    ckpt = os.path.join(trained[0], "checkpoints")
    mesh = partitioning.make_mesh()
    kw = dict(dataset=dataset, mesh=mesh, config=EvalConfig(), user_sample=30)
    first = evaluate_checkpoint(ckpt, out_dir=str(tmp_path / "a"), user_sample_seed=3, **kw)
    again = evaluate_checkpoint(ckpt, out_dir=str(tmp_path / "b"), user_sample_seed=3, **kw)
    assert first["metrics"] == again["metrics"]
    assert first["run"]["users"] == 30
    assert first["run"]["user_sample"] == {"users": 30, "of": len(dataset.users), "seed": 3}
    task = next(name for name in first["metrics"] if name.endswith("_item_sequences"))
    assert {row["examples"] for row in first["metrics"].values()} == {30}
    model, meta = checkpoints.load_for_inference(ckpt)
    codes = Identifiers.load(meta.identifiers_dir).codes
    users = full_ranking.user_sample(len(dataset.users), 30, 3)
    histories, targets = full_ranking.leave_one_out(dataset, "test", users)
    with jax.set_mesh(mesh):
        _, ranks = full_ranking.rank(exact.scorer(model, codes), histories, targets, k=20, max_len=8)
    dense = metrics_from_ranks(ranks, 20, ks=full_ranking.KS)
    assert first["metrics"][task]["recall@10"] == pytest.approx(dense["recall@10"], abs=1e-9)
    assert first["metrics"][task]["ndcg@10"] == pytest.approx(dense["ndcg@10"], rel=1e-5)
