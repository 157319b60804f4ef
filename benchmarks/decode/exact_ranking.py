"""Serving cost of the generative recipe: the parallel-digit model's exact top-10 over the whole
catalogue against Hugging Face T5 `generate` with a prefix trie (beam 20), same CPU, same process.

Both sides get 20-item histories. The parallel-digit model (configs/models/parallel_ids.gin) reads
one position per item and scores every item of a Beauty-sized catalogue (12,101 items, 32 digits of
256 codes + a 4-code collision digit) exactly; its codes are Beauty's OPQ identifiers when
--identifiers names them, random otherwise (the cost is the same). HF decodes TIGER's model
(configs/models/tiger.gin, random init, ported weights as in decode_benchmark.py) over 3+1-token
identifiers of the same number of items, from 20 identifiers of 4 tokens + EOS (81 tokens).

  .venv/bin/python -m benchmarks.decode.exact_ranking --num_batches=3 --out=/tmp/exact.json
"""

from __future__ import annotations

import argparse
import os

import gin
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

import genrec.train.run  # noqa: F401  (train.model, bound by the model gin file)
from benchmarks.decode import decode_benchmark as hf_side
from genrec.evaluate import exact
from genrec.model import parallel_ids
from genrec.model.config import ModelConfig
from genrec.model.network import EncoderDecoder

REPO = hf_side.REPO
HISTORY = 20


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--num_items", type=int, default=12101)
    p.add_argument("--identifiers", default=None, help="a semantic_ids folder (OPQ codes) to rank")
    p.add_argument("--batch_size", type=int, default=32, help="users per call")
    p.add_argument("--num_batches", type=int, default=3, help="timed batches (after a warm-up one)")
    p.add_argument("--beam_size", type=int, default=20)
    p.add_argument("--top_k", type=int, default=10)
    p.add_argument("--out", default=None)
    return p.parse_args()


def main():
    args = parse_args()
    rng = np.random.default_rng(0)
    if args.identifiers:
        from genrec.semantic_ids.artifact import Identifiers

        ids = Identifiers.load(args.identifiers)
        codes, levels = ids.codes, ids.level_sizes
    else:
        levels = (256,) * 32 + (4,)
        codes = np.stack([rng.integers(0, s, args.num_items) for s in levels], 1).astype(np.int32)
    num_items = len(codes)
    gin.parse_config_file(os.path.join(REPO, "configs/models/parallel_ids.gin"))
    model = parallel_ids.ParallelIdDecoder(
        parallel_ids.ParallelIdConfig(level_sizes=levels, num_items=num_items), rngs=nnx.Rngs(0)
    )
    score = exact.scorer(model, codes)
    histories = rng.integers(1, num_items + 1, (args.batch_size * (args.num_batches + 1), HISTORY)).astype(
        np.int32
    )
    batches = np.split(histories, args.num_batches + 1)

    def ours(batch):
        return np.asarray(jax.lax.top_k(score(jnp.asarray(batch)), args.top_k)[1])

    _, ours_s = hf_side.timed(ours, batches)

    gin.clear_config()
    gin.parse_config_file(os.path.join(REPO, "configs/models/tiger.gin"))
    config = ModelConfig(vocab_size=4096)
    item_tokens = hf_side.random_catalogue(rng, num_items, 3, 256, config.vocab_size)
    users = np.concatenate(
        [item_tokens[histories - 1].reshape(len(histories), -1), np.ones((len(histories), 1), np.int32)],
        axis=1,
    )  # 20 identifiers + EOS
    hf = hf_side.to_hf(EncoderDecoder(config, rngs=nnx.Rngs(0)), config)
    _, hf_s = hf_side.timed(
        lambda b: hf_side.hf_decode(hf, item_tokens, b, args.beam_size, args.top_k),
        np.split(users, args.num_batches + 1),
    )
    import torch

    timed = args.batch_size * args.num_batches
    results = {
        "device": jax.devices()[0].device_kind,
        "torch_threads": torch.get_num_threads(),
        "num_items": num_items,
        "digits": len(levels),
        "history_items": HISTORY,
        "hf_input_tokens": users.shape[1],
        "batch_size": args.batch_size,
        "timed_users": timed,
        "beam_size": args.beam_size,
        "top_k": args.top_k,
        "exact_users_per_s": timed / sum(ours_s),
        "exact_batch_s": ours_s,
        "hf_users_per_s": timed / sum(hf_s),
        "hf_batch_s": hf_s,
        "speedup": sum(hf_s) / sum(ours_s),
    }
    hf_side.report(results, args.out)


if __name__ == "__main__":
    main()
