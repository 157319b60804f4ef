"""The quality benchmark's one command, end to end on the synthetic dataset: a baseline row and the
genrec row, whose stages (data, build_ids, train, validation selection, test eval with history kept
and dropped) run as `genrec.main` subprocesses. Slow: run with -m slow."""

import json
import os
import subprocess
import sys

import pytest
from tiny_run import TINY_SEQUENTIAL

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# The quickstart experiment, shrunk: the tiny sequential model (with room for 3+1-token RQ-VAE
# identifiers), a short RQ-VAE, 20 steps with a checkpoint every 10 (both kept, so the validation
# selection has two to choose from).
BINDINGS = TINY_SEQUENTIAL.strip().splitlines() + [
    "task_feature_lengths.inputs = 96",
    "task_feature_lengths.targets = 8",
    "RQVAEConfig.num_steps = 100",
    "LoopConfig.num_steps = 20",
    "LoopConfig.checkpoint_every = 10",
    "LoopConfig.keep_checkpoints = 2",
    "LoopConfig.log_every = 10",
    "evaluate.max_eval_examples = 40",
]


def _benchmark(workdir) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "benchmarks.quality.run",
        "--dataset=synthetic",
        "--budget=cpu",
        "--baselines=most_popular",
        f"--workdir={workdir}",
        "--genrec_recipe=tiger",
        "--genrec_gin=configs/experiments/quickstart_p5.gin",
    ]
    cmd += [f"--genrec_binding={b}" for b in BINDINGS]
    return subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=1800)


def _read(path):
    with open(path) as f:
        return json.load(f)


@pytest.mark.slow
def test_quality_benchmark_end_to_end_on_synthetic(tmp_path):
    out = _benchmark(tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    rows = {r["name"]: r for r in _read(tmp_path / "results.json")["rows"]}
    assert set(rows) == {"most-popular", "genrec-tiger"}
    assert "missing" not in rows["genrec-tiger"], rows["genrec-tiger"]

    genrec = rows["genrec-tiger"]
    curve = {int(step): ndcg for step, ndcg in genrec["selection"]["validation_ndcg@10"].items()}
    assert sorted(curve) == [10, 20]
    best = genrec["selection"]["best_step"]
    assert curve[best] == max(curve.values()) and genrec["cost"]["best_step"] == best
    assert (tmp_path / "genrec-tiger" / "select" / "validation_ndcg.png").stat().st_size > 5000
    for step in curve:  # each kept checkpoint was scored on the validation split
        run = _read(tmp_path / "genrec-tiger" / "select" / f"step_{step}" / "eval" / "results.json")["run"]
        assert run["checkpoint_step"] == step and run["split"] == "validation"

    test = _read(tmp_path / "genrec-tiger" / "eval" / "results.json")
    excluded = _read(tmp_path / "genrec-tiger" / "history_excluded" / "eval" / "results.json")
    assert test["run"]["checkpoint_step"] == excluded["run"]["checkpoint_step"] == best
    assert test["run"]["split"] == "test" and not test["run"]["drop_history"]
    assert excluded["run"]["drop_history"]
    sequential = test["metrics"]["genrec_synthetic_sequential"]
    assert sequential["invalid_rate"] == 0.0
    for metric in ("recall@5", "recall@10", "ndcg@5", "ndcg@10"):
        assert genrec["metrics"]["test"][metric] == pytest.approx(sequential[metric])
        assert genrec["metrics"]["test_other_protocol"][metric] == pytest.approx(
            excluded["metrics"]["genrec_synthetic_sequential"][metric]
        )
    assert genrec["cost"]["steps"] == 20
    assert 0 < rows["most-popular"]["metrics"]["test"]["recall@10"] <= 1

    report = (tmp_path / "results.md").read_text()
    assert f"(best {best} on validation)" in report and "| most-popular |" in report

    # Every row is cached: a second call recomputes nothing and writes the same table.
    again = _benchmark(tmp_path)
    assert again.returncode == 0, again.stderr[-3000:]
    assert again.stderr.count("reusing") == 2 and "genrec train" not in again.stderr
    assert _read(tmp_path / "results.json")["rows"] == list(rows.values())
