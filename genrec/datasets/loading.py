"""Dataset name → TFDS builder + config + raw folder; prepares once, then reads with TFDS.

  ds = genrec.datasets.load("amazon-2014-beauty")   # gin: load_dataset.name = 'amazon-2014-beauty'

The builders live in data/<builder>/<builder>_dataset_builder.py (the `tfds build` layout).
"""
from __future__ import annotations

import dataclasses
import logging
import os
from typing import Callable, Optional

import gin

from genrec import REPO_ROOT
from genrec.datasets import records, textio

BUILDERS_DIR = os.path.join(REPO_ROOT, "data")


@dataclasses.dataclass(frozen=True)
class Source:
    builder: str  # folder under data/
    config: str
    raw_subdir: Optional[str] = None  # folder under the raw data dir; None: generated


DATASETS = {
    "synthetic": Source("synthetic", "1k"),
    "synthetic-10k": Source("synthetic", "10k"),
    "synthetic-100k": Source("synthetic", "100k"),
    "synthetic-1m": Source("synthetic", "1m"),
    "amazon-2014-beauty": Source("amazon", "beauty_2014", "amazon-2014-beauty"),
    "amazon-2014-musical-instruments": Source("amazon", "musical_instruments_2014",
                                              "amazon-2014-musical-instruments"),
    "amazon-2018-gift-cards": Source("amazon", "gift_cards_2018", "amazon-2018-gift-cards"),
    "amazon-2018-magazine-subscriptions": Source("amazon", "magazine_subscriptions_2018",
                                                 "amazon-2018-magazine-subscriptions"),
    "movielens-100k": Source("movielens", "100k", "movielens-100k"),
    "movielens-1m": Source("movielens", "1m", "movielens-1m"),
}


def source(name: Optional[str]) -> Source:
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r}; known: {', '.join(DATASETS)} "
                         "(bind load_dataset.name)")
    return DATASETS[name]


def default_raw_data_dir() -> Optional[str]:
    path = os.environ.get("GENREC_RAW_DATA_DIR", os.path.join(REPO_ROOT, "..", "shared", "data"))
    return os.path.abspath(path) if os.path.isdir(path) else None


def builder_class(name: str):
    """The TFDS builder class of data/<name>/<name>_dataset_builder.py (imported as TFDS does)."""
    import tensorflow_datasets as tfds

    path = os.path.join(BUILDERS_DIR, name, f"{name}_dataset_builder.py")
    if not os.path.exists(path):
        raise FileNotFoundError(f"TFDS builder {path} not found (genrec reads data/ from a checkout)")
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
        raise textio.DataError(f"dataset {name!r} needs its raw files in <raw_data_dir>/"
                               f"{src.raw_subdir}/ and no raw data dir was found (pass "
                               f"--raw_data_dir or set GENREC_RAW_DATA_DIR). {expected}")
    return textio.check_dir(os.path.join(root, src.raw_subdir), expected)


def builder(name: str, data_dir: Optional[str] = None):
    src = source(name)
    return builder_class(src.builder)(config=src.config, data_dir=data_dir)


def prepare(name: str, *, data_dir: Optional[str] = None, raw_data_dir: Optional[str] = None):
    """Builds the TFDS dataset unless already prepared (TFDS shows progress); returns the builder."""
    import tensorflow_datasets as tfds

    b = builder(name, data_dir)
    if not b.is_prepared():
        raw = manual_dir(name, raw_data_dir)
        logging.info("preparing %s from %s into %s", name, raw or "the generator", b.data_dir)
        b.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=raw))
    return b


@gin.configurable("load_dataset")
def load(name: Optional[str] = None, *, data_dir: Optional[str] = None,
         raw_data_dir: Optional[str] = None,
         transform: Optional[Callable[[records.RecDataset], records.RecDataset]] = None
         ) -> records.RecDataset:
    """The prepared dataset `name` (prepared first if needed), read back through TFDS; `transform`
    rewrites it after loading (gin: `load_dataset.transform = @subsample_train_users`)."""
    from genrec.datasets import tfds_format

    source(name)
    dataset = tfds_format.read_dataset(prepare(name, data_dir=data_dir, raw_data_dir=raw_data_dir))
    return transform(dataset) if transform is not None else dataset


def parse(name: str, raw_data_dir: Optional[str] = None) -> records.RecDataset:
    """The same dataset straight from the raw files, without TFDS (fast; for checks and stats)."""
    b = builder_class(source(name).builder)(config=source(name).config)
    return b.make_dataset(manual_dir(name, raw_data_dir))
