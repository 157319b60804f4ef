"""Reading raw files line by line, with errors that name the file and line."""

from __future__ import annotations

import ast
import gzip
import json
import os
from typing import Iterator, Sequence


class DataError(ValueError):
    """Bad raw input; the message starts with `file:line` (or the folder) it comes from."""


def read_lines(path: str, encoding: str = "utf-8") -> Iterator[tuple[int, str]]:
    """(1-based line number, line without its newline), streamed; .gz is decompressed on the fly."""
    opener = gzip.open if path.endswith(".gz") else open
    with opener(path, "rb") as f:
        for number, raw in enumerate(f, start=1):
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as e:
                raise DataError(
                    f"{path}:{number}: not valid {encoding} text ({e.reason} at byte {e.start})"
                ) from None
            yield number, line.rstrip("\r\n")


def parse_record(path: str, number: int, line: str) -> dict:
    """One JSON object per line; Python-literal dicts (2014 Amazon metadata) via ast.literal_eval."""
    try:
        record = json.loads(line)
    except json.JSONDecodeError:
        try:
            record = ast.literal_eval(line)  # literals only: never eval()
        except (ValueError, SyntaxError, MemoryError, RecursionError) as e:
            raise DataError(
                f"{path}:{number}: malformed line, neither JSON nor a Python literal ({type(e).__name__})"
            ) from None
    if not isinstance(record, dict):
        raise DataError(f"{path}:{number}: malformed line, expected an object, got {type(record).__name__}")
    return record


def field(record: dict, name: str, path: str, number: int):
    if name not in record or record[name] is None:
        raise DataError(f"{path}:{number}: missing required field {name!r}")
    return record[name]


def to_int(value, name: str, path: str, number: int) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        raise DataError(f"{path}:{number}: field {name!r} is not an integer: {value!r}") from None


def to_float(value, name: str, path: str, number: int) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        raise DataError(f"{path}:{number}: field {name!r} is not a number: {value!r}") from None


def check_dir(folder: str | None, expected: str) -> str:
    """The folder, or an error naming it and the files it should hold."""
    if not folder:
        raise DataError(f"no raw data folder given; expected a folder with {expected}")
    if not os.path.isdir(folder):
        raise DataError(f"raw data folder {folder} does not exist; expected a folder with {expected}")
    if not os.listdir(folder):
        raise DataError(f"raw data folder {folder} is empty; expected {expected}")
    return folder


def find(folder: str, names: Sequence[str]) -> list[str]:
    """Paths of the files among `names` that exist in `folder`."""
    return [os.path.join(folder, n) for n in names if os.path.exists(os.path.join(folder, n))]
