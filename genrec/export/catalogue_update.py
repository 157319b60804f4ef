"""Catalogue updates of an inference bundle without retraining: `genrec add-items` / `genrec remove-items`.

    genrec add-items --bundle=/tmp/bundle --items=new_items.tsv
    genrec remove-items --bundle=/tmp/bundle --items=gone.txt

add-items: each new item's text (the item file format of the datasets: `items.tsv` with columns asin,
title, attributes, or metadata JSON lines with asin, title, brand, categories, ...) goes through the
bundle's FROZEN text encoder and quantiser (semantic_ids/coder.*, genrec/semantic_ids/coder.py); its
identifier is its nearest code tuple with a free collision code (collisions.assign_new), so no existing
item's identifier changes. The rows are appended: existing item ids stay. remove-items takes rows out
(the items after a removed one move up; identifiers never change). Every ranking structure the bundle
has is rebuilt from the new identifiers: the identifier table (exact ranking), the trie and item
tokens (encoder-decoder), and the MIPS index where the bundle has one (rebuilt over the new item
vectors with its kind and settings).

Atomic and versioned: everything is checked before anything is written; the new version is written
into a sibling folder (unchanged files hard-linked), then swapped with the bundle in one
renameat2(RENAME_EXCHANGE) (two renames where the kernel lacks it); the previous version is kept as
<bundle>.versions/v<N> (`keep_versions`). A bad item file raises a DataError naming file:line and
leaves the bundle as it was. <bundle>/catalogue.json holds the version and the update log. A reader
that opened the old version keeps reading it; `recommend` loads the newest at start.
"""

from __future__ import annotations

import ctypes
import dataclasses
import fcntl
import json
import logging
import os
import shutil
import time
import uuid
from typing import Optional

import gin
import numpy as np

from genrec.datasets import amazon, records
from genrec.datasets.textio import DataError, parse_record, read_lines
from genrec.evaluate import exact
from genrec.export import bundle as bundle_lib
from genrec.export import mips_index
from genrec.export import recommender as recommender_lib
from genrec.semantic_ids import collisions
from genrec.semantic_ids.artifact import CODES_FILE, META_FILE, Identifiers, level_token

CATALOGUE = "catalogue.json"
VERSIONS_SUFFIX = ".versions"
CANDIDATES = 16  # code tuples tried per new item before giving up (nearest first)


@dataclasses.dataclass(frozen=True)
class NewItem:
    line: int
    source_id: str
    text: dict  # {field: value} of records.ITEM_TEXT_FIELDS


# ----------------------------------------------------------------------------- item files


def read_item_file(path: str) -> list[NewItem]:
    """Items of a dataset item file: `.tsv` (header with asin, title, attributes: the amazon tsv
    format) or JSON lines (`.json`, `.jsonl`, optionally `.gz`: asin, title, brand, categories,
    description, price). Ids must be unique within the file."""
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such item file")
    if path.endswith(".tsv") or path.endswith(".tsv.gz"):
        rows = (
            (n, row["asin"], {"title": row["title"], "categories": row["attributes"]})
            for n, row in amazon._tsv_rows(path, ("asin", "title", "attributes"))
        )
    else:
        rows = _json_rows(path)
    items, seen = [], {}
    for number, source_id, fields in rows:
        source_id = source_id.strip()
        if not source_id:
            raise DataError(f"{path}:{number}: missing required field 'asin'")
        if source_id in seen:
            raise DataError(f"{path}:{number}: item {source_id!r} already given on line {seen[source_id]}")
        seen[source_id] = number
        items.append(NewItem(number, source_id, fields))
    if not items:
        raise DataError(f"{path}: holds no items")
    return items


def _json_rows(path: str):
    for number, line in read_lines(path):
        if line.strip():
            record = parse_record(path, number, line)
            yield number, str(record.get("asin") or ""), amazon._meta_text(record)


