"""Direct-family scoring: batched teacher-forced log-likelihoods against a one-at-a-time float64 reference."""

import eval_helpers
import numpy as np
import pytest


def _forward(model, inputs, decoder_inputs):
    return model(inputs, decoder_inputs)


def _reference_log_likelihood(model, inputs, target_tokens):
    """log p(target | inputs): one full forward pass of the model per candidate, summed in float64."""
    import jax.numpy as jnp
    from flax import nnx

    padded = np.zeros((1, eval_helpers.FEATURE_LENGTHS["inputs"]), np.int32)
    padded[0, : len(inputs)] = inputs
    decoder_inputs = np.concatenate([[0], target_tokens[:-1]])[None]
    logits = np.asarray(
        nnx.jit(_forward)(model, jnp.asarray(padded), jnp.asarray(decoder_inputs)), np.float64
    )[0]
    top = logits.max(-1, keepdims=True)
    logp = logits - top - np.log(np.exp(logits - top).sum(-1, keepdims=True))
    return logp[np.arange(len(target_tokens)), target_tokens].sum()


def _evaluator(setup, **config):
    from genrec.evaluate import beyond_accuracy, evaluator
    from genrec.tasks import item_token_ids

    return evaluator.Evaluator(
        setup["model"],
        trie=None,
        item_tokens=item_token_ids(setup["vocabulary"], setup["identifiers"]),
        vocabulary=setup["vocabulary"],
        popularity=beyond_accuracy.train_popularity(setup["dataset"]),
        config=evaluator.EvalConfig(**config),
        beam_search=lambda *a, **k: None,
        greedy=lambda *a, **k: None,
    )


@pytest.mark.slow  # ~45 s of compiles on a shared 2-core machine
def test_candidate_scores_match_reference(eval_setup):
    ev = _evaluator(eval_setup, score_batch_size=64)
    examples = eval_helpers.examples(f"genrec_{eval_helpers.DATASET}_direct", limit=3)
    scores = ev.candidate_scores(examples)
    assert scores.shape == (3, max(len(e["candidates"]) for e in examples))
    for i, e in enumerate(examples):
        for j in (0, 7, len(e["candidates"]) - 1):
            tokens = ev.item_tokens[e["candidates"][j]]  # identifier tokens, EOS excluded
            ref = _reference_log_likelihood(eval_setup["model"], e["inputs"], tokens)
            assert scores[i, j] == pytest.approx(ref, abs=1e-4)
        assert np.isneginf(scores[i, len(e["candidates"]) :]).all()


def test_direct_task_metrics_from_scores(eval_setup):
    from genrec.evaluate import ranking

    ev = _evaluator(eval_setup)
    examples = eval_helpers.examples(f"genrec_{eval_helpers.DATASET}_direct", limit=6)
    metrics, templates, _ = ev.evaluate_task(f"genrec_{eval_helpers.DATASET}_direct", examples)
    scores = ev.candidate_scores(examples)
    ranks = [
        int((s >= s[list(e["candidates"]).index(e["target_item"])]).sum()) - 1  # ties against
        for s, e in zip(scores, examples)
    ]
    assert metrics["recall@10"] == pytest.approx(np.mean(np.array(ranks) < 10))
    assert metrics["mrr"] == pytest.approx(np.mean(1.0 / (np.array(ranks) + 1)))
    assert metrics["examples"] == 6 and set(templates) == {e["template_id"].decode() for e in examples}
    assert set(ranking.metrics_from_ranks(np.zeros(1), 100, ranking.DIRECT_KS)) <= set(metrics)


def test_generated_answers_scored_by_kind(eval_setup):
    """Greedy outputs are cut at EOS, detokenized and scored per answer kind: rating templates by
    RMSE/MAE against target_rating, text templates by BLEU/ROUGE against the target text."""
    vocab = eval_setup["vocabulary"]
    answer = list(vocab.encode("4")) + [1, 77, 78]  # tokens after EOS must be ignored

    def greedy(model, inputs, *, max_length, eos_id):
        return np.tile(np.array(answer + [0] * (max_length - len(answer)), np.int32), (len(inputs), 1)), None

    from genrec.evaluate import evaluator
    from genrec.metrics import rating, text_metrics

    ev = _evaluator(eval_setup)
    ev.greedy = greedy
    task = f"genrec_{eval_helpers.DATASET}_review"
    examples = eval_helpers.examples(task, limit=8)
    metrics, templates, _ = ev.evaluate_task(task, examples)
    kinds = [e["answer_kind"].decode() for e in examples]
    assert set(kinds) == {"rating", "text"}
    stars = [float(e["target_rating"]) for e, k in zip(examples, kinds) if k == "rating"]
    assert metrics["rmse"] == pytest.approx(np.sqrt(np.mean((4.0 - np.array(stars)) ** 2)), abs=1e-6)
    assert metrics["unparseable_rate"] == 0.0
    summaries = [e["targets_pretokenized"].decode() for e, k in zip(examples, kinds) if k == "text"]
    assert metrics["rouge1"] == pytest.approx(
        text_metrics.text_metrics(["4"] * len(summaries), summaries)["rouge1"]
    )
    by_kind = {evaluator.answer_kind("review", e): e["template_id"].decode() for e in examples}
    assert "rmse" in templates[by_kind["rating"]] and "bleu4" not in templates[by_kind["rating"]]
    assert "bleu4" in templates[by_kind["text"]] and "rmse" not in templates[by_kind["text"]]
    assert rating.parse_rating(vocab.decode(list(vocab.encode("4")))) == 4.0
