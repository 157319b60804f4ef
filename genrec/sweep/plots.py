"""PNG figures of a sweep (matplotlib Agg). Each returns the file it wrote, or raises Skip(reason)."""

from __future__ import annotations

import os
from typing import Sequence

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from genrec.sweep.collect import RunRecord, task_family  # noqa: E402

# The metric a per-family panel shows: the first of these the family's results hold.
PRIMARY_METRICS = ("recall@10", "recall@5", "rmse", "rougeL", "bleu4")
LOWER_IS_BETTER = ("rmse", "mae")


class Skip(Exception):
    """The sweep holds no data for this figure (e.g. the grid does not vary that axis)."""


def varying(records: Sequence[RunRecord], exclude: Sequence[str] = ("seed",)) -> list[str]:
    """Axes that take more than one value among the runs, in grid order."""
    axes = list(records[0].values) if records else []
    return [a for a in axes if a not in exclude and len({repr(r.values.get(a)) for r in records}) > 1]


def group_label(record: RunRecord, axes: Sequence[str]) -> str:
    return ", ".join(f"{a}={record.values.get(a)}" for a in axes) or "all runs"


def _groups(records: Sequence[RunRecord], axes: Sequence[str]) -> dict[str, list[RunRecord]]:
    out: dict[str, list[RunRecord]] = {}
    for r in records:
        out.setdefault(group_label(r, axes), []).append(r)
    return out


def pareto(costs: np.ndarray, quality: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (cheaper or equal and strictly better), by cost."""
    order = np.lexsort((-quality, costs))
    front, best = [], -np.inf
    for i in order:
        if quality[i] > best:
            front.append(i)
            best = quality[i]
    return np.array(front, int)


def frontier(
    records: Sequence[RunRecord], cost_key: str, cost_label: str, family: str, metric: str, path: str
) -> str:
    """Quality against a cost (log x), one marker per run, the Pareto frontier as a step line."""
    pts = [(r.cost.get(cost_key), r.metric(family, metric), r) for r in records]
    pts = [(c, q, r) for c, q, r in pts if c is not None and q is not None and c > 0]
    if not pts:
        raise Skip(f"no finished run has both {cost_key} and {family} {metric}")
    costs = np.array([p[0] for p in pts], float)
    quality = np.array([p[1] for p in pts], float)
    axes = varying([p[2] for p in pts])
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for label, group in _groups([p[2] for p in pts], axes).items():
        ax.scatter(
            [r.cost[cost_key] for r in group], [r.metric(family, metric) for r in group], label=label, s=36
        )
    front = pareto(costs, quality)  # best quality at cost <= x, drawn out to the costliest run
    ax.step(
        np.append(costs[front], costs.max()),
        np.append(quality[front], quality[front[-1]]),
        where="post",
        color="0.3",
        lw=1,
        ls="--",
        label="frontier",
    )
    ax.set_xscale("log")
    ax.set(xlabel=cost_label, ylabel=f"{family} {metric}", title=f"{family} {metric} vs {cost_label}")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def sample_efficiency(
    records: Sequence[RunRecord], family: str, metric: str, path: str, axis: str = "train_fraction"
) -> str:
    """Quality against the fraction of training users: mean ± std over seeds, a line per group."""
    runs = [r for r in records if r.values.get(axis) is not None and r.metric(family, metric) is not None]
    if len({r.values[axis] for r in runs}) < 2:
        raise Skip(f"the sweep does not vary {axis} over finished runs with {family} {metric}")
    fig, ax = plt.subplots(figsize=(6.4, 4.4))
    for label, group in _groups(runs, varying(runs, exclude=("seed", axis))).items():
        fractions = sorted({r.values[axis] for r in group})
        stats = [
            _mean_std([r.metric(family, metric) for r in group if r.values[axis] == f]) for f in fractions
        ]
        ax.errorbar(
            100 * np.array(fractions),
            [s[0] for s in stats],
            yerr=[s[1] for s in stats],
            marker="o",
            capsize=3,
            label=label,
        )
    ax.set(
        xlabel="training users (%)",
        ylabel=f"{family} {metric}",
        title=f"sample efficiency: {family} {metric}",
    )
    ax.set_xticks([10, 25, 50, 100])
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    return _save(fig, path)


def by_family(records: Sequence[RunRecord], path: str, compare: str) -> str:
    """One panel per task family (its primary metric), bars per group of runs.

    compare='mixture': bars are the mixture values (multi-task against single-task);
    compare='templates': bars are seen and held-out templates for each group of runs.
    """
    runs = [r for r in records if r.metrics]
    if compare == "mixture":
        if len({r.values.get("mixture") for r in runs}) < 2:
            raise Skip("the sweep does not vary the mixture over finished runs")
        groups = _groups(runs, ["mixture"])
        series = [("", False)]
    else:
        groups = _groups(runs, varying(runs))
        series = [("seen", False), ("held-out", True)]
    families = sorted(
        {task_family(t)[0] for r in runs for t in r.metrics if compare != "templates" or task_family(t)[1]}
    )
    if not families:
        raise Skip("no held-out template results" if compare == "templates" else "no results")
    fig, axs = plt.subplots(1, len(families), figsize=(3.6 * len(families), 4.0), squeeze=False)
    for ax, family in zip(axs[0], families):
        metric = _primary(runs, family)
        width = 0.8 / len(series)
        for j, (name, heldout) in enumerate(series):
            stats = [_mean_std([r.metric(family, metric, heldout) for r in g]) for g in groups.values()]
            x = np.arange(len(groups)) + (j - (len(series) - 1) / 2) * width
            ax.bar(x, [s[0] for s in stats], width, yerr=[s[1] for s in stats], capsize=3, label=name or None)
        ax.set_xticks(np.arange(len(groups)), list(groups), rotation=30, ha="right", fontsize=7)
        ax.set_title(
            f"{family}: {metric}" + (" (lower is better)" if metric in LOWER_IS_BETTER else ""), fontsize=9
        )
        ax.grid(alpha=0.3, axis="y")
        if len(series) > 1:
            ax.legend(fontsize=7)
    fig.suptitle("multi-task vs single-task" if compare == "mixture" else "seen vs held-out templates")
    return _save(fig, path)


def _primary(records: Sequence[RunRecord], family: str) -> str:
    names = {m for r in records for t, ms in r.metrics.items() if task_family(t)[0] == family for m in ms}
    return next((m for m in PRIMARY_METRICS if m in names), min(names))


def _mean_std(values) -> tuple[float, float]:
    vals = np.array([v for v in values if v is not None], float)
    if len(vals) == 0:
        return np.nan, 0.0
    std = float(vals.std(ddof=1)) if len(vals) > 1 else 0.0
    return float(vals.mean()), std


def _save(fig, path: str) -> str:
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
