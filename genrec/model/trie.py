"""The prefix trie of every valid item identifier, compiled to flat arrays for on-device decoding.

Nodes are numbered depth by depth (root = 0), and within a depth in lexicographic order of their
token prefix, so every node's children are a contiguous id range. Three int32 arrays describe it:

  child_start [num_nodes + 1]  children of node n are ids child_start[n] .. child_start[n+1]-1
  node_token  [num_nodes]      token on the edge into n (-1 for the root)
  node_item   [num_nodes]      item id at a leaf (depth L), -1 elsewhere

Memory is 12 bytes per node (at most 1 + L × num_items nodes), independent of the vocabulary.
A decoding step gathers, per beam, the `width` (= max children of any node) child slots of its node.
"""

from __future__ import annotations

import dataclasses
import functools

import jax
import jax.numpy as jnp
import numpy as np


@jax.tree_util.register_dataclass
@dataclasses.dataclass(frozen=True)
class Trie:
    child_start: jax.Array
    node_token: jax.Array
    node_item: jax.Array
    depth: int = dataclasses.field(metadata=dict(static=True))  # identifier length L
    width: int = dataclasses.field(metadata=dict(static=True))  # max children of a node

    @property
    def num_nodes(self) -> int:
        return int(self.node_token.shape[0])

    @functools.cached_property
    def num_items(self) -> int:
        return int(np.sum(np.asarray(self.node_item) >= 0))

    @functools.cached_property
    def max_token(self) -> int:
        return int(np.max(np.asarray(self.node_token)))

    def children(self, nodes: jax.Array) -> tuple[jax.Array, jax.Array]:
        """nodes [...] → (child ids [..., width], valid [..., width]); invalid slots hold id 0."""
        slots = self.child_start[nodes][..., None] + jnp.arange(self.width, dtype=jnp.int32)
        valid = slots < self.child_start[nodes + 1][..., None]
        return jnp.where(valid, slots, 0), valid

    def padded(self, num_nodes: int, width: int) -> "Trie":
        """The same trie with unreachable filler nodes and spare child slots, so tries of different
        catalogues share array shapes (one compilation of the decoder for all of them)."""
        extra = num_nodes - self.num_nodes
        if extra < 0 or width < self.width:
            raise ValueError(
                f"cannot pad a trie of {self.num_nodes} nodes, width {self.width} "
                f"to {num_nodes} nodes, width {width}"
            )
        end = self.child_start[-1:]
        return Trie(
            child_start=jnp.concatenate([self.child_start, jnp.repeat(end, extra)]),
            node_token=jnp.pad(self.node_token, (0, extra), constant_values=-1),
            node_item=jnp.pad(self.node_item, (0, extra), constant_values=-1),
            depth=self.depth,
            width=width,
        )

    @property
    def nbytes(self) -> int:
        return sum(
            int(a.size) * a.dtype.itemsize for a in (self.child_start, self.node_token, self.node_item)
        )


def build_trie(item_token_ids: np.ndarray) -> Trie:
    """item_token_ids [num_items, L] int (row i = item i's identifier tokens) → Trie."""
    ids = np.asarray(item_token_ids)
    if ids.ndim != 2 or ids.shape[0] == 0 or ids.shape[1] == 0:
        raise ValueError(f"item_token_ids must be a non-empty [num_items, L] array, got {ids.shape}")
    if not np.issubdtype(ids.dtype, np.integer) or (ids < 0).any():
        raise ValueError("item_token_ids must hold non-negative integer token ids")
    num_items, length = ids.shape
    order = np.lexsort(ids.T[::-1])  # rows sorted lexicographically
    sorted_ids = ids[order]
    same_as_previous = np.all(sorted_ids[1:] == sorted_ids[:-1], axis=1)
    if same_as_previous.any():
        i = int(np.argmax(same_as_previous))
        raise ValueError(f"items {order[i]} and {order[i + 1]} share the identifier {sorted_ids[i].tolist()}")
    # node_of[d][r]: node id of sorted row r's prefix of length d.
    node_of = [np.zeros(num_items, np.int64)]
    tokens, parents, next_id = [np.array([-1])], [], 1
    for d in range(1, length + 1):
        new = np.ones(num_items, bool)  # row starts a new prefix of length d
        new[1:] = np.any(sorted_ids[1:, :d] != sorted_ids[:-1, :d], axis=1)
        node_of.append(next_id + np.cumsum(new) - 1)
        tokens.append(sorted_ids[new, d - 1])
        parents.append(node_of[d - 1][new])
        next_id += int(new.sum())
    parent = np.concatenate(parents)  # parent of nodes 1..num_nodes-1, non-decreasing
    num_nodes = next_id
    counts = np.bincount(parent, minlength=num_nodes)
    child_start = np.concatenate([[1], 1 + np.cumsum(counts)]).astype(np.int32)
    node_item = np.full(num_nodes, -1, np.int32)
    node_item[node_of[length]] = order
    return Trie(
        child_start=jnp.asarray(child_start),
        node_token=jnp.asarray(np.concatenate(tokens).astype(np.int32)),
        node_item=jnp.asarray(node_item),
        depth=length,
        width=int(counts.max()),
    )
