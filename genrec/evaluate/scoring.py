"""Scores a restored model on named tasks and writes results: the part of evaluation that needs no
TensorFlow or seqio (examples arrive as numpy dicts from seqio in run.py, or from an array snapshot
in genrec/snapshot)."""

from __future__ import annotations

import json
import logging
import os
import time
from typing import Callable, Optional, Sequence

import jax
import numpy as np

from genrec.evaluate import cold_start, evaluator, full_ranking, popularity, protocol, results
from genrec.model import trie as trie_lib
from genrec.runtime import families
from genrec.runtime.families import EvalInputs
from genrec.runtime.meta import CheckpointMeta


def read_train_summary(checkpoint_dir: str) -> dict:
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint_dir)), "train_summary.json")
    if not os.path.exists(path):
        logging.warning("%s not found; training cost left out of results", path)
        return {}
    with open(path) as f:
        return json.load(f)


def cost(checkpoint_dir: str, mesh: jax.sharding.Mesh, users_per_s: Optional[float]) -> dict:
    """The results' cost table: the training behind the checkpoint (its train_summary.json), the
    devices, and decoding throughput over the whole mesh."""
    train = read_train_summary(checkpoint_dir)
    return {
        "device_kind": jax.devices()[0].device_kind,
        "num_devices": mesh.size,
        "train_steps": train.get("steps"),
        "train_wall_s": train.get("cumulative_wall_s", train.get("wall_s")),
        "train_flops": train.get("total_flops"),
        "num_params": train.get("num_params"),
        "decode_users_per_s": users_per_s,
        "decode_ms_per_user": 1000.0 / users_per_s if users_per_s else None,
    }


def score_tasks(
    model,
    meta: CheckpointMeta,
    *,
    checkpoint_dir: str,
    names: Sequence[str],
    examples_of: Callable[[str], list[dict]],
    item_tokens: np.ndarray,
    popularity: np.ndarray,
    vocabulary,
    identifier_scheme: str,
    mesh: jax.sharding.Mesh,
    out_dir: str,
    split: str,
    max_eval_examples: Optional[int],
    config: evaluator.EvalConfig,
    groups_of: Optional[Callable[[str, list[dict]], dict[str, np.ndarray]]] = None,
) -> dict:
    """Every task in `names` (examples_of(name) → its examples), then <out_dir>/results.{json,md}.
    groups_of(name, examples) → named masks over the examples, each written as the row
    '<name> [<group>]' beside the task's (the cold-start groups: cold_start.example_groups)."""
    ev = evaluator.Evaluator(
        model,
        trie=trie_lib.build_trie(item_tokens),
        item_tokens=item_tokens,
        vocabulary=vocabulary,
        popularity=popularity,
        config=config,
        eos_id=vocabulary.eos_id,
    )
    metrics, templates = {}, {}
    with jax.set_mesh(mesh):
        for name in names:
            examples = examples_of(name)
            if not examples:
                logging.warning("%s: no %s examples; skipped", name, split)
                continue
            groups = groups_of(name, examples) if groups_of else None
            metrics[name], templates[name], by_group = ev.evaluate_task(name, examples, groups)
            for group, row in by_group.items():
                metrics[f"{name} [{group}]"] = row
    run = {
        "dataset": meta.dataset,
        "mixture": meta.mixture,
        "identifier_scheme": identifier_scheme,
        "model_size": meta.model_size or families.for_meta(meta).size_name(meta.model_config),
        "checkpoint_step": meta.step,
        "split": split,
        "max_eval_examples": max_eval_examples,
        "beam_size": config.beam_size,
        "drop_history": config.drop_history,
        **protocol.describe(config.drop_history),
        "mesh": dict(mesh.shape),
    }
    costs = cost(checkpoint_dir, mesh, ev.decoded_users / ev.decode_seconds if ev.decode_seconds else None)
    # Every host decoded only its devices' share of the users (evaluate/data_parallel.py) and holds
    # every result, so all hosts have the same metrics; process 0 writes them.
    if jax.process_index() != 0:
        return {"run": run, "metrics": metrics, "cost": costs, "templates": templates}
    return results.write_results(out_dir, run, metrics, costs, templates)


def rank_all_items(
    scorer, max_len: int, meta: CheckpointMeta, inputs: EvalInputs, *, name: str, batch_size: int = 512
) -> dict:
    """Models that score every catalogue item (a full_ranking Scorer: left-padded histories of at most
    `max_len` items -> [B, N] scores): every user of the split ranked over every item, beside
    most-popular on the same users, results written like the beam-search evaluator's (the model's
    row named `name`; `batch_size` users per scoring call), and each user's NDCG@10 and hit@10 in
    per_user_<split>_<kept|excluded>.npz beside them. With `inputs.user_sample`, only that many
    users (drawn by `inputs.user_sample_seed`) are ranked, by the model and the floor alike."""
    dataset, split, mesh = inputs.dataset, inputs.split, inputs.mesh
    exclude_history = inputs.config.drop_history
    sample = full_ranking.user_sample(len(dataset.users), inputs.user_sample, inputs.user_sample_seed)
    start = time.time()
    with jax.set_mesh(mesh):
        metrics, per_user = full_ranking.evaluate_per_user(
            scorer,
            dataset,
            split,
            max_len=max_len,
            batch_size=batch_size,
            exclude_history=exclude_history,
            beyond=True,
            users=sample,
        )
    seconds = time.time() - start
    users = len(dataset.users) if sample is None else len(sample)
    # The floor on the same users, ranked the same way: the training split's most popular items.
    floor = full_ranking.evaluate(
        popularity.popularity_scorer(popularity.item_counts(dataset)),
        dataset,
        split,
        max_len=max_len,
        batch_size=batch_size,
        exclude_history=exclude_history,
        users=sample,
    )
    run = {
        "dataset": meta.dataset,
        "model": meta.model,
        "identifier_scheme": meta.identifier_scheme,
        "model_size": families.for_meta(meta).size_name(meta.model_config),
        "checkpoint_step": meta.step,
        "split": split,
        "users": users,
        "user_sample": None
        if sample is None
        else {"users": users, "of": len(dataset.users), "seed": inputs.user_sample_seed},
        "ranking": f"exact: all {dataset.num_items} items scored",
        "drop_history": exclude_history,
        **protocol.describe(exclude_history),
        "mesh": dict(mesh.shape),
    }
    # each user's NDCG@10 and hit@10, in the split's user order: what paired tests compare
    per_user_file = f"per_user_{split}_{'excluded' if exclude_history else 'kept'}.npz"
    os.makedirs(inputs.out_dir, exist_ok=True)
    full_ranking.save_per_user(os.path.join(inputs.out_dir, per_user_file), per_user)
    run["per_user_files"] = [per_user_file]
    run_cost = cost(inputs.checkpoint_dir, mesh, users / seconds)
    table = {name: dict(metrics, examples=users), "most_popular (same users)": dict(floor, examples=users)}
    for group, row in cold_start.configured_rows(dataset, split, per_user, users=sample).items():
        table[f"{name} [{group}]"] = row
    return results.write_results(inputs.out_dir, run, table, run_cost)
