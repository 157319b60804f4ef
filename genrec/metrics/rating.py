"""Rating prediction from generated text: parse the first number, then RMSE and MAE over every answer."""

from __future__ import annotations

import re
from typing import Optional, Sequence

import numpy as np

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def parse_rating(text: str) -> Optional[float]:
    """The first number in `text` ("4", "4.5 stars"), or None where there is none."""
    match = _NUMBER.search(text)
    return float(match.group()) if match else None


def rating_metrics(
    predictions: Sequence[str], targets: Sequence[float], low: float = 1.0, high: float = 5.0
) -> dict[str, float]:
    """RMSE and MAE over every prediction, parsed and clipped to [low, high]. An unparseable one is
    scored as the rating on the scale farthest from its target (the worst a clipped parseable answer
    can do), so answering nothing parseable never scores better; `unparseable_rate` counts them."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    if not low < high:
        raise ValueError(f"rating scale [{low}, {high}] is empty")
    if not len(predictions):
        return {"unparseable_rate": 0.0}
    target = np.asarray(targets, np.float64)
    parsed = np.array([np.nan if p is None else p for p in map(parse_rating, predictions)], np.float64)
    worst = np.where(target - low >= high - target, low, high)
    pred = np.where(np.isnan(parsed), worst, np.clip(parsed, low, high))
    err = pred - target
    return {
        "unparseable_rate": float(np.isnan(parsed).mean()),
        "rmse": float(np.sqrt(np.mean(err**2))),
        "mae": float(np.mean(np.abs(err))),
    }
