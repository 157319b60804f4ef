"""Time to quality: validation NDCG@10 against training wall-clock minutes, one line per run.

  python -m benchmarks.quality.time_to_quality \
      --out=benchmarks/quality/beauty_parallel_ids/time_to_quality.png \
      --train_summary=genrec-parallel-ids=/work/bench/beauty/genrec-parallel-ids/train_summary.json \
      --baseline_row=sasrec-ce=benchmarks/quality/beauty_cpu_full/results.json

A genrec run's points are the train loop's own (train_summary.json: `validation`, each with its
training seconds). A baseline row's points are its validation history per epoch, placed at
epoch / epochs x its training wall time (the epochs of one run take about equal time).
"""

from __future__ import annotations

import argparse
import json

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def genrec_points(path: str) -> list[tuple[float, float]]:
    with open(path) as f:
        return [(p["train_wall_s"] / 60, p["ndcg@10"]) for p in json.load(f)["validation"]]


def baseline_points(path: str, name: str) -> list[tuple[float, float]]:
    with open(path) as f:
        row = next(r for r in json.load(f)["rows"] if r["name"] == name)
    per_epoch = row["cost"]["train_wall_s"] / row["cost"]["epochs"]
    return [(h["epoch"] * per_epoch / 60, h["ndcg@10"]) for h in row["validation_history"]]


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--train_summary", action="append", default=[], help="LABEL=path/to/train_summary.json")
    p.add_argument("--baseline_row", action="append", default=[], help="NAME=path/to/results.json")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    fig, ax = plt.subplots(figsize=(7, 4.2))
    for spec in args.train_summary:
        label, path = spec.split("=", 1)
        ax.plot(*zip(*genrec_points(path)), marker="o", markersize=3, label=label)
    for spec in args.baseline_row:
        name, path = spec.split("=", 1)
        ax.plot(*zip(*baseline_points(path, name)), marker=".", markersize=3, label=f"{name} (recorded run)")
    ax.set(xlabel="training wall-clock (minutes, 2-core CPU)", ylabel="validation NDCG@10")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(args.out, dpi=100)
    print(args.out)


if __name__ == "__main__":
    main()
