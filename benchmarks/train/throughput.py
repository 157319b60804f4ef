"""Training throughput of genrec's jitted train step (and, on CPU, Hugging Face T5 in PyTorch), same sizes.

  .venv/bin/python -m benchmarks.train.throughput --steps 5 --out benchmarks/train/results.json

Each model size (`--models`, default `tiger`; sizes read from configs/models/<name>.gin) trains
with AdamW + global-norm clipping on the same sequential-recommendation batches (synthetic dataset,
histories truncated to the last 20 items, 3-level identifiers), batch 256 rows, inputs 160 / targets
8 tokens, on one device (`jax.devices()[0]`). genrec runs with and without packing; the reference
(`--reference`, default on when jax's backend is the CPU) is transformers' T5ForConditionalGeneration
in eager PyTorch on the host CPU, float32 (`--reference_dtypes float32,bfloat16` adds a row with the
forward pass under torch.autocast bf16), with no packing (no segment ids), so it runs the unpacked
rows. Input pipelines are excluded: batches are materialised before timing. Examples/s counts real
examples (a packed row holds several). TFLOP/s and MFU use the analytic model FLOPs of
genrec/model/flops.py (per row, so packed and unpacked rows cost the same) and the peak table of
genrec/train/metrics.py, keyed by the device kind (CPU's entry there is nominal; MFU is null for a
device kind the table does not know).

Building the batches needs tensorflow + seqio. For a machine without them (e.g. a GPU host):

  host with TF:  .venv/bin/python -m benchmarks.train.throughput --save_batches DIR/train_batches.npz \
                     --batch_size 256 --steps 30
  accelerator:   python -m benchmarks.train.throughput --batches DIR/train_batches.npz \
                     --models tiger,small,base --noreference --out results_gpu.json

`--save_batches` writes the packed and unpacked batches (steps + 1 of each, or `--num_batches`) to one
compressed .npz of plain int arrays and exits; `--batches` reads them back (cycling them when there are
fewer than steps + 1) and never imports tensorflow, seqio, tensorflow_datasets, torch or transformers
unless `--reference` is on.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

LENGTHS = {"inputs": 160, "targets": 8}
MODES = {"packed": True, "unpacked": False}  # batch-set name -> pack
DEFAULT_BATCH_SIZE = 256
DEFAULT_STEPS = {"cpu": 5, "accelerator": 30}
OPTIMIZER = dict(name="adamw", learning_rate=1e-3, warmup_steps=100)


# ----------------------------------------------------------------------------------------------- data
def register_task(workdir: str) -> tuple[str, int]:
    """Registers the sequential task of the benchmark dataset; returns (mixture, vocabulary size)."""
    from genrec.datasets import synthetic
    from genrec.semantic_ids.artifact import Identifiers
    from genrec.tasks.pipeline import prepare_tasks

    dataset = synthetic.generate(
        num_items=1000, num_users=4000, seed=0, mean_length=24.0, name="synthetic-bench"
    )
    rng = np.random.default_rng(0)
    codes = rng.permutation(64**3)[: dataset.num_items]  # unique 3-level codes, TIGER-like
    ids = Identifiers(
        "random3", np.stack([codes // 4096, codes // 64 % 64, codes % 64], 1).astype(np.int32), (64, 64, 64)
    )
    vocab, mixture = prepare_tasks(
        workdir,
        dataset,
        ids,
        families=["sequential"],
        mixture="sequential_mix",
        max_history=20,
        text_vocab_size=1000,
    )
    return mixture, vocab.vocab_size


def make_batches(mixture: str, batch_size: int, count: int, pack: bool) -> list[dict]:
    from genrec.train import data

    it = data.batches(mixture, LENGTHS, batch_size, pack=pack, seed=0)
    return [next(it) for _ in range(count)]


def build_batches(batch_size: int, count: int) -> tuple[int, dict[str, list[dict]]]:
    """(vocabulary size, {"packed": [...], "unpacked": [...]}) built with seqio (imports tensorflow)."""
    with tempfile.TemporaryDirectory() as workdir:
        mixture, vocab_size = register_task(workdir)
        return vocab_size, {
            mode: make_batches(mixture, batch_size, count, pack) for mode, pack in MODES.items()
        }


def save_batches(path: str, vocab_size: int, batch_sets: dict[str, list[dict]]) -> None:
    """One compressed .npz: `<mode>.<feature>` int32 [count, batch, length] plus scalar metadata."""
    arrays = {
        "vocab_size": np.int64(vocab_size),
        "inputs_length": np.int64(LENGTHS["inputs"]),
        "targets_length": np.int64(LENGTHS["targets"]),
    }
    for mode, batches in batch_sets.items():
        for feature in batches[0]:
            arrays[f"{mode}.{feature}"] = np.stack([b[feature] for b in batches]).astype(np.int32)
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    np.savez_compressed(path, **arrays)


def load_batches(path: str, batch_size: int | None) -> tuple[int, dict[str, list[dict]]]:
    """Inverse of `save_batches`; keeps the first `batch_size` rows of each batch when given."""
    with np.load(path, allow_pickle=False) as f:
        lengths = {"inputs": int(f["inputs_length"]), "targets": int(f["targets_length"])}
        if lengths != LENGTHS:
            raise ValueError(f"{path} holds lengths {lengths}, this script uses {LENGTHS}")
        vocab_size = int(f["vocab_size"])
        stacked = {
            mode: {k.split(".", 1)[1]: f[k] for k in f.files if k.startswith(mode + ".")} for mode in MODES
        }
    batch_sets = {}
    for mode, features in stacked.items():
        count, rows = features["encoder_input_tokens"].shape[:2]
        if batch_size is not None and batch_size > rows:
            raise ValueError(f"{path} holds batches of {rows} rows; --batch_size {batch_size} is larger")
        batch_sets[mode] = [{k: v[i, :batch_size] for k, v in features.items()} for i in range(count)]
    return vocab_size, batch_sets


def schedule(batches: list[dict], steps: int) -> tuple[dict, list[dict]]:
    """(warm-up batch, the `steps` timed batches): batch 0, then the others in turn, cycled as needed."""
    if len(batches) < 2:
        raise ValueError("need at least 2 batches (one warm-up, one timed)")
    return batches[0], [batches[1 + i % (len(batches) - 1)] for i in range(steps)]


# --------------------------------------------------------------------------------------------- models
def model_config(name: str, vocab_size: int, dtype: str, scan_layers: bool | None = None):
    """ModelConfig from the ModelConfig bindings of configs/models/<name>.gin (+ vocab size, dtype;
    the layer layout is the file's unless `scan_layers` is given)."""
    import gin

    from genrec.model.config import ModelConfig

    path = os.path.join(REPO, "configs", "models", f"{name}.gin")
    if not os.path.exists(path):
        raise FileNotFoundError(f"no model size file {path}")
    gin.clear_config()
    try:
        gin.parse_config_file(path)
        layout = {} if scan_layers is None else {"scan_layers": scan_layers}
        return ModelConfig(vocab_size=vocab_size, dtype=dtype, **layout)
    finally:
        gin.clear_config()


def hf_feed_forward_proj(activations: tuple[str, ...]) -> str:
    """transformers' T5Config.feed_forward_proj for genrec's mlp_activations."""
    if len(activations) == 1:
        return activations[0]
    if len(activations) == 2 and activations[1] == "linear":
        return f"gated-{activations[0]}"
    raise ValueError(f"no T5Config.feed_forward_proj for mlp_activations {activations}")


# --------------------------------------------------------------------------------------------- timers
def compile_train_step(config, batch: dict):
    """genrec's jitted, donated train step for `config` on jax.devices()[0], compiled for the shapes
    of `batch` → (compiled step, a fresh state, the mesh, seconds to trace + lower, seconds to compile)."""
    import jax

    from genrec.model.network import EncoderDecoder
    from genrec.runtime import partitioning
    from genrec.runtime import state as state_lib
    from genrec.train import optimizers
    from genrec.train import steps as steps_lib

    factory = lambda rngs: EncoderDecoder(config, rngs=rngs)  # noqa: E731
    tx = optimizers.make_optimizer(1000, **OPTIMIZER)
    mesh = partitioning.make_mesh(devices=jax.devices()[:1])
    model = state_lib.FunctionalModel.from_factory(factory)
    abstract = state_lib.abstract_state(factory, tx)
    shardings = partitioning.named(mesh, state_lib.state_specs(model, abstract, mesh))
    state = state_lib.create_sharded_state(factory, tx, 0, shardings)
    fn = jax.jit(
        steps_lib.make_train_step(model, tx),
        in_shardings=(shardings, None),
        out_shardings=(shardings, None),
        donate_argnums=(0,),
    )
    t0 = time.perf_counter()
    lowered = fn.lower(state, partitioning.global_batch(batch, mesh))
    t1 = time.perf_counter()
    compiled = lowered.compile()
    return compiled, state, mesh, t1 - t0, time.perf_counter() - t1


def genrec_timings(config, warmup: dict, timed: list[dict]) -> dict:
    """genrec's train step on jax.devices()[0]: seconds to trace + lower and to compile, seconds per
    step over `timed` after one warm-up step on `warmup`, the last step's loss, and the compiled
    program's temporary buffer bytes (activations and workspace; None where the backend says nothing)."""
    import jax

    from genrec.runtime import partitioning

    fn, state, mesh, lower_s, compile_s = compile_train_step(config, warmup)
    device_batches = jax.block_until_ready([partitioning.global_batch(b, mesh) for b in [warmup] + timed])
    state, metrics = fn(state, device_batches[0])  # warm-up
    jax.block_until_ready((state, metrics))
    t0 = time.perf_counter()
    for batch in device_batches[1:]:
        state, metrics = fn(state, batch)
    jax.block_until_ready((state, metrics))
    memory = fn.memory_analysis()
    return {
        "lower_s": lower_s,
        "compile_s": compile_s,
        "step_s": (time.perf_counter() - t0) / len(timed),
        "loss": float(metrics["loss"]),
        "temp_bytes": getattr(memory, "temp_size_in_bytes", None),
    }


def genrec_step_time(config, warmup: dict, timed: list[dict]) -> float:
    """Seconds per train step of genrec's jitted, donated train step (see genrec_timings)."""
    t = genrec_timings(config, warmup, timed)
    print(f"  traced + lowered in {t['lower_s']:.1f} s, compiled in {t['compile_s']:.1f} s", flush=True)
    return t["step_s"]


def reference_step_time(config, warmup: dict, timed: list[dict], dtype: str = "float32") -> float:
    """Seconds per train step of transformers' T5ForConditionalGeneration (eager PyTorch, CPU): float32,
    or with dtype 'bfloat16' the forward pass under torch.autocast (bf16 matmuls, float32 weights)."""
    import contextlib

    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    hf_config = T5Config(
        vocab_size=config.vocab_size,
        d_model=config.d_model,
        d_kv=config.head_dim,
        num_heads=config.num_heads,
        d_ff=config.mlp_dim,
        num_layers=config.num_encoder_layers,
        num_decoder_layers=config.num_decoder_layers,
        dropout_rate=config.dropout_rate,
        feed_forward_proj=hf_feed_forward_proj(config.mlp_activations),
        tie_word_embeddings=config.tie_embeddings,
        relative_attention_num_buckets=config.relative_attention_num_buckets,
        relative_attention_max_distance=config.relative_attention_max_distance,
        pad_token_id=0,
        eos_token_id=1,
        decoder_start_token_id=0,
    )
    model = T5ForConditionalGeneration(hf_config).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def tensors(b):
        labels = torch.from_numpy(b["decoder_target_tokens"].astype(np.int64))
        return dict(
            input_ids=torch.from_numpy(b["encoder_input_tokens"].astype(np.int64)),
            attention_mask=torch.from_numpy((b["encoder_input_tokens"] > 0).astype(np.int64)),
            decoder_input_ids=torch.from_numpy(b["decoder_input_tokens"].astype(np.int64)),
            decoder_attention_mask=torch.from_numpy((b["decoder_target_tokens"] > 0).astype(np.int64)),
            labels=labels.masked_fill(labels == 0, -100),
        )

    def step(b):
        opt.zero_grad(set_to_none=True)
        autocast = (
            torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bfloat16" else contextlib.nullcontext()
        )
        with autocast:
            loss = model(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    inputs = [tensors(b) for b in [warmup] + timed]
    step(inputs[0])  # warm-up
    t0 = time.perf_counter()
    for b in inputs[1:]:
        step(b)
    return (time.perf_counter() - t0) / len(timed)


# ------------------------------------------------------------------------------------------- results
def make_row(
    *,
    model: str,
    implementation: str,
    pack: bool,
    dtype: str,
    config,
    seconds: float,
    timed: list[dict],
    device_kind: str,
) -> dict:
    """One result row: step time, examples/s, tokens/s, TFLOP/s/device and MFU (None if peak unknown)."""
    from genrec.model import flops
    from genrec.train.metrics import peak_flops, throughput
    from genrec.train.trainer import count_examples, count_tokens

    rows_per_step = timed[0]["encoder_input_tokens"].shape[0]
    flops_per_step = rows_per_step * flops.train_flops_per_example(
        config, LENGTHS["inputs"], LENGTHS["targets"]
    )
    examples = float(np.mean([count_examples(b) for b in timed]))
    tokens = float(np.mean([count_tokens(b) for b in timed]))
    rates = throughput(
        steps=1,
        seconds=seconds,
        batch_size=examples,
        tokens_per_batch=tokens,
        flops_per_step=flops_per_step,
        num_devices=1,
        device_kind=device_kind,
    )
    return {
        "model": model,
        "implementation": implementation,
        "pack": pack,
        "dtype": dtype,
        "device_kind": device_kind,
        "step_s": seconds,
        "examples_per_step": examples,
        "tokens_per_step": tokens,
        "examples_per_s": rates["examples_per_s"],
        "tokens_per_s": rates["tokens_per_s_per_device"],
        "flops_per_step": float(flops_per_step),
        "tflops_per_s_per_device": rates["tflops_per_s_per_device"],
        "peak_flops_per_device": peak_flops(device_kind),
        "mfu": None if math.isnan(rates["mfu"]) else rates["mfu"],
        "params": flops.num_params(config),
        "vocab_size": config.vocab_size,
    }


def benchmark_model(name: str, vocab_size: int, batch_sets: dict[str, list[dict]], args) -> list[dict]:
    """The genrec packed / unpacked rows (and the reference row) of one model size."""
    import jax

    config = model_config(name, vocab_size, args.dtype, args.scan_layers)
    runs = [
        (f"genrec, {mode}", mode, genrec_step_time, args.dtype, jax.devices()[0].device_kind)
        for mode in MODES
    ]
    if args.reference:
        runs += [
            (
                "HF T5 (PyTorch), unpacked" + ("" if d == "float32" else f", {d} autocast"),
                "unpacked",
                functools.partial(reference_step_time, dtype=d),
                d,
                "cpu",
            )
            for d in args.reference_dtypes
        ]
    rows = []
    for implementation, mode, timer, dtype, device_kind in runs:
        warmup, timed = schedule(batch_sets[mode], args.steps)
        print(f"timing {name}: {implementation} ...", flush=True)
        seconds = timer(config, warmup, timed)
        rows.append(
            make_row(
                model=name,
                implementation=implementation,
                pack=MODES[mode],
                dtype=dtype,
                config=config,
                seconds=seconds,
                timed=timed,
                device_kind=device_kind,
            )
        )
        print(json.dumps(rows[-1]), flush=True)
    ref = rows[len(MODES)]["examples_per_s"] if args.reference else None  # the first reference row
    for r in rows:
        r["ratio_vs_reference"] = r["examples_per_s"] / ref if ref else None
    return rows


def print_table(rows: list[dict]) -> None:
    def fmt(value, spec):
        return "-" if value is None else format(value, spec)

    print(
        "\n| model | implementation | dtype | step (s) | examples/step | examples/s | tokens/s "
        "| TFLOP/s/device | MFU | × reference |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        mfu = None if r["mfu"] is None else 100 * r["mfu"]
        print(
            f"| {r['model']} | {r['implementation']} | {r['dtype']} | {r['step_s']:.4g} | "
            f"{r['examples_per_step']:.0f} | {r['examples_per_s']:,.1f} | {r['tokens_per_s']:,.0f} | "
            f"{r['tflops_per_s_per_device']:.3g} | {fmt(mfu, '.2f')}{'' if mfu is None else '%'} | "
            f"{fmt(r['ratio_vs_reference'], '.2f')} |"
        )


def environment(args) -> dict:
    import jax

    env = {
        "device": jax.devices()[0].device_kind,
        "backend": jax.default_backend(),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "jax": jax.__version__,
        "load_average_at_end": os.getloadavg(),
    }
    if args.reference:
        import torch
        import transformers

        env.update(torch=torch.__version__, transformers=transformers.__version__, torch_threads=args.threads)
    return env


# ----------------------------------------------------------------------------------------------- main
def parse_args(argv=None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--batch_size",
        type=int,
        default=None,
        help=f"rows per batch (default {DEFAULT_BATCH_SIZE}; with --batches, the file's)",
    )
    parser.add_argument(
        "--steps",
        type=int,
        default=None,
        help=f"timed steps per configuration (default {DEFAULT_STEPS['cpu']} on CPU, "
        f"{DEFAULT_STEPS['accelerator']} on an accelerator)",
    )
    parser.add_argument("--models", default="tiger", help="comma-separated configs/models/<name>.gin sizes")
    parser.add_argument(
        "--dtype",
        default="float32",
        choices=("float32", "bfloat16"),
        help="genrec's compute dtype (ModelConfig.dtype); params stay float32",
    )
    parser.add_argument(
        "--scan_layers",
        dest="scan_layers",
        action="store_true",
        default=None,
        help="scan over each stack's layers (ModelConfig.scan_layers; default: as the "
        "size's gin file says, which scans base only)",
    )
    parser.add_argument("--noscan_layers", dest="scan_layers", action="store_false")
    parser.add_argument(
        "--reference",
        dest="reference",
        action="store_true",
        default=None,
        help="also time HF T5 in PyTorch on the CPU (default: on when jax runs on the CPU)",
    )
    parser.add_argument("--noreference", dest="reference", action="store_false")
    parser.add_argument(
        "--reference_dtypes",
        default="float32",
        help="comma-separated reference precisions, one row each: float32 and/or bfloat16 "
        "(torch.autocast); × reference is relative to the first",
    )
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads")
    parser.add_argument(
        "--batches", default=None, help="read the batches from this .npz (no tensorflow/seqio)"
    )
    parser.add_argument(
        "--save_batches", default=None, help="build the batches, write them to this .npz, exit"
    )
    parser.add_argument(
        "--num_batches",
        type=int,
        default=None,
        help="distinct batches per packing mode to build (default steps + 1; cycled when fewer)",
    )
    parser.add_argument("--out", default=None, help="write the results JSON here")
    args = parser.parse_args(argv)
    if args.batches and args.save_batches:
        parser.error("--batches and --save_batches are exclusive")
    args.reference_dtypes = [d.strip() for d in args.reference_dtypes.split(",")]
    if not args.reference_dtypes or set(args.reference_dtypes) - {"float32", "bfloat16"}:
        parser.error("--reference_dtypes takes float32 and/or bfloat16")
    return args


def resolve_defaults(args) -> None:
    """Device-dependent defaults: steps and whether to run the (CPU) reference."""
    import jax

    on_cpu = jax.default_backend() == "cpu"
    if args.steps is None:
        args.steps = DEFAULT_STEPS["cpu" if on_cpu else "accelerator"]
    if args.reference is None:
        args.reference = on_cpu


def main(argv=None) -> None:
    args = parse_args(argv)
    resolve_defaults(args)
    count = args.num_batches or args.steps + 1
    if args.batches:
        vocab_size, batch_sets = load_batches(args.batches, args.batch_size)
    else:
        vocab_size, batch_sets = build_batches(args.batch_size or DEFAULT_BATCH_SIZE, count)
    if args.save_batches:
        save_batches(args.save_batches, vocab_size, batch_sets)
        print(
            f"wrote {args.save_batches} ({os.path.getsize(args.save_batches) / 2**20:.2f} MiB, "
            f"{count} batches per mode)"
        )
        return
    if args.reference:
        import torch

        torch.set_num_threads(args.threads)
    rows = [
        r
        for name in args.models.split(",")
        for r in benchmark_model(name.strip(), vocab_size, batch_sets, args)
    ]
    batch_size = batch_sets["unpacked"][0]["encoder_input_tokens"].shape[0]
    result = {
        "rows": rows,
        "batch_size": batch_size,
        "steps": args.steps,
        "lengths": LENGTHS,
        "distinct_batches": len(batch_sets["unpacked"]),
        "batches_file": args.batches,
        "models": {
            r["model"]: model_config(r["model"], vocab_size, args.dtype, args.scan_layers).to_dict()
            for r in rows
        },
        "optimizer": OPTIMIZER,
        **environment(args),
    }
    print_table(rows)
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
