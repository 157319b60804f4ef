"""Two local processes × 4 CPU devices (jax.distributed on localhost) evaluate like one process:
the same metrics, each process holding and decoding only its half of the users."""

import json
import os

import numpy as np
import pytest
import two_processes
from data_parallel_helpers import TASK, evaluate_families, spied_evaluator

WORKER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "eval_multiprocess_worker.py")


@pytest.mark.slow  # two extra JAX processes building the setup and compiling: minutes of CPU
def test_two_processes_evaluate_like_one(tmp_path, eval_setup):
    two_processes.run_workers(WORKER, tmp_path, timeout=900)
    results = [json.load(open(tmp_path / f"eval_{pid}.json")) for pid in (0, 1)]
    assert results[0]["rows"] == list(range(8)) and results[1]["rows"] == list(range(8, 16))
    # per device: 1 user of the evaluator's 8-user calls, 2 of the 16-user batch
    assert all(r["seen"] == [1, 2] and r["decoded_users"] == 5 for r in results)
    assert results[0]["items"] == results[1]["items"] and results[0]["metrics"] == results[1]["metrics"]

    import eval_helpers
    import jax

    from genrec.evaluate import data_parallel, evaluator
    from genrec.runtime import partitioning

    assert jax.process_count() == 1
    ev = spied_evaluator(eval_setup, [])
    want = json.loads(
        json.dumps(evaluate_families(ev, partitioning.make_mesh(devices=jax.devices()[:1])), default=float)
    )
    assert results[0]["metrics"] == want
    inputs = evaluator.pad_inputs(eval_helpers.examples(TASK + "sequential", limit=16), 16)
    items, _ = data_parallel.run(
        evaluator.constrained_beams,
        (ev.model,),
        (inputs,),
        search=ev.beam_search,
        trie=data_parallel.Constant(ev.trie),
        width=6,
    )
    np.testing.assert_array_equal(results[0]["items"], items)
