"""`--run_mode=export` (checkpoint → inference bundle) and `--run_mode=infer` (`genrec recommend`).

python -m genrec.main --run_mode=export --workdir=/tmp/run --bundle=/tmp/bundle
genrec recommend --bundle=/tmp/bundle --history=B0001,B0002 --top_k=5
genrec recommend --bundle=/tmp/bundle --histories=users.jsonl --output=recs.jsonl
"""

from __future__ import annotations

import logging
import os
import time
from typing import Optional

import gin
import jax
import numpy as np
import seqio

from genrec import datasets
from genrec.datasets import cold_start
from genrec.evaluate import protocol
from genrec.export import bundle as bundle_lib
from genrec.export import compilation_cache, requests
from genrec.export import recommender as recommender_lib
from genrec.runtime import checkpoints, families, partitioning
from genrec.runtime.meta import CheckpointMeta
from genrec.semantic_ids.artifact import Identifiers
from genrec.tasks.pipeline import trained_example_config
from genrec.tasks.prompts import sequential_template
from genrec.tasks.vocabulary import item_token_ids


@gin.configurable(module="genrec.export")
def export(
    ctx,
    *,
    template_id: str = "sequential-1",
    anonymous_user: str = "a user",
    step: Optional[int] = None,
    mips_index: Optional[str] = None,
) -> str:
    """Writes the bundle of the newest (or `step`) checkpoint to --bundle (default <workdir>/bundle).

    template_id: the sequential template recommend() prompts with (a trained, evaluated one); a
      model trained on TIGER's task prompts with TIGER's template (its only one).
    anonymous_user: the {user} text of the prompt when the caller names no user.
    mips_index: for families ranked by item vectors, also build a MIPS index of this kind
      (genrec/export/mips_index.py: 'hnsw', 'ivf', 'ivf_pq', 'flat'; needs the [mips] extra) into
      <bundle>/index; `recommend` then searches it. Its top-10 recall against exact ranking is printed.
    """
    checkpoint_dir = ctx.checkpoint_dir or os.path.join(ctx.workdir, "checkpoints")
    _, meta = checkpoints.read_meta(checkpoint_dir, step)
    dataset = datasets.load(meta.dataset, data_dir=ctx.data_dir, raw_data_dir=ctx.raw_data_dir)
    out = export_checkpoint(
        checkpoint_dir,
        ctx.bundle or os.path.join(ctx.workdir, "bundle"),
        dataset=dataset,
        template_id=template_id,
        anonymous_user=anonymous_user,
        step=step,
        mips_index=mips_index,
    )
    print(f"bundle: {out}")
    return out


def export_checkpoint(
    checkpoint_dir: str,
    out_dir: str,
    *,
    dataset,
    template_id: str = "sequential-1",
    anonymous_user: str = "a user",
    step: Optional[int] = None,
    mips_index: Optional[str] = None,
) -> str:
    """The gin-free core of `export`; `dataset` supplies item source ids and titles. The checkpoint's
    model family writes the bundle (`template_id` / `anonymous_user` reach families that prompt)."""
    model, meta = checkpoints.load_for_inference(
        checkpoint_dir, partitioning.make_mesh(devices=jax.devices()[:1]), step=step
    )
    out = families.for_meta(meta).export(
        model,
        meta,
        dataset=dataset,
        out_dir=out_dir,
        options={"template_id": template_id, "anonymous_user": anonymous_user, "mips_index": mips_index},
    )
    logging.info("wrote inference bundle %s (checkpoint step %s)", out, meta.step)
    return out


def write_scorer_bundle(
    model, meta: CheckpointMeta, *, dataset, out_dir: str, serving: Optional[dict] = None
) -> str:
    """The bundle of a model that scores every item from its history (no vocabulary, prompt or trie),
    with which items had a training interaction and the family's `serving` settings."""
    identifiers = Identifiers.load(meta.identifiers_dir)
    trained = np.zeros(dataset.num_items, bool)
    trained[cold_start.training_items(dataset)] = True
    return bundle_lib.write_bundle(
        out_dir,
        model=model,
        model_config=meta.model_config,
        identifiers=identifiers,
        source_ids=dataset.items.source_ids,
        titles=dataset.items.field("title"),
        model_kind=meta.model,
        provenance=meta.provenance(),
        trained=trained,
        serving=serving,
    )


