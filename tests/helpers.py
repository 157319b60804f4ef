"""The tiny model configs the tests share (tests/ is on sys.path: `import helpers` from any test folder),
and the comparison of two prepared datasets.

Small enough to compile in seconds on 8 simulated CPU devices; every field a test cares about is an
override, so a change to a config class is made here once.
"""

import dataclasses

import numpy as np
from flax import nnx

from genrec.model import parallel_ids
from genrec.model.config import BlockConfig, ModelConfig
from genrec.model.network import EncoderDecoder

# The transformer-block sizes both tiny models share: d_model 16, 2 heads of 8, MLP 32, no dropout.
TINY_BLOCK = dict(
    d_model=16,
    num_heads=2,
    head_dim=8,
    mlp_dim=32,
    dropout_rate=0.0,
    relative_attention_num_buckets=8,
    relative_attention_max_distance=16,
)
BLOCK_FIELDS = frozenset(f.name for f in dataclasses.fields(BlockConfig))


def tiny_t5_config(vocab_size: int, **overrides) -> ModelConfig:
    """A 1 + 1-layer T5 encoder-decoder of TINY_BLOCK's sizes."""
    kw = dict(TINY_BLOCK, vocab_size=vocab_size, num_encoder_layers=1, num_decoder_layers=1)
    kw.update(overrides)
    return ModelConfig(**kw)


# The model tests' encoder-decoder: 2 + 2 layers of d_model 32, a gated GELU MLP.
TINY_T5 = tiny_t5_config(
    40,
    d_model=32,
    head_dim=16,
    mlp_dim=64,
    num_encoder_layers=2,
    num_decoder_layers=2,
    mlp_activations=("gelu", "linear"),
)


def tiny_t5_model(seed=0, **overrides) -> EncoderDecoder:
    return EncoderDecoder(dataclasses.replace(TINY_T5, **overrides), rngs=nnx.Rngs(seed))


@nnx.jit(static_argnames=("deterministic",))
def t5_forward(model, encoder_input_tokens, decoder_input_tokens, deterministic=True, **packing):
    """A jitted `model(...)`: op-by-op eager execution is far slower on a busy CPU."""
    return model(encoder_input_tokens, decoder_input_tokens, deterministic=deterministic, **packing)


def tiny_parallel_ids_config(level_sizes, num_items: int, **overrides) -> parallel_ids.ParallelIdConfig:
    """A 1-layer parallel-digit decoder of TINY_BLOCK's sizes, histories of 8, and no catalogue loss (the
    digit losses only) unless a test asks for it. Overrides of BlockConfig's fields (d_model,
    dropout_rate, dtype, ...) go to its `block`, the others to ParallelIdConfig."""
    block = BlockConfig(**dict(TINY_BLOCK, **{k: v for k, v in overrides.items() if k in BLOCK_FIELDS}))
    kw = dict(
        level_sizes=tuple(level_sizes),
        num_items=num_items,
        block=block,
        num_layers=1,
        max_len=8,
        catalogue_loss_weight=0.0,
    )
    kw.update({k: v for k, v in overrides.items() if k not in BLOCK_FIELDS})
    return parallel_ids.ParallelIdConfig(**kw)


def assert_same_dataset(a, b):
    """Two RecDatasets hold the same name, item table, users and every per-interaction column."""
    assert a.name == b.name and a.items == b.items
    assert len(a.users) == len(b.users)
    for ua, ub in zip(a.users, b.users):
        assert ua.user_id == ub.user_id
        for column in ("items", "timestamps", "ratings"):
            x, y = getattr(ua, column), getattr(ub, column)
            assert (x is None and y is None) or (np.array_equal(x, y) and x.dtype == y.dtype), column
        assert ua.reviews == ub.reviews and ua.summaries == ub.summaries
