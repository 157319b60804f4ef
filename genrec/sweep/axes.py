"""The axes a sweep grid may vary, each mapping a value to gin overrides for `genrec.main`.

Grid keys are one of:
  * a named axis from AXES (`dataset`, `identifier_scheme`, `model_size`, `mixture`,
    `train_fraction`, `seed`): a misspelt key is an error that names it, as is a value without its
    gin file (`model_size: ['huge']` → no configs/models/huge.gin);
  * a gin binding name (has a dot), e.g. `'train.learning_rate': [1e-3, 3e-3]` → `train.learning_rate
    = 0.001`; gin checks the name when the run starts;
  * any other name whose values are a dict `{label: [overrides]}`: a custom axis with named choices,
    where an override ending in `.gin` is a gin file and anything else a binding.
"""

from __future__ import annotations

import dataclasses
import difflib
import os
from typing import Callable, Optional

from genrec import REPO_ROOT, RESOURCE_ROOT  # noqa: F401 - sweep.run and the tests read axes.REPO_ROOT


class SweepSpecError(ValueError):
    """A sweep file that names an unknown axis, value, run mode or file."""


@dataclasses.dataclass(frozen=True)
class Overrides:
    gin_files: tuple[str, ...] = ()
    bindings: tuple[str, ...] = ()

    def __add__(self, other: "Overrides") -> "Overrides":
        return Overrides(self.gin_files + other.gin_files, self.bindings + other.bindings)


def repo_path(path: str) -> str:
    """Gin paths in sweep files are relative to the repository root (as on every launch host), or
    to the installed package's copy of configs/ where there is no checkout."""
    return path if os.path.isabs(path) else os.path.join(RESOURCE_ROOT, path)


@dataclasses.dataclass(frozen=True)
class GinFileAxis:
    """value → `<folder>/<value>.gin` (e.g. model_size 'tiger' → configs/models/tiger.gin)."""

    folder: str

    def check(self, value, where: str) -> None:
        if not os.path.exists(repo_path(f"{self.folder}/{value}.gin")):
            folder = repo_path(self.folder)
            have = (
                sorted(f[:-4] for f in os.listdir(folder) if f.endswith(".gin"))
                if os.path.isdir(folder)
                else []
            )
            raise SweepSpecError(f"{where}: no {self.folder}/{value}.gin; available: {have}")

    def overrides(self, value) -> Overrides:
        return Overrides(gin_files=(f"{self.folder}/{value}.gin",))


@dataclasses.dataclass(frozen=True)
class BindingAxis:
    """value → `name = value` for each of `names` (a Python literal, as gin parses it), after the
    fixed `gin_files` that make those names exist."""

    names: tuple[str, ...]
    valid: Optional[Callable[[object], bool]] = None
    expects: str = ""
    gin_files: tuple[str, ...] = ()

    def check(self, value, where: str) -> None:
        if self.valid is not None and not self.valid(value):
            raise SweepSpecError(f"{where}: {value!r} is not {self.expects}")

    def overrides(self, value) -> Overrides:
        return Overrides(self.gin_files, tuple(f"{name} = {value!r}" for name in self.names))


@dataclasses.dataclass(frozen=True)
class NamedChoiceAxis:
    """label → the overrides listed for it (`.gin` files and bindings)."""

    choices: dict

    def check(self, label, where: str) -> None:
        for item in self.choices[label]:
            if not isinstance(item, str):
                raise SweepSpecError(f"{where}: choice {label!r} holds {item!r}; expected strings")
            if item.endswith(".gin") and not os.path.exists(repo_path(item)):
                raise SweepSpecError(f"{where}: choice {label!r}: gin file not found: {item}")

    def overrides(self, label) -> Overrides:
        items = self.choices[label]
        return Overrides(
            tuple(i for i in items if i.endswith(".gin")), tuple(i for i in items if not i.endswith(".gin"))
        )


def _is_fraction(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and 0 < v <= 1


def _is_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


AXES = {
    "dataset": BindingAxis(("load_dataset.name",)),
    "identifier_scheme": GinFileAxis("configs/semantic_ids"),
    "model_size": GinFileAxis("configs/models"),
    # Task mixture: configs/tasks/<value>.gin ('sequential': single-task, 'p5': all five families).
    "mixture": GinFileAxis("configs/tasks"),
    # The fraction of users whose training sequences are kept (genrec/sweep/subsample.py).
    "train_fraction": BindingAxis(
        ("subsample_train_users.fraction",), _is_fraction, "in (0, 1]", ("configs/sweeps/train_fraction.gin",)
    ),
    "seed": BindingAxis(("LoopConfig.seed",), _is_int, "an int"),
}


def axis_for(key: str, values) -> object:
    if isinstance(values, dict):
        return NamedChoiceAxis(values)
    if key in AXES:
        return AXES[key]
    if "." in key:
        return BindingAxis((key,))
    close = difflib.get_close_matches(key, list(AXES), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise SweepSpecError(
        f"unknown grid axis {key!r}{hint}; known axes: {', '.join(AXES)}; or use a "
        f"gin binding name (with a dot), or a dict of named choices"
    )


def check_axis(key: str, values, where: str) -> None:
    """Raises SweepSpecError naming the file, the axis and the bad value."""
    if not isinstance(key, str):
        raise SweepSpecError(f"{where}: grid key {key!r} is not a string")
    try:
        axis = axis_for(key, values)
    except SweepSpecError as e:
        raise SweepSpecError(f"{where}: {e}") from None
    if not isinstance(values, (list, tuple, dict)) or not values:
        raise SweepSpecError(f"{where}: grid axis {key!r} needs a non-empty list of values")
    labels = [label(v) for v in values]
    if len(set(labels)) != len(labels):
        raise SweepSpecError(f"{where}: grid axis {key!r} repeats a value: {labels}")
    for value in values:
        axis.check(value, f"{where}: grid axis {key!r}")


def label(value) -> str:
    """How a value appears in run names and tables."""
    return value if isinstance(value, str) else repr(value)
