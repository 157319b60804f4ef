"""Decode throughput: genrec's jitted trie-constrained beam search vs Hugging Face `generate`.

Both decode the same users with the same weights (the random-init JAX `tiger` model, ported into a
`T5ForConditionalGeneration`), top-10 of beam 20 over a catalogue of 3+1-level identifiers (256
codes per level), and must return the same items. Needs torch and transformers (benchmark-only).

  .venv/bin/python -m benchmarks.decode.decode_benchmark --num_batches=3
"""

from __future__ import annotations

import argparse
import json
import os
import time

import gin
import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genrec.model import decoding
from genrec.model.config import ModelConfig
from genrec.model.network import EncoderDecoder
from genrec.model.trie import build_trie

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--model_gin", default=os.path.join(REPO, "configs/models/tiger.gin"))
    p.add_argument("--vocab_size", type=int, default=4096)
    p.add_argument("--num_items", type=int, default=12000)
    p.add_argument("--levels", type=int, default=3, help="semantic levels (+1 collision level)")
    p.add_argument("--codes", type=int, default=256, help="codes per level")
    p.add_argument("--encoder_len", type=int, default=128)
    p.add_argument("--batch_size", type=int, default=32, help="users per decode call")
    p.add_argument("--num_batches", type=int, default=3, help="timed batches (after a warm-up one)")
    p.add_argument("--beam_size", type=int, default=20)
    p.add_argument("--top_k", type=int, default=10)
    p.add_argument("--skip_hf", action="store_true")
    p.add_argument("--out", default=None, help="write the numbers as JSON here")
    return p.parse_args()


def random_catalogue(rng, num_items, levels, codes, vocab_size):
    """Random semantic codes + a collision level, mapped to the vocabulary's top token block."""
    sem = rng.integers(0, codes, size=(num_items, levels))
    order = np.lexsort(sem.T[::-1])
    collision = np.zeros(num_items, np.int64)
    for rank in range(1, num_items):  # position within a group of equal semantic codes
        same = (sem[order[rank]] == sem[order[rank - 1]]).all()
        collision[order[rank]] = collision[order[rank - 1]] + 1 if same else 0
    codes_all = np.concatenate([sem, collision[:, None]], axis=1)
    if collision.max() >= codes:
        raise ValueError("collision level overflow; use more codes or fewer items")
    first = vocab_size - (levels + 1) * codes
    return (first + np.arange(levels + 1) * codes + codes_all).astype(np.int32)


