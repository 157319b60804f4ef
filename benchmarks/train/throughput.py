"""Training throughput of genrec's jitted train step against Hugging Face T5 (PyTorch), same sizes.

  .venv/bin/python benchmarks/train/throughput.py --steps 5 --out benchmarks/train/results.json

Both train the `tiger` model (configs/models/tiger.gin: 4+4 layers, d_model 128, 6 heads x 64,
MLP 1024, ReLU, dropout 0.1, untied output) with AdamW + global-norm clipping on the same
sequential-recommendation batches (synthetic dataset, histories truncated to the last 20 items,
3-level identifiers), batch 256 rows, float32, on one host CPU device. genrec runs with and
without packing; the reference has no packing (no segment ids), so it runs the unpacked rows.
Input pipelines are excluded: batches are materialised before timing. Examples/s counts real
examples (a packed row holds several).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)

import numpy as np  # noqa: E402

MODEL = dict(d_model=128, num_heads=6, head_dim=64, mlp_dim=1024, num_encoder_layers=4, num_decoder_layers=4,
             dropout_rate=0.1, mlp_activations=("relu",), tie_embeddings=False,
             relative_attention_num_buckets=32, relative_attention_max_distance=128)
LENGTHS = {"inputs": 160, "targets": 8}


def register_task(workdir: str) -> tuple[str, int]:
    """Registers the sequential task of the benchmark dataset; returns (mixture, vocabulary size)."""
    from genrec.datasets import synthetic
    from genrec.semantic_ids.artifact import Identifiers
    from genrec.tasks.pipeline import prepare_tasks

    dataset = synthetic.generate(num_items=1000, num_users=4000, seed=0, mean_length=24.0, name="synthetic-bench")
    rng = np.random.default_rng(0)
    codes = rng.permutation(64 ** 3)[: dataset.num_items]  # unique 3-level codes, TIGER-like
    ids = Identifiers("random3", np.stack([codes // 4096, codes // 64 % 64, codes % 64], 1).astype(np.int32),
                      (64, 64, 64))
    vocab, mixture = prepare_tasks(workdir, dataset, ids, families=["sequential"], mixture="sequential_mix",
                                   max_history=20, text_vocab_size=1000)
    return mixture, vocab.vocab_size


def make_batches(mixture: str, batch_size: int, count: int, pack: bool) -> list[dict]:
    from genrec.train import data

    it = data.batches(mixture, LENGTHS, batch_size, pack=pack, seed=0)
    return [next(it) for _ in range(count)]


def genrec_step_time(batches, vocab_size: int, steps: int) -> float:
    """Seconds per train step (after a warm-up step) of genrec's jitted, donated train step."""
    import jax

    from genrec.model.config import ModelConfig
    from genrec.model.network import EncoderDecoder
    from genrec.train import optimizers, partitioning, state as state_lib, steps as steps_lib

    config = ModelConfig(vocab_size=vocab_size, **MODEL)
    factory = lambda rngs: EncoderDecoder(config, rngs=rngs)  # noqa: E731
    tx = optimizers.make_optimizer(1000, name="adamw", learning_rate=1e-3, warmup_steps=100)
    mesh = partitioning.make_mesh(devices=jax.devices()[:1])
    model = state_lib.FunctionalModel.from_factory(factory)
    abstract = state_lib.abstract_state(factory, tx)
    shardings = partitioning.named(mesh, state_lib.state_specs(model, abstract, mesh))
    state = state_lib.create_sharded_state(factory, tx, 0, shardings)
    fn = jax.jit(steps_lib.make_train_step(model, tx), in_shardings=(shardings, None),
                 out_shardings=(shardings, None), donate_argnums=(0,))
    device_batches = [partitioning.global_batch(b, mesh) for b in batches]
    state, metrics = fn(state, device_batches[0])  # compile + warm-up
    jax.block_until_ready(metrics)
    t0 = time.perf_counter()
    for i in range(steps):
        state, metrics = fn(state, device_batches[1 + i % (len(device_batches) - 1)])
    jax.block_until_ready((state, metrics))
    return (time.perf_counter() - t0) / steps


