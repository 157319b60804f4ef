"""Item identifiers: text embeddings → RQ-VAE / RQ-KMeans / other schemes → code tuples per item."""
