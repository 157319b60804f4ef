"""Data-parallel decoding: each device decodes only its share of the users, results in order.

`run(fn, replicated, batched)` splits the rows of `batched` (numpy, the same on every host) over the
mesh's batch axes with the spec training uses (`partitioning.batch_spec`), so a host builds and a
device holds only its own rows. `fn(*replicated, *local_rows)` runs under `shard_map`, one copy per
batch shard on that shard's rows with no communication inside (axes outside the batch rule, such
as 'tensor', stay automatic); the outputs come back gathered, in the input order, on every host.
`replicated` (models, code tables) are jit arguments, never constants embedded in the program;
static keyword arguments are part of the compile key, so `fn` and they must be hashable (wrap an
array that must stay concrete in `Constant`).

The mesh is the one set by `jax.set_mesh`; without one, the first local device decodes everything.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from typing import Any, Callable, Optional, Sequence

import jax
import numpy as np
from flax import nnx
from jax.experimental import multihost_utils
from jax.sharding import NamedSharding
from jax.sharding import PartitionSpec as P

from genrec.runtime import partitioning


@dataclasses.dataclass(frozen=True)
class Bound:
    """`fn` with its leading replicated arguments bound: callable like a plain scorer, and `run`
    passes `args` as jit arguments (a closure would embed them in the program as constants)."""

    fn: Callable
    args: tuple

    def __call__(self, *xs):
        return self.fn(*self.args, *xs)


class Constant:
    """A static argument keyed by the identity of `value`: for values `fn` must read concretely
    (`constrained_beam_search` checks its trie in Python); they are embedded in the program. Its
    arrays are copied onto one local device: arrays made under `jax.set_mesh` carry the mesh's
    automatic sharding, which indexing inside the manual batch axes rejects."""

    def __init__(self, value):
        self.original, self.key = value, id(value)  # held: a cached program keeps its id taken
        self.value = jax.tree.map(
            lambda x: (
                jax.device_put(np.asarray(x), jax.local_devices()[0]) if isinstance(x, jax.Array) else x
            ),
            value,
        )

    def __hash__(self):
        return self.key

    def __eq__(self, other):
        return isinstance(other, Constant) and other.key == self.key


def current_mesh() -> jax.sharding.Mesh:
    mesh = jax.sharding.get_mesh()
    return partitioning.make_mesh(devices=jax.local_devices()[:1]) if mesh.empty else mesh


def batch_axes(mesh: jax.sharding.Mesh) -> tuple[str, ...]:
    spec = partitioning.batch_spec(mesh)
    return () if not spec else spec[0] if isinstance(spec[0], tuple) else (spec[0],)


def num_shards(mesh: Optional[jax.sharding.Mesh] = None) -> int:
    """How many parts the users are split into: the product of the mesh's batch axes."""
    mesh = mesh or current_mesh()
    return math.prod(mesh.shape[a] for a in batch_axes(mesh))


def rows_per_call(batch_size: int, mesh: Optional[jax.sharding.Mesh] = None) -> int:
    """`batch_size` rounded up to a multiple of the batch shards (every device gets equal rows)."""
    shards = num_shards(mesh)
    return max(1, -(-batch_size // shards)) * shards


def place(batched: Sequence[np.ndarray], mesh: jax.sharding.Mesh) -> tuple[jax.Array, ...]:
    """Host arrays (identical on every host) → global arrays split over the batch axes; each process
    materialises only the rows of its own devices."""
    sharding = NamedSharding(mesh, partitioning.batch_spec(mesh))
    shards = num_shards(mesh)
    out = []
    for x in map(np.asarray, batched):
        rows = x.shape[0] if x.ndim else 0
        if not rows or rows % shards:
            raise ValueError(
                f"{rows} rows do not split over the {shards} batch shards of mesh "
                f"{dict(mesh.shape)}; pad to rows_per_call()"
            )
        out.append(jax.make_array_from_callback(x.shape, sharding, lambda index, x=x: x[index]))
    return tuple(out)


def gather(tree) -> Any:
    """Global arrays → numpy on every host (all rows, in order)."""

    def one(x):
        if isinstance(x, jax.Array) and not x.is_fully_addressable:
            return np.asarray(multihost_utils.process_allgather(x, tiled=True))
        return np.asarray(jax.device_get(x))

    return jax.tree.map(one, tree)


def call(
    fn: Callable, replicated: Sequence, batched: Sequence[jax.Array], mesh: jax.sharding.Mesh, /, **static
) -> Any:
    """`fn` on global arrays from `place`: → its outputs as global arrays split like the inputs."""
    graphdefs, states = zip(*map(_split, replicated)) if replicated else ((), ())
    program = _program(fn, mesh, tuple(graphdefs), tuple(sorted(static.items())), len(batched))
    return program(tuple(states), *batched)


def run(
    fn: Callable,
    replicated: Sequence,
    batched: Sequence[np.ndarray],
    /,
    *,
    mesh: Optional[jax.sharding.Mesh] = None,
    **static,
) -> Any:
    """`fn(*replicated, *rows, **static)` over the users of `batched`, split over the mesh → numpy."""
    mesh = mesh or current_mesh()
    return gather(call(fn, replicated, place(batched, mesh), mesh, **static))


def _split(obj):
    """A module → (graphdef, state); anything else is a pytree of arrays passed as it is."""
    return nnx.split(obj) if isinstance(obj, nnx.Module) else (None, obj)


@functools.lru_cache(maxsize=64)
def _program(fn, mesh, graphdefs: tuple, static: tuple, num_batched: int):
    spec = partitioning.batch_spec(mesh)

    def local(states, *rows):
        args = [s if g is None else nnx.merge(g, s) for g, s in zip(graphdefs, states)]
        return fn(*args, *rows, **dict(static))

    return jax.jit(
        jax.shard_map(
            local,
            mesh=mesh,
            in_specs=(P(),) + (spec,) * num_batched,
            out_specs=spec,
            axis_names=set(dict(partitioning.LOGICAL_AXIS_RULES)["batch"]),
            check_vma=False,
        )
    )  # decoders start loops from unsplit constants
