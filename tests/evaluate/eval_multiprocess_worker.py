"""One of two processes (4 simulated CPU devices each) evaluating on a shared 8-device mesh.

  python eval_multiprocess_worker.py PORT PROCESS_ID OUT_DIR
Writes OUT_DIR/eval_<pid>.json: metrics per family, the rows of a 16-user batch this process's
devices hold, that batch's gathered results, and the per-device batch the decoder was traced with.
Started by test_evaluate_multiprocess.py.
"""

import json
import os
import sys

import two_processes  # on PYTHONPATH, with the device flags, from two_processes.run_workers


def main(port: int, pid: int, out_dir: str) -> None:
    import jax

    two_processes.initialize(port, pid)
    import eval_helpers
    from data_parallel_helpers import TASK, evaluate_families, spied_evaluator

    from genrec.evaluate import data_parallel, evaluator
    from genrec.runtime import partitioning

    setup = eval_helpers.build_setup(os.path.join(out_dir, f"setup_{pid}"))
    mesh = partitioning.make_mesh()
    ev = spied_evaluator(setup, seen := [])
    metrics = evaluate_families(ev, mesh)
    inputs = evaluator.pad_inputs(eval_helpers.examples(TASK + "sequential", limit=16), 16)
    with jax.set_mesh(mesh):
        (placed,) = data_parallel.place((inputs,), mesh)
        items, _ = data_parallel.call(
            evaluator.constrained_beams,
            (ev.model,),
            (placed,),
            mesh,
            search=ev.beam_search,
            trie=data_parallel.Constant(ev.trie),
            width=6,
        )
    rows = sorted(r for s in items.addressable_shards for r in range(16)[s.index[0]])
    with open(os.path.join(out_dir, f"eval_{pid}.json"), "w") as f:
        json.dump(
            {
                "metrics": metrics,
                "rows": rows,
                "seen": seen,
                "items": data_parallel.gather(items).tolist(),
                "decoded_users": ev.decoded_users,
            },
            f,
            default=float,
        )
    jax.distributed.shutdown()


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
