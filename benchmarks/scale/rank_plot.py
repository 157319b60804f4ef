"""The log-log plot of ranking users/s against catalogue size, from the rank_scale_*.json files.

.venv/bin/python benchmarks/scale/rank_plot.py   # writes benchmarks/scale/rank_scale.png
"""

from __future__ import annotations

import glob
import json
import os

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))


def main():
    series: dict[str, list[tuple[int, float]]] = {}
    for path in sorted(glob.glob(os.path.join(HERE, "rank_scale_*.json"))):
        with open(path) as f:
            report = json.load(f)
        for row in report["rows"]:
            name = f"{row['method']} ({row['devices']} device{'s' if row['devices'] > 1 else ''})"
            series.setdefault(name, []).append((report["num_items"], row["users_per_s"]))
    fig, ax = plt.subplots(figsize=(7, 4.5))
    for name, points in sorted(series.items()):
        points.sort()
        style = "--" if "8 devices" in name else "-"
        ax.plot(*zip(*points, strict=True), marker="o", linestyle=style, label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("catalogue items N")
    ax.set_ylabel("users ranked per second (top 10)")
    ax.set_title("Ranking cost vs catalogue size (2-core CPU under load ~17; RESULTS.md)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(os.path.join(HERE, "rank_scale.png"), dpi=120)


if __name__ == "__main__":
    main()
