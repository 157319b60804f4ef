"""Training batches from a seqio Task or Mixture, with a data position that survives a restart.

Data position (our choice of the two usual ones): the pipeline is deterministic (fixed shuffle / mixture
seed, `deterministic` tf.data options, infinite repeat) and a resumed run skips the first
`step` batches, so after a restart the run sees exactly the batches an uninterrupted run would have.
Skipping costs the input-processing time of those batches but needs no iterator state in the
checkpoint and works unchanged with any number of hosts (each host reads its own shard).
"""

from __future__ import annotations

from typing import Iterator, Mapping, Optional

import jax
import numpy as np


def batches(
    mixture_or_task: str,
    task_feature_lengths: Mapping[str, int],
    batch_size: int,
    *,
    start_step: int = 0,
    seed: int = 0,
    pack: bool = True,
    split: str = "train",
    shuffle: bool = True,
    num_epochs: Optional[int] = None,
    converter=None,
) -> Iterator[dict[str, np.ndarray]]:
    """This process's [batch_size, ...] numpy batches of EncDecFeatureConverter features (or of
    `converter`: its `seqio_converter()`, then its `add_codes(ds)`), starting at batch
    `start_step` of the deterministic stream."""
    import seqio
    import tensorflow as tf

    ds = seqio.get_dataset(
        mixture_or_task,
        dict(task_feature_lengths),
        feature_converter=converter.seqio_converter()
        if converter
        else seqio.EncDecFeatureConverter(pack=pack),
        dataset_split=split,
        shuffle=shuffle,
        num_epochs=num_epochs,
        seed=seed,
        verbose=False,
        shard_info=seqio.ShardInfo(jax.process_index(), jax.process_count()),
    )
    if converter:
        ds = converter.add_codes(ds)
    options = tf.data.Options()
    options.deterministic = True
    ds = ds.with_options(options).batch(batch_size, drop_remainder=True)
    if start_step:
        ds = ds.skip(start_step)
    return ds.prefetch(2).as_numpy_iterator()