def read_id_file(path: str) -> list[tuple[int, str]]:
    """(line, source id) of the items to remove: an item file (above), or plain text, one id a line."""
    if path.endswith((".tsv", ".tsv.gz", ".json", ".jsonl", ".json.gz", ".jsonl.gz")):
        return [(item.line, item.source_id) for item in read_item_file(path)]
    if not os.path.isfile(path):
        raise DataError(f"{path}: no such id file")
    out = [(n, line.strip()) for n, line in read_lines(path) if line.strip()]
    if not out:
        raise DataError(f"{path}: holds no item ids")
    return out


# ----------------------------------------------------------------------------- identifiers


def _item_table(items: list[NewItem]) -> records.ItemTable:
    return records.ItemTable(
        tuple(i.source_id for i in items),
        {f: tuple(i.text.get(f, "") for i in items) for f in records.ITEM_TEXT_FIELDS},
    )


def new_identifiers(b: bundle_lib.Bundle, items: list[NewItem], path: str) -> np.ndarray:
    """int32 [len(items), L]: identifiers from the bundle's frozen coder, none an existing one."""
    coder = b.identifiers.coder
    if coder is None:
        raise ValueError(
            f"{b.directory}: its identifiers ({b.identifiers.scheme}) carry no frozen text "
            "encoder and quantiser (semantic_ids/coder.json); rebuild them with "
            "--run_mode=build_ids (a text scheme: opq, rqvae, rqkmeans) and export again"
        )
    known = set(b.source_ids)
    for item in items:
        if item.source_id in known:
            raise DataError(f"{path}:{item.line}: item {item.source_id!r} is already in the catalogue")
        if not any(item.text.get(f, "").strip() for f in coder.recipe["fields"]):
            raise DataError(
                f"{path}:{item.line}: item {item.source_id!r} has no text in the fields "
                f"{coder.recipe['fields']} the identifiers are built from"
            )
    candidates = coder.candidates(_item_table(items), CANDIDATES)
    existing = b.identifiers.codes
    collision_level = existing.shape[1] == candidates.shape[2] + 1
    try:
        codes, took = collisions.assign_new(existing, b.identifiers.level_sizes, candidates, collision_level)
    except collisions.NoFreeIdentifier as e:
        raise DataError(f"{path}:{items[e.item].line}: item {items[e.item].source_id!r}: {e}") from None
    if (took > 0).any():
        logging.info(
            "add-items: %d of %d new items took a fallback code tuple (theirs was full)",
            int((took > 0).sum()),
            len(items),
        )
    return codes


def _rows(values: Optional[np.ndarray], rows: slice) -> Optional[np.ndarray]:
    return None if values is None else values[rows]


def _model_reads_item_ids(b: bundle_lib.Bundle) -> bool:
    """A model with a learned vector per item id cannot take new items or renumbered ones."""
    return bool(b.manifest.get("model_config", {}).get("item_input_embedding"))


# ----------------------------------------------------------------------------- writing


def _link_tree(src: str, dst: str, skip: set[str]) -> None:
    """dst mirrors src by hard links (copies across devices), leaving out the relative paths in skip."""
    for root, dirs, files in os.walk(src):
        rel = os.path.relpath(root, src)
        os.makedirs(os.path.join(dst, rel), exist_ok=True)
        for name in files:
            path = os.path.normpath(os.path.join(rel, name))
            if path in skip:
                continue
            try:
                os.link(os.path.join(root, name), os.path.join(dst, path))
            except OSError:
                shutil.copy2(os.path.join(root, name), os.path.join(dst, path))


def token_ids(vocabulary_path: str, identifiers: Identifiers) -> np.ndarray:
    """int32 [num_items, L]: the SentencePiece id of each identifier token (what
    tasks.vocabulary.item_token_ids gives, read with sentencepiece alone: no TensorFlow start-up)."""
    import sentencepiece

    processor = sentencepiece.SentencePieceProcessor(model_file=vocabulary_path)
    codes = np.asarray(identifiers.codes)
    out = np.zeros(codes.shape, np.int32)
    for level in range(codes.shape[1]):
        used = np.unique(codes[:, level])
        ids = np.array([processor.piece_to_id(level_token(level, int(c))) for c in used], np.int32)
        if (ids == processor.unk_id()).any():
            bad = level_token(level, int(used[np.argmax(ids == processor.unk_id())]))
            raise ValueError(f"{vocabulary_path}: identifier token {bad!r} is not a piece of the vocabulary")
        out[:, level] = ids[np.searchsorted(used, codes[:, level])]
    return out


