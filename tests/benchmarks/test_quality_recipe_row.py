"""benchmarks/quality/recipe_row.py: a protocol row from a run's files, nothing rounded or invented."""

import json
import os

import numpy as np
import pytest

from benchmarks.quality import recipe_row

TIME_REPORT = """\tCommand being timed: "python -m genrec.main --run_mode={stage}"
\tUser time (seconds): {user}
\tSystem time (seconds): 1.25
\tElapsed (wall clock) time (h:mm:ss or m:ss): {wall}
\tMaximum resident set size (kbytes): 1109884
\tExit status: {status}
"""


def fake_run(root, *, eval_status=0):
    workdir = root / "run"
    (workdir / "eval").mkdir(parents=True)
    walls = {"data": "0:35.14", "build_ids": "12:01.50", "train": "1:02:03", "eval": "0:40.00"}
    for stage, wall in walls.items():
        status = eval_status if stage == "eval" else 0
        (workdir / f"time_{stage}.txt").write_text(
            TIME_REPORT.format(stage=stage, user=10.5, wall=wall, status=status)
        )
    curve = [{"step": 220, "ndcg@10": 0.03}, {"step": 440, "ndcg@10": 0.05}, {"step": 660, "ndcg@10": 0.05}]
    summary = {"validation": curve, "num_params": 1234, "steps": 660}
    (workdir / "train_summary.json").write_text(json.dumps(summary))
    results = {
        "run": {
            "dataset": "amazon-2014-beauty",
            "split": "validation",
            "checkpoint_step": 440,
            "ranking": "exact: all 5 items scored",
            "users": 3,
            "per_user_files": ["per_user_validation_excluded.npz"],
        },
        "metrics": {
            "genrec-parallel-ids": {"ndcg@10": 0.123456789012345, "recall@10": 0.2},
            "genrec-parallel-ids [cold_items]": {"ndcg@10": 0.01},
            "most_popular (same users)": {"ndcg@10": 0.001},
        },
    }
    (workdir / "eval" / "results.json").write_text(json.dumps(results))
    np.savez(
        workdir / "eval" / "per_user_validation_excluded.npz", **{"ndcg@10": np.ones(3), "hit@10": np.ones(3)}
    )
    (workdir / "operative_config.train.gin").write_text(
        "LoopConfig.seed = 0\nParallelIdConfig.max_len = 50\n"
    )
    (workdir / "uptime_before.txt").write_text("load average: 0.5\n")
    (workdir / "uptime_after.txt").write_text("load average: 1.5\n")
    return workdir


def test_row_reads_every_field_at_full_precision(tmp_path):
    workdir = fake_run(tmp_path)
    out = tmp_path / "rows"
    result = recipe_row.main(
        [f"--workdir={workdir}", "--name=recipe", "--protocol=excluded", f"--out_dir={out}", "--command=x"]
    )
    assert result["metrics"] == {"validation": {"ndcg@10": 0.123456789012345, "recall@10": 0.2}}
    assert set(result["groups"]["validation"]) == {
        "genrec-parallel-ids [cold_items]",
        "most_popular (same users)",
    }
    assert result["chosen_on_validation"]["step"] == 440  # the earlier step of a tie
    assert result["history_items_read"] == 50
    assert result["stages"]["train"]["wall_s"] == pytest.approx(3723.0)
    assert result["stages"]["data"]["wall_s"] == pytest.approx(35.14)
    assert result["wall_s_total"] == pytest.approx(35.14 + 721.5 + 3723.0 + 40.0)
    assert result["cpu_s_total"] == pytest.approx(4 * 11.75)
    written = json.loads((out / "recipe_seed0.json").read_text())
    assert written["metrics"] == result["metrics"]
    copied = written["per_user_files"]["validation"]
    assert copied.endswith("recipe_seed0_per_user_validation_excluded.npz")
    assert os.path.exists(out / "recipe_seed0_per_user_validation_excluded.npz")


def test_a_config_without_the_history_length_gives_no_row(tmp_path):
    workdir = fake_run(tmp_path)
    (workdir / "operative_config.train.gin").write_text("LoopConfig.seed = 0\n")
    with pytest.raises(ValueError, match="max_len"):
        recipe_row.row(str(workdir), "recipe", "excluded", 0, "x")


def test_a_failed_stage_gives_no_row(tmp_path):
    workdir = fake_run(tmp_path, eval_status=1)
    with pytest.raises(ValueError, match="eval"):
        recipe_row.row(str(workdir), "recipe", "excluded", 0, "x")