def random_users(rng, n, length, vocab_size):
    tokens = rng.integers(2, vocab_size, size=(n, length)).astype(np.int32)
    lengths = rng.integers(length // 2, length + 1, size=n)
    tokens[np.arange(length)[None] >= lengths[:, None]] = 0
    return tokens


def to_hf(model: EncoderDecoder, config: ModelConfig):
    """The same network as a transformers T5ForConditionalGeneration (eval mode)."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    if config.mlp_activations != ("relu",):
        raise ValueError("the port handles the ReLU MLP (tiger) only")
    hf = T5ForConditionalGeneration(
        T5Config(
            vocab_size=config.vocab_size,
            d_model=config.d_model,
            d_kv=config.head_dim,
            d_ff=config.mlp_dim,
            num_layers=config.num_encoder_layers,
            num_decoder_layers=config.num_decoder_layers,
            num_heads=config.num_heads,
            relative_attention_num_buckets=config.relative_attention_num_buckets,
            relative_attention_max_distance=config.relative_attention_max_distance,
            dropout_rate=config.dropout_rate,
            feed_forward_proj="relu",
            tie_word_embeddings=False,
            decoder_start_token_id=0,
            pad_token_id=0,
            eos_token_id=1,
        )
    ).eval()
    t = lambda x: torch.tensor(np.asarray(x, np.float32))  # noqa: E731
    d, hk = config.d_model, config.num_heads * config.head_dim
    scale = config.head_dim**-0.5  # HF T5 does not scale attention logits: fold it into q

    def attention(hf_attn, ours):
        hf_attn.q.weight.data = t(ours.query[...].reshape(d, hk).T * scale)
        hf_attn.k.weight.data = t(ours.key[...].reshape(d, hk).T)
        hf_attn.v.weight.data = t(ours.value[...].reshape(d, hk).T)
        hf_attn.o.weight.data = t(ours.out[...].reshape(hk, d).T)

    def mlp(hf_ff, ours):
        hf_ff.layer_norm.weight.data = t(ours.mlp_norm.scale[...])
        hf_ff.DenseReluDense.wi.weight.data = t(ours.mlp.wi[0][...].T)
        hf_ff.DenseReluDense.wo.weight.data = t(ours.mlp.wo[...].T)

    for embedding in (hf.shared, hf.encoder.embed_tokens, hf.decoder.embed_tokens):
        embedding.weight.data = t(model.embed.embedding[...])
    # transformers 5 always ties lm_head to the shared embedding (tie_word_embeddings=False only
    # turns off the output rescaling): give it its own parameter.
    hf.lm_head.weight = torch.nn.Parameter(t(model.output.kernel[...].T))
    for stack, layers, relpos, norm in (
        (hf.encoder, model.encoder_layers, model.encoder_relpos, model.encoder_norm),
        (hf.decoder, model.decoder_layers, model.decoder_relpos, model.decoder_norm),
    ):
        stack.block[0].layer[0].SelfAttention.relative_attention_bias.weight.data = t(relpos.embedding[...])
        stack.final_layer_norm.weight.data = t(norm.scale[...])
        for block, ours in zip(stack.block, layers):
            sa = block.layer[0]
            norm_name = "attention_norm" if stack is hf.encoder else "self_attention_norm"
            sa.layer_norm.weight.data = t(getattr(ours, norm_name).scale[...])
            attention(sa.SelfAttention, ours.attention if stack is hf.encoder else ours.self_attention)
            if stack is hf.decoder:
                block.layer[1].layer_norm.weight.data = t(ours.cross_attention_norm.scale[...])
                attention(block.layer[1].EncDecAttention, ours.cross_attention)
            mlp(block.layer[-1], ours)
    return hf


def hf_decode(hf, item_tokens, users, beam_size, top_k):
    """HF beam search restricted by prefix_allowed_tokens_fn (a Python dict trie)."""
    import torch

    allowed = {}
    for row in item_tokens.tolist():
        for d in range(len(row)):
            allowed.setdefault(tuple(row[:d]), set()).add(row[d])
    allowed = {k: sorted(v) for k, v in allowed.items()}
    item_of = {tuple(r): i for i, r in enumerate(item_tokens.tolist())}
    length = item_tokens.shape[1]

    def prefix_allowed(_, decoder_ids):
        return allowed.get(tuple(decoder_ids.tolist()[1:]), [0])

    ids = torch.tensor(users, dtype=torch.long)
    with torch.inference_mode():
        out = hf.generate(
            input_ids=ids,
            attention_mask=ids > 0,
            num_beams=beam_size,
            num_return_sequences=top_k,
            max_new_tokens=length,
            min_new_tokens=length,
            do_sample=False,
            prefix_allowed_tokens_fn=prefix_allowed,
            output_scores=False,
            return_dict_in_generate=True,
        )
    seqs = out.sequences[:, 1 : 1 + length].numpy()
    return np.array([item_of.get(tuple(s), -1) for s in seqs.tolist()]).reshape(len(users), top_k)


def timed(fn, batches):
    """Per-batch wall time after one untimed warm-up (compile) batch; returns outputs and seconds."""
    fn(batches[0])
    outs, seconds = [], []
    for batch in batches[1:]:
        start = time.perf_counter()
        outs.append(fn(batch))
        seconds.append(time.perf_counter() - start)
    return np.concatenate(outs), seconds


def main():
    args = parse_args()
    gin.parse_config_file(args.model_gin)
    config = ModelConfig(vocab_size=args.vocab_size)
    rng = np.random.default_rng(0)
    item_tokens = random_catalogue(rng, args.num_items, args.levels, args.codes, args.vocab_size)
    users = random_users(rng, args.batch_size * (args.num_batches + 1), args.encoder_len, args.vocab_size)
    batches = np.split(users, args.num_batches + 1)
    model = EncoderDecoder(config, rngs=nnx.Rngs(0))
    trie = build_trie(item_tokens)

    def jax_decode(batch):
        items, _ = decoding.constrained_beam_search(model, batch, trie, args.beam_size, args.top_k)
        return np.asarray(jax.device_get(items))

    jax_items, jax_s = timed(jax_decode, batches)
    graphdef, state = nnx.split(model)
    compiled = decoding._constrained.lower(
        graphdef, state, jnp.asarray(batches[0]), trie, args.beam_size, args.top_k
    ).compile()
    temp = compiled.memory_analysis().temp_size_in_bytes
    users_timed = args.batch_size * args.num_batches
    results = {
        "device": jax.devices()[0].device_kind,
        "jax_devices": jax.device_count(),
        "config": os.path.basename(args.model_gin),
        "vocab_size": args.vocab_size,
        "num_items": args.num_items,
        "identifier_length": args.levels + 1,
        "encoder_len": args.encoder_len,
        "batch_size": args.batch_size,
        "beam_size": args.beam_size,
        "top_k": args.top_k,
        "timed_users": users_timed,
        "jax_users_per_s": users_timed / sum(jax_s),
        "jax_batch_s": jax_s,
        "jax_xla_temp_bytes_per_user_beam": temp / (args.batch_size * args.beam_size),
        "formula_bytes": decoding.decode_memory_bytes(
            config, encoder_len=args.encoder_len, decode_len=args.levels + 1
        ),
        "trie_bytes": trie.nbytes,
    }
    if not args.skip_hf:
        import torch

        hf = to_hf(model, config)
        hf_items, hf_s = timed(lambda b: hf_decode(hf, item_tokens, b, args.beam_size, args.top_k), batches)
        results.update(
            {
                "torch_threads": torch.get_num_threads(),
                "hf_users_per_s": users_timed / sum(hf_s),
                "hf_batch_s": hf_s,
                "speedup": sum(hf_s) / sum(jax_s),
                "hf_invalid_items": int((hf_items < 0).sum()),
                "same_top1": float(np.mean(hf_items[:, 0] == jax_items[:, 0])),
                "same_topk_set": float(np.mean([set(a) == set(b) for a, b in zip(hf_items, jax_items)])),
            }
        )
    report(results, args.out)


def report(results: dict, out: str | None) -> None:
    """Prints the numbers as JSON, and writes them to `out` when given."""
    print(json.dumps(results, indent=1))
    if out:
        with open(out, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
