"""Shared setup of the ranking benchmarks: a randomly initialised parallel-digit model of the recipe's
shape (d 128, 2 layers, 32 digits of 256 codes + a 4-code collision digit, tied head), random item
codes, and histories: Beauty's real sequences (all but each user's last item) mapped onto the
catalogue. Throughput does not depend on the weights or on which items the codes name."""

from __future__ import annotations

import csv
import json
import os
import resource

import jax
import numpy as np
from flax import nnx

from benchmarks.machine import uptime
from genrec.model import parallel_ids
from genrec.model.config import BlockConfig

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BEAUTY = os.path.join(REPO, "..", "shared", "data", "amazon-2014-beauty", "interactions.tsv")
LEVELS = (256,) * 32 + (4,)


def model_and_codes(num_items: int, seed: int = 0):
    config = parallel_ids.ParallelIdConfig(
        level_sizes=LEVELS,
        num_items=num_items,
        block=BlockConfig(d_model=128, num_heads=4, head_dim=32, mlp_dim=512),
        num_layers=2,
        max_len=50,
        head="tied",
    )
    model = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(seed))
    rng = np.random.default_rng(seed)
    codes = np.stack([rng.integers(0, s, num_items, dtype=np.int32) for s in LEVELS], 1)
    return model, codes


def beauty_histories(num_users: int, num_items: int, seed: int = 0, path: str = BEAUTY) -> list[list[int]]:
    """`num_users` of Beauty's users' histories (their items but the last, in order), item ids mapped
    onto [0, num_items) (Beauty's own 12,101 ids when num_items is that; else by a fixed random map)."""
    users: dict[str, list[tuple[int, int]]] = {}
    with open(path) as f:
        for row in csv.DictReader(f, delimiter="\t"):
            users.setdefault(row["user_id"], []).append((int(row["seq_pos"]), int(row["item_id"]) - 1))
    seqs = [[i for _, i in sorted(v)][:-1] for v in users.values()]
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(seqs), size=min(num_users, len(seqs)), replace=False)
    mapping = rng.permutation(num_items)[:12101] if num_items != 12101 else np.arange(num_items)
    return [[int(mapping[i % len(mapping)]) for i in seqs[c]] for c in chosen]


def load_info() -> dict:
    return {
        "uptime": uptime(),
        "device": jax.devices()[0].device_kind,
        "num_devices": jax.device_count(),
        "cpus": os.cpu_count(),
    }


def peak_rss_gb() -> float:
    """This process's peak resident memory so far (GB)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def write(path: str, report: dict) -> None:
    with open(path, "w") as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))


def bundle_model_and_codes(directory: str, num_items: int, seed: int = 0):
    """A trained parallel-digit bundle's model and item codes, the catalogue grown to `num_items` with
    random codes (the bundle's own items first): item vectors with the trained digit table's structure."""
    from genrec.export import bundle as bundle_lib
    from genrec.export import params_io
    from genrec.runtime import families
    from genrec.runtime.state import FunctionalModel

    b = bundle_lib.read_bundle(directory)
    family = families.get(b.model)
    config = family.config_from_dict(b.manifest["model_config"])
    functional = FunctionalModel.from_factory(family.factory(config))
    model = functional.module(
        params_io.read_params(b.params_path, b.manifest["param_dtypes"], functional.param_shapes()),
        jax.random.key(0),
    )
    codes = np.asarray(b.identifiers.codes, np.int32)
    rng = np.random.default_rng(seed)
    extra = np.stack(
        [
            rng.integers(0, s, max(0, num_items - len(codes)), dtype=np.int32)
            for s in model.config.level_sizes
        ],
        1,
    )
    return model, np.concatenate([codes, extra])[:num_items]
