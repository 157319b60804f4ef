"""Baselines on genrec's prepared datasets and metrics: most-popular, SASRec (BCE / CE), biased MF."""