MIPS_INDEX = "index"  # <bundle>/index/: genrec/export/mips_index.py's index.faiss + index.json


def update_mips_index(
    staging: str, b: bundle_lib.Bundle, identifiers: Identifiers, item_bonus: Optional[np.ndarray] = None
) -> Optional[str]:
    """Brings the bundle's MIPS index, where it has one, to the new catalogue (its ids are row
    numbers: an index of the old catalogue would miss new items, and misname rows after a removal).
    Rows only appended (add-items): the new items' vectors (exact.item_vectors) are added to the
    index, O(new items). Otherwise (remove-items): rebuilt over every item's vector with the old
    index's kind and settings. `item_bonus` (the new catalogue's, Bundle.item_bonus) is each vector's
    last coordinate, as in exact.Ranker. Its recall against exact ranking is not re-measured (a bundle
    holds no histories): index.json keeps the build-time figure under `recall_before_update`. Returns
    None (no index), 'extended' or 'rebuilt'."""
    if not os.path.isdir(os.path.join(b.directory, MIPS_INDEX)):
        return None
    index = mips_index.MipsIndex.load(os.path.join(b.directory, MIPS_INDEX))
    n, old_recall = index.num_items, index.recall
    appended = (
        n == len(b.source_ids)
        and identifiers.num_items >= n
        and np.array_equal(identifiers.codes[:n], b.identifiers.codes)
    )
    model = recommender_lib.load_model(b)
    if appended:
        added = slice(n, None)
        index.add(exact.item_table(model, identifiers.codes[added], _rows(item_bonus, added)))
        outcome = "extended"
    else:
        vectors = exact.item_table(model, identifiers.codes, item_bonus)
        settings = mips_index.default_params(index.kind, len(vectors))
        index = mips_index.build(
            vectors, kind=index.kind, **{k: v for k, v in index.params.items() if k in settings}
        )
        outcome = "rebuilt"
    index.recall = {"recall_before_update": old_recall}
    shutil.rmtree(os.path.join(staging, MIPS_INDEX))  # hard links to the old version's files
    index.save(os.path.join(staging, MIPS_INDEX))
    return outcome


def _catalogue_log(directory: str) -> dict:
    path = os.path.join(directory, CATALOGUE)
    if not os.path.exists(path):
        return {"version": 0, "updates": []}
    with open(path) as f:
        return json.load(f)


def _write_version(
    b: bundle_lib.Bundle,
    identifiers: Identifiers,
    titles: tuple[str, ...],
    item_tokens: Optional[np.ndarray],
    entry: dict,
    keep_versions: int,
    trained: Optional[tuple[bool, ...]],
) -> dict:
    """Writes the bundle's next version beside it and swaps it in; returns the catalogue log."""
    directory = b.directory
    staging = f"{directory}.staging-{uuid.uuid4().hex[:8]}"
    ids_dir = bundle_lib.IDENTIFIERS
    rewritten = {
        bundle_lib.ITEMS,
        CATALOGUE,
        os.path.join(ids_dir, CODES_FILE),
        os.path.join(ids_dir, META_FILE),
    }
    if item_tokens is not None:
        rewritten.add(bundle_lib.TRIE)
    log = _catalogue_log(directory)
    version = log["version"] + 1
    log = {"version": version, "updates": log["updates"] + [dict(entry, version=version)]}
    try:
        _link_tree(directory, staging, rewritten)
        dataclasses.replace(identifiers, coder=None).save(os.path.join(staging, ids_dir))  # coder: linked
        bundle_lib.write_items(staging, identifiers.source_ids, titles, trained)
        if item_tokens is not None:
            bundle_lib.write_trie(staging, item_tokens)
        new = dataclasses.replace(b, identifiers=identifiers, trained=trained)
        log["updates"][-1]["mips_index"] = update_mips_index(staging, b, identifiers, new.item_bonus)
        with open(os.path.join(staging, CATALOGUE), "w") as f:
            json.dump(log, f, indent=1)
        bundle_lib.read_bundle(staging)  # the new version reads back before it goes live
        swap_directories(staging, directory)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    _keep_old_version(staging, directory, log["version"] - 1, keep_versions)
    return log


