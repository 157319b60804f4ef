"""The model-family interface and its registry (t5x's `BaseModel`, one object per family).

A family owns everything the stages ask of a model: its config (`config_from_dict`), how to build it
with or without the catalogue (`build`), how a dataset becomes its training batches, its loss, its
validation scorer and FLOPs (`training_plan`), how a checkpoint is evaluated (`evaluate`), exported
(`export`) and served (`recommender`), and its RL policy adapter (`rl_parts`). Train, eval, export,
RL, snapshot and recommend look a family up here by the name a gin file or a checkpoint meta gives,
and never compare names themselves.

genrec's own families live in `genrec/families/` (above every stage they use) and register when that
package is imported, which `get` does on first use. A new family is one module that subclasses
`ModelFamily` and calls `register(MyFamily())`; importing it (a gin file's `import` line, or the test
that defines it) makes it available to every stage.
"""

from __future__ import annotations

import abc
import dataclasses
import importlib
from typing import Any, Callable, Optional

from genrec.runtime.meta import CheckpointMeta

BUILTIN_FAMILIES = "genrec.families"  # imported on first lookup: registers genrec's own families


@dataclasses.dataclass(frozen=True)
class TrainingInputs:
    """What the train stage hands a family: the run's folder, data, identifiers, loop and mesh."""

    workdir: str
    dataset: Any  # genrec.datasets.RecDataset
    identifiers: Any  # genrec.semantic_ids.artifact.Identifiers
    identifiers_dir: str
    loop: Any  # genrec.train.trainer.LoopConfig
    mesh: Any  # jax.sharding.Mesh
    pack: bool = True
    validate: bool = False
    model_config: Any = None  # overrides the gin-configured one (tests, benchmarks)


@dataclasses.dataclass(frozen=True)
class TrainingPlan:
    """What the one train loop needs from a family (genrec.train.trainer.train_loop's arguments)."""

    config: Any  # the family's model config
    factory: Callable  # rngs -> the model to train (with the catalogue where its loss needs it)
    batch_source: Callable  # start_step -> iterator of host-local batches
    meta: CheckpointMeta
    flops_per_step: float
    loss_fn: Optional[Callable] = None  # None: token cross-entropy with z-loss (genrec/train/steps.py)
    validate: Optional[Callable] = None  # params -> validation metrics, at every checkpoint
    # per-run model inputs placed on the mesh (the parallel-digit model's sharded catalogue): inputs
    # of the compiled step, not constants of its program (genrec.train.trainer.train_loop)
    constants: Optional[dict] = None


@dataclasses.dataclass(frozen=True)
class EvalInputs:
    """What the eval stage hands a family, beside the restored model and its meta."""

    dataset: Any
    checkpoint_dir: str
    mesh: Any
    out_dir: str
    split: str
    config: Any  # genrec.evaluate.evaluator.EvalConfig
    tasks: Optional[tuple[str, ...]] = None
    max_eval_examples: Optional[int] = None
    # rank only this many users of the split, drawn by user_sample_seed (families that rank every item)
    user_sample: Optional[int] = None
    user_sample_seed: int = 0


class ModelFamily(abc.ABC):
    """One model family; see the module docstring. Subclasses set `name` and implement the methods."""

    name: str = ""
    # Trains on seqio text-to-text examples (EncDecFeatureConverter), so an array snapshot of those
    # examples (genrec/snapshot) can train it where TensorFlow is absent.
    text_to_text: bool = False

    @abc.abstractmethod
    def config_from_dict(self, d: dict[str, Any]) -> Any:
        """The model config a checkpoint meta or bundle manifest recorded (`config.to_dict()`)."""

    @abc.abstractmethod
    def build(self, config: Any, *, rngs, catalogue=None):
        """The nnx.Module; `catalogue` (the item code table) where the training loss scores items."""

    def factory(self, config: Any, catalogue=None) -> Callable:
        return lambda rngs: self.build(config, rngs=rngs, catalogue=catalogue)

    @abc.abstractmethod
    def training_plan(self, inputs: TrainingInputs) -> TrainingPlan:
        """Config (gin-bound), model factory, batch source (the feature converter over its Task),
        loss, validation scorer and FLOPs per step for one training run."""

    @abc.abstractmethod
    def evaluate(self, model, meta: CheckpointMeta, inputs: EvalInputs) -> dict:
        """Scores a restored checkpoint on `inputs.split`; writes and returns results.json's dict."""

    @abc.abstractmethod
    def export(self, model, meta: CheckpointMeta, *, dataset, out_dir: str, options: dict) -> str:
        """Writes the inference bundle of a restored checkpoint; returns its folder."""

    @abc.abstractmethod
    def recommender(self, bundle, model, **options):
        """The recommender (`recommend`, `recommend_batch`) over a read bundle and its model."""

    def size_name(self, model_config: dict[str, Any]) -> str:
        """A short name of the model's size for results tables (e.g. 'd128-layers2')."""
        return f"{self.name}-d{model_config['d_model']}" if "d_model" in model_config else self.name

    def rl_parts(self, meta: CheckpointMeta, *, dataset, identifiers, factory, mesh, config, **options):
        """RL's policy adapter, featurizer, FLOPs per user and validation (genrec/train/rl.py:RlParts)."""
        raise NotImplementedError(f"model family {self.name!r} has no RL policy adapter")


_REGISTRY: dict[str, ModelFamily] = {}


def register(family: ModelFamily) -> ModelFamily:
    """Adds `family` under `family.name` (re-registering a name replaces it: tests redefine)."""
    if not family.name:
        raise ValueError(f"{type(family).__name__}: a model family needs a non-empty `name`")
    _REGISTRY[family.name] = family
    return family


def unregister(name: str) -> None:
    _REGISTRY.pop(name, None)


def _load_builtins() -> None:
    importlib.import_module(BUILTIN_FAMILIES)


def names() -> tuple[str, ...]:
    _load_builtins()
    return tuple(sorted(_REGISTRY))


def get(name: str) -> ModelFamily:
    """The registered family called `name`; an unknown name is an error listing the known ones."""
    _load_builtins()
    if name not in _REGISTRY:
        raise ValueError(
            f"unknown model family {name!r}; registered: {', '.join(sorted(_REGISTRY))} "
            "(a new family registers itself with genrec.runtime.families.register)"
        )
    return _REGISTRY[name]


def for_meta(meta: CheckpointMeta) -> ModelFamily:
    """The family that wrote a checkpoint (its meta's `model`)."""
    return get(meta.model)
