"""benchmarks/quality/sasrec_grid.py: the declared stages of PROTOCOL.md section 8."""

import pytest

from benchmarks.quality import sasrec_grid


def test_stages_enumerate_the_declared_grid():
    first = sasrec_grid.stage_configs(1)
    assert len(first) == 27 and len({sasrec_grid.run_name(c) for c in first}) == 27
    assert {c["loss"] for c in first} == {"ce", "sampled_softmax"}
    assert all(c["d_model"] == 64 and c["max_len"] == 50 and c["training_windows"] == "all" for c in first)
    base = first[13]  # the 14th entry: lr and dropout in the middle of their ranges
    assert base["learning_rate"] == 1e-3 and base["dropout_rate"] == 0.3
    assert len(sasrec_grid.stage_configs(2, base)) == 9
    assert {(c["max_len"], c["training_windows"]) for c in sasrec_grid.stage_configs(3, base)} == {
        (50, "last"),
        (50, "all"),
        (200, "last"),
        (200, "all"),
    }
    neighbours = sasrec_grid.stage_configs(4, base)
    assert sorted((c["dropout_rate"], c["learning_rate"]) for c in neighbours) == [
        (0.2, 1e-3),
        (0.3, 3e-4),
        (0.3, 3e-3),
        (0.5, 1e-3),
    ]
    with pytest.raises(ValueError, match="selected so far"):
        sasrec_grid.stage_configs(2)


def test_configs_split_into_the_trainer_configs(tmp_path):
    config = sasrec_grid.stage_configs(1)[-1]
    model, train = sasrec_grid.split_config(config, True, str(tmp_path))
    assert (model.d_model, model.num_blocks, model.dropout_rate) == (64, 2, 0.5)
    assert (train.loss, train.num_negatives, train.learning_rate) == ("sampled_softmax", 1024, 3e-3)
    assert train.exclude_history and not train.score_test and train.patience == 10


def test_final_is_refused_until_every_stage_ran():
    assert sasrec_grid.missing_runs([]) == [sasrec_grid.run_name(c) for c in sasrec_grid.stage_configs(1)]
