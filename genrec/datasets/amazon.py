"""Amazon review data in its three published shapes → RawInteractions + RawItems → RecDataset.

Formats of a manual dir (`detect_format` picks the first present, in this order):
  tsv:  `interactions.tsv` + `items.tsv` (user_id reviewer_id seq_pos item_id asin timestamp /
        item_id asin title attributes), e.g. ../shared/data/amazon-2014-beauty
  p5:   `sequential_data.txt` + `datamaps.json` (P5's preprocessed format; no timestamps, no text)
  raw:  one review file, 2014 `reviews_<Cat>_5.json.gz` or 2018 `<Cat>_5.json.gz` (JSON lines), and
        an optional `meta_<Cat>.json.gz` (2014: Python-literal lines; 2018: JSON lines)
Users are reviewer ids and items ASINs in every format, so the same data in two formats gives the
same dataset. Drop policy: see data/README.md.
"""

from __future__ import annotations

import glob
import html
import json
import logging
import os
import re
from typing import Optional

from genrec.datasets import prepare, records
from genrec.datasets.textio import (
    DataError,
    check_dir,
    field,
    find,
    parse_record,
    read_lines,
    to_float,
    to_int,
)

FORMATS = ("tsv", "p5", "raw")
EXPECTED = (
    "interactions.tsv + items.tsv, or sequential_data.txt + datamaps.json, or a review file "
    "reviews_<Category>_5.json.gz (2014) / <Category>_5.json.gz (2018) with an optional "
    "meta_<Category>.json.gz"
)
_TSV = ("interactions.tsv", "items.tsv")
_P5 = ("sequential_data.txt", "datamaps.json")


def detect_format(manual_dir: str) -> str:
    check_dir(manual_dir, EXPECTED)
    if len(find(manual_dir, _TSV)) == 2:
        return "tsv"
    if len(find(manual_dir, _P5)) == 2:
        return "p5"
    if _review_files(manual_dir):
        return "raw"
    raise DataError(
        f"{manual_dir}: no Amazon data found (has {sorted(os.listdir(manual_dir))}); expected {EXPECTED}"
    )


def load(
    manual_dir: str, name: str, *, format: Optional[str] = None, k_core: Optional[int] = None
) -> records.RecDataset:
    """Parses the manual dir and builds the dataset (k_core: optional k-core filter, raw only)."""
    format = format or detect_format(manual_dir)
    if format not in FORMATS:
        raise ValueError(f"unknown Amazon format {format!r}; expected one of {FORMATS}")
    check_dir(manual_dir, EXPECTED)
    raw, items = {"tsv": read_tsv, "p5": read_p5, "raw": read_raw}[format](manual_dir)
    if k_core and format != "raw":
        raise ValueError(
            f"k_core applies to raw review files, not the {format} format (those are already filtered)"
        )
    return prepare.build_dataset(name, raw, items, k_core=k_core)


# --- tsv -------------------------------------------------------------------------------------


def tsv_rows(path: str, columns: tuple[str, ...]):
    """(line number, {column: value}) for each data row; checks the header and column counts."""
    lines = read_lines(path)
    try:
        _, header_line = next(lines)
    except StopIteration:
        raise DataError(f"{path}:1: empty file, expected a header with {columns}") from None
    header = header_line.split("\t")
    missing = [c for c in columns if c not in header]
    if missing:
        raise DataError(f"{path}:1: header lacks required column(s) {missing} (has {header})")
    for number, line in lines:
        if not line:
            continue
        values = line.split("\t")
        if len(values) != len(header):
            raise DataError(
                f"{path}:{number}: malformed line, {len(values)} tab-separated fields "
                f"where the header has {len(header)}"
            )
        yield number, dict(zip(header, values))


def read_tsv(manual_dir: str) -> tuple[prepare.RawInteractions, prepare.RawItems]:
    inter_path, items_path = (os.path.join(manual_dir, n) for n in _TSV)
    items: prepare.RawItems = {}
    for number, row in tsv_rows(items_path, ("asin", "title", "attributes")):
        if not row["asin"]:
            raise DataError(f"{items_path}:{number}: missing required field 'asin'")
        items[row["asin"]] = {"title": row["title"], "categories": row["attributes"]}
    raw = _empty(inter_path, seq_pos=True)
    for number, row in tsv_rows(inter_path, ("reviewer_id", "seq_pos", "asin", "timestamp")):
        for name in ("reviewer_id", "asin"):
            if not row[name]:
                raise DataError(f"{inter_path}:{number}: missing required field {name!r}")
        raw.users.append(row["reviewer_id"])
        raw.items.append(row["asin"])
        raw.timestamps.append(to_int(row["timestamp"], "timestamp", inter_path, number))
        raw.seq_pos.append(to_int(row["seq_pos"], "seq_pos", inter_path, number))
        raw.lines.append(number)
    return raw, items


# --- p5 --------------------------------------------------------------------------------------


