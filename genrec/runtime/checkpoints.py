"""Orbax checkpoints: async saves every N steps, keep the last K, resume, preemption, inference load.

<workdir>/checkpoints/<step>/{state, meta}: `state` is the whole train state (step, params, optimizer
state, rng; see genrec/runtime/state.py), `meta` the JSON of a `CheckpointMeta` (genrec/runtime/meta.py:
the model family and its config, dataset, identifiers, ...). A restore reads into the shardings of
the *current* mesh (abstract target), so a run saved on one mesh shape resumes on another. A latest
checkpoint that fails to restore (corrupt, partial) is moved to <dir>.corrupt/ with a warning and the
one before it is used. A readable checkpoint of a different model or optimizer (other parameter
names or shapes: a changed size, layer layout or optimizer) stops the run with an error that lists
the differences; it is neither used nor set aside.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from typing import Any, Optional

import jax
import orbax.checkpoint as ocp
from etils import epath

from genrec.runtime import families, partitioning
from genrec.runtime.meta import CheckpointMeta
from genrec.runtime.partitioning import path_keys
from genrec.runtime.state import FunctionalModel, TrainState


class CheckpointMismatchError(ValueError):
    """A readable checkpoint whose arrays (names or shapes) differ from this run's train state."""


def _restore_args(abstract):
    return ocp.args.PyTreeRestore(
        abstract, restore_args=ocp.checkpoint_utils.construct_restore_args(abstract)
    )


class Checkpointer:
    """A CheckpointManager over items `state` (pytree) and `meta` (JSON)."""

    def __init__(self, directory: str, *, save_every: int = 1000, keep: int = 3, async_save: bool = True):
        self.directory = os.path.abspath(directory)
        self._options = ocp.CheckpointManagerOptions(
            save_interval_steps=max(1, save_every),
            max_to_keep=keep,
            enable_async_checkpointing=async_save,
            create=True,
        )
        self.manager = ocp.CheckpointManager(self.directory, options=self._options)

    def all_steps(self) -> list[int]:
        return sorted(self.manager.all_steps())

    def save(self, step: int, state: TrainState, meta: CheckpointMeta, *, force: bool = False) -> bool:
        """Starts an (async) save if `step` is due (or `force`); returns whether it saved."""
        return self.manager.save(
            step,
            args=ocp.args.Composite(
                state=ocp.args.PyTreeSave(state),
                meta=ocp.args.JsonSave(meta.replace(step=int(step)).to_dict()),
            ),
            force=force,
        )

    def reached_preemption(self, step: int) -> bool:
        return self.manager.reached_preemption(step)

    def restore_latest(self, abstract_state: TrainState) -> Optional[tuple[TrainState, CheckpointMeta]]:
        """The newest checkpoint that restores into `abstract_state` (ShapeDtypeStructs with the target
        shardings), skipping broken ones; None where there is none. Raises CheckpointMismatchError
        for a readable checkpoint of another model or optimizer."""
        for step in reversed(self.all_steps()):
            try:
                saved = _saved_shapes(os.path.join(self.directory, str(step), "state"))
            except Exception as e:  # noqa: BLE001 - no readable tree metadata: corrupt or partial
                self._set_aside(step, e)
                continue
            _check_same_arrays(os.path.join(self.directory, str(step)), saved, abstract_state)
            try:
                out = self.manager.restore(
                    step,
                    args=ocp.args.Composite(state=_restore_args(abstract_state), meta=ocp.args.JsonRestore()),
                )
                return out["state"], CheckpointMeta.from_dict(
                    dict(out["meta"]), where=f"{self.directory}/{step}"
                )
            except Exception as e:  # noqa: BLE001 - any failure to read means "unusable", see below
                self._set_aside(step, e)
        return None

    def _set_aside(self, step: int, error: Exception) -> None:
        """Moves a checkpoint that cannot be restored out of the manager's way (kept for inspection)."""
        src = os.path.join(self.directory, str(step))
        logging.warning(
            "checkpoint %s is unusable (%s: %s); falling back to the previous one",
            src,
            type(error).__name__,
            str(error).splitlines()[0] if str(error) else "",
        )
        if jax.process_index() == 0 and os.path.exists(src):
            dst = os.path.join(self.directory + ".corrupt", f"{step}-{int(time.time())}")
            os.makedirs(os.path.dirname(dst), exist_ok=True)
            shutil.move(src, dst)
        self.manager.reload()

    def wait(self) -> None:
        self.manager.wait_until_finished()

    def close(self) -> None:
        self.manager.wait_until_finished()
        self.manager.close()


def _shapes(tree) -> dict[str, tuple[int, ...]]:
    return {
        "/".join(path_keys(path)): tuple(leaf.shape)
        for path, leaf in jax.tree_util.tree_flatten_with_path(tree)[0]
    }


def saved_tree(state_dir: str) -> Any:
    """The saved state's tree of array metadata (shape, dtype, ...), read without any array."""
    return ocp.PyTreeCheckpointHandler().metadata(epath.Path(state_dir)).tree


def _saved_shapes(state_dir: str) -> dict[str, tuple[int, ...]]:
    return _shapes(saved_tree(state_dir))


