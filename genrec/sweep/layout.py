"""The on-disk layout of a sweep folder: sweep.json, runs/<point>/ with point.json and its results."""

from __future__ import annotations

import json
import os
from typing import Sequence

from genrec.sweep import grid
from genrec.sweep.spec import SweepSpec

POINT_FILE = "point.json"
SWEEP_FILE = "sweep.json"
RESULTS = os.path.join("eval", "results.json")


def run_dir(sweep_dir: str, point: grid.Point) -> str:
    return os.path.join(sweep_dir, "runs", point.name)


def data_dir(sweep_dir: str) -> str:
    return os.path.join(sweep_dir, "tfds")


def read_point(workdir: str) -> dict:
    path = os.path.join(workdir, POINT_FILE)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def write_point(workdir: str, record: dict) -> None:
    os.makedirs(workdir, exist_ok=True)
    tmp = os.path.join(workdir, POINT_FILE + ".tmp")
    with open(tmp, "w") as f:
        json.dump(record, f, indent=2)
    os.replace(tmp, os.path.join(workdir, POINT_FILE))


def write_sweep(sweep_dir: str, spec: SweepSpec, points: Sequence[grid.Point]) -> None:
    os.makedirs(sweep_dir, exist_ok=True)
    record = {
        "name": spec.name,
        "source": spec.source,
        "base_gin_files": list(spec.base_gin_files),
        "run_modes": list(spec.run_modes),
        "bindings": list(spec.bindings),
        "grid": {k: (v if isinstance(v, dict) else list(v)) for k, v in spec.grid.items()},
        "points": [{"name": p.name, "values": p.values, "genrec_args": p.genrec_args()} for p in points],
    }
    with open(os.path.join(sweep_dir, SWEEP_FILE), "w") as f:
        json.dump(record, f, indent=2)
