"""The one best-step rule, and the train loop's settings bound once in gin (RL under its own scope)."""

import json
import os

import gin
import pytest

from genrec import main as genrec_main
from genrec.train import selection, trainer


def test_best_step_takes_the_highest_value_and_the_earlier_step_of_a_tie():
    assert selection.best_step({300: 0.2, 100: 0.3, 200: 0.3}) == 100
    curve = [{"step": 10, "ndcg@10": 0.1}, {"step": 20}, {"step": 30, "ndcg@10": 0.4, "recall@10": 0.5}]
    assert selection.best_point(curve)["step"] == 30
    assert selection.best_point(curve, "recall@10")["step"] == 30
    with pytest.raises(ValueError, match="no validation values"):
        selection.best_step({})


def test_chosen_step_reads_the_runs_curve_and_needs_the_checkpoint(tmp_path):
    ckpt = tmp_path / "run" / "checkpoints"
    assert selection.chosen_step(str(ckpt)) is None  # no train_summary.json: the newest
    os.makedirs(ckpt)
    with open(tmp_path / "run" / "train_summary.json", "w") as f:
        json.dump({"validation": [{"step": 2, "ndcg@10": 0.5}, {"step": 4, "ndcg@10": 0.1}]}, f)
    assert selection.chosen_step(str(ckpt)) is None  # step 2 is not saved any more


def test_rl_reads_its_loop_from_its_scope_and_nothing_leaks_from_the_experiment():
    genrec_main.import_stages()  # every configurable the experiment binds
    genrec_main.parse_gin(
        [os.path.join(genrec_main.REPO_ROOT, "configs", "experiments", "rl_beauty.gin")], []
    )
    supervised = trainer.LoopConfig()
    with gin.config_scope("rl"):
        rl = trainer.LoopConfig()
    assert (supervised.num_steps, supervised.batch_size, supervised.keep_checkpoints) == (2200, 64, 12)
    assert (rl.num_steps, rl.batch_size, rl.keep_checkpoints, rl.log_every) == (1000, 64, 20, 10)
    assert rl.max_wall_s == 3600 and rl.checkpoint_every == 100  # rl_beauty.gin's own
    assert rl.seed == 0 and rl.z_loss == 1e-4  # rl.gin's, not inherited
