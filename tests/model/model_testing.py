"""Tiny configs and a model factory shared by the model tests."""

import dataclasses

from flax import nnx

from genrec.model.config import ModelConfig
from genrec.model.network import EncoderDecoder

TINY = ModelConfig(
    vocab_size=40,
    d_model=32,
    num_heads=2,
    head_dim=16,
    mlp_dim=64,
    num_encoder_layers=2,
    num_decoder_layers=2,
    dropout_rate=0.0,
    mlp_activations=("gelu", "linear"),
    relative_attention_num_buckets=8,
    relative_attention_max_distance=16,
)


def tiny_model(seed=0, **overrides) -> EncoderDecoder:
    return EncoderDecoder(dataclasses.replace(TINY, **overrides), rngs=nnx.Rngs(seed))


@nnx.jit(static_argnames=("deterministic",))
def forward(model, encoder_input_tokens, decoder_input_tokens, deterministic=True, **packing):
    """A jitted `model(...)`: op-by-op eager execution is far slower on a busy CPU."""
    return model(encoder_input_tokens, decoder_input_tokens, deterministic=deterministic, **packing)