def _check_same_arrays(where: str, saved: dict, abstract_state) -> None:
    expected = _shapes(abstract_state)
    if saved == expected:
        return
    found = [(p, "in the checkpoint, not in this run") for p in set(saved) - set(expected)]
    found += [(p, "in this run, not in the checkpoint") for p in set(expected) - set(saved)]
    found += [
        (p, f"checkpoint shape {saved[p]}, this run {expected[p]}")
        for p in set(saved) & set(expected)
        if saved[p] != expected[p]
    ]
    found.sort(key=lambda f: (not f[0].startswith("params/"), f[0]))  # parameters before optimizer state
    lines = [f"  {p}: {what}" for p, what in found]
    hint = ""
    saved_unrolled = any("_layers/0/" in p for p in saved)
    if saved_unrolled != any("_layers/0/" in p for p in expected):
        hint = (
            f" The layer layout differs: this checkpoint is {'unrolled' if saved_unrolled else 'scanned'}, "
            f"so resume with --gin.ModelConfig.scan_layers={not saved_unrolled}, or convert it "
            f"(python -m genrec.train.convert_layout --checkpoint_dir={os.path.dirname(where)} "
            f"--out_dir={os.path.dirname(where)}.converted, then swap the two folders)."
        )
    raise CheckpointMismatchError(
        f"checkpoint {where} holds a different train state than this run builds ({len(lines)} "
        f"differences; first ones:\n" + "\n".join(lines[:8]) + "\n). Was the model size, layer "
        "layout or optimizer changed? Resume with the settings it was written with, or train in a new "
        f"--workdir.{hint}"
    )


def _reader(checkpoint_dir: str) -> ocp.CheckpointManager:
    return ocp.CheckpointManager(
        os.path.abspath(checkpoint_dir),
        options=ocp.CheckpointManagerOptions(read_only=True, create=False, save_interval_steps=0),
    )  # no warnings about options a reader ignores


def saved_steps(checkpoint_dir: str) -> list[int]:
    """The steps of the finished checkpoints in `checkpoint_dir`, ascending."""
    return sorted(_reader(checkpoint_dir).all_steps())


def read_meta(checkpoint_dir: str, step: Optional[int] = None) -> tuple[int, CheckpointMeta]:
    """(step, meta) of the given or newest checkpoint in `checkpoint_dir`."""
    manager = _reader(checkpoint_dir)
    steps = sorted(manager.all_steps(), reverse=True) if step is None else [step]
    if not steps:
        raise FileNotFoundError(f"{checkpoint_dir}: no checkpoints (expected <dir>/<step>/state)")
    errors = []
    for s in steps:
        try:
            raw = dict(manager.restore(s, args=ocp.args.Composite(meta=ocp.args.JsonRestore()))["meta"])
        except Exception as e:  # noqa: BLE001
            logging.warning(
                "checkpoint %s/%d: cannot read meta (%s); trying the previous one", checkpoint_dir, s, e
            )
            errors.append(f"{s}: {e}")
            continue
        return s, CheckpointMeta.from_dict(raw, where=f"{checkpoint_dir}/{s}/meta")
    raise FileNotFoundError(f"{checkpoint_dir}: no readable checkpoint ({'; '.join(errors)})")


def load_for_inference(
    checkpoint_dir: str, mesh: Optional[jax.sharding.Mesh] = None, step: Optional[int] = None
) -> tuple[Any, CheckpointMeta]:
    """(the checkpoint's model with its parameters, meta): the model its meta's family builds. Reads
    only the parameters (not the optimizer state), sharded over `mesh` by the logical-axis rules
    (default: all local devices, dp)."""
    step, meta = read_meta(checkpoint_dir, step)
    model = FunctionalModel.from_factory(model_factory(meta))
    mesh = mesh or partitioning.make_mesh(data=-1, fsdp=1, tensor=1)
    params = restore_params(checkpoint_dir, step, sharded_param_shapes(model, mesh))
    return model.module(params, jax.random.key(0)), meta.replace(step=step)


def sharded_param_shapes(model, mesh: jax.sharding.Mesh) -> Any:
    """A tree of ShapeDtypeStruct: `model`'s (a FunctionalModel) parameters, sharded over `mesh` by
    the logical-axis rules; the target restore_params reads into."""
    specs = partitioning.param_specs(model.abstract_params, mesh)
    return jax.tree.map(
        lambda a, s: jax.ShapeDtypeStruct(a.shape, a.dtype, sharding=jax.sharding.NamedSharding(mesh, s)),
        model.param_shapes(),
        specs,
    )


def restore_params(checkpoint_dir: str, step: int, abstract_params) -> Any:
    """Only the parameters of checkpoint `step` (not the optimizer state), into the shapes and
    shardings of `abstract_params` (a tree of ShapeDtypeStruct)."""
    target = {"params": abstract_params}
    restored = _reader(checkpoint_dir).restore(
        step,
        args=ocp.args.Composite(
            state=ocp.args.PyTreeRestore(
                target, restore_args=ocp.checkpoint_utils.construct_restore_args(target), partial_restore=True
            )
        ),
    )
    return restored["state"]["params"]


def model_factory(meta: CheckpointMeta):
    """rngs -> the model a checkpoint's meta describes (its family and `model_config`), without the
    training-only catalogue."""
    family = families.for_meta(meta)
    return family.factory(family.config_from_dict(meta.model_config))