def write_prompted_bundle(
    model, meta: CheckpointMeta, *, dataset, out_dir: str, template_id: str, anonymous_user: str
) -> str:
    """The bundle of a text-to-text model: its vocabulary, the sequential prompt it was trained with
    (`template_id`; TIGER's for a TIGER-task model) and the trie of the catalogue's identifiers."""
    vocabulary = seqio.SentencePieceVocabulary(meta.vocabulary)
    identifiers = Identifiers.load(meta.identifiers_dir)
    template = sequential_template(meta.mixture, meta.dataset, template_id)
    example_config = trained_example_config(meta.vocabulary)
    prompt = bundle_lib.Prompt(
        template.inputs,
        example_config.max_history,
        anonymous_user,
        user_token_buckets=example_config.user_tokens,
    )
    return bundle_lib.write_bundle(
        out_dir,
        model=model,
        model_config=meta.model_config,
        vocabulary_path=meta.vocabulary,
        identifiers=identifiers,
        item_tokens=item_token_ids(vocabulary, identifiers),
        source_ids=dataset.items.source_ids,
        titles=dataset.items.field("title"),
        prompt=prompt,
        model_kind=meta.model,
        provenance=meta.provenance() | {"template_id": template.id},
    )


def format_recommendations(recs) -> str:
    lines = ["rank\titem\tscore\ttitle"]
    lines += [f"{r + 1}\t{x.source_id}\t{x.score:.3f}\t{x.title}" for r, x in enumerate(recs)]
    return "\n".join(lines)


@gin.configurable(module="genrec.export")
def infer(
    ctx,
    *,
    beam_size: int = 20,
    drop_history: bool = protocol.SERVING_DROP_HISTORY,
    item_filter=None,
    batch_size: Optional[int] = None,
    compilation_cache_dir: Optional[str] = None,
):
    """Prints the top --top_k items (with titles) for --history (comma-separated source item ids);
    or, for --histories (a JSON-lines file, one user per line), writes one JSON line of
    recommendations per user to --output, `batch_size` users per call (default: the recommender's:
    64 for beam search, 256 for exact ranking).

    compilation_cache_dir: where compiled programs persist between runs (genrec/export/
      compilation_cache.py; default ~/.cache/genrec/jax or $GENREC_COMPILATION_CACHE; '' for none).

    drop_history: serving drops the user's whole history by default; offline evaluation keeps it
      (genrec/evaluate/protocol.py). The beam is max(beam_size, --top_k) either way.
    item_filter: a business-rule hook, (items, history) -> keep mask, e.g. `@exclude_items`.
    """
    if not ctx.bundle:
        raise ValueError("--bundle is required: the folder written by --run_mode=export")
    if ctx.history and ctx.histories:
        raise ValueError("give --history (one user) or --histories (a file of users), not both")
    compilation_cache.enable(compilation_cache_dir)
    if ctx.histories:
        return infer_file(
            recommender_lib.load(ctx.bundle, beam_size=beam_size),
            ctx.histories,
            ctx.output or os.path.join(ctx.workdir, "recommendations.jsonl"),
            ctx.top_k,
            drop_history=drop_history,
            item_filter=item_filter,
            batch_size=batch_size,
        )
    history = [h.strip() for h in (ctx.history or "").split(",") if h.strip()]
    if not history:
        raise ValueError(
            "--history is required: comma-separated item ids, e.g. --history=B0001,B0002 "
            "(or --histories=FILE.jsonl for many users)"
        )
    recs = recommender_lib.load(ctx.bundle, beam_size=beam_size).recommend(
        history, ctx.top_k, drop_history=drop_history, item_filter=item_filter
    )
    print(format_recommendations(recs))
    return recs


def infer_file(
    recommender,
    requests_path: str,
    output: str,
    top_k: int,
    *,
    batch_size: Optional[int] = None,
    drop_history: bool = protocol.SERVING_DROP_HISTORY,
    item_filter=None,
) -> str:
    """Recommendations for every request in a JSON-lines file, written to `output`."""
    todo = requests.read_requests(requests_path, recommender.source_ids)
    start = time.time()
    sizing = {} if batch_size is None else {"batch_size": batch_size}
    recs = recommender.recommend_batch(
        [r.history for r in todo],
        top_k,
        users=[r.user for r in todo],
        **sizing,
        drop_history=drop_history,
        item_filter=item_filter,
        progress=True,
    )
    seconds = time.time() - start
    requests.write_recommendations(output, todo, recs)
    logging.info(
        "recommended for %d users in %.2f s (%.1f users/s, batch %s; history %s)",
        len(todo),
        seconds,
        len(todo) / seconds,
        batch_size or "default",
        protocol.describe(drop_history)["history"],
    )
    print(f"recommendations: {output} ({len(todo)} users)")
    return output
