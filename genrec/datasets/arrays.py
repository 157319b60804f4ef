"""A prepared dataset as numpy column files: the fast storage for catalogues of millions of items.

TFDS writes one serialized example per user and split (6M examples for synthetic-1m's 2M users);
this writes every column once, as .npy files read back with `allow_pickle=False`:

  <dir>/meta.json                 name, sizes, optional columns, item fields, stats, format version
  <dir>/user_offsets.npy          int64 [U + 1]: user u's interactions are rows offsets[u]:offsets[u+1]
  <dir>/items.npy                 int32 [I]  our item ids, per user chronological (records.UserHistory)
  <dir>/timestamps.npy            int64 [I]
  <dir>/ratings.npy               float32 [I] (datasets with ratings)
  <dir>/<strings>.{utf8,offsets,index}.npy   a string column (below): user_id, source_id, the item
                                  text fields (item.<field>), reviews, summaries

A string column is a table of its distinct values (UTF-8 bytes concatenated + int64 offsets) and an
int32 index per row, so millions of reviews that repeat a few thousand texts cost 4 bytes each.
The splits are the leave-one-out views of the full histories (records.RecDataset.split), as in TFDS.
"""

from __future__ import annotations

import json
import os

import numpy as np

from genrec.datasets import records

FORMAT = "genrec-arrays-1"
META_FILE = "meta.json"


def is_saved(directory: str) -> bool:
    return os.path.isfile(os.path.join(directory, META_FILE))


def save(dataset: records.RecDataset, directory: str) -> None:
    """Writes `dataset` into `directory` (meta.json last: a folder without it is incomplete)."""
    os.makedirs(directory, exist_ok=True)
    users = dataset.users
    lengths = np.array([len(u) for u in users], np.int64)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    columns = [c for c in ("ratings", "reviews", "summaries") if users and getattr(users[0], c) is not None]
    _save(directory, "user_offsets", offsets)
    _save(directory, "items", _concat([u.items for u in users], np.int32))
    _save(directory, "timestamps", _concat([u.timestamps for u in users], np.int64))
    if "ratings" in columns:
        _save(directory, "ratings", _concat([u.ratings for u in users], np.float32))
    for column in ("reviews", "summaries"):
        if column in columns:
            _save_strings(directory, column, [s for u in users for s in getattr(u, column)])
    _save_strings(directory, "user_id", [u.user_id for u in users])
    _save_strings(directory, "source_id", dataset.items.source_ids)
    fields = sorted(dataset.items.text)
    for field in fields:
        _save_strings(directory, f"item.{field}", dataset.items.text[field])
    meta = {
        "format": FORMAT,
        "name": dataset.name,
        "num_users": len(users),
        "num_items": dataset.num_items,
        "columns": columns,
        "item_fields": fields,
        "stats": dataset.stats(),
    }
    with open(os.path.join(directory, META_FILE + ".tmp"), "w") as f:
        json.dump(meta, f, indent=1)
    os.replace(os.path.join(directory, META_FILE + ".tmp"), os.path.join(directory, META_FILE))


def load(directory: str) -> records.RecDataset:
    """The dataset `save` wrote; sizes are checked against meta.json."""
    meta_path = os.path.join(directory, META_FILE)
    if not os.path.isfile(meta_path):
        raise FileNotFoundError(f"{meta_path}: missing (not a prepared dataset, or its writing stopped)")
    with open(meta_path) as f:
        meta = json.load(f)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{meta_path}: format {meta.get('format')!r}, expected {FORMAT!r}")
    offsets = _load(directory, "user_offsets")
    items, timestamps = _load(directory, "items"), _load(directory, "timestamps")
    if len(offsets) != meta["num_users"] + 1 or offsets[-1] != len(items) or len(timestamps) != len(items):
        raise ValueError(
            f"{directory}: user_offsets / items / timestamps disagree with {META_FILE} "
            f"({meta['num_users']} users; {len(offsets)} offsets, {len(items)} items)"
        )
    columns = set(meta["columns"])
    ratings = _load(directory, "ratings") if "ratings" in columns else None
    reviews = _load_strings(directory, "reviews") if "reviews" in columns else None
    summaries = _load_strings(directory, "summaries") if "summaries" in columns else None
    user_ids = _load_strings(directory, "user_id")
    table = records.ItemTable(
        source_ids=tuple(_load_strings(directory, "source_id")),
        text={f: tuple(_load_strings(directory, f"item.{f}")) for f in meta["item_fields"]},
    )
    if table.num_items != meta["num_items"] or (len(items) and items.max() >= table.num_items):
        raise ValueError(f"{directory}: item ids outside the {table.num_items} items of the item table")
    users = tuple(
        records.UserHistory(
            user_id=user_ids[u],
            items=items[a:b],
            timestamps=timestamps[a:b],
            ratings=None if ratings is None else ratings[a:b],
            reviews=None if reviews is None else tuple(reviews[a:b]),
            summaries=None if summaries is None else tuple(summaries[a:b]),
        )
        for u, (a, b) in enumerate(zip(offsets[:-1].tolist(), offsets[1:].tolist()))
    )
    return records.RecDataset(name=meta["name"], items=table, users=users)


def _concat(parts, dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype, copy=False) if parts else np.zeros(0, dtype)


def _save(directory: str, name: str, array: np.ndarray) -> None:
    np.save(os.path.join(directory, f"{name}.npy"), np.ascontiguousarray(array))


def _load(directory: str, name: str) -> np.ndarray:
    return np.load(os.path.join(directory, f"{name}.npy"), allow_pickle=False)


def _save_strings(directory: str, name: str, values) -> None:
    """A string column as its distinct values (UTF-8, concatenated, with offsets) + an index per row."""
    distinct: dict[str, int] = {}
    index = np.fromiter((distinct.setdefault(v, len(distinct)) for v in values), np.int64, len(values))
    encoded = [v.encode("utf-8") for v in distinct]
    _save(directory, f"{name}.utf8", np.frombuffer(b"".join(encoded), np.uint8))
    _save(directory, f"{name}.offsets", np.cumsum([0] + [len(e) for e in encoded], dtype=np.int64))
    _save(directory, f"{name}.index", index.astype(np.int32 if len(distinct) < 2**31 else np.int64))


def _load_strings(directory: str, name: str) -> np.ndarray:
    """object [rows] of str (rows sharing a value share one str object)."""
    data = _load(directory, f"{name}.utf8").tobytes()
    offsets = _load(directory, f"{name}.offsets").tolist()
    table = np.empty(len(offsets) - 1, object)
    table[:] = [data[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:])]
    return table[_load(directory, f"{name}.index")]
