"""Two local processes × 4 CPU devices (jax.distributed on localhost) train like one 8-device process
and share one vocabulary built by process 0."""

import json
import os

import numpy as np
import pytest
import two_processes
from train_helpers import run_steps, standard_setup

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "train_multiprocess_worker.py")


@pytest.mark.slow  # two extra JAX processes compiling: ~60 s of CPU
def test_two_processes_match_one_process(tmp_path):
    two_processes.run_workers(WORKER, tmp_path, timeout=400)
    results = [json.load(open(tmp_path / f"losses_{pid}.json")) for pid in (0, 1)]
    assert results[0]["losses"] == results[1]["losses"]  # one global computation
    assert all(r["restored_equal"] and r["meta"]["step"] == 3 for r in results)
    # the shared workdir's vocabulary: built once, by process 0, and read by process 1
    assert [r["vocab"]["builds"] for r in results] == [1, 0]
    assert results[0]["vocab"]["size"] == results[1]["vocab"]["size"] > 30

    import jax

    from genrec.runtime import partitioning

    factory, tx, _ = standard_setup()
    reference, _ = run_steps(partitioning.make_mesh(data=2, fsdp=2, tensor=2), factory, tx, 3)
    assert jax.process_count() == 1
    np.testing.assert_allclose(results[0]["losses"], reference, rtol=1e-5)
