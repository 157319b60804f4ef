"""Item identifiers: text embeddings → RQ-VAE / RQ-KMeans / other schemes → code tuples per item.

text.py          item-text recipes: metadata fields (item_texts.fields) or training-split reviews
encoders.py      TfidfSvdEncoder (dependency-free), SentenceEncoder (MiniLM, genrec[embed])
embeddings.py    item_embeddings: recipe → encoder, cached by dataset / encoder / recipe
inputs.py        embedding checks (NaN, too few items) and standardisation
kmeans.py        jitted k-means (greedy k-means++, Lloyd, balanced assignment)
rqvae.py         RQ-VAE, trained as jitted lax.scan chunks, k-means init, dead-code resets
rqkmeans.py      residual k-means (plain, balanced, whitened PCA)
collaborative.py collaborative indexing: recursive spectral clustering of training co-occurrence
collisions.py    TIGER's disambiguating last level
schemes.py       gin-selected schemes (atomic, random, rqvae, rqkmeans, opq, collaborative)
stats.py         usage / perplexity / prefix uniqueness, usage plots
artifact.py      Identifiers: the on-disk artifact every later stage reads
coder.py         the frozen text encoder + quantiser saved with it: identifiers for new items
run.py           --run_mode=build_ids
"""
