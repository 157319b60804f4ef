"""Analytic parameter and FLOP counts for the trainer's MFU.

Notation: D = d_model, H·K = num_heads × head_dim (= A), F = mlp_dim, n = len(mlp_activations),
V = vocab_size, S = encoder length, T = decoder length, Le/Ld = encoder/decoder layers.

Matmul parameters touched per token:
  encoder layer     4·D·A (q, k, v, out) + (n+1)·D·F                    per encoder token
  decoder layer     4·D·A (self) + 2·D·A (cross q, out) + (n+1)·D·F     per decoder token
                    + 2·D·A (cross k, v)                                 per encoder token
  output            D·V                                                  per decoder token
Training FLOPs = 6 × Σ(matmul params × tokens they touch)  (2 per multiply-add, × 3 for fwd + bwd)
               + 12·A·(Le·S² + Ld·(T² + T·S))  (q·kᵀ and attention·v, 2·2 forward, × 3)
Attention is counted over the full (masked) score matrix — what the hardware computes — and for a
packed row S and T are the packed lengths. The embedding lookup, norms, softmax and relative
position biases are not counted (the usual "model FLOPs" convention).
"""

from __future__ import annotations

from genrec.model.config import ModelConfig


def num_params(config: ModelConfig) -> int:
    """Exact number of parameters of `EncoderDecoder(config)`."""
    c = config
    d, a, f, n = c.d_model, c.num_heads * c.head_dim, c.mlp_dim, len(c.mlp_activations)
    attention, mlp = 4 * d * a, (n + 1) * d * f
    encoder_layer = attention + mlp + 2 * d  # + two RMSNorm scales
    decoder_layer = 2 * attention + mlp + 3 * d
    relpos = c.relative_attention_num_buckets * c.num_heads
    embeddings = c.vocab_size * d * (1 if c.tie_embeddings else 2)
    return (
        embeddings
        + 2 * relpos
        + 2 * d  # final norms
        + c.num_encoder_layers * encoder_layer
        + c.num_decoder_layers * decoder_layer
    )


def train_flops_per_example(config: ModelConfig, encoder_len: int, decoder_len: int) -> int:
    """Training FLOPs (forward + backward) for one example (one packed row); see module doc."""
    c = config
    d, a, f, n = c.d_model, c.num_heads * c.head_dim, c.mlp_dim, len(c.mlp_activations)
    s, t = encoder_len, decoder_len
    mlp = (n + 1) * d * f
    matmul_param_tokens = (
        c.num_encoder_layers * (4 * d * a + mlp) * s
        + c.num_decoder_layers * ((6 * d * a + mlp) * t + 2 * d * a * s)
        + d * c.vocab_size * t
    )
    attention = 12 * a * (c.num_encoder_layers * s * s + c.num_decoder_layers * (t * t + t * s))
    return 6 * matmul_param_tokens + attention
