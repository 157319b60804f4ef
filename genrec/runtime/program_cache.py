"""Traced programs kept between processes: a fresh `genrec recommend` process reads the StableHLO an
earlier one exported (`jax.export`) instead of tracing and lowering the model again, and XLA's
persistent compilation cache (genrec/export/compilation_cache.py) supplies the compiled code.

Off until `enable(directory)`; then a `Program` is `jax.jit` whose traces are files. A file is found by
a key of everything the trace depends on: the function, genrec's own source (every .py file), the
versions of jax, jaxlib and flax, the caller's `salt` (what the function closes over, e.g. the model's
config), the static arguments, and the shape, dtype and sharding of every argument. A change to any of
them misses the cache. Files hold jax.export's serialisation (a flatbuffer: no pickle), written beside
and renamed; one that cannot be read is exported again and replaced, and a folder that cannot be
written to only costs the next process its traces.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import logging
import os
from typing import Optional

import jax
import numpy as np

_directory: Optional[str] = None
SUFFIX = ".jax_exported"


def enable(directory: Optional[str]) -> None:
    """Keeps traced programs in `directory` from now on (None: off)."""
    global _directory
    if directory:
        os.makedirs(directory, exist_ok=True)
    _directory = directory or None


@functools.cache
def code_version() -> str:
    """A hash of genrec's source files and of the versions of the libraries that trace and lower."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    digest = hashlib.sha256()
    for folder, dirs, files in sorted(os.walk(root)):
        dirs.sort()
        for name in sorted(f for f in files if f.endswith(".py")):
            path = os.path.join(folder, name)
            digest.update(os.path.relpath(path, root).encode())
            with open(path, "rb") as f:
                digest.update(f.read())
    for package in ("jax", "jaxlib", "flax"):
        digest.update(f"{package}=={importlib.metadata.version(package)}".encode())
    return digest.hexdigest()


def _abstract(x) -> tuple:
    """What a trace depends on of an argument: shape, dtype (also extended ones: PRNG keys), sharding."""
    dtype = x.dtype if hasattr(x, "dtype") else np.asarray(x).dtype
    return np.shape(x), str(dtype), getattr(x, "sharding", None)


def _signature(args, static: dict) -> tuple:
    leaves, tree = jax.tree.flatten(args)
    return tree, tuple(map(_abstract, leaves)), tuple(sorted(static.items()))


class Program:
    """`jax.jit(fn, static_argnames=...)`, whose traces persist while the cache is enabled. `salt`: a
    text naming whatever else `fn`'s trace reads (what it closes over, the model's config, any gin
    setting read while tracing); same salt, same trace."""

    def __init__(self, fn, *, salt: str, static_argnames: tuple[str, ...] = ()):
        self.fn, self.salt = fn, salt
        self.jitted = jax.jit(fn, static_argnames=static_argnames)
        self._programs: dict = {}

    def lower(self, *args, **static):
        return self.jitted.lower(*args, **static)

    def __call__(self, *args, **static):
        if _directory is None:
            return self.jitted(*args, **static)
        signature = _signature(args, static)
        program = self._programs.get(signature)
        if program is None:
            program = self._programs[signature] = jax.jit(self._exported(args, static, signature).call)
        return program(*args)

    def path(self, signature: tuple) -> str:
        name = getattr(self.fn, "func", self.fn)
        text = repr((f"{name.__module__}.{name.__qualname__}", code_version(), self.salt, signature))
        return os.path.join(_directory, hashlib.sha256(text.encode()).hexdigest() + SUFFIX)

    def _exported(self, args, static: dict, signature: tuple):
        path = self.path(signature)
        if os.path.exists(path):
            try:
                with open(path, "rb") as f:
                    return jax.export.deserialize(bytearray(f.read()))
            except Exception as e:  # a truncated or foreign file: trace again and replace it
                logging.warning("%s: not a readable exported program (%s); tracing again", path, e)
        exported = jax.export.export(jax.jit(functools.partial(self.fn, **static)))(*args)
        try:
            with open(path + ".tmp", "wb") as f:
                f.write(exported.serialize())
            os.replace(path + ".tmp", path)
        except OSError as e:  # a full or read-only cache folder costs the next process a trace, no more
            logging.warning("%s: could not write the traced program (%s)", path, e)
        return exported
