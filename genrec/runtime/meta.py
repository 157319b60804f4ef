"""The checkpoint meta: the typed, versioned contract between train, eval, export, RL and snapshot.

Every checkpoint stores one `CheckpointMeta` as JSON beside its arrays (orbax item `meta`); every bundle
copies the provenance part into its manifest. Version 1 adds `meta_version` and `model` to what version 0
(checkpoints written before this module) held as an untyped dict; `from_dict` reads both, so old
checkpoints and bundles still load. Fields a family adds of its own go in `extra` (kept verbatim).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Optional

META_VERSION = 1
DEFAULT_MODEL = "encoder_decoder"  # what a version-0 meta without a `model` key was trained as


@dataclasses.dataclass(frozen=True)
class CheckpointMeta:
    model: str  # the model family's registered name (genrec/runtime/families.py)
    model_config: dict[str, Any]  # the family's config as a dict (its `config_from_dict` reads it)
    dataset: Optional[str] = None
    identifiers_dir: Optional[str] = None
    identifier_scheme: Optional[str] = None
    task_feature_lengths: dict[str, int] = dataclasses.field(default_factory=dict)
    batch_size: Optional[int] = None
    pack: bool = True
    step: Optional[int] = None  # set when the checkpoint is written or read
    # the encoder-decoder's text side: its SentencePiece model and seqio mixture
    vocabulary: Optional[str] = None
    mixture: Optional[str] = None
    task: Optional[str] = None  # a single seqio Task (the parallel-digit model's item sequences)
    snapshot: Optional[str] = None  # the array snapshot a run trained from (genrec/snapshot)
    # RL fine-tuning: its settings and the supervised checkpoint it started from
    rl: Optional[dict[str, Any]] = None
    rl_init_from: Optional[str] = None
    rl_init_step: Optional[int] = None
    model_size: Optional[str] = None
    extra: dict[str, Any] = dataclasses.field(default_factory=dict)
    meta_version: int = META_VERSION

    @classmethod
    def from_dict(cls, d: dict[str, Any], *, where: str = "checkpoint meta") -> "CheckpointMeta":
        """Reads version 0 (no `meta_version`, `model` absent for the encoder-decoder) and version 1;
        unknown keys go to `extra`. A newer version than this code knows is an error naming `where`."""
        version = int(d.get("meta_version", 0))
        if version > META_VERSION:
            raise ValueError(
                f"{where}: meta_version {version} is newer than this genrec reads "
                f"({META_VERSION}); upgrade genrec"
            )
        if "model_config" not in d:
            raise ValueError(f"{where}: no 'model_config' (not a genrec checkpoint meta)")
        names = {f.name for f in dataclasses.fields(cls)} - {"extra", "meta_version"}
        known = {k: v for k, v in d.items() if k in names}
        extra = dict(
            d.get("extra") or {}, **{k: v for k, v in d.items() if k not in names | {"extra", "meta_version"}}
        )
        known.setdefault("model", DEFAULT_MODEL)
        return cls(**known, extra=extra)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def replace(self, **changes) -> "CheckpointMeta":
        return dataclasses.replace(self, **changes)

    def provenance(self) -> dict[str, Any]:
        """What a bundle's manifest records of the checkpoint it came from."""
        keys = ("step", "dataset", "mixture", "task", "identifier_scheme")
        return {k: getattr(self, k) for k in keys if getattr(self, k) is not None}
