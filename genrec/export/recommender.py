"""`Recommender`: top-K items with titles for a history, from a bundle or an in-memory model.

    rec = recommender.load("/tmp/bundle")
    for r in rec.recommend(["B0001", "B0002"], top_k=5):
        print(r.source_id, r.title, r.score)

    recs = rec.recommend_batch([["B0001"], ["B0003", "B0004"]], top_k=5)  # many users, batched

Serving drops the items already in the history by default (protocol.SERVING_DROP_HISTORY; offline
evaluation keeps them), then duplicates, then whatever `item_filter` rejects (a business-rule hook, see
evaluate/postprocess.py). The beam is max(beam_size, top_k) wide whether history is dropped or not.
`load(bundle_dir)` asks the bundle's model family for its recommender: `Recommender` for the
encoder-decoder, an `ExactRecommender` for a model that ranks every item exactly (the parallel-digit
model): same interface, no beam.
"""

from __future__ import annotations

import math
from typing import NamedTuple, Optional, Sequence, Union

import jax
import numpy as np

from genrec.evaluate import data_parallel, exact, postprocess, protocol
from genrec.evaluate.evaluator import bucketed, constrained_beams
from genrec.export import bundle as bundle_lib
from genrec.export import params_io
from genrec.runtime import families
from genrec.runtime.state import FunctionalModel
from genrec.semantic_ids.artifact import Identifiers


class Recommendation(NamedTuple):  # a tuple: cheap to build, top_k of them per user served
    item: int  # our item id
    source_id: str
    title: str
    score: float  # the identifier's log-probability under the model


def load(directory: str, **options) -> "Catalogue":
    """The recommender of a bundle written by --run_mode=export (no optimizer, no orbax): its model
    family (the manifest's `model`) builds the model from the bundle's parameters and picks the
    recommender (the encoder-decoder's beam search, the parallel-digit model's exact ranking, ...)."""
    b = bundle_lib.read_bundle(directory)
    return families.get(b.model).recommender(b, load_model(b), **options)


def load_model(b: bundle_lib.Bundle):
    """A read bundle's model with its parameters, built by the bundle's model family."""
    family = families.get(b.model)
    functional = FunctionalModel.from_factory(
        family.factory(family.config_from_dict(b.manifest["model_config"]))
    )
    params = params_io.read_params(b.params_path, b.manifest["param_dtypes"], functional.param_shapes())
    return functional.module(params, jax.random.key(0))


class Catalogue:
    """The item table a recommender answers with: source ids, titles, and id checks."""

    def __init__(self, source_ids: Sequence[str], titles: Sequence[str]):
        self.source_ids, self.titles = tuple(source_ids), tuple(titles)
        self._index = {s: i for i, s in enumerate(self.source_ids)}

    def item_ids(self, history: Sequence[Union[str, int]]) -> list[int]:
        """Source ids (str) or our ids (int) → our ids; unknown ones are named in the error."""
        try:  # the common case, exact source ids: one dict look-up per item
            return [self._index[h] for h in history]
        except (KeyError, TypeError):
            pass
        out, unknown = [], []
        for h in history:
            if isinstance(h, (int, np.integer)):
                ok = 0 <= int(h) < len(self.source_ids)
                out.append(int(h)) if ok else unknown.append(str(h))
            elif str(h).strip() in self._index:
                out.append(self._index[str(h).strip()])
            else:
                unknown.append(str(h))
        if unknown:
            raise ValueError(
                f"unknown items in history: {', '.join(unknown)} (not in this bundle's "
                f"catalogue of {len(self.source_ids)} items)"
            )
        return out

    def _checked(self, histories, users) -> tuple[list[list[int]], list]:
        items = [self.item_ids(h) for h in histories]
        users = list(users) if users is not None else [None] * len(items)
        if len(users) != len(items):
            raise ValueError(f"{len(users)} users for {len(items)} histories")
        return items, users

    def recommend(
        self,
        history: Sequence[Union[str, int]],
        top_k: int = 10,
        *,
        user: Optional[str] = None,
        drop_history: bool = protocol.SERVING_DROP_HISTORY,
        item_filter: Optional[postprocess.ItemFilter] = None,
    ) -> list[Recommendation]:
        return self.recommend_batch(
            [history], top_k, users=[user], batch_size=1, drop_history=drop_history, item_filter=item_filter
        )[0]

    def _results(
        self, ranked: np.ndarray, scores: np.ndarray, chunk, top_k: int, drop_history: bool, item_filter
    ) -> list[list[Recommendation]]:
        kept, kept_scores = postprocess.postprocess(
            ranked, scores, chunk, top_k, drop_history=drop_history, item_filter=item_filter
        )
        return [
            [
                Recommendation(int(i), self.source_ids[i], self.titles[i], float(s))
                for i, s in zip(items, row_scores)
                if i != postprocess.NO_ITEM
            ]
            for items, row_scores in zip(kept, kept_scores)
        ]


