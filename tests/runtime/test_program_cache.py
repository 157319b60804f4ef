"""Traced programs kept between processes (genrec/runtime/program_cache.py): a later Program reads the
file instead of tracing, anything the trace depends on changes the file, a broken file is replaced,
and the exact ranker serves the same lists through it."""

import logging
import os

import helpers
import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import nnx

from genrec.evaluate import exact, sequences
from genrec.model import parallel_ids
from genrec.runtime import program_cache


@pytest.fixture
def cache_dir(tmp_path):
    program_cache.enable(str(tmp_path / "programs"))
    yield str(tmp_path / "programs")
    program_cache.enable(None)


def _counting(traces: list):
    def fn(x, y, *, power):
        traces.append(power)  # runs once per trace, never when a program runs
        return jnp.sum(x**power, axis=-1) + y

    return fn


def _args():
    return jnp.arange(12.0).reshape(3, 4), np.ones(3, np.float32)


def test_a_later_program_reads_the_trace_instead_of_tracing(cache_dir):
    traces = []
    want = jax.jit(_counting([]), static_argnames=("power",))(*_args(), power=2)
    first = program_cache.Program(_counting(traces), salt="a", static_argnames=("power",))
    np.testing.assert_array_equal(first(*_args(), power=2), want)
    first(*_args(), power=2)
    assert traces == [2] and len(os.listdir(cache_dir)) == 1
    later = program_cache.Program(_counting(traces), salt="a", static_argnames=("power",))  # a new process
    np.testing.assert_array_equal(later(*_args(), power=2), want)
    assert traces == [2]
    # a static argument, the salt or an argument's shape: another trace, another file
    later(*_args(), power=3)
    program_cache.Program(_counting(traces), salt="b", static_argnames=("power",))(*_args(), power=2)
    later(jnp.ones((5, 4)), np.ones(5, np.float32), power=2)
    assert traces == [2, 3, 2, 2] and len(os.listdir(cache_dir)) == 4


def test_a_broken_file_is_traced_again_and_replaced(cache_dir, caplog):
    traces = []
    program_cache.Program(_counting(traces), salt="a", static_argnames=("power",))(*_args(), power=2)
    (path,) = [os.path.join(cache_dir, f) for f in os.listdir(cache_dir)]
    with open(path, "wb") as f:
        f.write(b"not a program")
    with caplog.at_level(logging.WARNING):
        again = program_cache.Program(_counting(traces), salt="a", static_argnames=("power",))
        got = again(*_args(), power=2)
    assert "not a readable exported program" in caplog.text and traces == [2, 2]
    np.testing.assert_array_equal(got, jnp.sum(_args()[0] ** 2, axis=-1) + 1)
    program_cache.Program(_counting(traces), salt="a", static_argnames=("power",))(*_args(), power=2)
    assert traces == [2, 2]  # the replacement reads


def test_a_folder_that_cannot_be_written_costs_only_the_file(cache_dir, caplog, monkeypatch):
    def refuse(*args):
        raise OSError("read-only file system")

    monkeypatch.setattr(os, "replace", refuse)
    traces = []
    with caplog.at_level(logging.WARNING):
        got = program_cache.Program(_counting(traces), salt="a", static_argnames=("power",))(
            *_args(), power=2
        )
    assert "could not write the traced program" in caplog.text and traces == [2]
    np.testing.assert_array_equal(got, jnp.sum(_args()[0] ** 2, axis=-1) + 1)


def test_off_it_is_jit_and_writes_nothing(tmp_path):
    traces = []
    program = program_cache.Program(_counting(traces), salt="a", static_argnames=("power",))
    program(*_args(), power=2)
    program(*_args(), power=2)
    assert traces == [2] and not os.listdir(tmp_path)


def test_code_version_names_genrec_source_and_libraries():
    assert len(program_cache.code_version()) == 64
    assert program_cache.code_version() == program_cache.code_version()


def test_the_exact_ranker_ranks_the_same_through_read_programs(cache_dir):
    """On the 8-device mesh (items sharded): written, then read by a new Ranker, equal to plain jit."""
    levels, num_items = (16, 16, 4), 300
    config = helpers.tiny_parallel_ids_config(
        levels, num_items, relative_attention_num_buckets=32, relative_attention_max_distance=64
    )
    model = parallel_ids.ParallelIdDecoder(config, rngs=nnx.Rngs(0))
    items = np.arange(num_items)
    codes = np.stack([items % 16, (items // 16) % 16, items // 256], 1).astype(np.int32)
    rng = np.random.default_rng(0)
    tokens = sequences.left_pad([rng.choice(num_items, size=n) for n in (1, 3, 6, 8)], 8)
    history = np.where(tokens > 0, tokens - 1, -1).astype(np.int32)
    program_cache.enable(None)
    want = exact.Ranker(model, codes, chunk=128).top_k(tokens, history, 10)
    program_cache.enable(cache_dir)
    written = exact.Ranker(model, codes, chunk=128).top_k(tokens, history, 10)
    (path,) = [os.path.join(cache_dir, f) for f in os.listdir(cache_dir)]
    stamp = os.stat(path).st_mtime_ns
    read = exact.Ranker(model, codes, chunk=128).top_k(tokens, history, 10)  # same salt: the same file
    assert os.listdir(cache_dir) == [os.path.basename(path)] and os.stat(path).st_mtime_ns == stamp
    for got in (written, read):
        for a, b in zip(got, want, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
