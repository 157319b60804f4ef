"""Sequential evaluation against exhaustive scoring, and a checkpoint evaluated on two meshes."""

import json

import eval_helpers
import jax.numpy as jnp
import numpy as np
import pytest

SEQ = f"genrec_{eval_helpers.DATASET}_sequential"


def test_beam_search_ranking_is_exact_for_two_level_ids(eval_setup):
    """With L=2 and beam >= #first-level codes, constrained beam search is exhaustive: its ranking
    must equal sorting every catalogue item by the teacher-forced log-likelihood of its identifier."""
    from genrec.evaluate import beyond_accuracy, evaluator
    from genrec.model.trie import build_trie
    from genrec.tasks import item_token_ids

    tokens = item_token_ids(eval_setup["vocabulary"], eval_setup["identifiers"])
    ev = evaluator.Evaluator(
        eval_setup["model"],
        trie=build_trie(tokens),
        item_tokens=tokens,
        vocabulary=eval_setup["vocabulary"],
        popularity=beyond_accuracy.train_popularity(eval_setup["dataset"]),
        config=evaluator.EvalConfig(beam_size=20, top_k=10, batch_size=4),
    )
    examples = eval_helpers.examples(SEQ, limit=4)
    raw, topk, scores = ev.recommend(examples)
    assert raw.shape == (4, 20) and topk.shape == (4, 10) and scores.shape == (4, 10)
    inputs = evaluator.pad_inputs(examples, 4)
    n = len(tokens)
    exact = np.asarray(
        evaluator.candidate_log_likelihood(
            eval_setup["model"], jnp.asarray(inputs), jnp.asarray(np.broadcast_to(tokens, (4, n, 2)))
        )
    )
    np.testing.assert_array_equal(raw, np.argsort(-exact, axis=1, kind="stable")[:, :20])
    np.testing.assert_array_equal(topk, raw[:, :10])  # history kept by default
    # one identifier score: the beam's scores are the direct family's teacher-forced scores
    np.testing.assert_allclose(scores, np.take_along_axis(exact, topk, axis=1), atol=1e-5)
    rescored = ev.candidate_scores([dict(e, candidates=row) for e, row in zip(examples, topk)])
    np.testing.assert_allclose(scores, rescored, atol=1e-5)
    metrics, _, _ = ev.evaluate_task(SEQ, examples)
    targets = np.array([e["target_item"] for e in examples])
    rank = (exact >= exact[np.arange(4), targets][:, None]).sum(1) - 1  # ties against the target
    assert metrics["recall@10"] == pytest.approx(np.mean(rank < 10))
    assert metrics["invalid_rate"] == 0.0


def test_checkpoint_evaluates_the_same_on_another_mesh(eval_setup, tmp_path):
    from genrec.evaluate import run
    from genrec.runtime import partitioning

    ckpt = eval_helpers.save_checkpoint(eval_setup, str(tmp_path / "checkpoints"))
    tasks = [SEQ]
    config = run.evaluator.EvalConfig(beam_size=10, top_k=10, batch_size=8)
    out = {}
    for name, mesh in (
        ("dp", partitioning.make_mesh(data=8)),
        ("fsdp_tp", partitioning.make_mesh(data=1, fsdp=4, tensor=2)),
    ):
        out[name] = run.evaluate_checkpoint(
            ckpt,
            dataset=eval_setup["dataset"],
            mesh=mesh,
            out_dir=str(tmp_path / name),
            tasks=tasks,
            max_eval_examples=16,
            config=config,
        )
    a, b = out["dp"], out["fsdp_tp"]
    assert set(a["metrics"]) == set(tasks)
    for task in tasks:
        assert a["metrics"][task].keys() == b["metrics"][task].keys()
        for key, value in a["metrics"][task].items():
            assert b["metrics"][task][key] == pytest.approx(value, abs=1e-6), (task, key)
    assert a["run"]["checkpoint_step"] == 3 and a["run"]["mesh"] != b["run"]["mesh"]
    assert (a["run"]["history"], a["run"]["ties"]) == ("kept", "against target")  # the protocol, recorded
    assert a["metrics"][SEQ]["examples"] == 16 and a["metrics"][SEQ]["invalid_rate"] == 0.0
    with open(tmp_path / "dp" / "results.json") as f:
        assert json.load(f)["metrics"] == a["metrics"]
    md = (tmp_path / "dp" / "results.md").read_text()
    assert f"## {SEQ} (seen templates)" in md and "| sequential-1 |" in md
