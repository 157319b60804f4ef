"""Trains and evaluates from an array snapshot, with JAX, Flax, optax, orbax and gin alone.

  python -m genrec.snapshot.run --snapshot=W/snapshot --workdir=W/run [--num_steps=N] [--max_wall_s=S]

Model, optimizer, loop and EvalConfig settings are the ones recorded in <snapshot>/meta.json (gin
resolved them where the snapshot was written); the flags override a few. Writes the same artifacts
as `--run_mode=train` and `--run_mode=eval`: <workdir>/checkpoints (whose meta points at the
snapshot's vocabulary and identifiers, so `--run_mode=eval` reads them too), train_summary.json,
TensorBoard scalars, loss curve, model-info.txt, eval/results.{json,md}.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Optional, Sequence

import jax
import numpy as np
from absl import app, flags

from genrec.evaluate import evaluator, results, scoring
from genrec.runtime import checkpoints, families, partitioning
from genrec.runtime.meta import DEFAULT_MODEL, CheckpointMeta
from genrec.snapshot import arrays
from genrec.snapshot.arrays import META_FILE
from genrec.train import optimizers, trainer
from genrec.train import run as train_run


class SentencePieceDecoder:
    """The vocabulary's `decode` and `eos_id`, from spm.model with sentencepiece alone."""

    def __init__(self, model_file: str, eos_id: int):
        import sentencepiece

        self._sp = sentencepiece.SentencePieceProcessor(model_file=model_file)
        self.eos_id = eos_id

    def decode(self, ids: Sequence[int]) -> str:
        return self._sp.decode([int(i) for i in ids if 0 <= i < self._sp.get_piece_size()])


def read_meta(snapshot: str) -> dict:
    path = os.path.join(snapshot, META_FILE)
    if not os.path.exists(path):
        raise FileNotFoundError(f"{path} not found: is {snapshot} a snapshot (--run_mode=snapshot)?")
    with open(path) as f:
        return json.load(f)


def train(
    snapshot: str,
    workdir: str,
    *,
    num_steps: Optional[int] = None,
    batch_size: Optional[int] = None,
    max_wall_s: Optional[float] = None,
) -> dict:
    """Trains on the snapshot's train split; returns the run summary."""
    meta = read_meta(snapshot)
    recorded = dict(meta["train"])
    if recorded.pop("pack", False):
        logging.info("snapshots train on unpacked rows (the recorded train.pack is ignored)")
    family = families.get(recorded.pop("model", DEFAULT_MODEL))
    if not family.text_to_text:
        raise ValueError(
            f"{snapshot}: snapshots hold text-to-text task examples; the {family.name!r} model "
            "trains from its own Task (--run_mode=train)"
        )
    overrides = {"num_steps": num_steps, "batch_size": batch_size, "max_wall_s": max_wall_s}
    loop = trainer.LoopConfig(**{**meta["loop"], **{k: v for k, v in overrides.items() if v is not None}})
    lengths = meta["task_feature_lengths"]
    columns = [
        arrays.load_columns(os.path.join(snapshot, "train", f"{t}.npz"))
        for t in meta["train_tasks"]
        if meta["counts"]["train"].get(t)
    ]
    features = arrays.encdec_features(
        [r for c in columns for r in c["inputs"]], [r for c in columns for r in c["targets"]], lengths
    )
    logging.info(
        "snapshot %s: %d training examples; %s", snapshot, len(features["decoder_target_tokens"]), loop
    )
    mesh = partitioning.make_mesh()
    source = arrays.Batches(
        features,
        loop.batch_size,
        seed=loop.seed,
        process_index=jax.process_index(),
        process_count=jax.process_count(),
    )
    run_meta = CheckpointMeta(
        model=family.name,
        model_config={},
        vocabulary=os.path.abspath(os.path.join(snapshot, "vocab", "spm.model")),
        identifiers_dir=os.path.abspath(os.path.join(snapshot, "identifiers")),
        identifier_scheme=meta["identifier_scheme"],
        dataset=meta["dataset"],
        mixture=meta["mixture"],
        pack=False,
        snapshot=os.path.abspath(snapshot),
    )
    plan = family.plan_for_batches(
        family.config_from_dict(meta["model_config"]), lengths, loop, run_meta, source
    )
    _, summary = train_run.train_plan(
        plan, workdir, loop, mesh, tx=optimizers.make_optimizer(loop.num_steps, **meta["optimizer"])
    )
    return summary


