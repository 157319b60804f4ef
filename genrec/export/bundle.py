"""The inference bundle: everything `recommend` needs, nothing from training.

  <bundle>/manifest.json     format, model config, param dtypes, prompt, provenance (step, dataset, ...)
  <bundle>/params.npz        flat parameters (params_io; np.load(allow_pickle=False))
  <bundle>/spm.model         the SentencePiece vocabulary (text pieces + identifier tokens)
  <bundle>/semantic_ids/     the identifier artifact (codes.npy, identifiers.json)
  <bundle>/trie.npz          the compiled trie of valid identifiers (child_start, node_token,
                             node_item, depth, width) and item_tokens [num_items, L] it came from
  <bundle>/items.json        source ids and titles, indexed by our item id

The manifest's `model` names the model family (genrec/runtime/families.py) that reads it back. A
bundle of a model that scores items from a history of item positions (the parallel-digit model) has
no vocabulary, prompt or trie (manifest `prompt: null`): it ranks every item exactly.
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
from typing import Optional, Sequence

import jax.numpy as jnp
import numpy as np

from genrec.evaluate import exact
from genrec.export import params_io
from genrec.model import trie as trie_lib
from genrec.runtime.meta import DEFAULT_MODEL
from genrec.semantic_ids.artifact import Identifiers

FORMAT = "genrec-bundle/1"
MANIFEST, PARAMS, VOCABULARY, IDENTIFIERS, TRIE, ITEMS = (
    "manifest.json",
    "params.npz",
    "spm.model",
    "semantic_ids",
    "trie.npz",
    "items.json",
)
_TRIE_ARRAYS = ("child_start", "node_token", "node_item")


@dataclasses.dataclass(frozen=True)
class Prompt:
    """How a history becomes model input: the sequential template, filled as the tasks fill it."""

    template: str  # str.format over {user}, {history} and {user_token}
    max_history: int = 20  # most recent items shown
    anonymous_user: str = "a user"  # {user} when the caller names none
    empty_history: str = "nothing yet"
    user_token_buckets: int = 0  # TIGER's hashed user tokens (of the caller's user id); 0: none

    def render(self, history_text: Sequence[str], user: str | None = None) -> str:
        from genrec.tasks.examples import user_token

        shown = list(history_text)[-self.max_history :] if self.max_history else list(history_text)
        token = user_token(user, self.user_token_buckets) if user and self.user_token_buckets else ""
        return self.template.format(
            user=user or self.anonymous_user, user_token=token, history="".join(shown) or self.empty_history
        )


@dataclasses.dataclass(frozen=True)
class Bundle:
    directory: str
    manifest: dict
    identifiers: Identifiers
    item_tokens: Optional[np.ndarray]  # None for models ranked exactly (no vocabulary, no trie)
    trie: Optional["trie_lib.Trie"]
    source_ids: tuple[str, ...]
    titles: tuple[str, ...]
    # per item: whether the model trained on it (None: bundles written before this was recorded)
    trained: Optional[tuple[bool, ...]] = None

    @property
    def model(self) -> str:
        """The model family's name (bundles written before families were named hold the encoder-decoder)."""
        return self.manifest.get("model", DEFAULT_MODEL)

    @property
    def vocabulary_path(self) -> str:
        return os.path.join(self.directory, VOCABULARY)

    @property
    def params_path(self) -> str:
        return os.path.join(self.directory, PARAMS)

    @property
    def prompt(self) -> Prompt:
        return Prompt(**self.manifest["prompt"])

    @property
    def item_bonus(self) -> Optional[np.ndarray]:
        """float32 [N]: the manifest's `unseen_item_bonus` on every item the model never trained on (new
        items added since export included), 0 elsewhere; None without a bonus or a `trained` record."""
        bonus = float(self.manifest.get("unseen_item_bonus") or 0.0)
        return None if self.trained is None else exact.item_bonus(np.asarray(self.trained), bonus)


