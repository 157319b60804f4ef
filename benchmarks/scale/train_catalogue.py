"""Training cost against catalogue size: the parallel-digit recipe's train step (d 128, 2 layers, 33 digits
of 256 codes, batch 64 x 51 positions, catalogue loss weight 30) at N items, on 1 or 8 simulated CPU
devices, with the old dense catalogue loss (every [positions, N] score materialised, the code table a
constant of the program) or the new one (genrec/model/catalogue_softmax.py: chunked, the item rows
split over the devices, the code table an input). Synthetic codes and batches: cost does not depend
on their values.

  nice -n 5 .venv/bin/python benchmarks/scale/train_catalogue.py --all   # every row below, the JSON, the plot
  .venv/bin/python benchmarks/scale/train_catalogue.py --items 100000 --devices 8 --path new --steps 2

Each row runs in its own process (a fresh peak RSS; XLA's simulated device count is fixed at start):
compile (time; XLA's compiled memory analysis and cost analysis per device), then `--steps` timed
steps (median; after one warm-up step when more than one). `--steps 0` compiles only (sizes whose
step takes many minutes on this CPU, or whose dense buffers do not fit in its memory).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
OUT = os.path.join(REPO, "benchmarks", "scale", "train_catalogue.json")
PLOT = os.path.join(REPO, "benchmarks", "scale", "train_catalogue.png")

# (items, devices, path, timed steps): the dense path where it fits this 24 GB machine, timed steps
# where a step takes at most a minute or two here.
ROWS = [
    (12_101, 1, "dense", 3),
    (12_101, 1, "new", 3),
    (12_101, 8, "dense", 3),
    (12_101, 8, "new", 3),
    (100_000, 1, "dense", 2),
    (100_000, 1, "new", 2),
    (100_000, 8, "dense", 0),
    (100_000, 8, "new", 2),
    (1_000_000, 1, "dense", 0),
    (1_000_000, 1, "new", 1),
    (1_000_000, 8, "new", 0),
    (10_000_000, 1, "new", 0),
    (10_000_000, 8, "new", 0),
]


def measure(items: int, path: str, steps: int, chunk: int, batch: int = 64, length: int = 51) -> dict:
    import jax
    import numpy as np
    import optax

    from genrec.model import catalogue_softmax, losses, parallel_ids
    from genrec.model.config import BlockConfig
    from genrec.model.layers import matmul
    from genrec.runtime import partitioning
    from genrec.runtime import state as state_lib
    from genrec.train import steps as steps_lib

    class DenseDecoder(parallel_ids.ParallelIdDecoder):
        """The catalogue loss as it was before catalogue_softmax (main at 1a18e16): a [positions, N]
        score matrix, the code table baked into the program."""

        def catalogue_nll(self, h, target_tokens, history=None, catalogue=None):
            codes = jax.numpy.asarray(self.catalogue.codes)
            e = parallel_ids.item_scores(self.output_table(), codes)  # [d, N]
            scores = matmul(h, e).astype(jax.numpy.float32)
            target = jax.numpy.take_along_axis(
                scores, jax.numpy.maximum(target_tokens - 1, 0)[..., None], axis=-1
            )[..., 0]
            return jax.nn.logsumexp(scores, axis=-1) - target

    config = parallel_ids.ParallelIdConfig(
        level_sizes=(256,) * 33,
        num_items=items,
        block=BlockConfig(d_model=128, num_heads=4, head_dim=32, mlp_dim=512, dropout_rate=0.3),
        num_layers=2,
        max_len=length - 1,
        catalogue_loss_weight=30.0,
        catalogue_chunk=chunk,
    )
    rng = np.random.default_rng(0)
    codes = rng.integers(0, 256, size=(items, 33), dtype=np.int32)
    mesh = partitioning.make_mesh(data=-1)
    if path == "dense":
        factory = lambda r: DenseDecoder(config, rngs=r, item_codes=codes)  # noqa: E731
        constants = None
    else:
        factory = lambda r: parallel_ids.ParallelIdDecoder(config, rngs=r)  # noqa: E731
        constants = {catalogue_softmax.CATALOGUE: parallel_ids.training_catalogue(codes, config, mesh)}
    model = state_lib.FunctionalModel.from_factory(factory)
    tx = optax.adamw(1e-3)
    abstract = state_lib.abstract_state(factory, tx)
    shardings = partitioning.named(mesh, state_lib.state_specs(model, abstract, mesh))
    state = state_lib.create_sharded_state(factory, tx, 0, shardings)
    step = steps_lib.make_train_step(model, tx, loss_fn=losses.digit_and_catalogue_loss(30.0))
    host = synthetic_batch(rng, codes, batch, length)
    data = partitioning.global_batch(host, mesh)
    batch_sharding = jax.sharding.NamedSharding(mesh, partitioning.batch_spec(mesh))
    if constants is None:
        jitted = jax.jit(
            step,
            in_shardings=(shardings, batch_sharding),
            out_shardings=(shardings, None),
            donate_argnums=(0,),
        )
        args = (state, data)
    else:

        def with_constants(state, batch, constants):
            return step(state, dict(batch, **{state_lib.CONSTANTS: constants}))

        jitted = jax.jit(
            with_constants,
            in_shardings=(shardings, batch_sharding, jax.tree.map(lambda x: x.sharding, constants)),
            out_shardings=(shardings, None),
            donate_argnums=(0,),
        )
        args = (state, data, constants)
    t0 = time.time()
    lowered = jitted.lower(*args)
    compiled = lowered.compile()
    row = {
        "items": items,
        "devices": jax.device_count(),
        "path": path,
        "chunk": chunk if path == "new" else None,
        "batch": batch,
        "length": length,
        "compile_s": time.time() - t0,
        "program_text_bytes": len(lowered.as_text()),
    }
    mem = compiled.memory_analysis()
    for field in (
        "argument_size_in_bytes",
        "output_size_in_bytes",
        "alias_size_in_bytes",
        "temp_size_in_bytes",
        "generated_code_size_in_bytes",
    ):
        row[field] = int(getattr(mem, field, 0))
    row["compiled_peak_bytes_per_device"] = (
        row["argument_size_in_bytes"]
        + row["output_size_in_bytes"]
        - row["alias_size_in_bytes"]
        + row["temp_size_in_bytes"]
    )
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, (list, tuple)) else cost
    row["flops_per_device"] = float(cost.get("flops", 0.0))
    row["bytes_accessed_per_device"] = float(cost.get("bytes accessed", 0.0))
    row["model_flops_per_step"] = float(batch * parallel_ids.train_flops_per_row(config, length))
    times = []
    for _ in range(steps + 1 if steps >= 2 else steps):  # one warm-up step when timing several
        t0 = time.time()
        state, metrics = compiled(state, *args[1:])
        jax.block_until_ready(metrics)
        times.append(time.time() - t0)
        args = (state,) + args[1:]
    if times:
        row["step_s"] = sorted(times[1:])[len(times[1:]) // 2] if len(times) > 1 else times[0]
        row["step_times_s"] = times
        row["loss"] = float(metrics["loss"])
    row["peak_rss_bytes"] = peak_rss()
    return row


def synthetic_batch(rng, codes, batch: int, length: int) -> dict:
    """Packed rows of ~6 users each (segments of 8-9 items), random items: the recipe's batch layout."""
    import numpy as np

    n = len(codes)
    table = np.concatenate([np.zeros((1, codes.shape[1]), np.int32), codes])
    targets = rng.integers(1, n + 1, size=(batch, length)).astype(np.int32)
    segments = (np.arange(length) // 9 + 1)[None].repeat(batch, 0).astype(np.int32)
    inputs = np.concatenate([np.zeros((batch, 1), np.int32), targets[:, :-1]], axis=1)
    inputs[:, np.arange(length) % 9 == 0] = 0  # each user's begin-of-sequence
    return {
        "decoder_input_tokens": inputs,
        "decoder_target_tokens": targets,
        "decoder_segment_ids": segments,
        "decoder_positions": (np.arange(length) % 9)[None].repeat(batch, 0).astype(np.int32),
        "decoder_loss_weights": np.ones((batch, length), np.float32),
        "decoder_input_codes": table[inputs],
        "decoder_target_codes": table[targets],
    }


def peak_rss() -> int:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def uptime() -> str:
    with open("/proc/loadavg") as f:
        return f.read().strip()


def run_row(items, devices, path, steps, chunk) -> dict:
    env = dict(
        os.environ,
        XLA_FLAGS=f"--xla_force_host_platform_device_count={devices}",
        TF_CPP_MIN_LOG_LEVEL="2",
        CUDA_VISIBLE_DEVICES="",
    )
    cmd = [
        sys.executable,
        __file__,
        "--items",
        str(items),
        "--devices",
        str(devices),
        "--path",
        path,
        "--steps",
        str(steps),
        "--chunk",
        str(chunk),
    ]
    load_before = uptime()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    lines = [line for line in proc.stdout.splitlines() if line.startswith("{")]
    if proc.returncode or not lines:
        text = (proc.stderr or proc.stdout).strip().splitlines()
        words = ("Error", "error:", "Check failed", "RESOURCE", "Killed", "Aborted")
        said = [line for line in text if any(w in line for w in words)]
        row = {
            "items": items,
            "devices": devices,
            "path": path,
            "returncode": proc.returncode,
            "failed": " | ".join(said[:3] or text[-3:])[-600:],
        }
    else:
        row = json.loads(lines[-1])
    row.update(loadavg_before=load_before, loadavg_after=uptime(), command=" ".join(cmd[1:]))
    return row


def plot(rows: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (ax_time, ax_mem) = plt.subplots(1, 2, figsize=(11, 4.2))
    for path, marker in (("dense", "s"), ("new", "o")):
        for devices, style in ((1, "-"), (8, "--")):
            pts = [r for r in rows if r["path"] == path and r.get("devices") == devices and "failed" not in r]
            timed = [r for r in pts if "step_s" in r]
            label = f"{path}, {devices} device{'s' if devices > 1 else ''}"
            if timed:
                ax_time.plot(
                    [r["items"] for r in timed],
                    [r["step_s"] for r in timed],
                    style,
                    marker=marker,
                    label=label,
                )
            if pts:
                mib = [r["compiled_peak_bytes_per_device"] / 2**20 for r in pts]
                ax_mem.plot([r["items"] for r in pts], mib, style, marker=marker, label=label)
    titles = ((ax_time, "train step (s), 2-core CPU"), (ax_mem, "compiled peak memory per device (MiB)"))
    for ax, title in titles:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("catalogue items N")
        ax.set_title(title)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(PLOT, dpi=120)


def table(rows: list[dict]) -> str:
    """The RESULTS.md table of the JSON rows."""
    out = [
        "| items | devices | path | step (s) | compiled peak / device (MiB) | temp / device (MiB) | "
        "process peak RSS (GiB) | compile (s) | HLO text (MB) | load before -> after |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "failed" in r:
            out.append(
                f"| {r['items']:,} | {r['devices']} | {r['path']} | failed: {r['failed'][:120]} "
                f"| | | | | | {r['loadavg_before'].split()[0]} -> {r['loadavg_after'].split()[0]} |"
            )
            continue
        step = f"{r['step_s']:.1f}" if "step_s" in r else "not run"
        out.append(
            f"| {r['items']:,} | {r['devices']} | {r['path']} | {step} | "
            f"{r['compiled_peak_bytes_per_device'] / 2**20:,.0f} | "
            f"{r['temp_size_in_bytes'] / 2**20:,.0f} | {r['peak_rss_bytes'] / 2**30:.2f} | "
            f"{r['compile_s']:.0f} | {r['program_text_bytes'] / 1e6:.1f} | "
            f"{r['loadavg_before'].split()[0]} -> {r['loadavg_after'].split()[0]} |"
        )
    return "\n".join(out)


def main():
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--all", action="store_true", help="every row of ROWS, each in its own process")
    parser.add_argument("--only", default="", help="with --all: comma-separated items=devices=path to run")
    parser.add_argument("--table", action="store_true", help="print the JSON's rows as a markdown table")
    parser.add_argument("--items", type=int, default=12_101)
    parser.add_argument("--devices", type=int, default=1)
    parser.add_argument("--path", choices=("dense", "new"), default="new")
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--chunk", type=int, default=8192)
    args = parser.parse_args()
    if args.table:
        with open(OUT) as f:
            rows = json.load(f)["rows"]
        plot(rows)
        print(table(rows))
        return
    if not args.all:
        print(json.dumps(measure(args.items, args.path, args.steps, args.chunk)), flush=True)
        return
    rows = []
    if os.path.exists(OUT):
        with open(OUT) as f:
            rows = json.load(f)["rows"]
    only = {tuple(s.split("=")) for s in args.only.split(",") if s}
    for items, devices, path, steps in ROWS:
        if only and (str(items), str(devices), path) not in only:
            continue
        row = run_row(items, devices, path, steps, args.chunk)
        print(json.dumps({k: v for k, v in row.items() if k != "step_times_s"}), flush=True)
        rows = [r for r in rows if (r["items"], r["devices"], r["path"]) != (items, devices, path)] + [row]
        rows.sort(key=lambda r: (r["items"], r["devices"], r["path"]))
        with open(OUT, "w") as f:
            json.dump({"benchmark": "benchmarks/scale/train_catalogue.py", "rows": rows}, f, indent=1)
    plot(rows)


if __name__ == "__main__":
    main()
