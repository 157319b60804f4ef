"""What the train / eval run modes call: build or load the vocabulary, register the tasks, get batches.

vocab, mixture = prepare_tasks(ctx.workdir, dataset, identifiers)   # gin: prepare_tasks.*
ds = train_dataset(mixture, task_feature_lengths(), seed=0)          # packed, repeated, shuffled
features, metadata = eval_examples(task, "validation", task_feature_lengths())  # unpacked
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from typing import Optional, Sequence

import gin
import jax
import numpy as np
import seqio
import tensorflow as tf

from genrec.datasets.records import RecDataset
from genrec.semantic_ids.artifact import Identifiers
from genrec.tasks import examples, registry, vocabulary
from genrec.tasks.source import METADATA

VOCAB_DIR = "vocab"
TASKS_FILE = "tasks.json"  # next to spm.model: how the tasks were built, for the evaluator


@gin.configurable
def task_feature_lengths(inputs: int = 512, targets: int = 64) -> dict[str, int]:
    """Token lengths examples are trimmed to (inputs hold up to 100 direct-family candidates)."""
    return {"inputs": inputs, "targets": targets}


@gin.configurable(denylist=["workdir", "dataset", "identifiers"])
def prepare_tasks(
    workdir: str,
    dataset: RecDataset,
    identifiers: Identifiers,
    *,
    families: Optional[Sequence[str]] = None,
    mixture: str = "p5_all",
    text_vocab_size: int = 8000,
    max_history: int = 20,
    num_candidates: int = 100,
    direct_samples_per_user: int = 1,
    seed: int = 0,
    user_tokens: bool = False,
    user_token_buckets: int = 2000,
    mixture_rates: Optional[dict] = None,
) -> tuple[seqio.Vocabulary, str]:
    """Builds `<workdir>/vocab/spm.model` (or loads it when it holds these identifiers' tokens and
    these user tokens), registers the dataset's tasks and returns (vocabulary, name of `mixture`).

    max_history: most recent items an input shows (every task, TIGER's included).
    user_tokens: TIGER's task starts each input with the user's id hashed into one of
      `user_token_buckets` tokens `<u_K>`, which then join the vocabulary (the TIGER paper: 2000).
    """
    vocab_dir = os.path.join(workdir, VOCAB_DIR)
    config = examples.ExampleConfig(
        max_history=max_history,
        num_candidates=num_candidates,
        direct_samples_per_user=direct_samples_per_user,
        user_tokens=user_token_buckets if user_tokens else 0,
        seed=seed,
    )
    vocab = _shared_vocabulary(vocab_dir, dataset, identifiers, text_vocab_size, config.user_tokens)
    names = registry.register_tasks(
        dataset.name, dataset, identifiers, vocab, families, config=config, mixture_rates=mixture_rates
    )
    logging.info("registered %s", ", ".join(names))
    if jax.process_index() == 0:
        with open(os.path.join(vocab_dir, TASKS_FILE), "w") as f:
            json.dump(
                {
                    "dataset": dataset.name,
                    "families": list(families) if families else None,
                    "example_config": dataclasses.asdict(config),
                    "mixture_rates": mixture_rates,
                },
                f,
                indent=1,
            )
    name = registry.mixture_name(dataset.name, mixture)
    if name not in names:
        raise ValueError(f"mixture {name} was not registered: {dataset.name!r} lacks its families")
    return vocab, name


def trained_settings(vocabulary_path: str) -> dict:
    """How prepare_tasks built the tasks (tasks.json next to the vocabulary: families, example
    config, mixture rates); {} with a warning when it is missing (default settings apply)."""
    path = os.path.join(os.path.dirname(vocabulary_path), TASKS_FILE)
    if not os.path.exists(path):
        logging.warning("%s not found; tasks are rebuilt with default settings", path)
        return {}
    with open(path) as f:
        return json.load(f)


def trained_example_config(vocabulary_path: str) -> examples.ExampleConfig:
    return examples.ExampleConfig(**trained_settings(vocabulary_path).get("example_config", {}))


def register_as_trained(
    vocabulary_path: str, dataset: RecDataset, identifiers: Identifiers, dataset_name: Optional[str] = None
) -> tuple[seqio.Vocabulary, list[str]]:
    """Registers the tasks exactly as prepare_tasks did for training (same candidates, history length,
    seed: read from tasks.json next to the vocabulary); returns (vocabulary, task and mixture names)."""
    vocab = vocabulary.load_vocabulary(os.path.dirname(vocabulary_path))
    saved = trained_settings(vocabulary_path)
    config = examples.ExampleConfig(**saved.get("example_config", {}))
    names = registry.register_tasks(
        dataset_name or dataset.name,
        dataset,
        identifiers,
        vocab,
        saved.get("families"),
        config=config,
        mixture_rates=saved.get("mixture_rates"),
    )
    return vocab, names


def _shared_vocabulary(
    vocab_dir: str, dataset: RecDataset, identifiers: Identifiers, text_vocab_size: int, user_tokens: int
) -> seqio.Vocabulary:
    """The vocabulary in `vocab_dir`, built there first if missing. With several processes only
    process 0 builds it; the others wait for it and read it (the workdir must be shared)."""
    if jax.process_index() == 0:
        vocab = _load_matching(vocab_dir, identifiers, user_tokens)
        if vocab is None:
            vocab = vocabulary.build_vocabulary(
                dataset, identifiers, vocab_dir, text_vocab_size=text_vocab_size, num_user_tokens=user_tokens
            )
    if jax.process_count() == 1:
        return vocab
    from jax.experimental import multihost_utils

    multihost_utils.sync_global_devices("genrec vocabulary ready")
    if jax.process_index() == 0:
        return vocab
    vocab = _load_matching(vocab_dir, identifiers, user_tokens)
    if vocab is None:
        raise FileNotFoundError(
            f"process {jax.process_index()}: no vocabulary for these identifiers in "
            f"{vocab_dir} after process 0 built it; the workdir must be shared by all "
            "hosts (e.g. a bucket path)"
        )
    return vocab


def _load_matching(vocab_dir: str, identifiers: Identifiers, user_tokens: int) -> Optional[seqio.Vocabulary]:
    if not os.path.exists(os.path.join(vocab_dir, vocabulary.MODEL_FILE)):
        return None
    vocab = vocabulary.load_vocabulary(vocab_dir)
    try:
        vocabulary.item_token_ids(vocab, identifiers)
    except ValueError:
        logging.warning("%s lacks these identifiers' tokens; rebuilding it", vocab_dir)
        return None
    if vocabulary.user_token_count(vocab) != user_tokens:
        logging.warning(
            "%s has %d user tokens, not %d; rebuilding it",
            vocab_dir,
            vocabulary.user_token_count(vocab),
            user_tokens,
        )
        return None
    return vocab


def train_dataset(
    mixture_or_task: str,
    feature_lengths: dict[str, int],
    *,
    seed: int = 0,
    shard_info: Optional[seqio.ShardInfo] = None,
) -> tf.data.Dataset:
    """Packed encoder-decoder examples (unbatched), shuffled and repeated, deterministic given seed."""
    return seqio.get_dataset(
        mixture_or_task,
        feature_lengths,
        seqio.EncDecFeatureConverter(pack=True),
        dataset_split="train",
        shuffle=True,
        num_epochs=None,
        seed=seed,
        shard_info=shard_info,
    )


def eval_examples(
    task: str, split: str, feature_lengths: dict[str, int]
) -> tuple[dict[str, np.ndarray], list[dict]]:
    """All examples of `task`/`split`, unpacked: model features [N, T] plus `example_id` [N], and each
    example's metadata (inputs/targets text, user_index, target_item, ...) in the same order."""
    raw = registry.get(task).get_dataset(feature_lengths, split=split, shuffle=False)
    converted = seqio.EncDecFeatureConverter(pack=False)(raw, feature_lengths)
    features: dict[str, list] = {}
    metadata = []
    keep = ("inputs_pretokenized", "targets_pretokenized", *METADATA)
    for ex, model_ex in tf.data.Dataset.zip((raw, converted)).as_numpy_iterator():
        metadata.append({k: _plain(ex[k]) for k in keep})
        for k, v in model_ex.items():
            features.setdefault(k, []).append(v)
    arrays = {k: np.stack(v) for k, v in features.items()}
    arrays["example_id"] = np.arange(len(metadata), dtype=np.int32)
    return arrays, metadata


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.ndim:
        return value.tolist()
    return value.item() if isinstance(value, np.generic) else value
