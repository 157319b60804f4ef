"""The 2 x 2 smoke sweep on the synthetic dataset, every stage for real (build_ids, train, eval as
`genrec.main` subprocesses on 8 simulated devices): the table, the figures and REPORT.md hold the
numbers the runs wrote, and a second invocation skips every finished run."""

import csv
import json
import os
import subprocess
import sys

import pytest

from genrec.sweep import axes, grid, layout, spec

SWEEP = "configs/sweeps/smoke_synthetic.gin"


@pytest.mark.slow
def test_two_by_two_synthetic_sweep_end_to_end(tmp_path):
    sweep_dir = tmp_path / "smoke"
    cmd = [sys.executable, "-m", "genrec.sweep.run", f"--sweep={SWEEP}", f"--sweep_dir={sweep_dir}"]
    out = subprocess.run(cmd, cwd=axes.REPO_ROOT, capture_output=True, text=True, timeout=3000)
    assert out.returncode == 0, out.stderr[-3000:]
    points = grid.expand(spec.load_spec(axes.repo_path(SWEEP)))
    assert len(points) == 4

    with open(sweep_dir / "table.csv") as f:
        rows = {r["run"]: r for r in csv.DictReader(f)}
    report = (sweep_dir / "REPORT.md").read_text()
    for p in points:
        workdir = layout.run_dir(str(sweep_dir), p)
        results = json.load(open(os.path.join(workdir, layout.RESULTS)))
        summary = json.load(open(os.path.join(workdir, "train_summary.json")))
        seq = results["metrics"]["genrec_synthetic_sequential"]
        row = rows[p.name]
        assert row["status"] == "finished"
        assert row["identifier_scheme"] == p.values["identifier_scheme"]
        assert results["run"]["identifier_scheme"] == p.values["identifier_scheme"]
        for m in ("recall@5", "recall@10", "ndcg@5", "ndcg@10", "mrr"):
            assert float(row[f"sequential {m}"]) == pytest.approx(seq[m])
        assert int(row["steps"]) == summary["steps"] == 40
        assert row["devices"] == "8" and row["device"] == "cpu"
        assert float(row["train FLOPs"]) == pytest.approx(results["cost"]["train_flops"])
        assert float(row["decode ms/user"]) == pytest.approx(results["cost"]["decode_ms_per_user"])
        assert seq["invalid_rate"] == 0.0
        assert f"| {p.name} | finished | cpu | 8 | 40 |" in report
        assert (
            f"| {p.name} | {p.values['identifier_scheme']} | {p.values['seed']} | finished | "
            f"{seq['recall@10']:.4f} |" in report
        )
    for fig in ("frontier_flops.png", "frontier_latency.png", "seen_heldout.png"):
        assert (sweep_dir / "figures" / fig).stat().st_size > 5000 and f"figures/{fig}" in report

    # Resumable: every point has results.json, so nothing runs again.
    before = {p.name: layout.read_point(layout.run_dir(str(sweep_dir), p)) for p in points}
    again = subprocess.run(cmd, cwd=axes.REPO_ROOT, capture_output=True, text=True, timeout=600)
    assert again.returncode == 0 and "'skipped': 4" in again.stderr
    assert before == {p.name: layout.read_point(layout.run_dir(str(sweep_dir), p)) for p in points}
