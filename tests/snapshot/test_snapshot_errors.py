"""Bad snapshot requests fail before any work, saying what is wrong (a module of its own: it binds
gin differently from test_snapshot.py's module-wide configuration)."""

import json
import os

import pytest
from tiny_run import tiny_sequential_config


def test_a_folder_without_meta_is_not_a_snapshot(tmp_path):
    from genrec.snapshot import run

    with pytest.raises(FileNotFoundError, match="is .* a snapshot"):
        run.read_meta(str(tmp_path))


def test_unknown_tasks_are_named_before_a_checkpoint_is_read(tmp_path):
    from genrec.snapshot import run

    (tmp_path / "meta.json").write_text(
        json.dumps(
            {
                "eval_config": {},
                "eval_tasks": ["genrec_x_sequential"],
                "counts": {"test": {"genrec_x_sequential": 3}},
            }
        )
    )
    with pytest.raises(
        ValueError, match=r"no test examples of \['genrec_nope'\]; it holds \['genrec_x_sequential'\]"
    ):
        run.evaluate(str(tmp_path), str(tmp_path / "no_checkpoints_here"), tasks=["genrec_nope"])


def test_explicit_mixture_rates_are_refused_before_any_work(tmp_path):
    from genrec.datasets import synthetic
    from genrec.snapshot import write

    dataset = synthetic.generate(num_items=20, num_users=30, seed=1, name="synthetic-rates")
    with tiny_sequential_config("prepare_tasks.mixture_rates = {'sequential': 1.0}"):
        with pytest.raises(ValueError, match="mixture_rates"):
            write.write_snapshot(str(tmp_path), dataset, str(tmp_path / "snapshot"))
    assert not os.path.exists(tmp_path / "vocab") and not os.path.exists(tmp_path / "snapshot")
