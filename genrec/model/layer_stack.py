"""A stack of identical layers, unrolled (a list) or scanned (one module with stacked parameters).

Scanned (`ModelConfig.scan_layers`): the layers are built with `nnx.vmap`, so every parameter gains
a leading logical axis 'layers' (replicated by the rule table), and applied with `nnx.scan`, so XLA
compiles one layer body however deep the stack is (T5-base's 12 + 12 layers: train-step compile
31 s -> 8 s on CPU, benchmarks/train/variants.py). Unrolled: an `nnx.List`, parameters under
`<stack>/<index>/...`; on CPU a shallow stack steps faster unrolled.

Per-layer inputs and outputs (the decoder's KV cache, its cross-attention keys/values) follow the
layout: a tuple with one entry per layer when unrolled, arrays stacked on axis 0 when scanned.
`stack_layer_params` / `unstack_layer_params` convert a parameter tree between the two layouts.
"""

from __future__ import annotations

from typing import Any, Callable

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

LAYERS_AXIS = "layers"  # the logical axis name of the stacked dimension

# fn(layer, carry, per_layer_inputs) -> (carry, per_layer_outputs)
LayerFn = Callable[[nnx.Module, Any, Any], tuple[Any, Any]]


def make_layers(build: Callable[[nnx.Rngs], nnx.Module], count: int, scanned: bool, rngs: nnx.Rngs):
    """`count` layers from `build(rngs)`: an nnx.List, or one module with stacked variables."""
    if not scanned:
        return nnx.List([build(rngs) for _ in range(count)])

    @nnx.split_rngs(splits=count)
    @nnx.vmap(in_axes=(0,), out_axes=0, transform_metadata={nnx.PARTITION_NAME: LAYERS_AXIS})
    def stacked(layer_rngs):
        return build(layer_rngs)

    return stacked(rngs)


# ModelConfig.remat_policy → what jax.checkpoint saves. Model matmuls against weights are 2-D
# (layers.matmul), attention's are batched einsums, so "no batch dims" tells the two apart.
REMAT_POLICIES = {
    "nothing": jax.checkpoint_policies.nothing_saveable,
    "weight_dots": jax.checkpoint_policies.dots_with_no_batch_dims_saveable,
    "dots": jax.checkpoint_policies.dots_saveable,
}


def apply_layers(layers, fn: LayerFn, carry, per_layer=(), *, scanned: bool, remat: str | None = None):
    """Runs fn over the layers in order, threading `carry`; returns (carry, per-layer outputs).

    `per_layer` is a tuple of per-layer inputs, each in the layout's form (a sequence indexed by
    layer when unrolled, a pytree stacked on axis 0 when scanned); fn gets one layer's slice of each.
    `remat` names a REMAT_POLICIES entry: each layer is rematerialised in the backward pass.
    """
    if remat is not None:
        fn = nnx.remat(fn, policy=REMAT_POLICIES[remat])
    if scanned:
        scan = nnx.scan(
            fn,
            in_axes=(0, nnx.Carry, 0),
            out_axes=(nnx.Carry, 0),
            transform_metadata={nnx.PARTITION_NAME: LAYERS_AXIS},
        )
        return scan(layers, carry, per_layer)
    outputs = []
    for index, layer in enumerate(layers):
        carry, out = fn(layer, carry, tuple(x[index] for x in per_layer))
        outputs.append(out)
    return carry, tuple(outputs)


def is_layer_list(node: Any) -> bool:
    """A node holding an unrolled stack: a dict keyed 0..n-1 (ints, or their strings as orbax
    returns them)."""
    return (
        isinstance(node, dict) and bool(node) and {str(k) for k in node} == {str(i) for i in range(len(node))}
    )


# Layer trees are parameters or the optimizer statistics that mirror them, except that Adafactor keeps
# a shape-(1,) placeholder for a statistic it does not use; the stacked parameter has one placeholder
# too. Real per-layer values are never (1,), and stacked ones are at least 2-D.
def _stack_leaf(*per_layer):
    if all(np.shape(x) == (1,) for x in per_layer):
        return per_layer[0]
    return (np if isinstance(per_layer[0], np.ndarray) else jnp).stack(per_layer)


def stack_layers(node: dict) -> Any:
    """One unrolled stack ({0: layer tree, 1: ...}) → the same tree with every leaf stacked on axis 0."""
    by_index = {int(k): v for k, v in node.items()}
    return jax.tree.map(_stack_leaf, *(by_index[i] for i in range(len(by_index))))


def unstack_layers(node: Any) -> dict:
    """One stacked stack → {0: layer tree, 1: ...}."""
    count = max(np.shape(x)[0] for x in jax.tree.leaves(node) if np.ndim(x) >= 2)
    return {i: jax.tree.map(lambda x, i=i: x[i] if np.ndim(x) >= 2 else x, node) for i in range(count)}


STACKS = ("encoder_layers", "decoder_layers")


def stack_layer_params(params: dict, stacks: tuple[str, ...] = STACKS) -> dict:
    """Unrolled-layout pure-dict params (`stack/0/...`, `stack/1/...`) → scanned layout."""
    for name in stacks:
        if not is_layer_list(params[name]):
            raise ValueError(f"params[{name!r}] is not an unrolled layer stack (keys 0..n-1)")
    return {k: stack_layers(v) if k in stacks else v for k, v in params.items()}


def unstack_layer_params(params: dict, stacks: tuple[str, ...] = STACKS) -> dict:
    """Scanned-layout pure-dict params → unrolled layout (`stack/<index>/...`)."""
    for name in stacks:
        if is_layer_list(params[name]):
            raise ValueError(f"params[{name!r}] is already an unrolled layer stack")
    return {k: unstack_layers(v) if k in stacks else v for k, v in params.items()}
