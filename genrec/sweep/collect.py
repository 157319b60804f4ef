"""Reads a sweep's runs back: point values, results.json metrics and the cost of each run."""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional

from genrec.sweep import layout

# train_summary.json key → results.json cost key, for runs whose eval did not fill them in.
_SUMMARY_TO_COST = {
    "steps": "train_steps",
    "wall_s": "train_wall_s",
    "total_flops": "train_flops",
    "num_params": "num_params",
    "device_kind": "device_kind",
    "num_devices": "num_devices",
    "examples_per_s": "train_examples_per_s",
    "final_loss": "final_loss",
}
HELDOUT = "_heldout"


@dataclasses.dataclass(frozen=True)
class RunRecord:
    name: str
    values: dict  # axis -> value
    status: str  # 'finished' | 'failed: <run mode>' | 'incomplete'
    metrics: dict  # task -> {metric: value}
    cost: dict  # device_kind, num_devices, train_steps, train_wall_s, train_flops, ...
    run: dict  # results.json "run"
    stage_wall_s: dict = dataclasses.field(default_factory=dict)  # run mode -> seconds (local sweeps)

    def metric(self, family: str, metric: str, heldout: bool = False) -> Optional[float]:
        """The metric of the task of this family (seen or held-out templates), None if absent."""
        for task, values in self.metrics.items():
            if task_family(task) == (family, heldout) and metric in values:
                return values[metric]
        return None


def task_family(task: str) -> tuple[str, bool]:
    """`genrec_<dataset>_<family>[_heldout]` → (family, held out?)."""
    heldout = task.endswith(HELDOUT)
    base = task[: -len(HELDOUT)] if heldout else task
    return base.rsplit("_", 1)[-1], heldout


def _read_json(path: str) -> Optional[dict]:
    if not os.path.exists(path):
        return None
    with open(path) as f:
        try:
            return json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not valid JSON ({e})") from e


def read_run(workdir: str, values: dict) -> RunRecord:
    """One run folder; point.json (written by local sweeps) tells which run mode failed."""
    stages = layout.read_point(workdir).get("stages", {})
    results = _read_json(os.path.join(workdir, layout.RESULTS)) or {}
    summary = _read_json(os.path.join(workdir, "train_summary.json")) or {}
    cost = dict(results.get("cost", {}))
    for key, cost_key in _SUMMARY_TO_COST.items():
        if cost.get(cost_key) is None and key in summary:
            cost[cost_key] = summary[key]
    failed = [m for m, s in stages.items() if s.get("rc") not in (0, None)]
    status = "finished" if results else (f"failed: {failed[0]}" if failed else "incomplete")
    return RunRecord(
        os.path.basename(workdir),
        values,
        status,
        results.get("metrics", {}),
        cost,
        results.get("run", {}),
        {m: s.get("wall_s") for m, s in stages.items()},
    )


def collect(sweep_dir: str) -> tuple[dict, list[RunRecord]]:
    """(the sweep record from sweep.json, one RunRecord per grid point, in grid order)."""
    sweep = _read_json(os.path.join(sweep_dir, layout.SWEEP_FILE))
    if sweep is None:
        raise FileNotFoundError(f"{sweep_dir}: no {layout.SWEEP_FILE}; is it a sweep folder?")
    return sweep, [read_run(os.path.join(sweep_dir, "runs", p["name"]), p["values"]) for p in sweep["points"]]
