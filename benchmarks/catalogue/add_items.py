"""`genrec add-items` timing: 1,000 new items into a Beauty-sized bundle (Amazon 2014 Beauty, 12,101 items).

    nice -n 5 .venv/bin/python -m benchmarks.catalogue.add_items \
        --out benchmarks/catalogue/add_items_beauty.json

Two bundles over every Beauty item, their identifiers built from the items' metadata text by the
frozen TF-IDF+SVD encoder (64-d): the parallel-digit recipe (OPQ 32 digits x 256 codes + collision
digit, exact ranking; once more with an HNSW MIPS index over its item vectors, which add-items
rebuilds) and the encoder-decoder (RQ-KMeans 3 x 256 + collision level, SentencePiece
vocabulary, trie). Untrained models: an update never reads the parameters (params.npz is
hard-linked), so their values do not change the timing. The 1,000 new items are Beauty items sampled
with a seed, given new ids and a changed title ("... - new formula"), in the items.tsv format.

Timed (time.perf_counter): `catalogue_update.add_items` on a fresh copy of the bundle, in process
(`first`: the process's first call, with its JIT compiles; `warm`: median of the next repeats), and
the whole command in a new process, 3 times each (Python, JAX and genrec start-up included):
`genrec add-items`
(`command_s`) and `python -m genrec.export.catalogue_update
add-items` (`module_command_s`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import numpy as np

from benchmarks.machine import uptime
from genrec.datasets import amazon, records
from genrec.evaluate import exact
from genrec.export import bundle as bundle_lib
from genrec.export import catalogue_update, mips_index
from genrec.export import recommender as recommender_lib
from genrec.semantic_ids import artifact, coder, collisions, encoders, opq, rqkmeans, text

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BEAUTY = os.path.join(REPO, "..", "shared", "data", "amazon-2014-beauty")


def identifiers(items: records.ItemTable, kind: str) -> artifact.Identifiers:
    x, frozen = encoders.TfidfSvdEncoder(dim=64).fit(text.item_texts(items))
    if kind == "opq":
        result = opq.fit(x, opq.OPQConfig(num_digits=32, codebook_size=256, iters=4), progress=False)
    else:
        result = rqkmeans.fit(
            x, rqkmeans.RQKMeansConfig(num_levels=3, codebook_size=256, iters=10), progress=False
        )
    codes, size, _ = collisions.add_collision_level(result.codes)
    return artifact.Identifiers(
        kind,
        codes,
        (256,) * result.codes.shape[1] + (size,),
        items.source_ids,
        "beauty",
        coder.ItemCoder(coder.item_texts_settings(), frozen, kind, result),
    )


def parallel_bundle(directory: str, items: records.ItemTable) -> str:
    from flax import nnx

    from genrec.model import parallel_ids

    ids = identifiers(items, "opq")
    config = parallel_ids.ParallelIdConfig(level_sizes=ids.level_sizes, num_items=items.num_items)
    return bundle_lib.write_bundle(
        directory,
        model=parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(0)),
        model_config=config.to_dict(),
        identifiers=ids,
        source_ids=items.source_ids,
        titles=items.field("title"),
        provenance={"dataset": "beauty"},
        model_kind="parallel_ids",
    )


def indexed_parallel_bundle(directory: str, items: records.ItemTable, built: str) -> str:
    """The parallel-digit bundle plus an HNSW MIPS index over its item vectors (mips_index defaults)."""
    shutil.copytree(built, directory)
    b = bundle_lib.read_bundle(directory)
    vectors = exact.item_vectors(recommender_lib.load_model(b), b.identifiers.codes)
    index = mips_index.build(np.asarray(vectors), kind="hnsw")
    index.save(os.path.join(directory, catalogue_update.MIPS_INDEX))
    return directory


def encoder_decoder_bundle(directory: str, dataset: records.RecDataset) -> str:
    from flax import nnx

    from genrec.model.config import ModelConfig
    from genrec.model.network import EncoderDecoder
    from genrec.tasks.vocabulary import build_vocabulary, item_token_ids

    ids = identifiers(dataset.items, "rqkmeans")
    vocabulary = build_vocabulary(dataset, ids, os.path.join(directory + "_vocab"))
    config = ModelConfig(
        vocab_size=vocabulary.vocab_size,
        d_model=128,
        num_heads=4,
        head_dim=32,
        mlp_dim=512,
        num_encoder_layers=2,
        num_decoder_layers=2,
    )
    return bundle_lib.write_bundle(
        directory,
        model=EncoderDecoder(config, rngs=nnx.Rngs(0)),
        model_config=config.to_dict(),
        identifiers=ids,
        source_ids=dataset.items.source_ids,
        titles=dataset.items.field("title"),
        provenance={"dataset": "beauty"},
        vocabulary_path=vocabulary.sentencepiece_model_file,
        item_tokens=item_token_ids(vocabulary, ids),
        prompt=bundle_lib.Prompt("Items: {history}"),
        model_kind="encoder_decoder",
    )


def new_item_file(path: str, items: records.ItemTable, count: int, seed: int = 0) -> str:
    rows = np.sort(np.random.default_rng(seed).choice(items.num_items, count, replace=False))
    with open(path, "w") as f:
        f.write("item_id\tasin\ttitle\tattributes\n")
        for n, i in enumerate(rows):
            title = (items.field("title")[i] or "untitled") + " - new formula"
            f.write(f"{n + 1}\tNEW{items.source_ids[i]}\t{title}\t{items.field('categories')[i]}\n")
    return path


def time_in_process(bundle: str, items_file: str, scratch: str, repeats: int) -> dict:
    seconds = []
    for r in range(repeats):
        fresh = os.path.join(scratch, f"run{r}")
        shutil.copytree(bundle, fresh)
        start = time.perf_counter()
        entry = catalogue_update.add_items(fresh, items_file, keep_versions=0)
        seconds.append(time.perf_counter() - start)
        assert entry["added"] == 1000
        shutil.rmtree(fresh)
    return {"first_s": seconds[0], "warm_median_s": float(np.median(seconds[1:])), "all_s": seconds}


COMMANDS = {  # a fresh process each: Python, JAX (and for genrec.main every stage) start-up included
    "command_s": lambda bundle, items, scratch: [
        "-m",
        "genrec.main",
        "add-items",
        f"--bundle={bundle}",
        f"--items={items}",
        f"--workdir={scratch}/cli_workdir",
    ],
    "module_command_s": lambda bundle, items, scratch: [
        "-m",
        "genrec.export.catalogue_update",
        "add-items",
        f"--bundle={bundle}",
        f"--items={items}",
    ],
}


def time_command(name: str, bundle: str, items_file: str, scratch: str, repeats: int = 3) -> list[float]:
    seconds = []
    for _ in range(repeats):
        fresh = os.path.join(scratch, "cli")
        shutil.copytree(bundle, fresh)
        start = time.perf_counter()
        subprocess.run(
            [sys.executable] + COMMANDS[name](fresh, items_file, scratch),
            check=True,
            cwd=REPO,
            capture_output=True,
        )
        seconds.append(time.perf_counter() - start)
        shutil.rmtree(fresh)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--repeats", type=int, default=4)
    parser.add_argument(
        "--work",
        default=None,
        help="where the bundles are built (default: a temp folder); "
        "bundles already there are reused (build_s is then the check only)",
    )
    args = parser.parse_args()
    work = args.work or tempfile.mkdtemp(prefix="add_items_bench_")
    dataset = amazon.load(BEAUTY, "beauty")
    items_file = new_item_file(os.path.join(work, "new_items.tsv"), dataset.items, 1000)
    command = ["nice -n 5 .venv/bin/python -m benchmarks.catalogue.add_items"] + sys.argv[1:]
    results = {
        "command": " ".join(command),
        "uptime_before": uptime(),
        "catalogue_items": dataset.num_items,
        "new_items": 1000,
        "bundles": {},
    }
    builders = {
        "parallel_ids_opq32": lambda d: parallel_bundle(d, dataset.items),
        "parallel_ids_opq32_hnsw": lambda d: indexed_parallel_bundle(
            d, dataset.items, os.path.join(work, "parallel_ids_opq32")
        ),
        "encoder_decoder_rqkmeans3": lambda d: encoder_decoder_bundle(d, dataset),
    }
    for name, build in builders.items():
        start = time.perf_counter()
        bundle = os.path.join(work, name)
        if not os.path.exists(os.path.join(bundle, bundle_lib.MANIFEST)):  # --work keeps built bundles
            build(bundle)
        built = time.perf_counter() - start
        scratch = tempfile.mkdtemp(prefix=f"{name}_", dir=work)
        row = {
            "build_s": built,
            **time_in_process(bundle, items_file, scratch, args.repeats),
            **{name: time_command(name, bundle, items_file, scratch) for name in COMMANDS},
            "level_sizes": list(bundle_lib.read_bundle(bundle).identifiers.level_sizes),
        }
        results["bundles"][name] = row
        print(name, json.dumps(row), flush=True)
    results["uptime_after"] = uptime()
    with open(args.out, "w") as f:
        json.dump(results, f, indent=1)
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
