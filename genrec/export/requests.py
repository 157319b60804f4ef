"""Batch recommendation files: requests in, recommendations out, both JSON lines.

  request:         {"user": "A1B2", "history": ["B0001", "B0002"]}     ("user" optional)
  recommendation:  {"user": "A1B2", "line": 1, "items": [{"item": "B0042", "title": "...", "score": -1.3}]}

Every request is checked before any decoding (a bad line is an error naming file:line and what is
wrong), and the output appears whole or not at all (written beside, then renamed).
"""

from __future__ import annotations

import dataclasses
import json
import os
from typing import Optional, Sequence

from genrec.datasets.textio import DataError, parse_record, read_lines


@dataclasses.dataclass(frozen=True)
class Request:
    line: int
    user: Optional[str]
    history: tuple[str, ...]


def read_requests(path: str, catalogue: Sequence[str]) -> list[Request]:
    """The requests of a JSON-lines file; blank lines are skipped; items must be in `catalogue`."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such request file (JSON lines with a 'history' list of item ids)")
    known, requests = set(catalogue), []
    for number, line in read_lines(path):
        if not line.strip():
            continue
        record = parse_record(path, number, line)
        history = record.get("history")
        if not isinstance(history, list) or not history:
            raise DataError(
                f"{path}:{number}: 'history' must be a non-empty list of item ids, got {history!r}"
            )
        history = tuple(str(h).strip() for h in history)
        unknown = [h for h in history if h not in known]
        if unknown:
            raise DataError(
                f"{path}:{number}: unknown items in history: {', '.join(unknown)} (not "
                f"in this bundle's catalogue of {len(known)} items)"
            )
        user = record.get("user")
        requests.append(Request(number, None if user is None else str(user), history))
    if not requests:
        raise DataError(f"{path}: holds no requests")
    return requests


def write_recommendations(path: str, requests: Sequence[Request], recommendations) -> None:
    """One JSON line per request, in the requests' order; atomic (temporary file, then rename)."""
    if len(requests) != len(recommendations):
        raise ValueError(f"{len(recommendations)} recommendation lists for {len(requests)} requests")
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        for request, recs in zip(requests, recommendations):
            items = [{"item": r.source_id, "title": r.title, "score": round(r.score, 6)} for r in recs]
            f.write(json.dumps({"user": request.user, "line": request.line, "items": items}) + "\n")
    os.replace(tmp, path)
