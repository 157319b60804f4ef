"""A plain interaction log: one `user item timestamp` line per interaction → RecDataset.

  user_17<TAB>item_403<TAB>1388534400
  user_17<TAB>item_9<TAB>1388620800

Fields are tab-separated: any user and item strings (no tabs), an integer timestamp (any unit; only
the order matters) and, optionally, a fourth field with a numeric rating. An optional first line
`user item timestamp [rating]` is a header. Lines are ordered by timestamp per user, same-time lines
in file order; items have no text. Ids are remapped to ours (genrec/datasets/prepare.py).
"""

from __future__ import annotations

import os

from genrec.datasets import prepare, records
from genrec.datasets.textio import DataError, read_lines, to_float, to_int

HEADER = ("user", "item", "timestamp")
EXPECTED = "tab-separated lines `user item timestamp` with an optional fourth field `rating`"


def read(path: str) -> prepare.RawInteractions:
    if not os.path.isfile(path):
        raise DataError(f"interaction log {path} does not exist or is not a file; expected {EXPECTED}")
    raw = prepare.RawInteractions(users=[], items=[], timestamps=[], source=path, lines=[])
    width = None
    for number, line in read_lines(path):
        if not line.strip():
            continue
        values = line.split("\t")
        if number == 1 and tuple(v.strip().lower() for v in values[:3]) == HEADER:
            continue
        if len(values) not in (3, 4):
            raise DataError(
                f"{path}:{number}: malformed line, {len(values)} tab-separated fields; expected {EXPECTED}"
            )
        if width is not None and len(values) != width:
            raise DataError(f"{path}:{number}: {len(values)} fields where earlier lines have {width}")
        width = len(values)
        user, item = values[0].strip(), values[1].strip()
        for name, value in (("user", user), ("item", item)):
            if not value:
                raise DataError(f"{path}:{number}: missing required field {name!r}")
        raw.users.append(user)
        raw.items.append(item)
        raw.timestamps.append(to_int(values[2].strip(), "timestamp", path, number))
        if width == 4:
            raw.ratings = raw.ratings if raw.ratings is not None else []
            raw.ratings.append(to_float(values[3].strip(), "rating", path, number))
        raw.lines.append(number)
    if not raw.users:
        raise DataError(f"{path}:1: no interactions; expected {EXPECTED}")
    return raw


def load(path: str, name: str) -> records.RecDataset:
    """The dataset of the log at `path` (items named only by their ids)."""
    return prepare.build_dataset(name, read(path))
