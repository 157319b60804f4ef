"""`--run_mode=snapshot`: freezes what training and evaluation need into <workdir>/snapshot/.

  python -m genrec.main --run_mode=snapshot --gin_file=configs/experiments/tiger_beauty.gin --workdir=W
  # then, on a machine with JAX only (no TensorFlow / seqio):
  python -m genrec.snapshot.run --snapshot=W/snapshot --workdir=W/run

Layout: meta.json (dataset, mixture, tasks, feature lengths, and the model / optimizer / train-loop /
EvalConfig settings gin resolved here), vocab/{spm.model,tasks.json}, identifiers/, item_tokens.npy,
popularity.npy, and <split>/<task>.npz per split (genrec.snapshot.arrays). Training samples the
mixture's tasks in proportion to their example counts (the registry's default mixing rates).
"""

from __future__ import annotations

import inspect
import json
import logging
import os
import shutil
from typing import Optional, Sequence

import gin
import numpy as np
import seqio

from genrec import datasets
from genrec.evaluate import beyond_accuracy
from genrec.evaluate import run as eval_run
from genrec.model.config import ModelConfig
from genrec.snapshot import arrays
from genrec.snapshot.arrays import META_FILE
from genrec.tasks import pipeline, registry
from genrec.tasks.vocabulary import item_token_ids
from genrec.train import optimizers, trainer
from genrec.train import run as train_run


def _bindings(selector: str) -> dict:
    """The parameters gin binds for `selector` (values only: references are not recorded)."""
    return {k: v for k, v in gin.get_bindings(selector).items() if not callable(v)}


def _settings(fn, selector: str) -> dict:
    """Every keyword parameter of `fn` as this run resolves it: its default unless gin binds it."""
    defaults = {
        name: p.default
        for name, p in inspect.signature(fn).parameters.items()
        if p.default is not inspect.Parameter.empty
    }
    return {**defaults, **_bindings(selector)}


@gin.configurable(module="genrec.snapshot")
def snapshot(
    ctx, *, eval_splits: Sequence[str] = ("validation", "test"), out_dir: Optional[str] = None
) -> str:
    """The run mode: writes the snapshot of the gin-configured run; returns its folder."""
    dataset = datasets.load(data_dir=ctx.data_dir, raw_data_dir=ctx.raw_data_dir)
    return write_snapshot(
        ctx.workdir, dataset, out_dir or os.path.join(ctx.workdir, "snapshot"), eval_splits=eval_splits
    )


def write_snapshot(
    workdir: str, dataset, out: str, *, eval_splits: Sequence[str] = ("validation", "test")
) -> str:
    """The core, on an in-memory RecDataset: identifiers from <workdir> (as `--run_mode=train` finds
    them), tasks and model settings from gin."""
    if _bindings("genrec.tasks.pipeline.prepare_tasks").get("mixture_rates"):
        raise ValueError(
            "snapshots sample tasks in proportion to their examples; unbind "
            "prepare_tasks.mixture_rates or train with --run_mode=train"
        )
    identifiers, identifiers_dir = train_run.identifiers_for(workdir, dataset)
    vocabulary, mixture = pipeline.prepare_tasks(workdir, dataset, identifiers)
    lengths = pipeline.task_feature_lengths()
    train_tasks = (
        [t.name for t in seqio.get_mixture_or_task(mixture).tasks]
        if mixture in seqio.MixtureRegistry.names()
        else [mixture]
    )
    eval_tasks = eval_run.eval_task_names(
        [n for n in seqio.TaskRegistry.names() if n.startswith(registry.task_name(dataset.name, ""))], mixture
    )

    os.makedirs(out, exist_ok=True)
    counts = {}
    for split, names in [("train", train_tasks)] + [(s, eval_tasks) for s in eval_splits]:
        os.makedirs(os.path.join(out, split), exist_ok=True)
        for name in names:
            examples = eval_run.task_examples(name, split, lengths, None)
            logging.info("snapshot: %s/%s: %d examples", split, name, len(examples))
            if examples:
                arrays.save_examples(os.path.join(out, split, f"{name}.npz"), examples)
            counts.setdefault(split, {})[name] = len(examples)

    shutil.copytree(
        os.path.dirname(vocabulary.sentencepiece_model_file), os.path.join(out, "vocab"), dirs_exist_ok=True
    )
    shutil.copytree(identifiers_dir, os.path.join(out, "identifiers"), dirs_exist_ok=True)
    np.save(os.path.join(out, "item_tokens.npy"), item_token_ids(vocabulary, identifiers))
    np.save(os.path.join(out, "popularity.npy"), beyond_accuracy.train_popularity(dataset))
    meta = {
        "dataset": dataset.name,
        "num_items": dataset.num_items,
        "mixture": mixture,
        "identifier_scheme": identifiers.scheme,
        "train_tasks": train_tasks,
        "eval_tasks": eval_tasks,
        "counts": counts,
        "task_feature_lengths": dict(lengths),
        "vocab_size": vocabulary.vocab_size,
        "eos_id": vocabulary.eos_id,
        "model_config": ModelConfig(vocab_size=vocabulary.vocab_size).to_dict(),
        "optimizer": _settings(optimizers.make_optimizer, "genrec.train.optimizers.make_optimizer"),
        "train": {
            k: v for k, v in _settings(train_run.train, "genrec.train.run.train").items() if k != "loop"
        },
        "loop": _settings(trainer.LoopConfig, "genrec.train.trainer.LoopConfig"),
        "eval_config": _bindings("genrec.evaluate.EvalConfig"),
    }
    with open(os.path.join(out, META_FILE), "w") as f:
        json.dump(meta, f, indent=1)
    logging.info("snapshot written to %s: %s", out, counts)
    return out
