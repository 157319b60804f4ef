"""Evaluation users/s on 1 and on 8 simulated CPU devices: the sequential evaluator (trie-constrained
beam search, split over the mesh's batch axes by genrec/evaluate/data_parallel.py) on the same users.

Each device count runs in its own subprocess (XLA_FLAGS must be set before JAX starts); both decode
the same random users with the same random-init model and catalogue, and must return the same items.
Simulated devices share the host's cores, so the ratio says what splitting costs or gains here, not
what 8 real chips would.

  .venv/bin/python -m benchmarks.decode.eval_devices --out=benchmarks/decode/eval_devices.json
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time

from benchmarks.decode.decode_benchmark import REPO, report, uptime


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--devices", default="1,8", help="device counts to compare (the first is the baseline)")
    p.add_argument("--model_gin", default=os.path.join(REPO, "configs/models/tiny.gin"))
    p.add_argument("--vocab_size", type=int, default=2048)
    p.add_argument("--num_items", type=int, default=3000)
    p.add_argument("--encoder_len", type=int, default=64)
    p.add_argument("--users", type=int, default=1056, help="users per run (the first call compiles, untimed)")
    p.add_argument(
        "--batch_size", type=int, default=32, help="EvalConfig.batch_size: users per call, all devices"
    )
    p.add_argument("--beam_size", type=int, default=20)
    p.add_argument("--child", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--out", default=None, help="write the numbers as JSON here")
    return p.parse_args(argv)


def child(args) -> dict:
    """One device count: the evaluator's `recommend` under an all-data mesh → users/s and items."""
    import gin
    import jax
    import numpy as np
    from flax import nnx

    from benchmarks.decode.decode_benchmark import random_catalogue, random_users
    from genrec.evaluate import evaluator
    from genrec.model.config import ModelConfig
    from genrec.model.network import EncoderDecoder
    from genrec.model.trie import build_trie
    from genrec.runtime import partitioning

    assert jax.device_count() == args.child, jax.devices()
    gin.parse_config_file(args.model_gin)
    rng = np.random.default_rng(0)
    item_tokens = random_catalogue(rng, args.num_items, 2, 64, args.vocab_size)
    users = random_users(rng, args.users, args.encoder_len, args.vocab_size)
    examples = [{"inputs": u[u > 0], "history_items": np.zeros(0, np.int64)} for u in users]
    ev = evaluator.Evaluator(
        EncoderDecoder(ModelConfig(vocab_size=args.vocab_size), rngs=nnx.Rngs(0)),
        trie=build_trie(item_tokens),
        item_tokens=item_tokens,
        vocabulary=None,
        popularity=np.ones(args.num_items),
        config=evaluator.EvalConfig(
            beam_size=args.beam_size, top_k=args.beam_size, batch_size=args.batch_size
        ),
    )
    mesh = partitioning.make_mesh()
    t0 = time.perf_counter()
    with jax.set_mesh(mesh):
        raw = ev.recommend(examples)[0]
    return {
        "devices": args.child,
        "mesh": dict(mesh.shape),
        "users_timed": ev.decoded_users,
        "decode_s": ev.decode_seconds,
        "users_per_s": ev.decoded_users / ev.decode_seconds,
        "wall_s_with_compile": time.perf_counter() - t0,
        "items_sha1": hashlib.sha1(np.ascontiguousarray(raw).tobytes()).hexdigest(),
    }


def main():
    args = parse_args()
    if args.child:
        print("RESULT " + json.dumps(child(args)))
        return
    runs, load_before = [], uptime()
    for n in map(int, args.devices.split(",")):
        env = dict(
            os.environ,
            XLA_FLAGS=f"--xla_force_host_platform_device_count={n}",
            JAX_PLATFORMS="cpu",
            PYTHONPATH=REPO + os.pathsep + os.environ.get("PYTHONPATH", ""),
        )
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.decode.eval_devices", *sys.argv[1:], f"--child={n}"],
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        lines = [line for line in out.stdout.splitlines() if line.startswith("RESULT ")]
        if out.returncode or not lines:
            raise SystemExit(f"{n}-device run failed:\n{out.stderr[-3000:]}")
        runs.append(json.loads(lines[-1].removeprefix("RESULT ")))
        print(f"{n} devices: {runs[-1]['users_per_s']:.1f} users/s", flush=True)
    result = {
        "args": {k: v for k, v in vars(args).items() if k not in ("child", "out")},
        "runs": runs,
        "ratio_vs_first": [r["users_per_s"] / runs[0]["users_per_s"] for r in runs],
        "same_items": len({r["items_sha1"] for r in runs}) == 1,
        "uptime_before": load_before,
        "uptime_after": uptime(),
    }
    report(result, args.out)


if __name__ == "__main__":
    main()
