"""Biased MF: prediction formula, RMSE/MAE by hand and against the evaluator, fitting behaviour."""

import numpy as np
import pytest
from flax import nnx

from genrec.baselines import mf
from genrec.datasets.records import ItemTable, RecDataset, UserHistory
from genrec.metrics.rating import rating_metrics


def test_rmse_mae_by_hand_and_as_the_evaluator_computes_them():
    pred, target = np.array([4.0, 2.5, 5.0]), np.array([5.0, 2.5, 3.0])
    got = mf.rmse_mae(pred, target)
    assert got["rmse"] == pytest.approx(np.sqrt((1 + 0 + 4) / 3))
    assert got["mae"] == pytest.approx(1.0)
    ref = rating_metrics([f"{p}" for p in pred], target)
    assert got["rmse"] == pytest.approx(ref["rmse"]) and got["mae"] == pytest.approx(ref["mae"])


def test_prediction_formula_by_hand():
    model = mf.BiasedMF(2, 3, 2, global_mean=3.5, rngs=nnx.Rngs(0))
    model.user_vec[...] = np.array([[1.0, 0.0], [0.5, 2.0]], np.float32)
    model.item_vec[...] = np.array([[0.2, 0.1], [0.0, -1.0], [1.0, 1.0]], np.float32)
    model.user_bias[...] = np.array([0.1, -0.2], np.float32)
    model.item_bias[...] = np.array([0.3, 0.0, -0.5], np.float32)
    got = np.asarray(model(np.array([0, 1, 1]), np.array([0, 1, 2])))
    np.testing.assert_allclose(
        got, [3.5 + 0.1 + 0.3 + 0.2, 3.5 - 0.2 + 0.0 - 2.0, 3.5 - 0.2 - 0.5 + 2.5], rtol=1e-6
    )
    np.testing.assert_allclose(mf.predict(model, np.array([1, 1]), np.array([1, 2])), [1.3, 5.0], rtol=1e-6)


def low_rank_dataset(num_users=120, num_items=60, length=25, seed=0):
    """Ratings from a rank-2 model plus noise: MF should beat the global mean clearly."""
    rng = np.random.default_rng(seed)
    u, v = rng.normal(size=(num_users, 2)), rng.normal(size=(num_items, 2))
    users = []
    for k in range(num_users):
        items = rng.choice(num_items, length, replace=False).astype(np.int32)
        r = np.clip(np.round(3 + u[k] @ v[items].T + rng.normal(0, 0.3, length)), 1, 5)
        users.append(UserHistory(f"u{k}", items, np.arange(length, dtype=np.int64), r.astype(np.float32)))
    return RecDataset("low-rank", ItemTable(tuple(f"i{i}" for i in range(num_items)), {}), tuple(users))


def test_mf_beats_the_global_mean_on_low_rank_ratings():
    data = low_rank_dataset()
    floor = mf.run_global_mean(data)["metrics"]["test"]["rmse"]
    config = mf.MfConfig(dim=4, l2=0.01, learning_rate=0.03, batch_size=512, max_epochs=60, patience=10)
    result = mf.run_biased_mf(data, config=config)
    assert result["metrics"]["test"]["rmse"] < 0.8 * floor
    assert result["cost"]["best_epoch"] >= 1


def test_mf_needs_ratings():
    data = low_rank_dataset(num_users=4, num_items=30, length=5)
    no_ratings = RecDataset(
        "none", data.items, tuple(UserHistory(u.user_id, u.items, u.timestamps) for u in data.users)
    )
    with pytest.raises(ValueError, match="no ratings"):
        mf.run_biased_mf(no_ratings)
