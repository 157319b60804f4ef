"""Code-table statistics (usage, perplexity, prefix uniqueness) and per-level usage plots."""

from __future__ import annotations

import os
from typing import Sequence

import numpy as np

from genrec.semantic_ids.artifact import level_name


def level_stats(codes: np.ndarray, level_sizes: Sequence[int]) -> list[dict]:
    """Per level: fraction of codes used, perplexity of the code distribution, and the fraction of
    items whose prefix up to this level is already unique."""
    out = []
    for l, size in enumerate(level_sizes):
        counts = np.bincount(codes[:, l], minlength=size)
        p = counts[counts > 0] / counts.sum()
        _, prefix_counts = np.unique(codes[:, : l + 1], axis=0, return_inverse=False, return_counts=True)
        out.append(
            {
                "level": l,
                "size": int(size),
                "codes_used": int((counts > 0).sum()),
                "usage": float((counts > 0).mean()),
                "perplexity": float(np.exp(-(p * np.log(p)).sum())),
                "unique_prefix_fraction": float((prefix_counts == 1).sum() / len(codes)),
            }
        )
    return out


def plot_usage(codes: np.ndarray, level_sizes: Sequence[int], directory: str) -> list[str]:
    """One bar chart per level of how many items use each code (sorted), as usage_level_<x>.png."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    for l, size in enumerate(level_sizes):
        counts = np.sort(np.bincount(codes[:, l], minlength=size))[::-1]
        fig, ax = plt.subplots(figsize=(6, 3))
        ax.bar(np.arange(size), counts, width=1.0)
        ax.axhline(len(codes) / size, color="k", lw=0.8, ls="--", label="uniform")
        ax.set(
            title=f"level {level_name(l)}: {(counts > 0).sum()}/{size} codes used",
            xlabel="code (sorted by count)",
            ylabel="items",
        )
        ax.legend()
        fig.tight_layout()
        path = os.path.join(directory, f"usage_level_{level_name(l)}.png")
        fig.savefig(path, dpi=80)
        plt.close(fig)
        paths.append(path)
    return paths
