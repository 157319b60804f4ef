"""A tiny end-to-end setup for evaluator/export tests: 39-item synthetic data, two-level
identifiers, SentencePiece vocabulary, sequential, direct, rating and review tasks, an untrained tiny
model, and a checkpoint of it written with the trainer's Checkpointer (meta as the train run mode
writes it)."""

import os

import helpers
import numpy as np

DATASET = "evaltest"
FEATURE_LENGTHS = {"inputs": 160, "targets": 8}


def build_setup(root: str) -> dict:
    from flax import nnx

    from genrec.datasets import synthetic
    from genrec.model.network import EncoderDecoder
    from genrec.semantic_ids.artifact import Identifiers
    from genrec.tasks import build_vocabulary, register_tasks

    dataset = synthetic.generate(num_items=40, num_users=60, seed=0)
    n = dataset.num_items
    identifiers = Identifiers(
        "test2level",
        np.stack([np.arange(n) // 8, (np.arange(n) * 3) % 8], 1),
        ((n + 7) // 8, 8),
        dataset.items.source_ids,
        dataset.name,
    )
    ids_dir = os.path.join(root, "semantic_ids")
    identifiers.save(ids_dir)
    vocabulary = build_vocabulary(dataset, identifiers, os.path.join(root, "vocab"), text_vocab_size=200)
    names = register_tasks(
        DATASET, dataset, identifiers, vocabulary, families=["sequential", "direct", "rating", "review"]
    )
    config = helpers.tiny_t5_config(vocabulary.vocab_size)
    model = EncoderDecoder(config, rngs=nnx.Rngs(0))
    return dict(
        root=root,
        dataset=dataset,
        identifiers=identifiers,
        identifiers_dir=ids_dir,
        vocabulary=vocabulary,
        tasks=names,
        config=config,
        model=model,
    )


def save_checkpoint(setup: dict, checkpoint_dir: str, step: int = 3) -> str:
    """The model's params as the trainer's checkpoint (state + meta JSON)."""
    import jax
    from flax import nnx

    from genrec.runtime.checkpoints import Checkpointer
    from genrec.runtime.meta import CheckpointMeta

    params = nnx.to_pure_dict(nnx.state(setup["model"], nnx.Param))
    state = {"step": np.int32(step), "params": params, "rng": jax.random.key_data(jax.random.key(0))}
    meta = CheckpointMeta(
        model="encoder_decoder",
        model_config=setup["config"].to_dict(),
        vocabulary=setup["vocabulary"].sentencepiece_model_file,
        identifiers_dir=setup["identifiers_dir"],
        dataset=DATASET,
        mixture=f"genrec_{DATASET}_p5_all",
        task_feature_lengths=FEATURE_LENGTHS,
    )
    ckpt = Checkpointer(checkpoint_dir, save_every=1, async_save=False)
    ckpt.save(step, state, meta, force=True)
    ckpt.close()
    return checkpoint_dir


def examples(task: str, split: str = "test", limit=None) -> list:
    from genrec.evaluate.run import task_examples

    return task_examples(task, split, FEATURE_LENGTHS, limit)
