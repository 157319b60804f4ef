"""Rating prediction from generated text: parse the first number, then RMSE and MAE."""
from __future__ import annotations

import re
from typing import Optional, Sequence

import numpy as np

_NUMBER = re.compile(r"[-+]?\d+(?:\.\d+)?")


def parse_rating(text: str) -> Optional[float]:
    """The first number in `text` ("4", "4.5 stars"), or None where there is none."""
    match = _NUMBER.search(text)
    return float(match.group()) if match else None


def rating_metrics(predictions: Sequence[str], targets: Sequence[float],
                   low: float = 1.0, high: float = 5.0) -> dict[str, float]:
    """RMSE and MAE over parseable predictions (clipped to [low, high]); unparseable ones are counted
    in `unparseable_rate` and left out of RMSE/MAE (P5's convention)."""
    if len(predictions) != len(targets):
        raise ValueError(f"{len(predictions)} predictions but {len(targets)} targets")
    parsed = [parse_rating(p) for p in predictions]
    ok = np.array([p is not None for p in parsed], bool)
    out = {"unparseable_rate": float(1.0 - ok.mean()) if len(ok) else 0.0}
    if ok.any():
        pred = np.clip(np.array([p for p in parsed if p is not None], np.float64), low, high)
        err = pred - np.asarray(targets, np.float64)[ok]
        out["rmse"] = float(np.sqrt(np.mean(err ** 2)))
        out["mae"] = float(np.mean(np.abs(err)))
    return out
