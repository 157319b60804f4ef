"""Device mesh, the one table of logical-axis rules, and the shardings derived from them.

Every parameter of the model names its dimensions with logical axes ('vocab', 'embed', 'mlp',
'heads', 'kv', 'relpos_buckets', and 'layers' for scanned layer stacks); activations use 'batch'
and 'length'. One rule table maps each logical axis to mesh axes, so data parallelism, FSDP and
FSDP + tensor parallelism are the same code with different mesh shapes
(configs/partitioning/{dp,fsdp,fsdp_tp}.gin):

  dp       data=-1                 batch split over all devices, parameters replicated
  fsdp     fsdp=-1                 batch and parameters ('embed') split over all devices
  fsdp_tp  fsdp=-1, tensor=2       + 'vocab'/'mlp'/'heads' split over the tensor axis

A mesh axis is used at most once per PartitionSpec, axes of size 1 are left out, and a dimension
that the mesh axes do not divide stays replicated (logged), so every rule table fits every model.
"""

from __future__ import annotations

import logging
import math
from typing import Any, Optional, Sequence

import gin
import jax
import numpy as np
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

MESH_AXES = ("data", "fsdp", "tensor")

# logical axis → mesh axes, in priority order. The single table every parallelism shares.
LOGICAL_AXIS_RULES: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("batch", ("data", "fsdp")),
    ("vocab", ("tensor",)),
    ("embed", ("fsdp",)),
    ("mlp", ("tensor",)),
    ("heads", ("tensor",)),
    ("kv", ()),
    ("digits", ()),  # identifier digits of the parallel-digit model's tables
    ("relpos_buckets", ()),
    ("layers", ()),  # the stacked axis of scanned layers
    ("length", ()),
    # catalogue rows (the parallel-digit model's item code table in its catalogue loss): split over
    # every device, each scoring its shard (genrec/model/catalogue_softmax.py)
    ("items", ("data", "fsdp", "tensor")),
)


@gin.configurable
def make_mesh(
    data: int = -1, fsdp: int = 1, tensor: int = 1, devices: Optional[Sequence[jax.Device]] = None
) -> jax.sharding.Mesh:
    """A ('data', 'fsdp', 'tensor') mesh; one size may be -1 ("all remaining devices")."""
    devices = list(jax.devices() if devices is None else devices)
    shape = [data, fsdp, tensor]
    if shape.count(-1) > 1:
        raise ValueError(f"mesh shape {dict(zip(MESH_AXES, shape))}: at most one axis may be -1")
    known = math.prod(s for s in shape if s != -1)
    if -1 in shape:
        if len(devices) % known:
            raise ValueError(f"{len(devices)} devices do not divide into mesh {dict(zip(MESH_AXES, shape))}")
        shape[shape.index(-1)] = len(devices) // known
    if math.prod(shape) != len(devices):
        raise ValueError(
            f"mesh {dict(zip(MESH_AXES, shape))} needs {math.prod(shape)} devices, have {len(devices)}"
        )
    return jax.make_mesh(
        tuple(shape), MESH_AXES, axis_types=(jax.sharding.AxisType.Auto,) * 3, devices=devices
    )


def logical_to_spec(
    logical: Optional[Sequence[Optional[str]]],
    shape: Sequence[int],
    mesh: jax.sharding.Mesh,
    rules=LOGICAL_AXIS_RULES,
    name: str = "",
) -> P:
    """The PartitionSpec of an array whose dimensions have the given logical axis names."""
    if not logical:
        return P()
    if len(logical) != len(shape):
        raise ValueError(f"{name}: logical axes {tuple(logical)} do not match shape {tuple(shape)}")
    table = dict(rules)
    used: set[str] = set()
    spec = []
    for axis_name, dim in zip(logical, shape):
        if axis_name is not None and axis_name not in table:
            raise ValueError(f"{name}: logical axis {axis_name!r} has no rule in the rule table")
        mesh_axes = [a for a in table.get(axis_name, ()) if a not in used and mesh.shape[a] > 1]
        size = math.prod(mesh.shape[a] for a in mesh_axes)
        if mesh_axes and dim % size:
            logging.info(
                "%s: dim %s (%d) not divisible by mesh axes %s (%d); replicated",
                name,
                axis_name,
                dim,
                mesh_axes,
                size,
            )
            mesh_axes = []
        used.update(mesh_axes)
        spec.append(None if not mesh_axes else mesh_axes[0] if len(mesh_axes) == 1 else tuple(mesh_axes))
    while spec and spec[-1] is None:
        spec.pop()
    return P(*spec)