class Recommender(Catalogue):
    """The encoder-decoder's recommender: prompt → trie-constrained beam search."""

    def __init__(
        self,
        model,
        *,
        vocabulary,
        identifiers: Identifiers,
        item_tokens: np.ndarray,
        source_ids: Sequence[str],
        titles: Sequence[str],
        prompt: bundle_lib.Prompt,
        beam_size: int = 20,
        trie=None,
    ):
        from genrec.model import trie as trie_lib

        super().__init__(source_ids, titles)
        self.model, self.vocabulary, self.identifiers, self.prompt = model, vocabulary, identifiers, prompt
        self.item_tokens = np.asarray(item_tokens, np.int32)
        self.trie = trie if trie is not None else trie_lib.build_trie(self.item_tokens)
        self.beam_size = beam_size

    def encode(self, items: Sequence[int], user: Optional[str] = None) -> np.ndarray:
        """The model input for a history: the prompt's token ids + EOS (as the seqio tasks build it)."""
        text = self.prompt.render([self.identifiers.text(i) for i in items], user)
        return np.array(list(self.vocabulary.encode(text)) + [self.vocabulary.eos_id], np.int32)

    def recommend_batch(
        self,
        histories: Sequence[Sequence[Union[str, int]]],
        top_k: int = 10,
        *,
        users: Optional[Sequence[Optional[str]]] = None,
        batch_size: int = 64,
        drop_history: bool = protocol.SERVING_DROP_HISTORY,
        item_filter: Optional[postprocess.ItemFilter] = None,
        progress: bool = False,
    ) -> list[list[Recommendation]]:
        """`recommend` for many histories, decoded `batch_size` at a time (rows padded to the batch,
        rounded up to split evenly over the mesh's batch axes, and inputs to a length bucket: one
        compile per bucket). Every history is checked first, so an unknown item fails before any
        decoding."""
        from tqdm import tqdm

        from genrec.model import decoding

        items, users = self._checked(histories, users)
        batch_size = data_parallel.rows_per_call(max(1, min(batch_size, len(items))))
        width = min(postprocess.decode_width(top_k, self.beam_size), len(self.source_ids))
        out = []
        starts = range(0, len(items), batch_size)
        for start in tqdm(starts, desc="recommend", unit="batch", disable=not progress):
            chunk = items[start : start + batch_size]
            tokens = [self.encode(h, u) for h, u in zip(chunk, users[start : start + batch_size])]
            inputs = np.zeros((batch_size, bucketed(max(map(len, tokens)))), np.int32)
            for row, t in enumerate(tokens):  # padding is masked by the encoder
                inputs[row, : len(t)] = t
            ranked, scores = data_parallel.run(
                constrained_beams,
                (self.model,),
                (inputs,),
                search=decoding.constrained_beam_search,
                trie=data_parallel.Constant(self.trie),
                width=width,
            )
            ranked, scores = ranked[: len(chunk)], scores[: len(chunk)]
            out += self._results(ranked, scores, chunk, top_k, drop_history, item_filter)
        return out


