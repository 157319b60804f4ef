"""How much does the beam lose? One encoder-decoder checkpoint, the same test users, three rankings:
trie-constrained beam search with beam 20 and beam 50 (genrec's Evaluator, history kept), and the
exact ranking of every catalogue item by its identifier log-likelihood (teacher-forced, identifier
tokens without EOS: the score beam search orders by, genrec/evaluate/protocol.py), ties counted
against the target.

  .venv/bin/python -m benchmarks.decode.beam_vs_exact --checkpoint_dir=WORKDIR/checkpoints \
      --data_dir=WORKDIR/../tfds --users=1000 --out=benchmarks/decode/beam_vs_exact_beauty.json

A parallel-digit checkpoint (genrec/model/parallel_ids.py) is ranked the same three ways from one
forward pass per user: a trie-constrained beam over its digits in order
(benchmarks/decode/digit_beam.py) and the exact sum of digit log-probabilities over every item.
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import jax
import jax.numpy as jnp
import numpy as np
import tqdm
from flax import nnx

from benchmarks.decode.decode_benchmark import report, uptime
from benchmarks.decode.digit_beam import constrained_digit_beam
from genrec import datasets
from genrec.evaluate import beyond_accuracy, evaluator, exact, full_ranking, ranking, sequences
from genrec.evaluate.run import task_examples
from genrec.model import parallel_ids
from genrec.model import trie as trie_lib
from genrec.runtime import checkpoints, partitioning
from genrec.semantic_ids.artifact import Identifiers
from genrec.tasks import pipeline
from genrec.tasks.registry import TIGER, task_name
from genrec.tasks.vocabulary import item_token_ids


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--checkpoint_dir", required=True)
    p.add_argument("--step", type=int, default=None, help="Default: the newest checkpoint.")
    p.add_argument("--data_dir", required=True, help="TFDS folder the run prepared.")
    p.add_argument(
        "--raw_data_dir", default=os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared", "data")
    )
    p.add_argument("--users", type=int, default=1000, help="The first N test users (the eval order).")
    p.add_argument("--beams", default="20,50")
    p.add_argument("--chunk", type=int, default=4096, help="Identifiers per exact-scoring call.")
    p.add_argument("--out", default=None)
    return p.parse_args()


@functools.partial(jax.jit, static_argnames=("graphdef",))
def _identifier_log_likelihood(graphdef, state, encoder_tokens, identifiers):
    """log p(identifier | one user's input) for a block of identifiers [C, L], teacher-forced through
    the incremental decoder: the C identifiers are C 'beams' of the user, so the encoder and its
    cross-attention keys/values run once (not once per identifier)."""
    model = nnx.merge(graphdef, state)
    cross_kv = model.cross_key_values(model.encode(encoder_tokens))
    count, length = identifiers.shape
    cache = model.init_cache(1, count, length)
    previous, total = jnp.zeros((1, count), jnp.int32), jnp.zeros((1, count), jnp.float32)  # 0: BOS
    for t in range(length):  # identifiers are a few tokens: unrolled
        logits, cache = model.decode_step(previous, jnp.asarray(t), cache, cross_kv, encoder_tokens)
        logp = jax.nn.log_softmax(logits, axis=-1)
        token = identifiers[None, :, t]
        total += jnp.take_along_axis(logp, token[..., None], axis=-1)[..., 0]
        previous = token
    return total[0]


def exact_scores(model, examples, item_tokens: np.ndarray, chunk: int) -> np.ndarray:
    """[users, items]: log p(item's identifier tokens | user input) for every catalogue item (EOS
    excluded, as in beam search's scores: ARCHITECTURE.md, Evaluation protocol)."""
    graphdef, state = nnx.split(model)
    targets = np.asarray(item_tokens, np.int32)
    pad = -len(targets) % chunk  # one shape: the last block is padded, its extra scores dropped
    blocks = np.concatenate([targets, np.repeat(targets[-1:], pad, axis=0)]).reshape(
        -1, chunk, targets.shape[1]
    )
    inputs = evaluator.pad_inputs(examples, 1)
    out = np.zeros((len(examples), len(targets)), np.float32)
    for u in tqdm.trange(len(examples), desc="exact", mininterval=30):
        scores = [
            _identifier_log_likelihood(graphdef, state, jnp.asarray(inputs[u : u + 1]), jnp.asarray(b))
            for b in blocks
        ]
        out[u] = np.concatenate([np.asarray(x) for x in scores])[: len(targets)]
    return out


@nnx.jit(static_argnames=("beam",))
def _digit_beam(model, token_codes, trie, tokens, beam: int):
    return constrained_digit_beam(exact.history_log_probs(model, token_codes, tokens), trie, beam)


def parallel_digit_rows(model, identifiers, dataset, users: int, beams) -> tuple[dict, int]:
    """The rows of a parallel-digit model on the first `users` test users (history kept):
    {ranking: metrics and the top-10 agreement with exact}, and the number of users."""
    histories, targets = full_ranking.leave_one_out(dataset, "test")
    histories, targets = histories[:users], targets[:users]
    codes, max_len = np.asarray(identifiers.codes, np.int32), model.config.max_len
    start = time.time()
    exact_top, ranks = full_ranking.rank(
        exact.scorer(model, codes), histories, targets, k=10, max_len=max_len
    )
    rows = {
        "exact (every item)": dict(
            ranking.metrics_from_ranks(ranks, dataset.num_items),
            seconds=time.time() - start,
            target_rank_median=float(np.median(ranks)),
        )
    }
    token_codes, trie = parallel_ids.token_code_table(codes), trie_lib.build_trie(codes)
    for beam in beams:
        start = time.time()
        topk, scores = np.zeros((len(targets), beam), np.int32), np.zeros((len(targets), beam), np.float32)
        for index, tokens in sequences.batches(histories, exact.EVAL_BATCH, max_len):
            items, item_scores = _digit_beam(model, token_codes, trie, jnp.asarray(tokens), beam)
            real = index >= 0
            topk[index[real]], scores[index[real]] = np.asarray(items)[real], np.asarray(item_scores)[real]
        row = dict(ranking.ranking_metrics(topk, targets, scores=scores), seconds=time.time() - start)
        rows[f"beam {beam}"] = dict(row, **agreement(topk[:, :10], exact_top, targets, ranks < 10))
    return rows, len(targets)


def agreement(beam_top10, exact_top10, targets, exact_hits) -> dict:
    """Where a beam's top 10 and the exact top 10 of the same users disagree."""
    hit = (beam_top10 == targets[:, None]).any(axis=1)
    overlap = [len(set(b) & set(e)) / 10 for b, e in zip(beam_top10, exact_top10)]
    return dict(
        hits_only_exact=int((exact_hits & ~hit).sum()),
        hits_only_beam=int((hit & ~exact_hits).sum()),
        top10_overlap_with_exact=float(np.mean(overlap)),  # share of the exact top 10 in the beam's
        same_top10_as_exact=float(np.mean([set(b) == set(e) for b, e in zip(beam_top10, exact_top10)])),
    )


def main():
    args = parse_args()
    uptime_before = uptime()
    mesh = partitioning.make_mesh()
    model, meta = checkpoints.load_for_inference(args.checkpoint_dir, mesh, step=args.step)
    dataset = datasets.load(meta.dataset, data_dir=args.data_dir, raw_data_dir=args.raw_data_dir)
    identifiers = Identifiers.load(meta.identifiers_dir)
    if meta.model == "parallel_ids":
        with jax.set_mesh(mesh):
            rows, users = parallel_digit_rows(
                model, identifiers, dataset, args.users, [int(b) for b in args.beams.split(",")]
            )
        report(
            {
                "checkpoint_dir": os.path.abspath(args.checkpoint_dir),
                "step": meta.step,
                "dataset": meta.dataset,
                "model": "parallel_ids",
                "users": users,
                "history": "kept",
                "items": dataset.num_items,
                "digits": int(identifiers.codes.shape[1]),
                "rows": rows,
                "uptime_before": uptime_before,
                "uptime_after": uptime(),
            },
            args.out,
        )
        return
    vocabulary, _ = pipeline.register_as_trained(meta.vocabulary, dataset, identifiers, meta.dataset)
    variant = TIGER if str(meta.mixture).endswith(f"_{TIGER}") else ""
    name = task_name(meta.dataset, "sequential", variant=variant)
    examples = task_examples(name, "test", meta.task_feature_lengths, args.users)
    targets = np.array([e["target_item"] for e in examples])
    item_tokens = item_token_ids(vocabulary, identifiers)
    popularity = beyond_accuracy.train_popularity(dataset)
    trie = trie_lib.build_trie(item_tokens)  # one catalogue trie for every beam width
    rows, lists = {}, {}  # per beam: its row; its top-10 lists
    with jax.set_mesh(mesh):
        for beam in [int(b) for b in args.beams.split(",")]:
            config = evaluator.EvalConfig(beam_size=beam, top_k=beam, drop_history=False)
            ev = evaluator.Evaluator(
                model,
                trie=trie,
                item_tokens=item_tokens,
                vocabulary=vocabulary,
                popularity=popularity,
                config=config,
                eos_id=vocabulary.eos_id,
            )
            start = time.time()
            _, topk, topk_scores = ev.recommend(examples)
            metrics = ranking.ranking_metrics(topk, targets, scores=topk_scores)
            rows[f"beam {beam}"] = dict(metrics, seconds=time.time() - start)
            lists[beam] = topk[:, :10]
        start = time.time()
        scores = exact_scores(model, examples, item_tokens, args.chunk)
        # Reference check: the incremental scorer equals the full teacher-forced pass on a sample.
        sample = np.asarray(
            evaluator.candidate_log_likelihood(
                model,
                jnp.asarray(evaluator.pad_inputs(examples[:1], 1)),
                jnp.asarray(item_tokens[None, :256]),
            )
        )
        np.testing.assert_allclose(scores[0, :256], sample[0], rtol=1e-4, atol=1e-3)
        ranks = ranking.candidate_ranks(scores, targets)
        rows["exact (every item)"] = dict(
            ranking.metrics_from_ranks(ranks, scores.shape[1]), seconds=time.time() - start
        )
        rows["exact (every item)"]["target_rank_median"] = float(np.median(ranks))
        exact_top10 = np.argsort(-scores, axis=1, kind="stable")[:, :10]
        for beam in lists:  # paired, same users: where the two rankings disagree
            rows[f"beam {beam}"].update(agreement(lists[beam], exact_top10, targets, ranks < 10))
    results = {
        "checkpoint_dir": os.path.abspath(args.checkpoint_dir),
        "step": meta.step,
        "dataset": meta.dataset,
        "task": name,
        "users": len(examples),
        "history": "kept",
        "items": len(item_tokens),
        "rows": rows,
        "uptime_before": uptime_before,
        "uptime_after": uptime(),
    }
    report(results, args.out)


if __name__ == "__main__":
    main()
