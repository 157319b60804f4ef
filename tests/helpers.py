"""The tiny model configs the tests share (tests/ is on sys.path: `import helpers` from any test folder).

Small enough to compile in seconds on 8 simulated CPU devices; every field a test cares about is an
override, so a change to a config class is made here once.
"""

from genrec.model import parallel_ids
from genrec.model.config import ModelConfig


def tiny_t5_config(vocab_size: int, **overrides) -> ModelConfig:
    """A 1 + 1-layer T5 encoder-decoder, d_model 16, 2 heads of 8, MLP 32, no dropout."""
    kw = dict(
        vocab_size=vocab_size,
        d_model=16,
        num_heads=2,
        head_dim=8,
        mlp_dim=32,
        num_encoder_layers=1,
        num_decoder_layers=1,
        dropout_rate=0.0,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
    )
    kw.update(overrides)
    return ModelConfig(**kw)


def tiny_parallel_ids_config(level_sizes, num_items: int, **overrides) -> parallel_ids.ParallelIdConfig:
    """A 1-layer parallel-digit decoder, d_model 16, 2 heads of 8, MLP 32, histories of 8, no dropout, and
    no catalogue loss (the digit losses only) unless a test asks for it."""
    kw = dict(
        level_sizes=tuple(level_sizes),
        num_items=num_items,
        d_model=16,
        num_layers=1,
        num_heads=2,
        head_dim=8,
        mlp_dim=32,
        dropout_rate=0.0,
        max_len=8,
        relative_attention_num_buckets=8,
        relative_attention_max_distance=16,
        catalogue_loss_weight=0.0,
    )
    kw.update(overrides)
    return parallel_ids.ParallelIdConfig(**kw)