class ExactRecommender(Catalogue):
    """Models that score every catalogue item from a history of items: every item scored exactly,
    history items set to -inf (protocol.exclude_history), then the best `top_k` after the same filter
    as the beam-search recommender (`headroom` spare items for it). `users` are accepted and unused
    (the model reads items).

    `scorer`: an `exact.Ranker` (the parallel-digit model: its catalogue swept in chunks, a matmul over
    the item vectors for a linear head), or any family's data_parallel.Bound mapping left-padded
    histories of at most `max_len` items [B, T] to scores [B, N] (ranked densely). `index`: a MIPS
    index over the Ranker's item vectors (genrec/export/mips_index.py); when given it ranks instead
    (approximate: its recall against exact is measured when it is built), asked for top_k + headroom
    + the history's length items so that dropping the history leaves enough."""

    def __init__(
        self,
        scorer,
        *,
        max_len: int,
        source_ids: Sequence[str],
        titles: Sequence[str],
        headroom: int = 10,
        index=None,
    ):
        super().__init__(source_ids, titles)
        self.max_len, self.headroom, self.index = max_len, headroom, index
        self._ranker = scorer if hasattr(scorer, "top_k") else _BoundRanker(scorer)
        if index is not None and not getattr(self._ranker, "vectors", False):
            raise ValueError(
                "a MIPS index needs an exact.Ranker over item vectors (a linear head), "
                f"not {type(scorer).__name__}"
            )

    def recommend_batch(
        self,
        histories,
        top_k: int = 10,
        *,
        users=None,
        batch_size: int = exact.SERVE_BATCH,
        drop_history: bool = protocol.SERVING_DROP_HISTORY,
        item_filter: Optional[postprocess.ItemFilter] = None,
        progress: bool = False,
    ) -> list[list[Recommendation]]:
        """Every history is checked first; then `batch_size` users per call (exact.serve_top_k: users
        grouped by history-length bucket, one compile per bucket), answers in the input order."""
        items, _ = self._checked(histories, users)
        batch_size = data_parallel.rows_per_call(max(1, min(batch_size, len(items))))
        width = min(len(self.source_ids), top_k + self.headroom)
        ranked, scores = exact.serve_top_k(
            self._ranker,
            items,
            width,
            max_len=self.max_len,
            drop_history=drop_history,
            batch_size=batch_size,
            index=self.index,
            progress=progress,
        )
        if item_filter is None and self.index is None:
            # Exact lists already hold distinct items with the history at -inf: what postprocess would
            # keep is each list's first top_k finite scores (its per-user numpy work, skipped, was a
            # third of the Python time per user: benchmarks/scale/RESULTS.md, "Ranking").
            source_ids, titles, excluded = self.source_ids, self.titles, -math.inf
            return [
                [
                    Recommendation(i, source_ids[i], titles[i], s)
                    for i, s in zip(row, row_scores)
                    if s > excluded
                ]
                for row, row_scores in zip(ranked[:, :top_k].tolist(), scores[:, :top_k].tolist())
            ]
        return self._results(ranked, scores, items, top_k, drop_history, item_filter)


class _BoundRanker:
    """A data_parallel.Bound scorer ([B, T] → [B, N]) as a ranker: dense top-k, users split over the mesh."""

    vectors = False

    def __init__(self, scorer: data_parallel.Bound):
        self.scorer = scorer

    def top_k(self, tokens: np.ndarray, history: Optional[np.ndarray], k: int):
        if history is None:
            history = np.full((len(tokens), 1), protocol.NO_HISTORY, np.int32)
        return data_parallel.run(_exact_top_k, self.scorer.args, (tokens, history), fn=self.scorer.fn, k=k)


def _exact_top_k(*args, fn, k: int):
    """(scores, items) [B, k] of a data_parallel.Bound scorer once history items score -inf: args are
    its bound arguments, then tokens [B, T] and histories [B, H]."""
    *bound, tokens, history = args
    return jax.lax.top_k(protocol.exclude_history(fn(*bound, tokens), history), k)
