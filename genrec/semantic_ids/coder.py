"""The frozen item coder: item text → code tuples with the text encoder and quantiser an identifier
artifact was built with, so a new item gets an identifier without refitting anything.

  <semantic_ids>/coder.json   {"recipe": item_texts settings, "text": encoder, "quantiser": kind}
  <semantic_ids>/coder.npz    the encoder's and quantiser's arrays (np.load(allow_pickle=False))

Text encoders: a fitted TF-IDF+SVD (encoders.FrozenTfidfSvd: vocabulary, idf, projection) or a
sentence-transformers model (named; its weights come from the installed package). Quantisers: OPQ,
RQ-KMeans, RQ-VAE (encoder MLP + codebooks). `candidates` gives each new item its own code tuple
first, then near fallbacks for when that tuple and every collision code under it are taken.
"""

from __future__ import annotations

import dataclasses
import inspect
import json
import os
from typing import Optional, Sequence, Union

import gin
import numpy as np

from genrec.datasets import records
from genrec.semantic_ids import encoders, opq, rqkmeans, rqvae, text

CODER_META, CODER_ARRAYS = "coder.json", "coder.npz"
QUANTISERS = {"opq": opq.OPQResult, "rqkmeans": rqkmeans.RQKMeansResult, "rqvae": rqvae.RQVAEResult}
Quantiser = Union[opq.OPQResult, rqkmeans.RQKMeansResult, rqvae.RQVAEResult]
TextEncoder = Union[encoders.FrozenTfidfSvd, encoders.SentenceEncoder]


def item_texts_settings() -> dict:
    """The item_texts arguments in force (gin bindings over the defaults): how the recipe renders."""
    params = inspect.signature(
        text.item_texts.__wrapped__ if hasattr(text.item_texts, "__wrapped__") else text.item_texts
    ).parameters
    settings = {k: params[k].default for k in ("fields", "field_template", "separator")}
    settings.update({k: v for k, v in gin.get_bindings(text.item_texts).items() if k in settings})
    settings["fields"] = list(settings["fields"])
    return settings


def freeze_text_encoder(encoder, texts: Sequence[str]) -> Optional[TextEncoder]:
    """The encoder as it embedded `texts`, frozen; None for an encoder that cannot be frozen."""
    if isinstance(encoder, encoders.TfidfSvdEncoder):
        return encoder.fit(texts)[1]
    if isinstance(encoder, encoders.SentenceEncoder) and encoder.model is not None:
        return encoder
    return None


@dataclasses.dataclass
class ItemCoder:
    recipe: dict  # item_texts(fields, field_template, separator)
    text_encoder: TextEncoder
    quantiser_kind: str  # a key of QUANTISERS
    quantiser: Quantiser

    def texts(self, items: records.ItemTable) -> list[str]:
        return text.item_texts(items, **self.recipe)

    def candidates(self, items: records.ItemTable, count: int = 16) -> np.ndarray:
        """int32 [N, count, levels]: each item's code tuple (before any collision level), nearest first."""
        embeddings = self.text_encoder.encode(self.texts(items))
        return self.quantiser.candidates(np.asarray(embeddings, np.float32), count)

    def save(self, directory: str) -> None:
        arrays = {f"quantiser__{k}": v for k, v in self.quantiser.to_arrays().items()}
        enc = self.text_encoder
        if isinstance(enc, encoders.FrozenTfidfSvd):
            meta_text = {"kind": "tfidf_svd", "name": enc.name, "dim": enc.dim}
            arrays.update({f"text__{k}": v for k, v in enc.to_arrays().items()})
        else:
            meta_text = {"kind": "sentence", "model": enc.model, "normalize": enc.normalize}
        np.savez(os.path.join(directory, CODER_ARRAYS), **arrays)
        with open(os.path.join(directory, CODER_META), "w") as f:
            json.dump({"recipe": self.recipe, "text": meta_text, "quantiser": self.quantiser_kind}, f)

    @classmethod
    def load(cls, directory: str) -> Optional["ItemCoder"]:
        """The coder saved in `directory`, or None where there is none (an artifact built before
        coders were saved, or by a scheme without a text quantiser)."""
        if not os.path.exists(os.path.join(directory, CODER_META)):
            return None
        with open(os.path.join(directory, CODER_META)) as f:
            meta = json.load(f)
        with np.load(os.path.join(directory, CODER_ARRAYS), allow_pickle=False) as npz:
            arrays = {k: npz[k] for k in npz.files}
        part = lambda prefix: {k[len(prefix) :]: v for k, v in arrays.items() if k.startswith(prefix)}
        if meta["quantiser"] not in QUANTISERS:
            raise ValueError(f"{directory}/{CODER_META}: unknown quantiser {meta['quantiser']!r}")
        quantiser = QUANTISERS[meta["quantiser"]].from_arrays(part("quantiser__"))
        t = meta["text"]
        if t["kind"] == "tfidf_svd":
            encoder = encoders.FrozenTfidfSvd.from_arrays(t["name"], t["dim"], part("text__"))
        elif t["kind"] == "sentence":
            encoder = encoders.SentenceEncoder(model=t["model"], normalize=t["normalize"])
        else:
            raise ValueError(f"{directory}/{CODER_META}: unknown text encoder {t['kind']!r}")
        return cls(meta["recipe"], encoder, meta["quantiser"], quantiser)
