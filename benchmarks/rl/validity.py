"""How often a generative model names an item that does not exist when nothing constrains it.

For each checkpoint and test user (the first --max_users, default all):
  sampling  K identifiers per user at each temperature: the parallel-digit model draws each digit
            on its own; the encoder-decoder draws each token from its whole vocabulary given the
            sampled prefix (decoding.sample without a trie), from the prompt its task trained on
  beam      the 10 best identifiers: the parallel-digit model's 10 best digit tuples
            (parallel_ids.top_digit_tuples, exact for it); the encoder-decoder's unconstrained beam
            search (beam 10) over identifier-length token sequences
and the share of them that name no catalogue item (rl_policies.catalogue_lookup). Exact ranking,
trie-constrained beam search and constrained RL sampling never leave the catalogue; this measures
the model.

  python -m benchmarks.rl.validity --data_dir=D --raw_data_dir=R --dataset=amazon-2014-beauty \
      --checkpoint=NAME=DIR[@STEP] ... --out=benchmarks/rl/beauty_validity.json
"""

from __future__ import annotations

import argparse
import json

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.rl import common
from genrec.evaluate import exact, full_ranking, sequences
from genrec.model import parallel_ids
from genrec.runtime import checkpoints, partitioning
from genrec.semantic_ids.artifact import Identifiers
from genrec.train import rl_policies


def measure(
    model, codes: np.ndarray, histories, *, samples: int, temperatures, batch: int = 256, seed: int = 0
):
    item_codes = jnp.asarray(codes, jnp.int32)
    token_codes = parallel_ids.token_code_table(codes)

    @jax.jit
    def invalid_counts(tokens, key):  # per user: how many of its identifiers name no item
        log_probs = exact.history_log_probs(model, token_codes, tokens)
        out = {}
        for t in temperatures:
            logits = jnp.broadcast_to(
                log_probs[:, None] / t, (tokens.shape[0], samples) + log_probs.shape[1:]
            )
            drawn = jax.random.categorical(jax.random.fold_in(key, int(t * 1000)), logits, axis=-1)
            out[f"sampling_T{t:g}"] = (rl_policies.catalogue_lookup(item_codes, drawn) < 0).mean(-1)
        tuples, _ = parallel_ids.top_digit_tuples(log_probs, 10)
        invalid = rl_policies.catalogue_lookup(item_codes, tuples) < 0
        out["beam_top10"], out["beam_top1"] = invalid.mean(-1), invalid[:, 0].astype(jnp.float32)
        return out

    tokens = sequences.left_pad(histories, model.config.max_len)
    sums = {}
    for start in range(0, len(tokens), batch):
        chunk = tokens[start : start + batch]
        real = len(chunk)
        chunk = np.concatenate([chunk, np.repeat(chunk[:1], batch - real, axis=0)])  # one shape
        out = jax.device_get(
            invalid_counts(jnp.asarray(chunk), jax.random.fold_in(jax.random.key(seed), start))
        )
        for k, v in out.items():
            sums[k] = sums.get(k, 0.0) + float(np.asarray(v)[:real].sum())
    return {f"invalid_rate_{k}": v / len(tokens) for k, v in sums.items()} | {"users": len(tokens)}


def measure_encoder_decoder(
    model, meta, dataset, identifiers, users, *, samples: int, temperatures, batch: int = 32, seed: int = 0
):
    from genrec.model import decoding
    from genrec.tasks import prompts, vocabulary

    rendered = prompts.trained_prompts(meta, dataset, identifiers)
    item_tokens = vocabulary.item_token_ids(rendered.vocabulary, identifiers)
    table, length = jnp.asarray(item_tokens), item_tokens.shape[1]
    views = dataset.split("test")
    inputs = np.zeros((len(users), rendered.length), np.int32)
    for row, u in enumerate(users):
        t = rendered.tokens(u, views[u], len(views[u].items) - 1)
        inputs[row, : len(t)] = t
    sums = {}
    for start in range(0, len(inputs), batch):
        chunk = inputs[start : start + batch]
        real = len(chunk)
        chunk = jnp.asarray(np.concatenate([chunk, np.repeat(chunk[:1], batch - real, axis=0)]))
        out = {}
        for t in temperatures:
            drawn = decoding.sample(
                model,
                chunk,
                jax.random.fold_in(jax.random.key(seed), start),
                num_samples=samples,
                length=length,
                temperature=t,
            )
            out[f"sampling_T{t:g}"] = (rl_policies.catalogue_lookup(table, drawn.tokens) < 0).mean(-1)
        beams, _ = decoding.beam_search(model, chunk, beam_size=10, max_length=length)
        invalid = rl_policies.catalogue_lookup(table, beams) < 0
        out["beam_top10"], out["beam_top1"] = invalid.mean(-1), invalid[:, 0].astype(jnp.float32)
        for k, v in jax.device_get(out).items():
            sums[k] = sums.get(k, 0.0) + float(np.asarray(v)[:real].sum())
    return {f"invalid_rate_{k}": v / len(inputs) for k, v in sums.items()} | {"users": len(inputs)}


def main():
    p = argparse.ArgumentParser()
    common.add_dataset_flags(p)
    p.add_argument("--checkpoint", action="append", required=True, help="NAME=DIR[@STEP]")
    p.add_argument("--samples", type=int, default=16)
    p.add_argument("--temperatures", default="1.0,0.5,0.2")
    p.add_argument("--max_users", type=int, default=None, help="the first N test users (default all)")
    p.add_argument("--out", required=True)
    args = p.parse_args()
    dataset = common.load_dataset(args)
    histories, _ = full_ranking.leave_one_out(dataset, "test")
    users = list(range(len(histories)))[: args.max_users]  # every test user has a history (5-core)
    temperatures = [float(t) for t in args.temperatures.split(",")]
    mesh = partitioning.make_mesh(devices=jax.devices()[:1])
    report = {
        "dataset": args.dataset,
        "split": "test",
        "samples_per_user": args.samples,
        "max_users": args.max_users,
        "rows": {},
    }
    for spec in args.checkpoint:
        name, where = spec.split("=", 1)
        directory, step = (where.split("@") + [None])[:2]
        model, meta = checkpoints.load_for_inference(directory, mesh, step=int(step) if step else None)
        identifiers = Identifiers.load(meta.identifiers_dir)
        with jax.set_mesh(mesh):
            if meta.model == "parallel_ids":
                row = measure(
                    model,
                    identifiers.codes,
                    histories[: args.max_users],
                    samples=args.samples,
                    temperatures=temperatures,
                )
            else:
                row = measure_encoder_decoder(
                    model, meta, dataset, identifiers, users, samples=args.samples, temperatures=temperatures
                )
        report["rows"][name] = dict(row, checkpoint=directory, step=meta.step)
        print(name, json.dumps(report["rows"][name]))
    with open(args.out, "w") as f:
        json.dump(report, f, indent=2)


if __name__ == "__main__":
    main()