def param_specs(abstract_params, mesh: jax.sharding.Mesh, rules=LOGICAL_AXIS_RULES) -> dict:
    """PartitionSpecs for an nnx.State of Params (values may be abstract), as a pure dict."""
    from flax import nnx

    def spec(path, var):
        logical = var.get_metadata().get("out_sharding") if isinstance(var, nnx.Variable) else None
        value = var.get_value() if isinstance(var, nnx.Variable) else var
        return logical_to_spec(logical, value.shape, mesh, rules, "/".join(path_keys(path)))

    return _map_variables(abstract_params, spec)


def _map_variables(state, fn):
    from flax import nnx

    is_var = lambda x: isinstance(x, nnx.Variable)  # noqa: E731
    flat = jax.tree_util.tree_flatten_with_path(state, is_leaf=is_var)[0]
    out: dict = {}
    for path, var in flat:
        keys = [getattr(k, "key", getattr(k, "name", k)) for k in path]  # original (int/str) keys
        node = out
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = fn(path, var)
    return out


def logical_axes(abstract_params) -> dict:
    """Each parameter's logical axis names (None where unannotated), as a pure dict."""
    return _map_variables(abstract_params, lambda _, v: v.get_metadata().get("out_sharding"))


def optimizer_specs(abstract_opt_state, abstract_params: dict, specs: dict) -> Any:
    """Optimizer-state PartitionSpecs: a leaf whose key path ends with a parameter's path and whose
    shape equals that parameter's takes its spec (AdamW moments); anything else (counts, Adafactor's
    factored row/column statistics) is small and replicated."""
    spec_by_path = {
        path_keys(p): s
        for p, s in jax.tree_util.tree_flatten_with_path(specs, is_leaf=lambda x: isinstance(x, P))[0]
    }
    shapes = {
        path_keys(p): tuple(leaf.shape)
        for p, leaf in jax.tree_util.tree_flatten_with_path(abstract_params)[0]
    }

    def spec(path, leaf):
        keys = path_keys(path)
        for start in range(len(keys)):
            suffix = keys[start:]
            if suffix in shapes and shapes[suffix] == tuple(getattr(leaf, "shape", ())):
                return spec_by_path[suffix]
        return P()

    return jax.tree_util.tree_map_with_path(spec, abstract_opt_state)


def path_keys(path) -> tuple[str, ...]:
    """A key path as strings (dict keys, attribute names and sequence indices alike)."""
    return tuple(str(getattr(k, "key", getattr(k, "name", getattr(k, "idx", k)))) for k in path)


def named(mesh: jax.sharding.Mesh, specs):
    return jax.tree.map(lambda s: NamedSharding(mesh, s), specs, is_leaf=lambda x: isinstance(x, P))


def batch_spec(mesh: jax.sharding.Mesh, rules=LOGICAL_AXIS_RULES) -> P:
    """Batches are split over the mesh axes the 'batch' rule names (sequence dim replicated)."""
    axes = tuple(a for a in dict(rules)["batch"] if mesh.shape[a] > 1)
    return P(axes if len(axes) > 1 else axes[0]) if axes else P()


def batch_size_per_process(global_batch: int, mesh: jax.sharding.Mesh) -> int:
    """Each process feeds global_batch / process_count examples; checks every split is even."""
    shards = math.prod(mesh.shape[a] for a in dict(LOGICAL_AXIS_RULES)["batch"])
    if global_batch % shards:
        raise ValueError(
            f"batch size {global_batch} is not divisible by the {shards} batch shards "
            f"of mesh {dict(mesh.shape)}"
        )
    if global_batch % jax.process_count():
        raise ValueError(f"batch size {global_batch} not divisible by {jax.process_count()} processes")
    return global_batch // jax.process_count()


def global_batch(local: dict[str, np.ndarray], mesh: jax.sharding.Mesh) -> dict[str, jax.Array]:
    """Host-local numpy batch → global jax arrays sharded over the batch axes (multi-host safe)."""
    sharding = NamedSharding(mesh, batch_spec(mesh))
    return {k: jax.make_array_from_process_local_data(sharding, np.asarray(v)) for k, v in local.items()}
