"""Behaviour: a short SASRec training run on synthetic data beats most-popular on the test split."""

import pytest

from genrec.baselines import trainer
from genrec.datasets import synthetic
from genrec.evaluate import popularity


@pytest.fixture(scope="module")
def data():
    return synthetic.generate(num_items=200, num_users=800, seed=3)


@pytest.mark.parametrize("loss", ["ce", pytest.param("bce", marks=pytest.mark.slow)])
def test_sasrec_beats_most_popular(data, loss):
    floor = popularity.run_most_popular(data, max_len=8)["metrics"]["test"]
    config = trainer.SasRecConfig(d_model=24, num_blocks=1, max_len=8, dropout_rate=0.2)
    result = trainer.run_sasrec(
        data,
        model_config=config,
        train_config=trainer.TrainConfig(
            loss=loss, batch_size=64, learning_rate=3e-3, max_epochs=6, eval_every=3
        ),
    )
    test = result["metrics"]["test"]
    assert test["ndcg@10"] > 1.3 * floor["ndcg@10"], (test, floor)
    assert test["recall@10"] > floor["recall@10"]
    cost = result["cost"]
    assert cost["epochs"] == 6 and cost["best_epoch"] in (3, 6) and cost["steps"] > 0
    # The same parameters under the other protocol: history items never fill its top-10.
    other = result["metrics"]["test_other_protocol"]
    assert other["history@10"] == 0.0 and other["target_in_history"] == test["target_in_history"]
