"""MovieLens (GroupLens) 100K and 1M files → RawInteractions + RawItems → RecDataset.

  100k: `u.data` (user \t item \t rating \t timestamp), `u.item` (`|`-separated, latin-1:
        id|title|release date|video release date|IMDb URL|19 genre flags)
  1m:   `ratings.dat` (UserID::MovieID::Rating::Timestamp), `movies.dat` (MovieID::Title::Genres,
        latin-1)
User demographics (u.user / users.dat) are not part of the schema and are not read.
"""

from __future__ import annotations

import os
from typing import Optional

from genrec.datasets import prepare, records
from genrec.datasets.textio import DataError, check_dir, find, read_lines, to_float, to_int

GENRES_100K = (
    "unknown",
    "Action",
    "Adventure",
    "Animation",
    "Children's",
    "Comedy",
    "Crime",
    "Documentary",
    "Drama",
    "Fantasy",
    "Film-Noir",
    "Horror",
    "Musical",
    "Mystery",
    "Romance",
    "Sci-Fi",
    "Thriller",
    "War",
    "Western",
)
FILES = {"100k": ("u.data", "u.item"), "1m": ("ratings.dat", "movies.dat")}
EXPECTED = "u.data + u.item (MovieLens 100K) or ratings.dat + movies.dat (MovieLens 1M)"


def detect_format(manual_dir: str) -> str:
    check_dir(manual_dir, EXPECTED)
    for fmt, names in FILES.items():
        if len(find(manual_dir, names)) == len(names):
            return fmt
    raise DataError(
        f"{manual_dir}: no MovieLens files found (has {sorted(os.listdir(manual_dir))}); expected {EXPECTED}"
    )


def load(manual_dir: str, name: str, *, format: Optional[str] = None) -> records.RecDataset:
    format = format or detect_format(manual_dir)
    if format not in FILES:
        raise ValueError(f"unknown MovieLens format {format!r}; expected one of {tuple(FILES)}")
    check_dir(manual_dir, EXPECTED)
    missing = [n for n in FILES[format] if not os.path.exists(os.path.join(manual_dir, n))]
    if missing:
        raise DataError(f"{manual_dir}: missing {missing}; expected {EXPECTED}")
    ratings_path, items_path = (os.path.join(manual_dir, n) for n in FILES[format])
    if format == "100k":
        raw, items = _ratings(ratings_path, "\t"), _items_100k(items_path)
    else:
        raw, items = _ratings(ratings_path, "::"), _items_1m(items_path)
    return prepare.build_dataset(name, raw, items)


def _fields(path: str, sep: str, count: int, encoding: str = "utf-8"):
    for number, line in read_lines(path, encoding):
        if not line.strip():
            continue
        values = line.split(sep)
        if len(values) != count:
            raise DataError(
                f"{path}:{number}: malformed line, {len(values)} {sep!r}-separated fields, expected {count}"
            )
        yield number, values


def _ratings(path: str, sep: str) -> prepare.RawInteractions:
    raw = prepare.RawInteractions(users=[], items=[], timestamps=[], ratings=[], source=path, lines=[])
    for number, (user, item, rating, time) in _fields(path, sep, 4):
        for name, value in (("user", user), ("item", item)):
            if not value.strip():
                raise DataError(f"{path}:{number}: missing required field {name!r}")
        raw.users.append(user.strip())
        raw.items.append(item.strip())
        raw.ratings.append(to_float(rating, "rating", path, number))
        raw.timestamps.append(to_int(time, "timestamp", path, number))
        raw.lines.append(number)
    return raw


def _items_100k(path: str) -> prepare.RawItems:
    items = {}
    for _, values in _fields(path, "|", 5 + len(GENRES_100K), "latin-1"):
        movie, title, released, _, url = values[:5]
        genres = [g for g, flag in zip(GENRES_100K, values[5:]) if flag.strip() == "1"]
        items[movie] = {"title": title, "categories": "|".join(genres), "release_date": released, "url": url}
    return items


def _items_1m(path: str) -> prepare.RawItems:
    return {
        movie: {"title": title, "categories": genres}
        for _, (movie, title, genres) in _fields(path, "::", 3, "latin-1")
    }
