"""Scores a restored model on named tasks and writes results: the part of evaluation that needs no
TensorFlow or seqio (examples arrive as numpy dicts from seqio in run.py, or from an array snapshot
in genrec/snapshot)."""
from __future__ import annotations

import json
import logging
import os
from typing import Callable, Optional, Sequence

import jax
import numpy as np

from genrec.evaluate import evaluator, protocol, results


def model_size_name(model_config: dict) -> str:
    c = model_config
    if "num_layers" in c:  # the parallel-digit model
        return f"d{c['d_model']}-layers{c['num_layers']}-digits{len(c['level_sizes'])}"
    return f"d{c['d_model']}-enc{c['num_encoder_layers']}-dec{c['num_decoder_layers']}"


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
    return {"device_kind": jax.devices()[0].device_kind, "num_devices": mesh.size, "train_steps": train.get("steps"),
            "train_wall_s": train.get("cumulative_wall_s", train.get("wall_s")),
            "train_flops": train.get("total_flops"), "num_params": train.get("num_params"),
            "decode_users_per_s": users_per_s,
            "decode_ms_per_user": 1000.0 / users_per_s if users_per_s else None}


def score_tasks(model, meta: dict, *, checkpoint_dir: str, names: Sequence[str],
                examples_of: Callable[[str], list[dict]], item_tokens: np.ndarray, popularity: np.ndarray,
                vocabulary, identifier_scheme: str, mesh: jax.sharding.Mesh, out_dir: str, split: str,
                max_eval_examples: Optional[int], config: evaluator.EvalConfig) -> dict:
    """Every task in `names` (examples_of(name) → its examples), then <out_dir>/results.{json,md}."""
    from genrec.model import trie as trie_lib

    ev = evaluator.Evaluator(model, trie=trie_lib.build_trie(item_tokens), item_tokens=item_tokens,
                             vocabulary=vocabulary, popularity=popularity, config=config,
                             eos_id=vocabulary.eos_id)
    metrics, templates = {}, {}
    with jax.set_mesh(mesh):
        for name in names:
            examples = examples_of(name)
            if not examples:
                logging.warning("%s: no %s examples; skipped", name, split)
                continue
            metrics[name], templates[name] = ev.evaluate_task(name, examples)
    run = {"dataset": meta["dataset"], "mixture": meta.get("mixture"), "identifier_scheme": identifier_scheme,
           "model_size": meta.get("model_size") or model_size_name(meta["model_config"]),
           "checkpoint_step": meta["step"], "split": split, "max_eval_examples": max_eval_examples,
           "beam_size": config.beam_size, "drop_history": config.drop_history,
           **protocol.describe(config.drop_history), "mesh": dict(mesh.shape)}
    costs = cost(checkpoint_dir, mesh, ev.decoded_users / ev.decode_seconds if ev.decode_seconds else None)
    # Every host decoded only its devices' share of the users (evaluate/data_parallel.py) and holds
    # every result, so all hosts have the same metrics; process 0 writes them.
    if jax.process_index() != 0:
        return {"run": run, "metrics": metrics, "cost": costs, "templates": templates}
    return results.write_results(out_dir, run, metrics, costs, templates)
