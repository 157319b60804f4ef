"""Grid expansion: a SweepSpec → one Point (name, axis values, gin overrides) per grid point."""

from __future__ import annotations

import dataclasses
import itertools
import re

from genrec.sweep import axes
from genrec.sweep.spec import SweepSpec


@dataclasses.dataclass(frozen=True)
class Point:
    name: str  # the run's folder name: `model_size-tiny__seed-0`
    values: dict  # axis -> value, in grid order
    gin_files: tuple[str, ...]
    bindings: tuple[str, ...]

    def genrec_args(self) -> list[str]:
        """The gin arguments every `python -m genrec.main` call of this point gets."""
        return [f"--gin_file={f}" for f in self.gin_files] + [f"--gin_bindings={b}" for b in self.bindings]


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._+-]", "_", text)


def point_name(values: dict) -> str:
    return "__".join(f"{_safe(k)}-{_safe(axes.label(v))}" for k, v in values.items())


def expand(spec: SweepSpec) -> list[Point]:
    """Every combination of the grid's values, the last axis varying fastest."""
    keys = list(spec.grid)
    points = []
    for combo in itertools.product(*(list(spec.grid[k]) for k in keys)):
        values = dict(zip(keys, combo))
        over = axes.Overrides(spec.base_gin_files, spec.bindings)  # axes come later and win
        for key, value in values.items():
            over = over + axes.axis_for(key, spec.grid[key]).overrides(value)
        points.append(Point(point_name(values), values, over.gin_files, over.bindings))
    names = [p.name for p in points]
    if len(set(names)) != len(names):
        raise axes.SweepSpecError(
            f"{spec.source}: two grid points share a run name; make the values "
            f"differ after replacing characters outside [A-Za-z0-9._+-]"
        )
    return points