def evaluate(
    snapshot: str,
    workdir: str,
    *,
    split: str = "test",
    tasks: Optional[Sequence[str]] = None,
    max_eval_examples: Optional[int] = None,
    batch_size: Optional[int] = None,
) -> dict:
    """Scores the newest checkpoint in <workdir>/checkpoints on the snapshot's `split` examples."""
    meta = read_meta(snapshot)
    config = evaluator.EvalConfig(
        **dict(meta["eval_config"], **({"batch_size": batch_size} if batch_size else {}))
    )
    names = list(tasks or meta["eval_tasks"])
    unknown = [n for n in names if n not in meta["counts"].get(split, {})]
    if unknown:
        raise ValueError(
            f"{snapshot}: no {split} examples of {unknown}; it holds {sorted(meta['counts'].get(split, {}))}"
        )
    checkpoint_dir = os.path.join(workdir, "checkpoints")
    mesh = partitioning.make_mesh()
    model, ckpt_meta = checkpoints.load_for_inference(checkpoint_dir, mesh)

    def examples_of(name: str) -> list[dict]:
        if not meta["counts"][split][name]:
            return []
        examples = arrays.load_examples(os.path.join(snapshot, split, f"{name}.npz"))
        return examples[:max_eval_examples] if max_eval_examples is not None else examples

    return scoring.score_tasks(
        model,
        ckpt_meta,
        checkpoint_dir=checkpoint_dir,
        names=names,
        examples_of=examples_of,
        item_tokens=np.load(os.path.join(snapshot, "item_tokens.npy")),
        popularity=np.load(os.path.join(snapshot, "popularity.npy")),
        vocabulary=SentencePieceDecoder(os.path.join(snapshot, "vocab", "spm.model"), meta["eos_id"]),
        identifier_scheme=meta["identifier_scheme"],
        mesh=mesh,
        out_dir=os.path.join(workdir, "eval"),
        split=split,
        max_eval_examples=max_eval_examples,
        config=config,
    )


def main(argv):
    del argv
    FLAGS = flags.FLAGS
    logging.getLogger().setLevel(logging.INFO)
    if FLAGS.stage in ("all", "train"):
        train(
            FLAGS.snapshot,
            FLAGS.workdir,
            num_steps=FLAGS.num_steps,
            batch_size=FLAGS.batch_size,
            max_wall_s=FLAGS.max_wall_s,
        )
    if FLAGS.stage in ("all", "eval"):
        out = evaluate(
            FLAGS.snapshot,
            FLAGS.workdir,
            split=FLAGS.eval_split,
            tasks=FLAGS.tasks,
            max_eval_examples=FLAGS.max_eval_examples,
            batch_size=FLAGS.eval_batch_size,
        )
        print(results.markdown(out))


def define_flags() -> None:
    """The command's flags (defined on demand: `genrec.main` imports every module, and these names
    would clash with its own)."""
    flags.DEFINE_string("snapshot", None, "Snapshot folder (written by --run_mode=snapshot).", required=True)
    flags.DEFINE_string("workdir", None, "Where checkpoints and results go.", required=True)
    flags.DEFINE_enum("stage", "all", ["all", "train", "eval"], "What to run.")
    flags.DEFINE_integer("num_steps", None, "Override the recorded LoopConfig.num_steps.")
    flags.DEFINE_integer("batch_size", None, "Override the recorded LoopConfig.batch_size.")
    flags.DEFINE_float("max_wall_s", None, "Stop training (with a checkpoint) after this many seconds.")
    flags.DEFINE_string("eval_split", "test", "Split to evaluate.")
    flags.DEFINE_list("tasks", None, "Tasks to evaluate (default: every evaluation task in the snapshot).")
    flags.DEFINE_integer("max_eval_examples", None, "Cap per task (default: all).")
    flags.DEFINE_integer(
        "eval_batch_size", None, "Override EvalConfig.batch_size (inputs per decoding call)."
    )


if __name__ == "__main__":
    define_flags()
    app.run(main)
