"""Tables of a sweep: one row per run (Markdown + CSV), every metric (CSV), means over seeds."""

from __future__ import annotations

import csv
import math
from typing import Sequence

import numpy as np

from genrec.sweep.axes import label
from genrec.sweep.collect import RunRecord

# (results.json cost key, column title)
COST_COLUMNS = (
    ("train_steps", "steps"),
    ("train_wall_s", "train wall s"),
    ("train_flops", "train FLOPs"),
    ("num_params", "params"),
    ("decode_ms_per_user", "decode ms/user"),
    ("device_kind", "device"),
    ("num_devices", "devices"),
)


def metric_title(family: str, metric: str, heldout: bool = False) -> str:
    return f"{family}{' held-out' if heldout else ''} {metric}"


def per_run(
    axes: Sequence[str],
    records: Sequence[RunRecord],
    family: str,
    metrics: Sequence[str],
    with_cost: bool = True,
) -> tuple[list[str], list[list]]:
    """One row per run: axis values, status, the family's metrics (seen templates), cost."""
    cost = COST_COLUMNS if with_cost else ()
    header = ["run"] + list(axes) + ["status"] + [metric_title(family, m) for m in metrics]
    header += [title for _, title in cost]
    rows = [
        [r.name]
        + [label(r.values.get(a)) for a in axes]
        + [r.status]
        + [r.metric(family, m) for m in metrics]
        + [r.cost.get(key) for key, _ in cost]
        for r in records
    ]
    return header, rows


def every_metric(axes: Sequence[str], records: Sequence[RunRecord]) -> tuple[list[str], list[list]]:
    """Every `task/metric` of every run (the columns are the union over runs) plus every cost key."""
    columns, cost_keys = [], []
    for r in records:
        columns += [(t, m) for t, ms in r.metrics.items() for m in ms if (t, m) not in columns]
        cost_keys += [k for k in r.cost if k not in cost_keys]
    header = ["run"] + list(axes) + ["status"] + [f"{t}/{m}" for t, m in columns] + cost_keys
    rows = [
        [r.name]
        + [label(r.values.get(a)) for a in axes]
        + [r.status]
        + [r.metrics.get(t, {}).get(m) for t, m in columns]
        + [r.cost.get(k) for k in cost_keys]
        for r in records
    ]
    return header, rows


def over_seeds(
    axes: Sequence[str],
    records: Sequence[RunRecord],
    family: str,
    metrics: Sequence[str],
    seed_axis: str = "seed",
) -> tuple[list[str], list[list]]:
    """Finished runs grouped by every axis but the seed: 'mean ± std (n)' per metric (std: ddof=1)."""
    keys = [a for a in axes if a != seed_axis]
    groups: dict[tuple, list[RunRecord]] = {}
    for r in records:
        if r.status == "finished":
            groups.setdefault(tuple(repr(r.values.get(a)) for a in keys), []).append(r)
    header = keys + ["runs"] + [metric_title(family, m) for m in metrics]
    rows = []
    for group in groups.values():
        row = [label(group[0].values.get(a)) for a in keys] + [len(group)]
        for m in metrics:
            vals = np.array([v for v in (r.metric(family, m) for r in group) if v is not None], float)
            row.append(mean_std(vals))
        rows.append(row)
    return header, rows


def mean_std(values: np.ndarray) -> str:
    if len(values) == 0:
        return ""
    if len(values) == 1:
        return f"{values[0]:.4f}"
    return f"{values.mean():.4f} ± {values.std(ddof=1):.4f}"


def fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool) or isinstance(value, str):
        return str(value)
    if isinstance(value, int):
        return f"{value:,}" if abs(value) >= 10_000 else str(value)
    if isinstance(value, float):
        if value != 0 and (abs(value) >= 1e6 or abs(value) < 1e-3):
            return f"{value:.3g}"
        return f"{value:.4f}" if abs(value) < 100 else f"{value:,.1f}"
    return str(value)


def markdown(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_csv(path: str, header: Sequence[str], rows: Sequence[Sequence]) -> None:
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([["" if v is None else v for v in row] for row in rows])
