"""Choosing a checkpoint on validation: the one rule every stage and benchmark uses.

A run's validation curve is train_summary.json's `validation` list ({"step": s, "ndcg@10": v, ...} per
checkpoint). The chosen step has the highest value of the metric (NDCG@10 by default); of a tie, the
earlier step.
"""

from __future__ import annotations

import json
import os
from typing import Optional, Sequence

from genrec.runtime import checkpoints

SELECTION_METRIC = "ndcg@10"
SUMMARY_FILE = "train_summary.json"


def best_step(values: dict[int, float]) -> int:
    """The step with the highest value; the earlier one of a tie."""
    if not values:
        raise ValueError("best_step: no validation values to choose from")
    return max(sorted(values), key=lambda step: values[step])


def best_point(curve: Sequence[dict], metric: str = SELECTION_METRIC) -> dict:
    """The point of a validation curve at `best_step` of `metric` (points without it never win)."""
    by_step = {int(p["step"]): p for p in curve}
    return by_step[best_step({s: p.get(metric, float("-inf")) for s, p in by_step.items()})]


def validation_curve(checkpoint_dir: str) -> list[dict]:
    """The validation curve of the run whose checkpoints are in `checkpoint_dir` ([] if none)."""
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint_dir)), SUMMARY_FILE)
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return json.load(f).get("validation", [])


def chosen_step(checkpoint_dir: str, metric: str = SELECTION_METRIC) -> Optional[int]:
    """The step a run chose on validation when that checkpoint is still saved, else None (the newest)."""
    curve = validation_curve(checkpoint_dir)
    if not curve:
        return None
    best = best_point(curve, metric)["step"]
    return best if best in checkpoints.saved_steps(checkpoint_dir) else None
