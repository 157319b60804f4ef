"""Model parameters as one flat .npz ("encoder/layers/0/mlp/wi/kernel" → array) and back.

Plain arrays only (np.savez + np.load(allow_pickle=False)): a bundle is loadable without orbax, the
optimizer or the training code. bfloat16 (not an npz dtype) is stored as float32 and cast back.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

SEP = "/"


def _key(path) -> str:
    return SEP.join(str(p) for p in path)


def save_params(model: nnx.Module, path: str) -> dict[str, str]:
    """Writes the model's nnx.Params to `path`; returns name → dtype (to keep next to it, in JSON)."""
    arrays, dtypes = {}, {}
    for p, var in nnx.to_flat_state(nnx.state(model, nnx.Param)):
        value = jax.device_get(var.get_value())
        name = _key(p)
        dtypes[name] = str(value.dtype)
        arrays[name] = np.asarray(value, np.float32) if value.dtype == jnp.bfloat16 else np.asarray(value)
    with open(path, "wb") as f:
        np.savez(f, **arrays)
    return dtypes


def read_params(path: str, dtypes: dict[str, str], expected_shapes: dict) -> dict:
    """The npz as a nested pure dict (nnx.to_pure_dict layout) after checking names and shapes
    against `expected_shapes` (a pure dict of objects with .shape, e.g. ShapeDtypeStructs)."""
    with np.load(path, allow_pickle=False) as npz:
        stored = {name: npz[name] for name in npz.files}
    expected = {SEP.join(str(k) for k in ks): v for ks, v in _flatten(expected_shapes)}
    if set(expected) != set(stored):
        missing, extra = sorted(set(expected) - set(stored)), sorted(set(stored) - set(expected))
        raise ValueError(
            f"{path}: parameters do not match the model config "
            f"(missing {missing[:5]}, unexpected {extra[:5]})"
        )
    out: dict = {}
    for name, value in stored.items():
        if tuple(value.shape) != tuple(expected[name].shape):
            raise ValueError(
                f"{path}: {name} has shape {value.shape}, the model config wants "
                f"{tuple(expected[name].shape)}"
            )
        node = out
        keys = name.split(SEP)
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = jnp.asarray(value, dtypes.get(name, value.dtype))
    return nnx.restore_int_paths(out)


def _flatten(tree: dict, prefix=()):
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _flatten(v, prefix + (k,))
        else:
            yield prefix + (k,), v
