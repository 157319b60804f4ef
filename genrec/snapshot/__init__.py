"""Array snapshots: a task mixture's examples, vocabulary, identifiers and settings frozen into one
folder of .npz/.json files, so training and evaluation run where TensorFlow and seqio are absent
(accelerator images that ship only JAX). Written by `--run_mode=snapshot`, run by `python -m
genrec.snapshot.run`."""
