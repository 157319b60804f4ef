"""Collection, tables, plots and REPORT.md on results.json files this test writes (shared format)."""

import csv
import os
import textwrap

import numpy as np
import pytest

from genrec.evaluate.results import write_results
from genrec.sweep import collect, grid, layout, plots, report, spec, tables

BASE = "configs/sweeps/train_fraction.gin"


def make_sweep(tmp_path, grid_text: str):
    path = tmp_path / "sweep.gin"
    path.write_text(
        textwrap.dedent(f"""
        sweep.name = 'fake'
        sweep.base_gin_files = ['{BASE}']
        sweep.run_modes = ['train', 'eval']
        sweep.grid = {grid_text}
    """)
    )
    s = spec.load_spec(str(path))
    sweep_dir = str(tmp_path / "sweep")
    layout.write_sweep(sweep_dir, s, grid.expand(s))
    return s, sweep_dir


def fake_results(sweep_dir, point, recall10, flops, ms, heldout_scale=0.5, families=("sequential",)):
    """What the evaluator writes: metrics per task (seen + held-out), cost; plus point.json stages."""
    workdir = layout.run_dir(sweep_dir, point)
    metrics = {}
    for fam in families:
        seen = {
            "recall@5": recall10 / 2,
            "recall@10": recall10,
            "ndcg@5": recall10 / 4,
            "ndcg@10": recall10 / 3,
            "mrr": recall10 / 5,
        }
        if fam == "rating":
            seen = {"rmse": 1.0 + recall10, "mae": 0.8}
        metrics[f"genrec_synthetic_{fam}"] = seen
        metrics[f"genrec_synthetic_{fam}_heldout"] = {k: v * heldout_scale for k, v in seen.items()}
    cost = {
        "device_kind": "cpu",
        "num_devices": 8,
        "train_steps": 100,
        "train_wall_s": 12.5,
        "train_flops": flops,
        "num_params": 12345,
        "decode_users_per_s": 1000.0 / ms,
        "decode_ms_per_user": ms,
    }
    write_results(os.path.join(workdir, "eval"), {"dataset": "synthetic"}, metrics, cost)
    layout.write_point(
        workdir,
        {
            "name": point.name,
            "values": point.values,
            "stages": {"train": {"rc": 0, "wall_s": 30.0}, "eval": {"rc": 0, "wall_s": 5.0}},
        },
    )


def test_two_by_two_report_holds_every_number(tmp_path):
    s, sweep_dir = make_sweep(tmp_path, "{'train.learning_rate': [0.001, 0.01], 'seed': [0, 1]}")
    points = grid.expand(s)
    numbers = {}
    for i, p in enumerate(points):
        numbers[p.name] = (0.1 + 0.01 * i, 1e12 * (i + 1), 2.0 + i)
        fake_results(sweep_dir, p, *numbers[p.name])
    path = report.write_report(sweep_dir)

    with open(os.path.join(sweep_dir, "table.csv")) as f:
        rows = list(csv.DictReader(f))
    assert [r["run"] for r in rows] == [p.name for p in points]
    for r in rows:
        recall, flops, ms = numbers[r["run"]]
        assert float(r["sequential recall@10"]) == pytest.approx(recall)
        assert float(r["sequential recall@5"]) == pytest.approx(recall / 2)
        assert float(r["train FLOPs"]) == flops and float(r["decode ms/user"]) == ms
        assert r["status"] == "finished" and r["device"] == "cpu" and r["steps"] == "100"
    with open(os.path.join(sweep_dir, "all_metrics.csv")) as f:
        full = list(csv.DictReader(f))
    assert float(full[3]["genrec_synthetic_sequential_heldout/recall@10"]) == pytest.approx(
        numbers[points[3].name][0] * 0.5
    )

    text = open(path).read()
    for p in points:
        assert f"| {p.name} | finished | cpu | 8 | 100 | 12.5000 | train 30, eval 5 |" in text
        assert f"{numbers[p.name][0]:.4f}" in text
    # Mean ± std over seeds (ddof=1) for learning rate 0.001: runs 0 and 1.
    vals = np.array([numbers[points[0].name][0], numbers[points[1].name][0]])
    assert f"| 0.001 | 2 | {vals.mean():.4f} ± {vals.std(ddof=1):.4f} |" in text
    for fig in ("frontier_flops.png", "frontier_latency.png", "seen_heldout.png"):
        assert os.path.getsize(os.path.join(sweep_dir, "figures", fig)) > 5000
        assert f"(figures/{fig})" in text
    # The grid varies neither the training fraction nor the mixture: said, not silently dropped.
    assert "Not drawn: the sweep does not vary train_fraction" in text
    assert "Not drawn: the sweep does not vary the mixture" in text


