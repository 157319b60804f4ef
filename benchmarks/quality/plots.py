"""Figures of the quality benchmark: validation curves over kept checkpoints, the chosen step marked.

  python -m benchmarks.quality.plots OUT.png LABEL=FILE.json [LABEL=FILE.json ...]
draws the curves of several recorded genrec rows on one figure; FILE is a row (rows/genrec.json)
or a results.json (its genrec row).
"""

from __future__ import annotations

import json
import os
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from genrec.train import selection  # noqa: E402


def validation_curves(curves: dict[str, dict[int, float]], path: str, title: str = "") -> str:
    """Validation NDCG@10 per checkpoint step for each labelled run, its best step starred (PNG)."""
    fig, ax = plt.subplots(figsize=(6.5, 4))
    for label, curve in curves.items():
        steps, best = sorted(curve), selection.best_step(curve)
        (line,) = ax.plot(steps, [curve[s] for s in steps], marker="o", markersize=4, label=label)
        ax.plot([best], [curve[best]], marker="*", markersize=14, color=line.get_color())
    ax.set_xlabel("checkpoint step")
    ax.set_ylabel("validation NDCG@10 (star: the step tested)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return path


def _row_curve(path: str) -> dict[int, float]:
    with open(path) as f:
        row = json.load(f)
    if "rows" in row:
        row = next(r for r in row["rows"] if r["name"] == "genrec-tiger")
    return {int(s): v for s, v in row["selection"]["validation_ndcg@10"].items()}


if __name__ == "__main__":
    out, specs = sys.argv[1], [a.split("=", 1) for a in sys.argv[2:]]
    print(validation_curves({label: _row_curve(p) for label, p in specs}, out))