def read_p5(manual_dir: str) -> tuple[prepare.RawInteractions, prepare.RawItems]:
    seq_path, maps_path = (os.path.join(manual_dir, n) for n in _P5)
    text = "\n".join(line for _, line in read_lines(maps_path))
    try:
        maps = json.loads(text)
    except json.JSONDecodeError as e:
        raise DataError(f"{maps_path}:{e.lineno}: malformed JSON ({e.msg})") from None
    for key in ("id2user", "id2item"):
        if key not in maps:
            raise DataError(f"{maps_path}:1: missing required field {key!r}")
    id2user, id2item = maps["id2user"], maps["id2item"]
    items: prepare.RawItems = {asin: {} for asin in id2item.values()}
    raw = _empty(seq_path, seq_pos=True)
    for number, line in read_lines(seq_path):
        ids = line.split()
        if not ids:
            continue
        if ids[0] not in id2user:
            raise DataError(f"{seq_path}:{number}: user {ids[0]!r} is not in {maps_path} id2user")
        for pos, item in enumerate(ids[1:]):
            if item not in id2item:
                raise DataError(
                    f"{seq_path}:{number}: item {item!r} is not in the item table ({maps_path} id2item)"
                )
            raw.users.append(id2user[ids[0]])
            raw.items.append(id2item[item])
            raw.timestamps.append(0)  # the P5 format has no times: order = position in the line
            raw.seq_pos.append(pos)
            raw.lines.append(number)
    return raw, items


# --- raw reviews + metadata ------------------------------------------------------------------


def _review_files(manual_dir: str) -> list[str]:
    paths = glob.glob(os.path.join(manual_dir, "*_5.json.gz")) + glob.glob(
        os.path.join(manual_dir, "*_5.json")
    )
    return sorted(p for p in paths if not os.path.basename(p).startswith("meta_"))


def read_raw(manual_dir: str) -> tuple[prepare.RawInteractions, prepare.RawItems]:
    reviews = _review_files(manual_dir)
    if len(reviews) != 1:
        raise DataError(
            f"{manual_dir}: expected one review file (*_5.json.gz), found "
            f"{[os.path.basename(p) for p in reviews] or 'none'}"
        )
    path = reviews[0]
    category = re.sub(r"^reviews_|_5\.json(\.gz)?$", "", os.path.basename(path))
    raw = _empty(path, ratings=True)
    for number, line in read_lines(path):
        if not line.strip():
            continue
        r = parse_record(path, number, line)
        raw.users.append(str(field(r, "reviewerID", path, number)))
        raw.items.append(str(field(r, "asin", path, number)))
        raw.timestamps.append(
            to_int(field(r, "unixReviewTime", path, number), "unixReviewTime", path, number)
        )
        raw.ratings.append(to_float(field(r, "overall", path, number), "overall", path, number))
        raw.reviews.append(str(r.get("reviewText") or ""))
        raw.summaries.append(str(r.get("summary") or ""))
        raw.lines.append(number)
    meta = find(manual_dir, (f"meta_{category}.json.gz", f"meta_{category}.json"))
    items = read_meta(meta[0]) if meta else {}
    missing = sorted(set(raw.items) - set(items))
    if missing:  # policy: reviewed items keep their place, with empty text (counted and logged)
        logging.warning(
            "%s: %d reviewed items have no metadata%s; their text is empty",
            path,
            len(missing),
            f" in {meta[0]}" if meta else " (no meta file)",
        )
        items.update({asin: {} for asin in missing})
    return raw, items


def read_meta(path: str) -> prepare.RawItems:
    """2014 (Python literals) or 2018 (JSON) metadata lines → {asin: text fields}; first line wins."""
    items: prepare.RawItems = {}
    for number, line in read_lines(path):
        if not line.strip():
            continue
        r = parse_record(path, number, line)
        asin = str(field(r, "asin", path, number))
        if asin not in items:
            items[asin] = meta_text(r)
    return items


def meta_text(r: dict) -> dict[str, str]:
    categories = r.get("categories") or r.get("category") or []  # 2014: list of paths; 2018: list
    flat = [c for path in categories for c in (path if isinstance(path, list) else [path])]
    description = r.get("description") or ""
    if isinstance(description, list):
        description = " ".join(str(d) for d in description)
    return {
        "title": _clean(r.get("title")),
        "brand": _clean(r.get("brand")),
        "categories": "|".join(dict.fromkeys(_clean(c) for c in flat if _clean(c))),
        "description": _clean(description),
        "price": _clean(r.get("price")),
    }


def _clean(value) -> str:
    """Text with HTML entities decoded, tags removed and whitespace collapsed."""
    if value is None:
        return ""
    text = re.sub(r"<[^>]*>?", " ", html.unescape(str(value)))
    return " ".join(text.split())


def _empty(source: str, *, seq_pos=False, ratings=False) -> prepare.RawInteractions:
    return prepare.RawInteractions(
        users=[],
        items=[],
        timestamps=[],
        seq_pos=[] if seq_pos else None,
        ratings=[] if ratings else None,
        reviews=[] if ratings else None,
        summaries=[] if ratings else None,
        source=source,
        lines=[],
    )


# The names genrec/export/catalogue_update.py used before these became public; drop them once it
# calls tsv_rows / meta_text.
_tsv_rows, _meta_text = tsv_rows, meta_text