def test_failed_and_missing_runs_are_reported(tmp_path):
    s, sweep_dir = make_sweep(tmp_path, "{'seed': [0, 1, 2]}")
    points = grid.expand(s)
    fake_results(sweep_dir, points[0], 0.2, 1e12, 3.0)
    layout.write_point(
        layout.run_dir(sweep_dir, points[1]),
        {"name": points[1].name, "values": points[1].values, "stages": {"train": {"rc": 1, "wall_s": 2.0}}},
    )
    _, records = collect.collect(sweep_dir)
    assert [r.status for r in records] == ["finished", "failed: train", "incomplete"]
    text = open(report.write_report(sweep_dir)).read()
    assert "1 finished, 1 failed, 1 incomplete" in text


def test_sample_efficiency_and_multitask_figures(tmp_path):
    s, sweep_dir = make_sweep(
        tmp_path, "{'train_fraction': [0.1, 0.25, 0.5, 1.0], 'seed': [0, 1], 'train.mix': ['seq', 'p5']}"
    )
    for p in grid.expand(s):
        frac = p.values["train_fraction"]
        fams = ("sequential",) if p.values["train.mix"] == "seq" else ("sequential", "rating")
        fake_results(sweep_dir, p, 0.1 * frac + 0.001 * p.values["seed"], 1e12, 1.0, families=fams)
    _, records = collect.collect(sweep_dir)
    out = plots.sample_efficiency(records, "sequential", "recall@10", str(tmp_path / "se.png"))
    assert os.path.getsize(out) > 5000
    # The multi-task figure needs the `mixture` axis; a custom key does not count.
    with pytest.raises(plots.Skip):
        plots.by_family(records, str(tmp_path / "mt.png"), compare="mixture")
    for r in records:  # as if the axis had been the named `mixture` axis
        r.values["mixture"] = r.values["train.mix"]
    assert os.path.getsize(plots.by_family(records, str(tmp_path / "mt.png"), "mixture")) > 5000


def test_pareto_frontier_against_brute_force():
    rng = np.random.default_rng(0)
    for _ in range(50):
        n = int(rng.integers(1, 12))
        costs = rng.integers(1, 6, n).astype(float)
        quality = rng.integers(0, 5, n).astype(float)
        front = plots.pareto(costs, quality)
        # Brute force: the distinct (cost, quality) pairs that no run beats (as cheap or cheaper and
        # strictly better) and that no strictly cheaper run matches.
        expected = {
            (c, q)
            for c, q in zip(costs, quality)
            if not any(c2 <= c and q2 > q for c2, q2 in zip(costs, quality))
            and not any(c2 < c and q2 == q for c2, q2 in zip(costs, quality))
        }
        assert sorted((costs[i], quality[i]) for i in front) == sorted(expected)
        assert list(costs[front]) == sorted(costs[front])


def test_markdown_number_formats():
    assert tables.fmt(None) == "" and tables.fmt(0.123456) == "0.1235"
    assert tables.fmt(2.5e12) == "2.5e+12" and tables.fmt(123456) == "123,456"
    assert tables.markdown(["a", "b"], [[1, 0.5]]) == "| a | b |\n|---|---|\n| 1 | 0.5000 |\n"
