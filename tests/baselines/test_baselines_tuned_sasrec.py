"""The tuned-SASRec grid's options: sampled softmax, all training positions, validation-only runs."""

import jax.numpy as jnp
import numpy as np
import pytest

from genrec.baselines import losses, trainer
from genrec.datasets import synthetic
from genrec.evaluate import popularity


def test_sampled_softmax_matches_float64_reference():
    rng = np.random.default_rng(0)
    hidden, table = rng.normal(size=(2, 3, 4)), rng.normal(size=(9, 4))
    targets = np.array([[1, 2, 3], [4, 5, 1]])
    negatives = np.array([2, 7, 1, 8])  # 1 and 2 are also targets: left out of those positions
    weights = np.array([[1, 1, 0], [1, 1, 1.0]])
    expected, total = 0.0, 0.0
    for b in range(2):
        for t in range(3):
            logits = [hidden[b, t] @ table[targets[b, t]]]
            logits += [hidden[b, t] @ table[n] for n in negatives if n != targets[b, t]]
            nll = np.log(np.exp(logits).sum()) - logits[0]
            expected, total = expected + weights[b, t] * nll, total + weights[b, t]
    got = losses.sampled_softmax(*map(jnp.asarray, (hidden, table, targets, negatives, weights)))
    assert float(got) == pytest.approx(expected / total, rel=1e-5)


@pytest.mark.parametrize("length", [0, 1, 2, 5, 6, 7, 11, 12, 23])
def test_all_position_windows_make_every_item_a_target_once(length):
    max_len = 5
    seq = np.arange(100, 100 + length)
    windows = trainer.all_position_windows([seq], max_len)
    targets = []
    assert len(windows) == max(1, -(-(length - 1) // max_len))  # ceil((n - 1) / max_len) windows
    for w in windows[1 if length == 0 else 0 :]:
        assert 1 <= len(w) <= max_len + 1
        start = int(w[0]) - 100
        np.testing.assert_array_equal(w, seq[start : start + len(w)])  # contiguous slices
        targets += list(w[1:])
    assert sorted(targets) == list(seq[1:])  # every item after the first, once
    # The newest window is the one the "last" setting reads.
    if length:
        np.testing.assert_array_equal(windows[0], seq[-(max_len + 1) :])


def test_sampled_softmax_all_positions_learns_and_skips_test(tmp_path):
    data = synthetic.generate(num_items=200, num_users=800, seed=3)
    floor = popularity.run_most_popular(data, max_len=8)["metrics"]["validation"]
    config = trainer.SasRecConfig(d_model=24, num_blocks=1, max_len=8, dropout_rate=0.2)
    result = trainer.run_sasrec(
        data,
        model_config=config,
        train_config=trainer.TrainConfig(
            loss="sampled_softmax",
            num_negatives=64,
            training_windows="all",
            batch_size=64,
            learning_rate=3e-3,
            max_epochs=6,
            eval_every=3,
            score_test=False,
            per_user_dir=str(tmp_path),
        ),
    )
    val = result["metrics"]["validation"]
    assert val["ndcg@10"] > 1.3 * floor["ndcg@10"], (val, floor)
    assert set(result["metrics"]) == {"validation"}  # no test number was computed
    with np.load(result["per_user_files"]["validation"]) as per_user:
        assert len(per_user["ndcg@10"]) == len(data.split("validation"))
        assert per_user["ndcg@10"].mean() == pytest.approx(val["ndcg@10"], rel=1e-12)
        assert per_user["hit@10"].mean() == pytest.approx(val["recall@10"], rel=1e-12)
    assert result["per_user_files"] == {"validation": str(tmp_path / "per_user_validation_kept.npz")}


def test_unknown_windows_setting_is_refused():
    with pytest.raises(ValueError, match="training_windows"):
        trainer.TrainConfig(training_windows="some")


@pytest.mark.parametrize("loss", trainer.LOSSES)
def test_compacted_positions_give_the_padded_batchs_loss_and_gradients(loss):
    """Scoring only the real positions (the trainer's default) is the same loss, with the same
    gradients, as scoring every padded position; a capacity with spare slots changes nothing."""
    import jax
    from flax import nnx

    from genrec.evaluate import sequences

    data = synthetic.generate(num_items=50, num_users=40, seed=1)
    model = trainer.SasRec(
        data.num_items, trainer.SasRecConfig(d_model=16, num_blocks=1, max_len=12), rngs=nnx.Rngs(0)
    )
    graphdef, params = nnx.split(model)
    seqs = [u.items for u in data.split("train")][:16]
    (_, tokens), *_ = sequences.batches(seqs, 16, 12, extra=1, rng=np.random.default_rng(0))
    config = trainer.TrainConfig(loss=loss, num_negatives=8)
    negatives = trainer.draw_negatives(config, tokens, data.num_items, np.random.default_rng(1))
    real = int(trainer.real_positions(tokens).sum())
    assert 0 < real < tokens[:, :-1].size  # the batch has padding to skip
    capacity = trainer.batch_capacity(tokens)
    assert capacity >= real and capacity == losses.position_capacity(real, tokens[:, :-1].size)

    def value_and_grad(capacity):
        fn = lambda p: trainer.next_item_loss(nnx.merge(graphdef, p), tokens, negatives, None, loss, capacity)  # noqa: E731
        return jax.value_and_grad(fn)(params)

    padded_loss, padded_grads = value_and_grad(None)
    for c in (real, capacity, tokens[:, :-1].size):
        compact_loss, compact_grads = value_and_grad(c)
        assert float(compact_loss) == pytest.approx(float(padded_loss), rel=1e-5)
        for a, b in zip(jax.tree.leaves(compact_grads), jax.tree.leaves(padded_grads)):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-4, atol=1e-6)


def test_position_capacity_is_a_power_of_two_that_holds_every_real_position():
    assert losses.position_capacity(1, 6400) == 256
    assert losses.position_capacity(257, 6400) == 512
    assert losses.position_capacity(1024, 6400) == 1024
    assert losses.position_capacity(5000, 6400) == 6400  # never more than the batch holds