_RENAME_EXCHANGE = 2  # linux/fs.h


def swap_directories(a: str, b: str) -> None:
    """Atomically exchanges two directories (renameat2 RENAME_EXCHANGE); where the kernel or libc
    lacks it, b is renamed aside and a renamed onto it (a reader may then miss b for an instant)."""
    libc = ctypes.CDLL(None, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is not None:
        at_fdcwd = -100
        if renameat2(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE) == 0:
            return
        logging.warning("renameat2 failed (%s); swapping by two renames", os.strerror(ctypes.get_errno()))
    aside = f"{b}.old-{uuid.uuid4().hex[:8]}"
    os.rename(b, aside)
    os.rename(a, b)
    os.rename(aside, a)


def _keep_old_version(old: str, directory: str, version: int, keep: int) -> None:
    """Moves the replaced version (now at `old`) to <bundle>.versions/v<version>, keeping `keep`."""
    if keep <= 0:
        shutil.rmtree(old, ignore_errors=True)
        return
    versions = directory + VERSIONS_SUFFIX
    os.makedirs(versions, exist_ok=True)
    target = os.path.join(versions, f"v{version}")
    shutil.rmtree(target, ignore_errors=True)
    os.rename(old, target)
    kept = sorted((int(v[1:]) for v in os.listdir(versions) if v[1:].isdigit()), reverse=True)
    for v in kept[keep:]:
        shutil.rmtree(os.path.join(versions, f"v{v}"), ignore_errors=True)


class _Lock:
    """One update of a bundle at a time (an flock on <bundle>.lock)."""

    def __init__(self, directory: str):
        self.path = directory.rstrip("/") + ".lock"

    def __enter__(self):
        self.file = open(self.path, "w")
        fcntl.flock(self.file, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


# ----------------------------------------------------------------------------- updates


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


def add_items(directory: str, items_path: str, *, keep_versions: int = 1) -> dict:
    """Adds the items of `items_path` to the bundle; returns its catalogue log entry."""
    directory = os.path.abspath(directory)
    start = time.perf_counter()
    with _Lock(directory):
        b = bundle_lib.read_bundle(directory)
        if _model_reads_item_ids(b):
            raise ValueError(
                f"{directory}: the model has a learned vector per item id "
                "(item_input_embedding); new items need retraining"
            )
        items = read_item_file(items_path)
        codes = new_identifiers(b, items, items_path)
        old = b.identifiers
        identifiers = Identifiers(
            old.scheme,
            np.concatenate([old.codes, codes]),
            old.level_sizes,
            b.source_ids + tuple(i.source_id for i in items),
            old.dataset,
            old.coder,
        )
        titles = b.titles + tuple(i.text.get("title", "") for i in items)
        item_tokens = None
        if b.item_tokens is not None:
            added = Identifiers(old.scheme, codes, old.level_sizes)
            item_tokens = np.concatenate([b.item_tokens, token_ids(b.vocabulary_path, added)])
        entry = {
            "action": "add",
            "items_file": os.path.abspath(items_path),
            "added": len(items),
            "num_items": identifiers.num_items,
            "time": _now(),
        }
        trained = None if b.trained is None else b.trained + (False,) * len(items)  # new: never trained on
        log = _write_version(b, identifiers, titles, item_tokens, entry, keep_versions, trained)
    logging.info(
        "add-items: %d items into %s (now %d, version %d) in %.2f s",
        len(items),
        directory,
        identifiers.num_items,
        log["version"],
        time.perf_counter() - start,
    )
    return log["updates"][-1]


def remove_items(directory: str, ids_path: str, *, keep_versions: int = 1) -> dict:
    """Removes the items named in `ids_path` from the bundle; returns its catalogue log entry."""
    directory = os.path.abspath(directory)
    with _Lock(directory):
        b = bundle_lib.read_bundle(directory)
        if _model_reads_item_ids(b):
            raise ValueError(
                f"{directory}: the model has a learned vector per item id "
                "(item_input_embedding); removing items would renumber them"
            )
        index = {s: i for i, s in enumerate(b.source_ids)}
        gone = set()
        for line, source_id in read_id_file(ids_path):
            if source_id not in index:
                raise DataError(f"{ids_path}:{line}: item {source_id!r} is not in the catalogue")
            gone.add(index[source_id])
        keep = np.setdiff1d(np.arange(len(b.source_ids)), sorted(gone))
        if not len(keep):
            raise DataError(f"{ids_path}: would remove every item of the catalogue")
        old = b.identifiers
        identifiers = Identifiers(
            old.scheme,
            old.codes[keep],
            old.level_sizes,
            tuple(b.source_ids[i] for i in keep),
            old.dataset,
            old.coder,
        )
        titles = tuple(b.titles[i] for i in keep)
        item_tokens = None if b.item_tokens is None else b.item_tokens[keep]
        entry = {
            "action": "remove",
            "items_file": os.path.abspath(ids_path),
            "removed": len(gone),
            "num_items": identifiers.num_items,
            "time": _now(),
        }
        trained = None if b.trained is None else tuple(b.trained[i] for i in keep)
        log = _write_version(b, identifiers, titles, item_tokens, entry, keep_versions, trained)
    logging.info(
        "remove-items: %d items from %s (now %d, version %d)",
        len(gone),
        directory,
        identifiers.num_items,
        log["version"],
    )
    return log["updates"][-1]


# ----------------------------------------------------------------------------- run modes


@gin.configurable(module="genrec.export")
def add_items_run(ctx, *, items_file: Optional[str] = None, keep_versions: int = 1) -> dict:
    """`genrec add-items --bundle=B --items=FILE` (run_mode=add_items)."""
    if not ctx.bundle or not items_file:
        raise ValueError("add-items needs --bundle=BUNDLE and --items=FILE (a dataset item file)")
    entry = add_items(ctx.bundle, items_file, keep_versions=keep_versions)
    print(
        f"added {entry['added']} items to {ctx.bundle}: {entry['num_items']} items, "
        f"version {entry['version']}"
    )
    return entry


@gin.configurable(module="genrec.export")
def remove_items_run(ctx, *, items_file: Optional[str] = None, keep_versions: int = 1) -> dict:
    """`genrec remove-items --bundle=B --items=FILE` (run_mode=remove_items)."""
    if not ctx.bundle or not items_file:
        raise ValueError("remove-items needs --bundle=BUNDLE and --items=FILE (item ids, one a line)")
    entry = remove_items(ctx.bundle, items_file, keep_versions=keep_versions)
    print(
        f"removed {entry['removed']} items from {ctx.bundle}: {entry['num_items']} items, "
        f"version {entry['version']}"
    )
    return entry


def main(argv: Optional[list[str]] = None) -> None:
    """`python -m genrec.export.catalogue_update add-items --bundle=B --items=FILE`: the same update
    as `genrec add-items` without the start-up of every stage (no TensorFlow, no gin files)."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m genrec.export.catalogue_update", description=__doc__.split("\n")[0]
    )
    parser.add_argument("action", choices=("add-items", "remove-items"))
    parser.add_argument("--bundle", required=True, help="the bundle folder (written by --run_mode=export)")
    parser.add_argument(
        "--items", required=True, help="add: a dataset item file; remove: item ids, one a line"
    )
    parser.add_argument(
        "--keep_versions", type=int, default=1, help="previous versions kept in <bundle>.versions"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    update = add_items if args.action == "add-items" else remove_items
    print(json.dumps(update(args.bundle, args.items, keep_versions=args.keep_versions)))


if __name__ == "__main__":
    main()
