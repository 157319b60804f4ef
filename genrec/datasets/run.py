"""Run modes of the data stage: `--run_mode=data` (prepare the TFDS dataset) and `--run_mode=stats`.

  python -m genrec.main --run_mode=stats --gin.load_dataset.name="'amazon-2014-beauty'" --workdir=/tmp/w

Stats go to stdout and `<workdir>/data_stats.json`. Other stages add their own numbers (e.g. seqio
example counts per task family) with `register_stats_provider(fn)`, fn(dataset) -> dict.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Callable

import gin

from genrec.datasets import loading, records

StatsProvider = Callable[[records.RecDataset], dict]
_STATS_PROVIDERS: dict[str, StatsProvider] = {}


def register_stats_provider(name: str, fn: StatsProvider) -> None:
    """Adds `fn(dataset)`'s dict under `name` in data_stats.json (and prints it)."""
    _STATS_PROVIDERS[name] = fn


def dataset_stats(dataset: records.RecDataset) -> dict:
    stats = dataset.stats()
    for name, fn in _STATS_PROVIDERS.items():
        stats[name] = fn(dataset)
    return stats


def prepare_data(ctx) -> None:
    """Prepares the dataset named by `load_dataset.name` into ctx.data_dir (once), stored as
    `load_dataset.storage` says (default: the dataset's own, genrec/datasets/loading.py). A log read by
    path (`load_dataset.path`) has nothing to prepare: it is parsed and checked, and read at each stage."""
    if _bound("load_dataset.path") and gin.query_parameter("load_dataset.path"):
        ds = loading.load(data_dir=ctx.data_dir, raw_data_dir=ctx.raw_data_dir)
        print(
            f"{ds.name}: read from {gin.query_parameter('load_dataset.path')} at each stage; "
            "nothing to prepare"
        )
        return
    name = _dataset_name()
    storage = gin.query_parameter("load_dataset.storage") if _bound("load_dataset.storage") else None
    prepared = loading.prepare(name, data_dir=ctx.data_dir, raw_data_dir=ctx.raw_data_dir, storage=storage)
    where = prepared if isinstance(prepared, str) else prepared.data_dir
    logging.info("%s is prepared in %s", name, where)
    print(f"{name}: prepared in {where}")


def print_stats(ctx) -> dict:
    """Loads the dataset (preparing it if needed), prints its stats and writes data_stats.json."""
    dataset = loading.load(data_dir=ctx.data_dir, raw_data_dir=ctx.raw_data_dir)
    stats = dataset_stats(dataset)
    print(records.format_stats(stats))
    for name in _STATS_PROVIDERS:
        print(f"{name}: {json.dumps(stats[name])}")
    with open(os.path.join(ctx.workdir, "data_stats.json"), "w") as f:
        json.dump(stats, f, indent=2)
    return stats


def _dataset_name() -> str:
    name = gin.query_parameter("load_dataset.name") if _bound("load_dataset.name") else None
    loading.source(name)  # unknown or unbound → error listing the known names
    return name


def _bound(binding: str) -> bool:
    try:
        gin.query_parameter(binding)
        return True
    except ValueError:
        return False
