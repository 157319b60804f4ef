"""One of two processes (4 simulated CPU devices each) training on a shared (2, 2, 2) mesh.

  python train_multiprocess_worker.py PORT PROCESS_ID OUT_DIR
Writes OUT_DIR/losses_<pid>.json. Started by test_train_multiprocess.py.
"""

import json
import os
import sys

import two_processes  # on PYTHONPATH, with the device flags, from two_processes.run_workers


def main(port: int, pid: int, out_dir: str) -> None:
    import jax
    import numpy as np

    two_processes.initialize(port, pid)
    from train_helpers import random_batch, run_steps, standard_setup

    from genrec.runtime import checkpoints, partitioning
    from genrec.runtime.meta import CheckpointMeta

    factory, tx, _ = standard_setup()
    mesh = partitioning.make_mesh(data=2, fsdp=2, tensor=2)
    local = partitioning.batch_size_per_process(8, mesh)

    def local_batch(step):  # this process's rows of the global batch
        return {k: v[pid * local : (pid + 1) * local] for k, v in random_batch(step).items()}

    losses, state = run_steps(mesh, factory, tx, 3, local_batch)
    ckpt = checkpoints.Checkpointer(os.path.join(out_dir, "checkpoints"), save_every=1)
    ckpt.save(
        3, state, CheckpointMeta(model="encoder_decoder", model_config={}, extra={"processes": 2}), force=True
    )
    ckpt.wait()
    target = jax.tree.map(lambda x: jax.ShapeDtypeStruct(x.shape, x.dtype, sharding=x.sharding), state)
    restored, meta = ckpt.restore_latest(target)
    ckpt.close()
    same = all(
        bool(np.array_equal(np.asarray(a.addressable_data(0)), np.asarray(b.addressable_data(0))))
        for a, b in zip(jax.tree.leaves(state), jax.tree.leaves(restored))
    )
    vocab = shared_vocabulary(out_dir)
    with open(os.path.join(out_dir, f"losses_{pid}.json"), "w") as f:
        json.dump({"losses": losses, "restored_equal": same, "meta": meta.to_dict(), "vocab": vocab}, f)
    jax.distributed.shutdown()


def shared_vocabulary(out_dir: str) -> dict:
    """prepare_tasks in a workdir both processes share: how often this process built the vocabulary,
    and what it got."""
    from genrec.datasets import synthetic
    from genrec.semantic_ids.artifact import Identifiers
    from genrec.tasks import pipeline, vocabulary

    builds = []
    build = vocabulary.build_vocabulary
    vocabulary.build_vocabulary = lambda *a, **k: builds.append(1) or build(*a, **k)
    dataset = synthetic.generate(num_items=30, num_users=40, seed=0, name="synthetic-multihost")
    vocab, mixture = pipeline.prepare_tasks(
        os.path.join(out_dir, "shared_workdir"),
        dataset,
        Identifiers.atomic(dataset.num_items),
        families=["sequential"],
        mixture="sequential_mix",
        text_vocab_size=120,
    )
    return {"builds": len(builds), "size": vocab.vocab_size, "mixture": mixture}


if __name__ == "__main__":
    main(int(sys.argv[1]), int(sys.argv[2]), sys.argv[3])