def reference_step_time(batches, vocab_size: int, steps: int) -> float:
    """Seconds per train step of transformers' T5ForConditionalGeneration (eager PyTorch)."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    torch.manual_seed(0)
    config = T5Config(vocab_size=vocab_size, d_model=MODEL["d_model"], d_kv=MODEL["head_dim"],
                      num_heads=MODEL["num_heads"], d_ff=MODEL["mlp_dim"], num_layers=MODEL["num_encoder_layers"],
                      num_decoder_layers=MODEL["num_decoder_layers"], dropout_rate=MODEL["dropout_rate"],
                      feed_forward_proj="relu", tie_word_embeddings=False,
                      relative_attention_num_buckets=MODEL["relative_attention_num_buckets"],
                      relative_attention_max_distance=MODEL["relative_attention_max_distance"],
                      pad_token_id=0, eos_token_id=1, decoder_start_token_id=0)
    model = T5ForConditionalGeneration(config).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=0.01)

    def tensors(b):
        labels = torch.from_numpy(b["decoder_target_tokens"].astype(np.int64))
        return dict(input_ids=torch.from_numpy(b["encoder_input_tokens"].astype(np.int64)),
                    attention_mask=torch.from_numpy((b["encoder_input_tokens"] > 0).astype(np.int64)),
                    decoder_input_ids=torch.from_numpy(b["decoder_input_tokens"].astype(np.int64)),
                    decoder_attention_mask=torch.from_numpy((b["decoder_target_tokens"] > 0).astype(np.int64)),
                    labels=labels.masked_fill(labels == 0, -100))

    def step(b):
        opt.zero_grad(set_to_none=True)
        loss = model(**b).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        return loss

    inputs = [tensors(b) for b in batches]
    step(inputs[0])  # warm-up
    t0 = time.perf_counter()
    for i in range(steps):
        step(inputs[1 + i % (len(inputs) - 1)])
    return (time.perf_counter() - t0) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batch_size", type=int, default=256)
    parser.add_argument("--steps", type=int, default=5, help="timed steps per configuration")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="torch intra-op threads")
    parser.add_argument("--out", default=None, help="write the results JSON here")
    args = parser.parse_args()

    import jax
    import torch

    from genrec.train.trainer import count_examples, count_tokens

    torch.set_num_threads(args.threads)
    rows = []
    with tempfile.TemporaryDirectory() as workdir:
        mixture, vocab_size = register_task(workdir)
        for name, pack in (("genrec, packed", True), ("genrec, unpacked", False), ("HF T5 (PyTorch), unpacked", False)):
            batches = make_batches(mixture, args.batch_size, args.steps + 1, pack)
            timer = reference_step_time if name.startswith("HF") else genrec_step_time
            print(f"timing {name} ...", flush=True)
            seconds = timer(batches, vocab_size, args.steps)
            examples = np.mean([count_examples(b) for b in batches[1:]])
            tokens = np.mean([count_tokens(b) for b in batches[1:]])
            rows.append({"implementation": name, "pack": pack, "step_s": seconds,
                         "examples_per_step": float(examples), "examples_per_s": examples / seconds,
                         "tokens_per_s": tokens / seconds, "vocab_size": vocab_size})
            print(json.dumps(rows[-1]), flush=True)
    ref = rows[-1]["examples_per_s"]
    for r in rows:
        r["ratio_vs_reference"] = r["examples_per_s"] / ref
    result = {"rows": rows, "batch_size": args.batch_size, "steps": args.steps, "lengths": LENGTHS,
              "model": MODEL, "device": jax.devices()[0].device_kind, "cpus": os.cpu_count(),
              "platform": platform.platform(), "jax": jax.__version__, "torch": torch.__version__,
              "load_average_at_end": os.getloadavg()}
    print("\n| implementation | step (s) | examples/step | examples/s | tokens/s | × reference |")
    print("|---|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['implementation']} | {r['step_s']:.2f} | {r['examples_per_step']:.0f} | "
              f"{r['examples_per_s']:.1f} | {r['tokens_per_s']:.0f} | {r['ratio_vs_reference']:.2f} |")
    if args.out:
        with open(args.out, "w") as f:
            json.dump(result, f, indent=2)


if __name__ == "__main__":
    main()
