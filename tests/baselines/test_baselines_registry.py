"""The benchmark's gin files bind each baseline through its scope; bad names fail clearly."""

import os

import gin
import pytest

from genrec.baselines import registry
from genrec.baselines.mf import MfConfig
from genrec.baselines.sasrec import SasRecConfig
from genrec.baselines.trainer import TrainConfig
from genrec.datasets.records import RecDataset, UserHistory

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "baselines")


@pytest.fixture
def cpu_budget():
    gin.parse_config_files_and_bindings(
        [os.path.join(CONFIGS, "sequential.gin"), os.path.join(CONFIGS, "budget_cpu.gin")], []
    )


def test_scopes_bind_each_row(cpu_budget):
    with gin.config_scope("sasrec_bce"):
        bce = TrainConfig()
    with gin.config_scope("sasrec_ce"):
        ce = TrainConfig()
    assert (bce.loss, ce.loss) == ("bce", "ce")
    assert (bce.max_wall_s, ce.max_wall_s) == (1200, 2400)
    assert bce.learning_rate == ce.learning_rate == 0.003  # the budget's unscoped binding
    assert SasRecConfig() == SasRecConfig(d_model=64, num_blocks=2, num_heads=1, max_len=50, dropout_rate=0.5)
    with gin.config_scope("biased_mf"):
        assert MfConfig().dim == 32


def test_gpu_budget_parses():
    gin.parse_config_files_and_bindings(
        [os.path.join(CONFIGS, "sequential.gin"), os.path.join(CONFIGS, "budget_gpu.gin")], []
    )
    assert TrainConfig().max_wall_s is None and TrainConfig().learning_rate == 0.001


def test_bad_requests_name_the_problem(synthetic_small):
    with pytest.raises(ValueError, match="unknown baseline 'sasrec'"):
        registry.run_baseline("sasrec", synthetic_small)
    no_ratings = RecDataset(
        "plain",
        synthetic_small.items,
        tuple(UserHistory(u.user_id, u.items, u.timestamps) for u in synthetic_small.users),
    )
    with pytest.raises(ValueError, match="needs ratings"):
        registry.run_baseline("biased_mf", no_ratings)
    with pytest.raises(ValueError, match="TrainConfig.loss='hinge'"):
        TrainConfig(loss="hinge")
