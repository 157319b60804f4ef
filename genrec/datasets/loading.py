"""Dataset name → TFDS builder + config + raw folder; prepares once, then reads it back.

  ds = genrec.datasets.load("amazon-2014-beauty")   # gin: load_dataset.name = 'amazon-2014-beauty'

The builders live in data/<builder>/<builder>_dataset_builder.py (the `tfds build` layout). A
prepared dataset is stored as TFDS splits, or (`storage='arrays'`, the default of the synthetic
catalogues of 100k and 1M items, whose TFDS preparation writes 600k / 6M examples) as numpy
columns (genrec/datasets/arrays.py) made by the same builder's parser; either way every stage reads
the same RecDataset. `load_dataset.storage` picks one for any named dataset.

Your own interaction log, by path, with no code edit (read straight from the files at each stage):

  load_dataset.path = '/data/my_log.tsv'
  load_dataset.format = 'tsv'          # one of PATH_FORMATS
  load_dataset.name = 'my-log'         # optional: default the file or folder name
"""

from __future__ import annotations

import dataclasses
import logging
import os
from typing import Callable, Optional

import gin

from genrec import REPO_ROOT, resource_path
from genrec.datasets import amazon, arrays, plain_tsv, records, textio

# data/ of the checkout, or its copy inside the installed package (genrec.resource_path).
BUILDERS_DIR = resource_path("data")


@dataclasses.dataclass(frozen=True)
class Source:
    builder: str  # folder under data/
    config: str
    raw_subdir: Optional[str] = None  # folder under the raw data dir; None: generated
    storage: str = "tfds"  # how `prepare` stores it by default (STORAGES)


# How a prepared dataset is kept: TFDS splits, or numpy columns (genrec/datasets/arrays.py).
STORAGES = ("tfds", "arrays")
ARRAYS_DIR = "genrec_arrays"  # <data_dir>/genrec_arrays/<dataset name>/

DATASETS = {
    "synthetic": Source("synthetic", "1k"),
    "synthetic-10k": Source("synthetic", "10k"),
    "synthetic-100k": Source("synthetic", "100k", storage="arrays"),
    "synthetic-1m": Source("synthetic", "1m", storage="arrays"),
    "amazon-2014-beauty": Source("amazon", "beauty_2014", "amazon-2014-beauty"),
    "amazon-2014-musical-instruments": Source(
        "amazon", "musical_instruments_2014", "amazon-2014-musical-instruments"
    ),
    "amazon-2018-gift-cards": Source("amazon", "gift_cards_2018", "amazon-2018-gift-cards"),
    "amazon-2018-magazine-subscriptions": Source(
        "amazon", "magazine_subscriptions_2018", "amazon-2018-magazine-subscriptions"
    ),
    "movielens-100k": Source("movielens", "100k", "movielens-100k"),
    "movielens-1m": Source("movielens", "1m", "movielens-1m"),
}


# load_dataset.format when load_dataset.path is given: what the path holds.
PATH_FORMATS = {
    "tsv": "a file of tab-separated `user item timestamp [rating]` lines (genrec/datasets/plain_tsv.py)",
    "p5": "a folder with sequential_data.txt + datamaps.json (P5's format; no item text)",
    "amazon-tsv": "a folder with interactions.tsv + items.tsv (genrec/datasets/amazon.py)",
    "amazon-raw": "a folder with one Amazon review file *_5.json(.gz) and optional meta_*.json(.gz)",
    "amazon": "a folder in any of the three Amazon formats, detected from its files",
}


def path_dataset_name(path: str) -> str:
    """The default name of a dataset read by path: its file or folder name, extension dropped, with
    characters other than letters, digits, '-' and '_' replaced by '-'."""
    base = os.path.basename(os.path.normpath(path))
    stem = base.split(".")[0] or base
    return "".join(c if c.isalnum() or c in "-_" else "-" for c in stem) or "dataset"


def read_path(path: str, format: Optional[str], name: Optional[str] = None) -> records.RecDataset:
    """The dataset at `path` in `format` (PATH_FORMATS), parsed without TFDS."""
    if format not in PATH_FORMATS:
        raise ValueError(
            f"load_dataset.format={format!r} with load_dataset.path={path!r}; expected one "
            "of: " + "; ".join(f"'{k}' ({v})" for k, v in PATH_FORMATS.items())
        )
    name = name or path_dataset_name(path)
    if format == "tsv":
        return plain_tsv.load(path, name)
    amazon_format = {"p5": "p5", "amazon-tsv": "tsv", "amazon-raw": "raw", "amazon": None}[format]
    return amazon.load(path, name, format=amazon_format)


def source(name: Optional[str]) -> Source:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} (bind load_dataset.name)")
    return DATASETS[name]


def default_raw_data_dir() -> Optional[str]:
    path = os.environ.get("GENREC_RAW_DATA_DIR", os.path.join(REPO_ROOT, "..", "shared", "data"))
    return os.path.abspath(path) if os.path.isdir(path) else None


