"""genrec's model families, registered with genrec/runtime/families.py when this package is imported.

  encoder_decoder   T5.1.1 encoder-decoder on seqio text-to-text mixtures; trie-constrained beam search
  parallel_ids      one position per item, every digit of the next item at once; exact ranking

The family modules import only what a JAX-only machine has (array snapshots restore and train a family
where TensorFlow is absent, genrec/snapshot); stages that read seqio tasks are imported inside the
method that uses them.
"""

from genrec.families import encoder_decoder, parallel_ids  # noqa: F401  (each registers itself)
