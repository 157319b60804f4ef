"""The identifier artifact every scheme produces: item id → tuple of codes → tokens.

On disk (<workdir>/semantic_ids/): codes.npy (int32 [num_items, num_levels]), identifiers.json
(scheme, level sizes, dataset, source item ids), and for a text quantiser coder.json + coder.npz (the
frozen text encoder and quantiser, genrec/semantic_ids/coder.py: identifiers for new items).
Level l's code c is the token `<{letter_l}_{c}>`
(letters a, b, c, ..., z, aa, ab, ...), so item 5 with codes (12, 201, 7, 0) is `<a_12><b_201><c_7><d_0>`.
"""

from __future__ import annotations

import dataclasses
import json
import os
import string
from typing import Optional, Sequence

import numpy as np

from genrec.semantic_ids.coder import ItemCoder

CODES_FILE = "codes.npy"
META_FILE = "identifiers.json"


def level_name(level: int) -> str:
    """a, b, ..., z, then aa, ab, ... (long identifiers such as OPQ's 32 digits + collision)."""
    letters = string.ascii_lowercase
    return letters[level] if level < 26 else letters[level // 26 - 1] + letters[level % 26]


def level_token(level: int, code: int) -> str:
    return f"<{level_name(level)}_{code}>"


@dataclasses.dataclass(frozen=True)
class Identifiers:
    """`codes[i]` is item i's code tuple; `level_sizes[l]` bounds level l's codes."""

    scheme: str
    codes: np.ndarray
    level_sizes: tuple[int, ...]
    source_ids: Optional[tuple[str, ...]] = None
    dataset: str = ""
    coder: Optional[ItemCoder] = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self):
        codes = np.asarray(self.codes)
        if codes.ndim != 2 or codes.shape[1] != len(self.level_sizes):
            raise ValueError(f"codes shape {codes.shape} does not match level sizes {self.level_sizes}")
        if codes.size and ((codes < 0).any() or (codes >= np.array(self.level_sizes)).any()):
            raise ValueError("a code is outside its level's range")
        if len({tuple(c) for c in codes.tolist()}) != len(codes):
            raise ValueError(f"{self.scheme}: two items share a code tuple; add a collision level")

    @classmethod
    def atomic(cls, num_items: int, **kw) -> "Identifiers":
        """One token per item (the P5 / SASRec-style baseline scheme)."""
        return cls("atomic", np.arange(num_items, dtype=np.int32)[:, None], (num_items,), **kw)

    @property
    def num_items(self) -> int:
        return len(self.codes)

    @property
    def num_levels(self) -> int:
        return len(self.level_sizes)

    def all_tokens(self) -> list[str]:
        """Every identifier token, level by level: the vocabulary's item-token block."""
        return [level_token(l, c) for l, size in enumerate(self.level_sizes) for c in range(size)]

    def tokens(self, item: int) -> list[str]:
        return [level_token(l, int(c)) for l, c in enumerate(self.codes[item])]

    def text(self, item: int) -> str:
        return "".join(self.tokens(item))

    def item_for_codes(self, codes: Sequence[int]) -> Optional[int]:
        return self._index().get(tuple(int(c) for c in codes))

    def _index(self) -> dict:
        if not hasattr(self, "_lookup"):
            object.__setattr__(self, "_lookup", {tuple(c): i for i, c in enumerate(self.codes.tolist())})
        return self._lookup

    def save(self, directory: str) -> None:
        os.makedirs(directory, exist_ok=True)
        np.save(os.path.join(directory, CODES_FILE), np.asarray(self.codes, np.int32))
        meta = {
            "scheme": self.scheme,
            "level_sizes": list(self.level_sizes),
            "dataset": self.dataset,
            "source_ids": list(self.source_ids) if self.source_ids is not None else None,
        }
        with open(os.path.join(directory, META_FILE), "w") as f:
            json.dump(meta, f)
        if self.coder is not None:
            self.coder.save(directory)

    @classmethod
    def load(cls, directory: str) -> "Identifiers":
        for name in (CODES_FILE, META_FILE):
            if not os.path.exists(os.path.join(directory, name)):
                raise FileNotFoundError(f"{directory}: no {name}; run --run_mode=build_ids first")
        with open(os.path.join(directory, META_FILE)) as f:
            meta = json.load(f)
        codes = np.load(os.path.join(directory, CODES_FILE), allow_pickle=False)
        src = meta.get("source_ids")
        return cls(
            meta["scheme"],
            codes,
            tuple(meta["level_sizes"]),
            tuple(src) if src is not None else None,
            meta.get("dataset", ""),
            ItemCoder.load(directory),
        )
