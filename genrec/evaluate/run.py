"""`--run_mode=eval`: evaluate a checkpoint (own process, any mesh) → <workdir>/eval/results.{json,md}.

  python -m genrec.main --run_mode=eval --workdir=/tmp/run --checkpoint_dir=/tmp/run/checkpoints \
      --gin_file=configs/runs/eval.gin --gin.evaluate.max_eval_examples=200

The checkpoint's meta names everything else: vocabulary, identifiers, dataset, mixture, lengths.
The mesh comes from `make_mesh` bindings (configs/partitioning/*.gin), not from the training run.
"""
from __future__ import annotations

import json
import logging
import os
from typing import Optional, Sequence

import gin
import jax
import numpy as np

from genrec.evaluate import beyond_accuracy, evaluator, results
from genrec.tasks import pipeline  # noqa: F401  (registers prepare_tasks.* / task_feature_lengths.*)

EvalConfig = gin.external_configurable(evaluator.EvalConfig, module="genrec.evaluate")


def eval_task_names(registered: Sequence[str], mixture: Optional[str]) -> list[str]:
    """The tasks of the trained mixture plus their held-out-template twins (all tasks if unknown)."""
    import seqio

    tasks = [t for t in registered if t in seqio.TaskRegistry.names()]
    if mixture and mixture in seqio.MixtureRegistry.names():
        trained = {t.name for t in seqio.get_mixture_or_task(mixture).tasks}
        tasks = [t for t in tasks if t.removesuffix("_heldout") in trained]
    return tasks


def task_examples(task_name: str, split: str, feature_lengths: dict, limit: Optional[int]) -> list[dict]:
    """The first `limit` examples (all when None) of a task split, in order, as numpy dicts."""
    import seqio

    ds = seqio.get_mixture_or_task(task_name).get_dataset(
        sequence_length=feature_lengths, split=split, shuffle=False, num_epochs=1)
    if limit is not None:
        ds = ds.take(limit)
    return list(ds.as_numpy_iterator())


def model_size_name(model_config: dict) -> str:
    c = model_config
    return f"d{c['d_model']}-enc{c['num_encoder_layers']}-dec{c['num_decoder_layers']}"


def read_train_summary(checkpoint_dir: str) -> dict:
    path = os.path.join(os.path.dirname(os.path.abspath(checkpoint_dir)), "train_summary.json")
    if not os.path.exists(path):
        logging.warning("%s not found; training cost left out of results", path)
        return {}
    with open(path) as f:
        return json.load(f)


@gin.configurable(module="genrec.evaluate")
def evaluate(ctx, *, split: str = "test", tasks: Optional[Sequence[str]] = None,
             max_eval_examples: Optional[int] = None, config: Optional[evaluator.EvalConfig] = None,
             step: Optional[int] = None) -> dict:
    """Evaluates the newest (or `step`) checkpoint on every task of its mixture; prints the table.

    tasks: task names to evaluate (default: the trained mixture's tasks + held-out twins).
    max_eval_examples: cap per task for quick runs (default: all users).
    """
    from genrec import datasets
    from genrec.train import checkpoints, partitioning

    checkpoint_dir = ctx.checkpoint_dir or os.path.join(ctx.workdir, "checkpoints")
    _, meta = checkpoints.read_meta(checkpoint_dir, step)
    dataset = datasets.load(meta["dataset"], data_dir=ctx.data_dir, raw_data_dir=ctx.raw_data_dir)
    out = evaluate_checkpoint(checkpoint_dir, dataset=dataset, mesh=partitioning.make_mesh(),
                              out_dir=os.path.join(ctx.workdir, "eval"), split=split, tasks=tasks,
                              max_eval_examples=max_eval_examples, config=config or EvalConfig(), step=step)
    print(results.markdown(out))
    return out


def evaluate_checkpoint(checkpoint_dir: str, *, dataset, mesh, out_dir: str, split: str = "test",
                        tasks: Optional[Sequence[str]] = None, max_eval_examples: Optional[int] = None,
                        config: evaluator.EvalConfig = evaluator.EvalConfig(),
                        step: Optional[int] = None) -> dict:
    """The gin-free core of `evaluate`: restore onto `mesh`, score every task, write results."""
    from genrec.model import trie as trie_lib
    from genrec.semantic_ids.artifact import Identifiers
    from genrec.tasks.vocabulary import item_token_ids
    from genrec.train import checkpoints

    model, meta = checkpoints.load_for_inference(checkpoint_dir, mesh, step=step)
    identifiers = Identifiers.load(meta["identifiers_dir"])
    # The tasks exactly as training built them (candidates, history length, seed: vocab/tasks.json).
    vocabulary, registered = pipeline.register_as_trained(meta["vocabulary"], dataset, identifiers, meta["dataset"])
    names = list(tasks) if tasks else eval_task_names(registered, meta.get("mixture"))
    item_tokens = item_token_ids(vocabulary, identifiers)
    ev = evaluator.Evaluator(
        model, trie=trie_lib.build_trie(item_tokens), item_tokens=item_tokens, vocabulary=vocabulary,
        popularity=beyond_accuracy.train_popularity(dataset), config=config, eos_id=vocabulary.eos_id)
    metrics, templates = {}, {}
    with jax.set_mesh(mesh):
        for name in names:
            examples = task_examples(name, split, meta["task_feature_lengths"], max_eval_examples)
            if not examples:
                logging.warning("%s: no %s examples; skipped", name, split)
                continue
            metrics[name], templates[name] = ev.evaluate_task(name, examples)
    train = read_train_summary(checkpoint_dir)
    run = {"dataset": meta["dataset"], "mixture": meta.get("mixture"),
           "identifier_scheme": identifiers.scheme,
           "model_size": meta.get("model_size") or model_size_name(meta["model_config"]),
           "checkpoint_step": meta["step"], "split": split, "max_eval_examples": max_eval_examples,
           "beam_size": config.beam_size, "drop_history": config.drop_history,
           "mesh": dict(mesh.shape)}
    users_per_s = ev.decoded_users / ev.decode_seconds if ev.decode_seconds else None
    cost = {"device_kind": jax.devices()[0].device_kind, "num_devices": mesh.size,
            "train_steps": train.get("steps"), "train_wall_s": train.get("wall_s"),
            "train_flops": train.get("total_flops"), "num_params": train.get("num_params"),
            "decode_users_per_s": users_per_s,
            "decode_ms_per_user": 1000.0 / users_per_s if users_per_s else None}
    if jax.process_index() != 0:  # multi-host: every host decodes its share of the mesh, one writes
        return {"run": run, "metrics": metrics, "cost": cost, "templates": templates}
    return results.write_results(out_dir, run, metrics, cost, templates)