def write_bundle(
    directory: str,
    *,
    model,
    model_config: dict,
    identifiers: Identifiers,
    source_ids: Sequence[str],
    titles: Sequence[str],
    provenance: dict,
    vocabulary_path: Optional[str] = None,
    item_tokens: Optional[np.ndarray] = None,
    prompt: Optional[Prompt] = None,
    model_kind: str = DEFAULT_MODEL,
    trained: Optional[Sequence[bool]] = None,
    serving: Optional[dict] = None,
) -> str:
    """Writes a bundle (replacing one already there); returns its directory. A prompted model gives
    its vocabulary, item tokens and prompt together; a model ranked from item positions none of them.
    trained: per item, whether it had a training interaction (items.json); serving: manifest settings
    the recommender reads (e.g. `unseen_item_bonus`)."""
    n = identifiers.num_items
    text_parts = (vocabulary_path, item_tokens, prompt)
    text_model = prompt is not None
    if any(p is not None for p in text_parts) and not all(p is not None for p in text_parts):
        raise ValueError("bundle: a prompted model needs vocabulary_path, item_tokens and prompt together")
    if trained is not None and len(trained) != n:
        raise ValueError(f"bundle: {n} identifiers but {len(trained)} trained flags")
    if (text_model and len(item_tokens) != n) or len(source_ids) != n or len(titles) != n:
        raise ValueError(
            f"bundle: {n} identifiers but {len(item_tokens) if text_model else n} token "
            f"rows, {len(source_ids)} source ids, {len(titles)} titles"
        )
    os.makedirs(directory, exist_ok=True)
    dtypes = params_io.save_params(model, os.path.join(directory, PARAMS))
    identifiers.save(os.path.join(directory, IDENTIFIERS))
    if text_model:
        shutil.copyfile(vocabulary_path, os.path.join(directory, VOCABULARY))
        write_trie(directory, item_tokens)
    write_items(directory, source_ids, titles, trained)
    manifest = {
        "format": FORMAT,
        "model": model_kind,
        "model_config": model_config,
        "param_dtypes": dtypes,
        "prompt": dataclasses.asdict(prompt) if prompt else None,
        **(serving or {}),
        **provenance,
    }
    with open(os.path.join(directory, MANIFEST), "w") as f:
        json.dump(manifest, f, indent=2)
    return directory


def write_items(
    directory: str, source_ids: Sequence[str], titles: Sequence[str], trained: Optional[Sequence[bool]]
) -> None:
    """<directory>/items.json: source ids, titles and (when known) whether each item was trained on."""
    items = {"source_ids": list(source_ids), "titles": list(titles)}
    if trained is not None:
        items["trained"] = [bool(t) for t in trained]
    with open(os.path.join(directory, ITEMS), "w") as f:
        json.dump(items, f)


def write_trie(directory: str, item_tokens: np.ndarray) -> None:
    """<directory>/trie.npz: the trie of the catalogue's identifier tokens [N, L] and those tokens."""
    trie = trie_lib.build_trie(item_tokens)
    np.savez(
        os.path.join(directory, TRIE),
        item_tokens=np.asarray(item_tokens, np.int32),
        **{f: np.asarray(getattr(trie, f)) for f in _TRIE_ARRAYS},
        depth=np.int32(trie.depth),
        width=np.int32(trie.width),
    )


def read_bundle(directory: str) -> Bundle:
    """Reads and checks everything but the parameters (see Recommender.load)."""
    if not os.path.exists(os.path.join(directory, MANIFEST)):
        raise FileNotFoundError(
            f"{directory}: not an inference bundle (no {MANIFEST}); write one with --run_mode=export"
        )
    with open(os.path.join(directory, MANIFEST)) as f:
        manifest = json.load(f)
    if manifest.get("format") != FORMAT:
        raise ValueError(f"{directory}/{MANIFEST}: format {manifest.get('format')!r}, expected {FORMAT!r}")
    text_model = manifest.get("prompt") is not None
    for name in (PARAMS, IDENTIFIERS, ITEMS) + ((VOCABULARY, TRIE) if text_model else ()):
        if not os.path.exists(os.path.join(directory, name)):
            raise FileNotFoundError(
                f"{directory}: not an inference bundle (no {name}); write one with --run_mode=export"
            )
    item_tokens = trie = None
    if text_model:
        with np.load(os.path.join(directory, TRIE), allow_pickle=False) as npz:
            item_tokens = npz["item_tokens"]
            trie = trie_lib.Trie(
                **{f: jnp.asarray(npz[f]) for f in _TRIE_ARRAYS},
                depth=int(npz["depth"]),
                width=int(npz["width"]),
            )
    with open(os.path.join(directory, ITEMS)) as f:
        items = json.load(f)
    identifiers = Identifiers.load(os.path.join(directory, IDENTIFIERS))
    rows = len(item_tokens) if text_model else identifiers.num_items
    trained = items.get("trained")
    if trained is not None and len(trained) != identifiers.num_items:
        raise ValueError(
            f"{directory}/{ITEMS}: {len(trained)} trained flags for {identifiers.num_items} items"
        )
    if not (rows == len(items["source_ids"]) == len(items["titles"]) == identifiers.num_items):
        raise ValueError(f"{directory}: item table, trie and identifiers disagree on the number of items")
    if text_model and trie.num_items != len(item_tokens):
        raise ValueError(
            f"{directory}/{TRIE}: the trie has {trie.num_items} items, the table {len(item_tokens)}"
        )
    return Bundle(
        os.path.abspath(directory),
        manifest,
        identifiers,
        item_tokens,
        trie,
        tuple(items["source_ids"]),
        tuple(items["titles"]),
        None if trained is None else tuple(bool(t) for t in trained),
    )
