"""A sweep spec: a base experiment (gin files), the run modes every point runs, and a grid.

A sweep file is a small gin file read by the sweep runner only (genrec.main never sees it):

    sweep.name = 'model_sizes'
    sweep.base_gin_files = ['configs/experiments/tiger_beauty.gin']
    sweep.run_modes = ['build_ids', 'train', 'eval']
    sweep.grid = {'model_size': ['tiny', 'tiger', 'small'], 'seed': [0, 1, 2]}
    sweep.bindings = ['LoopConfig.num_steps = 20000']   # passed to every run, as --gin_bindings

The grid's keys are axes (see genrec/sweep/axes.py); every point of their product is one run.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Sequence

import gin

from genrec.sweep import axes

DEFAULT_RUN_MODES = ("build_ids", "train", "eval")  # each stage prepares the dataset if needed
KNOWN_RUN_MODES = ("data", "stats", "build_ids", "train", "eval", "export")


@dataclasses.dataclass(frozen=True)
class SweepSpec:
    name: str
    base_gin_files: tuple[str, ...]
    grid: dict  # axis -> list of values (or {label: overrides} for a named custom axis), in order
    run_modes: tuple[str, ...] = DEFAULT_RUN_MODES
    bindings: tuple[str, ...] = ()
    source: str = ""  # the file the spec came from, for error messages

    def __post_init__(self):
        where = self.source or "sweep spec"
        if not self.grid:
            raise axes.SweepSpecError(f"{where}: sweep.grid is empty")
        for mode in self.run_modes:
            if mode not in KNOWN_RUN_MODES:
                raise axes.SweepSpecError(
                    f"{where}: unknown run mode {mode!r} in sweep.run_modes; known: {KNOWN_RUN_MODES}"
                )
        for path in self.base_gin_files:
            if not os.path.exists(axes.repo_path(path)):
                raise axes.SweepSpecError(f"{where}: base gin file not found: {path}")
        for key, values in self.grid.items():
            axes.check_axis(key, values, where)


@gin.configurable("sweep")
def sweep_bindings(
    name: str = gin.REQUIRED,
    base_gin_files: Sequence[str] = gin.REQUIRED,
    grid: dict = gin.REQUIRED,
    run_modes: Sequence[str] = DEFAULT_RUN_MODES,
    bindings: Sequence[str] = (),
) -> dict:
    """The `sweep.*` bindings of a sweep file, as SweepSpec's arguments."""
    return {
        "name": name,
        "base_gin_files": tuple(base_gin_files),
        "grid": dict(grid),
        "run_modes": tuple(run_modes),
        "bindings": tuple(bindings),
    }


def load_spec(path: str, extra_bindings: Sequence[str] = ()) -> SweepSpec:
    """Parses a sweep file (+ extra `sweep.*` bindings) and checks it; clears gin's config before
    and after (the sweep runner's gin holds only the sweep, never a run's bindings)."""
    if not os.path.exists(path):
        raise axes.SweepSpecError(f"sweep file not found: {path}")
    gin.clear_config()
    try:
        gin.parse_config_files_and_bindings([path], list(extra_bindings), finalize_config=False)
        args = sweep_bindings()
    except (ValueError, KeyError, SyntaxError, RuntimeError, TypeError) as e:
        raise axes.SweepSpecError(f"{path}: {e}") from e
    finally:
        gin.clear_config()
    return SweepSpec(**args, source=path)
