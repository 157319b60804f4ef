"""Semantic IDs on Amazon-2014 Beauty: MiniLM(title + attributes) → RQ-VAE and RQ-KMeans (plain,
balanced, on 32 whitened principal components), 3 × 256 codes + collision code. Prints usage per
level, collision figures and fit times as JSON.

  .venv/bin/python -m benchmarks.semantic_ids.beauty_semantic_ids \
      --raw_data_dir ../shared/data --cache_dir /tmp/genrec_embeddings --out /tmp/beauty_ids.json
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import platform
import time

import jax

from genrec.datasets import amazon
from genrec.semantic_ids import embeddings, encoders, rqkmeans, rqvae, schemes

NAME = "amazon-2014-beauty"


def summary(dataset, raw: schemes.SchemeCodes, wall_s: float, cpu_s: float) -> dict:
    _, info = schemes.identifiers_from(dataset, raw)
    return {
        "scheme": raw.scheme,
        "fit_wall_s": round(wall_s, 1),
        "fit_cpu_s": round(cpu_s, 1),
        "load_avg_after": round(os.getloadavg()[0], 1),
        "usage": [round(l["usage"], 4) for l in info["levels"][:-1]],
        "perplexity": [round(l["perplexity"], 1) for l in info["levels"][:-1]],
        "items_needing_collision_code": info["items_needing_collision_code"],
        "needing_collision_code_fraction": round(info["needing_collision_code_fraction"], 4),
        "collision_rate": round(info["collision_rate"], 4),
        "largest_group": info["largest_group"],
        "reconstruction_error": round(raw.info["reconstruction_error"], 4),
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--raw_data_dir", default=os.path.join("..", "shared", "data"))
    parser.add_argument("--cache_dir", default="/tmp/genrec_embeddings")
    parser.add_argument("--steps", type=int, default=rqvae.RQVAEConfig.num_steps)
    parser.add_argument("--batch_size", type=int, default=rqvae.RQVAEConfig.batch_size)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", default=None, help="write the results JSON here too")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")

    dataset = amazon.load(os.path.join(args.raw_data_dir, NAME), NAME)
    start = time.time()
    x = embeddings.item_embeddings(dataset, cache_dir=args.cache_dir, encoder=encoders.SentenceEncoder())
    embed_s = time.time() - start

    results = {
        "dataset": NAME,
        "num_items": dataset.num_items,
        "embedding": list(x.shape),
        "embed_s_or_cache": round(embed_s, 1),
        "machine": f"{platform.machine()}, "
        f"{os.cpu_count()} CPUs, jax {jax.__version__} on {jax.default_backend()}",
        "load_avg_before": round(os.getloadavg()[0], 1),
        "runs": [],
    }
    config = rqvae.RQVAEConfig(num_steps=args.steps, batch_size=args.batch_size, seed=args.seed)
    start, cpu = time.time(), time.process_time()
    fit = rqvae.fit(x, config)
    wall_s, cpu_s = time.time() - start, time.process_time() - cpu
    raw = schemes.SchemeCodes(
        "rqvae",
        fit.codes,
        (config.codebook_size,) * config.num_levels,
        info={"reconstruction_error": fit.reconstruction_error},
    )
    results["rqvae_config"] = dataclasses.asdict(config)
    results["rqvae_epochs"] = round(config.num_steps * config.batch_size / dataset.num_items, 1)
    results["runs"].append(summary(dataset, raw, wall_s, cpu_s))
    for balanced, pca_dim in ((False, None), (True, None), (False, 32)):
        cfg = rqkmeans.RQKMeansConfig(balanced=balanced, pca_dim=pca_dim, seed=args.seed)
        start, cpu = time.time(), time.process_time()
        km = rqkmeans.fit(x, cfg)
        wall_s, cpu_s = time.time() - start, time.process_time() - cpu
        name = "rqkmeans" + ("-balanced" if balanced else "") + (f"-pca{pca_dim}" if pca_dim else "")
        raw = schemes.SchemeCodes(
            name,
            km.codes,
            (cfg.codebook_size,) * cfg.num_levels,
            info={"reconstruction_error": km.reconstruction_error},
        )
        results["runs"].append(summary(dataset, raw, wall_s, cpu_s))
    text = json.dumps(results, indent=1)
    print(text)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)


if __name__ == "__main__":
    main()
