"""Gin bindings of the smallest sequential-task run (a 1+1-layer, d 16 model on a 48/4-token task),
shared by the run-mode tests of training and snapshots; and a context manager that applies them."""

import contextlib

import gin

TINY_SEQUENTIAL = """
prepare_tasks.families = ['sequential']
prepare_tasks.mixture = 'sequential_mix'
prepare_tasks.text_vocab_size = 200
prepare_tasks.max_history = 10
task_feature_lengths.inputs = 48
task_feature_lengths.targets = 4
ModelConfig.d_model = 16
ModelConfig.num_heads = 2
ModelConfig.head_dim = 8
ModelConfig.mlp_dim = 32
ModelConfig.num_encoder_layers = 1
ModelConfig.num_decoder_layers = 1
ModelConfig.dropout_rate = 0.0
ModelConfig.mlp_activations = ('relu',)
make_optimizer.learning_rate = 0.01
make_optimizer.warmup_steps = 5
"""


@contextlib.contextmanager
def tiny_sequential_config(extra: str = ""):
    """Fresh task registry and gin config with TINY_SEQUENTIAL (+ extra) bound; both cleared after."""
    import genrec.evaluate.run  # noqa: F401 - registers every configurable the bindings name
    import genrec.model.config  # noqa: F401
    import genrec.train.run  # noqa: F401
    from genrec import tasks

    tasks.clear()
    gin.clear_config()
    gin.parse_config(TINY_SEQUENTIAL + extra)
    try:
        yield
    finally:
        gin.clear_config()
        tasks.clear()
