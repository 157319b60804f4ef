"""`--run_mode=eval`: evaluate a checkpoint (own process, any mesh) → <workdir>/eval/results.{json,md}.

  python -m genrec.main --run_mode=eval --workdir=/tmp/run --checkpoint_dir=/tmp/run/checkpoints \
      --gin_file=configs/runs/eval.gin --gin.evaluate.max_eval_examples=200

The checkpoint's meta names everything else: vocabulary, identifiers, dataset, mixture, lengths.
The mesh comes from `make_mesh` bindings (configs/partitioning/*.gin), not from the training run.
"""

from __future__ import annotations

import os
from typing import Optional, Sequence

import gin
import seqio

from genrec import datasets
from genrec.evaluate import beyond_accuracy, cold_start, evaluator, results, scoring
from genrec.runtime import checkpoints, families, partitioning
from genrec.runtime.meta import CheckpointMeta
from genrec.semantic_ids.artifact import Identifiers
from genrec.tasks import pipeline
from genrec.tasks.vocabulary import item_token_ids

EvalConfig = gin.external_configurable(evaluator.EvalConfig, module="genrec.evaluate")


def eval_task_names(registered: Sequence[str], mixture: Optional[str]) -> list[str]:
    """The tasks of the trained mixture plus their held-out-template twins (all tasks if unknown)."""
    tasks = [t for t in registered if t in seqio.TaskRegistry.names()]
    if mixture and mixture in seqio.MixtureRegistry.names():
        trained = {t.name for t in seqio.get_mixture_or_task(mixture).tasks}
        tasks = [t for t in tasks if t.removesuffix("_heldout") in trained]
    return tasks


def task_examples(task_name: str, split: str, feature_lengths: dict, limit: Optional[int]) -> list[dict]:
    """The first `limit` examples (all when None) of a task split, in order, as numpy dicts."""
    ds = seqio.get_mixture_or_task(task_name).get_dataset(
        sequence_length=feature_lengths, split=split, shuffle=False, num_epochs=1
    )
    if limit is not None:
        ds = ds.take(limit)
    return list(ds.as_numpy_iterator())


@gin.configurable(module="genrec.evaluate")
def evaluate(
    ctx,
    *,
    split: str = "test",
    tasks: Optional[Sequence[str]] = None,
    max_eval_examples: Optional[int] = None,
    user_sample: Optional[int] = None,
    user_sample_seed: int = 0,
    config: Optional[evaluator.EvalConfig] = None,
    step: Optional[int] = None,
) -> dict:
    """Evaluates the newest (or `step`) checkpoint on every task of its mixture; prints the table.

    tasks: task names to evaluate (default: the trained mixture's tasks + held-out twins).
    max_eval_examples: cap per task for quick runs (default: all users).
    user_sample: for models that rank every item (parallel_ids, SASRec-like scorers): rank only this
      many users of the split, drawn without replacement by `user_sample_seed` (the same users at
      every run); results.json's run says how many were scored. Default: every user.
    """
    checkpoint_dir = ctx.checkpoint_dir or os.path.join(ctx.workdir, "checkpoints")
    _, meta = checkpoints.read_meta(checkpoint_dir, step)
    dataset = datasets.load(meta.dataset, data_dir=ctx.data_dir, raw_data_dir=ctx.raw_data_dir)
    out = evaluate_checkpoint(
        checkpoint_dir,
        dataset=dataset,
        mesh=partitioning.make_mesh(),
        out_dir=os.path.join(ctx.workdir, "eval"),
        split=split,
        tasks=tasks,
        max_eval_examples=max_eval_examples,
        user_sample=user_sample,
        user_sample_seed=user_sample_seed,
        config=config or EvalConfig(),
        step=step,
    )
    print(results.markdown(out))
    return out


def evaluate_checkpoint(
    checkpoint_dir: str,
    *,
    dataset,
    mesh,
    out_dir: str,
    split: str = "test",
    tasks: Optional[Sequence[str]] = None,
    max_eval_examples: Optional[int] = None,
    user_sample: Optional[int] = None,
    user_sample_seed: int = 0,
    config: evaluator.EvalConfig = evaluator.EvalConfig(),
    step: Optional[int] = None,
) -> dict:
    """The gin-free core of `evaluate`: restore onto `mesh`; the checkpoint's model family scores it."""
    model, meta = checkpoints.load_for_inference(checkpoint_dir, mesh, step=step)
    return families.for_meta(meta).evaluate(
        model,
        meta,
        families.EvalInputs(
            dataset=dataset,
            checkpoint_dir=checkpoint_dir,
            mesh=mesh,
            out_dir=out_dir,
            split=split,
            config=config,
            tasks=tuple(tasks) if tasks else None,
            max_eval_examples=max_eval_examples,
            user_sample=user_sample,
            user_sample_seed=user_sample_seed,
        ),
    )


def score_trained_tasks(model, meta: CheckpointMeta, inputs: families.EvalInputs) -> dict:
    """Text-to-text models: every task of the trained mixture (and held-out twins), decoded and scored
    as training built them (candidates, history length, seed: vocab/tasks.json)."""
    if inputs.user_sample is not None:
        raise ValueError(
            "evaluate.user_sample applies to models that rank every item; a text-to-text model's "
            "tasks are capped with evaluate.max_eval_examples"
        )
    identifiers = Identifiers.load(meta.identifiers_dir)
    vocabulary, registered = pipeline.register_as_trained(
        meta.vocabulary, inputs.dataset, identifiers, meta.dataset
    )
    names = list(inputs.tasks) if inputs.tasks else eval_task_names(registered, meta.mixture)
    return scoring.score_tasks(
        model,
        meta,
        checkpoint_dir=inputs.checkpoint_dir,
        names=names,
        examples_of=lambda name: task_examples(
            name, inputs.split, meta.task_feature_lengths, inputs.max_eval_examples
        ),
        item_tokens=item_token_ids(vocabulary, identifiers),
        popularity=beyond_accuracy.train_popularity(inputs.dataset),
        vocabulary=vocabulary,
        identifier_scheme=identifiers.scheme,
        mesh=inputs.mesh,
        out_dir=inputs.out_dir,
        split=inputs.split,
        max_eval_examples=inputs.max_eval_examples,
        config=inputs.config,
        groups_of=lambda name, examples: (
            cold_start.example_groups(inputs.dataset, inputs.split, examples)
            if evaluator.task_family(name) == "sequential"
            else {}
        ),
    )