def builder_class(name: str):
    """The TFDS builder class of data/<name>/<name>_dataset_builder.py (imported as TFDS does), from
    the checkout or the installed package."""
    import tensorflow_datasets as tfds

    path = os.path.join(BUILDERS_DIR, name, f"{name}_dataset_builder.py")
    if not os.path.exists(path):
        raise FileNotFoundError(
            f"TFDS builder {path} not found (neither a checkout's data/ nor the "
            "installed package's copy of it)"
        )
    with tfds.core.utils.add_sys_path(BUILDERS_DIR):
        return tfds.core.community.builder_cls_from_module(f"{name}.{name}_dataset_builder")


def manual_dir(name: str, raw_data_dir: Optional[str]) -> Optional[str]:
    """The raw folder of a dataset, checked to exist and hold files; None for generated ones."""
    src = source(name)
    if src.raw_subdir is None:
        return None
    cls = builder_class(src.builder)
    expected = " ".join(cls.MANUAL_DOWNLOAD_INSTRUCTIONS.split())
    root = raw_data_dir or default_raw_data_dir()
    if root is None:
        raise textio.DataError(
            f"dataset {name!r} needs its raw files in <raw_data_dir>/"
            f"{src.raw_subdir}/ and no raw data dir was found (pass "
            f"--raw_data_dir or set GENREC_RAW_DATA_DIR). {expected}"
        )
    return textio.check_dir(os.path.join(root, src.raw_subdir), expected)


def builder(name: str, data_dir: Optional[str] = None):
    src = source(name)
    return builder_class(src.builder)(config=src.config, data_dir=data_dir)


def storage_of(name: str, storage: Optional[str] = None) -> str:
    """`storage` if given (checked), else the dataset's default."""
    if storage is not None and storage not in STORAGES:
        raise ValueError(f"load_dataset.storage={storage!r}; expected one of {STORAGES}")
    return storage or source(name).storage


def arrays_dir(name: str, data_dir: Optional[str]) -> str:
    """Where the arrays storage of `name` lives: <data_dir>/genrec_arrays/<name> (data_dir defaults
    to TFDS's: $TFDS_DATA_DIR or ~/tensorflow_datasets)."""
    root = data_dir or os.environ.get("TFDS_DATA_DIR") or os.path.join("~", "tensorflow_datasets")
    return os.path.join(os.path.expanduser(root), ARRAYS_DIR, name)


def prepare(
    name: str,
    *,
    data_dir: Optional[str] = None,
    raw_data_dir: Optional[str] = None,
    storage: Optional[str] = None,
):
    """Prepares the dataset unless already prepared; returns the TFDS builder (TFDS shows progress),
    or for `storage='arrays'` the folder of its columns."""
    import tensorflow_datasets as tfds

    if storage_of(name, storage) == "arrays":
        directory = arrays_dir(name, data_dir)
        if not arrays.is_saved(directory):
            logging.info("preparing %s into %s (numpy columns)", name, directory)
            dataset = parse(name, raw_data_dir)
            records.check_users(dataset.users, dataset.num_items)
            arrays.save(dataset, directory)
        return directory
    b = builder(name, data_dir)
    if not b.is_prepared():
        raw = manual_dir(name, raw_data_dir)
        logging.info("preparing %s from %s into %s", name, raw or "the generator", b.data_dir)
        b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=raw))
    return b


@gin.configurable("load_dataset")
def load(
    name: Optional[str] = None,
    *,
    path: Optional[str] = None,
    format: Optional[str] = None,
    data_dir: Optional[str] = None,
    raw_data_dir: Optional[str] = None,
    storage: Optional[str] = None,
    transform: Optional[Callable[[records.RecDataset], records.RecDataset]] = None,
) -> records.RecDataset:
    """The prepared dataset `name` (prepared first if needed), read back from its `storage`
    (STORAGES; default the dataset's own); or, with `path`, the interaction log there in `format`
    (PATH_FORMATS), named `name` or after the path.
    `transform` rewrites it after loading (gin: `load_dataset.transform = @subsample_train_users`)."""
    from genrec.datasets import tfds_format

    if path is not None:
        dataset = read_path(path, format, name)
        return transform(dataset) if transform is not None else dataset
    if format is not None:
        raise ValueError(
            f"load_dataset.format={format!r} needs load_dataset.path (a named dataset knows its format)"
        )
    prepared = prepare(name, data_dir=data_dir, raw_data_dir=raw_data_dir, storage=storage)
    if storage_of(name, storage) == "arrays":
        dataset = arrays.load(prepared)
    else:
        dataset = tfds_format.read_dataset(prepared)
    return transform(dataset) if transform is not None else dataset


def parse(name: str, raw_data_dir: Optional[str] = None) -> records.RecDataset:
    """The same dataset straight from the raw files, without TFDS (fast; for checks and stats)."""
    b = builder_class(source(name).builder)(config=source(name).config)
    return b.make_dataset(manual_dir(name, raw_data_dir))
