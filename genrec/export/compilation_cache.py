"""A persistent compilation cache for serving: a fresh `genrec recommend` process reads the ranking
programs an earlier one compiled (one per history-length bucket) instead of compiling them again, and
the traces an earlier one exported (genrec/runtime/program_cache.py, in `<cache>/programs`) instead
of tracing the model again.

The cache lives in the user's own cache folder, never in the bundle: JAX runs what a cache holds, so
a folder others can write to must not be one (jax.experimental.compilation_cache's warning).
"""

from __future__ import annotations

import os
from typing import Optional

import jax
from jax.experimental.compilation_cache import compilation_cache

from genrec.runtime import program_cache

ENV = "GENREC_COMPILATION_CACHE"  # a folder, or empty to turn the cache off
PROGRAMS = "programs"  # subfolder of exported traces (program_cache)
MIN_COMPILE_S = 0.2  # programs that compile faster than this are not worth a file


def default_dir() -> str:
    """$XDG_CACHE_HOME/genrec/jax, else ~/.cache/genrec/jax."""
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return os.path.join(base, "genrec", "jax")


def enable(directory: Optional[str] = None) -> Optional[str]:
    """Turns JAX's persistent compilation cache on in `directory`; returns it (None: off). Default:
    $GENREC_COMPILATION_CACHE, else JAX's own setting (JAX_COMPILATION_CACHE_DIR), else
    `default_dir()`; an empty string turns it off. Takes effect for the compiles that follow, even
    when this process has compiled before."""
    if directory is None:
        directory = os.environ.get(ENV, jax.config.jax_compilation_cache_dir or default_dir())
    if not directory:
        program_cache.enable(None)
        return None
    os.makedirs(directory, exist_ok=True)
    program_cache.enable(os.path.join(directory, PROGRAMS))
    compilation_cache.set_cache_dir(directory)
    jax.config.update("jax_persistent_cache_min_compile_time_secs", MIN_COMPILE_S)
    compilation_cache.reset_cache()
    return directory
