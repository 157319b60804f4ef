"""Scores a model on task examples, one routine per task family, overall and per template.

Protocol (knobs in `EvalConfig`, bound through gin in run.py). Examples are grouped by what their
template answers (genrec/tasks/templates):
  item, sequential family   constrained beam search over the catalogue trie (beam 20, whether history
              is kept or dropped) → ranked items → post-processing (history kept by default,
              protocol.OFFLINE_DROP_HISTORY) → Recall/NDCG@{1,5,10,20}, MRR (ties among the list's
              scores against the target), beyond-accuracy @10, invalid-item rate of the raw beams.
  item, direct family       exact: log-likelihood of each candidate's identifier tokens (EOS excluded,
              as in the beam's scores) under teacher forcing; the target's rank among the candidates
              (ties against it) → HR/NDCG@{1,5,10}. The rules: genrec/evaluate/protocol.py.
  rating      greedy decoding, first number parsed → RMSE/MAE over every answer (an unparseable one
              scores as the worst rating for its target) + unparseable_rate.
  text        greedy decoding → sacrebleu corpus BLEU-4, rouge-score ROUGE-1/2/L F1 (x100).
  yes_no, like_dislike      greedy decoding → exact-match accuracy.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from typing import Any, Callable, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np
from flax import nnx

from genrec.evaluate import beyond_accuracy, data_parallel, postprocess, protocol, ranking
from genrec.metrics import rating, text_metrics
from genrec.model import decoding

FAMILIES = ("sequential", "direct", "rating", "explanation", "review")
Example = dict[str, Any]  # one seqio example as numpy: inputs, targets_pretokenized, metadata fields


def task_family(task_name: str) -> str:
    """'genrec_beauty_sequential_heldout' → 'sequential'."""
    parts = task_name.removesuffix("_heldout").split("_")
    if parts[-1] not in FAMILIES:
        raise ValueError(f"task {task_name!r}: cannot tell its family (expected a suffix in {FAMILIES})")
    return parts[-1]


@dataclasses.dataclass(frozen=True)
class EvalConfig:
    beam_size: int = 20
    top_k: int = 20
    drop_history: bool = protocol.OFFLINE_DROP_HISTORY
    item_filter: Optional[postprocess.ItemFilter] = None
    batch_size: int = 32  # encoder inputs per decoding call, all devices together (data_parallel)
    score_batch_size: int = 512  # (input, candidate) rows per teacher-forced scoring call
    max_decode_length: int = 64
    beyond_k: int = 10


def _text(value) -> str:
    return value.decode("utf-8") if isinstance(value, bytes) else str(value)


LENGTH_BUCKET = 64  # input lengths are padded up to a multiple of this: few distinct shapes to compile


def bucketed(length: int, bucket: int = LENGTH_BUCKET) -> int:
    return -(-length // bucket) * bucket


def pad_inputs(examples: Sequence[Example], batch_size: int) -> np.ndarray:
    """[ceil(n / batch) * batch, T] int32 inputs, zero-padded (padding is masked by the encoder);
    fixed shapes, so one compile per task and length bucket."""
    length = bucketed(max(len(e["inputs"]) for e in examples))
    rows = -(-len(examples) // batch_size) * batch_size
    out = np.zeros((rows, length), np.int32)
    for i, e in enumerate(examples):
        out[i, : len(e["inputs"])] = e["inputs"]
    return out


@nnx.jit
def candidate_log_likelihood(model, encoder_tokens, targets):
    """log p(targets[e, c] | input e) summed over positions: encoder_tokens [E, S], targets [E, C, L]
    (identifier tokens, teacher-forced). Each input is encoded once for all its candidates."""
    num_examples, num_candidates, length = targets.shape
    encoded = jnp.repeat(model.encode(encoder_tokens), num_candidates, axis=0)
    flat = targets.reshape(num_examples * num_candidates, length)
    decoder_inputs = jnp.pad(flat[:, :-1], ((0, 0), (1, 0)))
    logits = model.decode(encoded, jnp.repeat(encoder_tokens, num_candidates, axis=0), decoder_inputs)
    logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
    token_logp = jnp.take_along_axis(logp, flat[..., None], axis=-1)[..., 0]
    return token_logp.sum(axis=-1).reshape(num_examples, num_candidates)


def constrained_beams(model, inputs, *, search, trie: data_parallel.Constant, width: int):
    """One batch of trie-constrained beam search → (items, scores) [B, width] (a data_parallel fn)."""
    return search(model, inputs, trie.value, beam_size=width, top_k=width)


def _greedy_tokens(model, inputs, *, greedy, max_length: int, eos_id: int):
    return greedy(model, inputs, max_length=max_length, eos_id=eos_id)[0]


class Evaluator:
    """Everything needed to score a model: decoding functions, trie, vocabulary, item table."""

    def __init__(
        self,
        model,
        *,
        trie,
        item_tokens: np.ndarray,
        vocabulary,
        popularity: np.ndarray,
        config: EvalConfig = EvalConfig(),
        eos_id: int = 1,
        beam_search: Optional[Callable] = None,
        greedy: Optional[Callable] = None,
    ):
        if beam_search is None or greedy is None:
            beam_search = beam_search or decoding.constrained_beam_search
            greedy = greedy or decoding.greedy_decode
        self.model, self.trie, self.vocabulary, self.config = model, trie, vocabulary, config
        self.item_tokens = np.asarray(item_tokens, np.int32)
        self.popularity = np.asarray(popularity)
        self.eos_id = eos_id
        self.beam_search, self.greedy = beam_search, greedy
        self.decode_seconds = 0.0  # warm sequential decoding time (the compiling call excluded)
        self.decoded_users = 0

    # --- sequential -------------------------------------------------------------------------
    def recommend(self, examples: Sequence[Example]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(raw beams [n, width], post-processed top-K [n, top_k], its scores [n, top_k]) per example."""
        cfg = self.config
        width = min(postprocess.decode_width(cfg.top_k, cfg.beam_size), len(self.item_tokens))
        rows = data_parallel.rows_per_call(cfg.batch_size)  # split over the mesh's batch axes
        inputs = pad_inputs(examples, rows)

        def decode(start: int) -> tuple[np.ndarray, np.ndarray]:
            return data_parallel.run(
                constrained_beams,
                (self.model,),
                (inputs[start : start + rows],),
                search=self.beam_search,
                trie=data_parallel.Constant(self.trie),
                width=width,
            )

        beams = [decode(0)]  # compiles
        starts = list(range(rows, len(inputs), rows)) or [0]  # time >= 1 warm call
        t0 = time.perf_counter()
        for start in starts:
            items = decode(start)
            if start:
                beams.append(items)
        self.decode_seconds += time.perf_counter() - t0
        self.decoded_users += sum(min(rows, len(examples) - s) for s in starts)  # real users
        raw, raw_scores = (np.concatenate(part)[: len(examples)] for part in zip(*beams))
        histories = [np.asarray(e["history_items"]) for e in examples]
        topk, scores = postprocess.postprocess(
            raw, raw_scores, histories, cfg.top_k, drop_history=cfg.drop_history, item_filter=cfg.item_filter
        )
        return raw, topk, scores

    def sequential_metrics(self, raw, topk, scores, examples) -> dict[str, float]:
        targets = np.array([e["target_item"] for e in examples])
        out = ranking.ranking_metrics(topk, targets, ranking.SEQUENTIAL_KS, scores=scores)
        out.update(beyond_accuracy.beyond_accuracy(topk, targets, self.popularity, self.config.beyond_k))
        out.update(
            beyond_accuracy.history_repeats(
                topk, [e["history_items"] for e in examples], targets, self.config.beyond_k
            )
        )
        out["invalid_rate"] = beyond_accuracy.invalid_rate(raw, len(self.item_tokens))
        return out

    # --- direct ----------------------------------------------------------------------------
    def candidate_scores(self, examples: Sequence[Example]) -> np.ndarray:
        """[n, C] exact log-likelihood of each candidate's identifier tokens (EOS excluded, as in
        beam search) given the input; shorter lists are padded with -inf (never outrank, never tie)."""
        cands = [np.asarray(e["candidates"], np.int64) for e in examples]
        width = max(len(c) for c in cands)
        per_call = data_parallel.rows_per_call(max(1, self.config.score_batch_size // width))
        inputs = pad_inputs(examples, per_call)
        padded = np.zeros((len(inputs), width), np.int64)
        valid = np.zeros((len(inputs), width), bool)
        for i, c in enumerate(cands):
            padded[i, : len(c)], valid[i, : len(c)] = c, True
        targets = self.item_tokens[padded]  # [rows, C, L]
        scores = [
            data_parallel.run(
                candidate_log_likelihood, (self.model,), (inputs[s : s + per_call], targets[s : s + per_call])
            )
            for s in range(0, len(inputs), per_call)
        ]
        return np.where(valid, np.concatenate(scores), -np.inf)[: len(examples)]

    @staticmethod
    def direct_metrics(scores: np.ndarray, examples: Sequence[Example]) -> dict[str, float]:
        target_index = []
        for i, e in enumerate(examples):
            where = np.flatnonzero(np.asarray(e["candidates"]) == e["target_item"])
            if not len(where):
                raise ValueError(
                    f"direct example {i} (user {e.get('user_index')}): target item "
                    f"{e['target_item']} is not among its candidates"
                )
            target_index.append(where[0])
        return ranking.candidate_metrics(scores, np.array(target_index), ranking.DIRECT_KS)

    # --- generation (rating, explanation, review) --------------------------------------------
    def generate(self, examples: Sequence[Example]) -> list[str]:
        cfg = self.config
        rows = data_parallel.rows_per_call(cfg.batch_size)
        inputs = pad_inputs(examples, rows)
        texts = []
        for start in range(0, len(inputs), rows):
            tokens = data_parallel.run(
                _greedy_tokens,
                (self.model,),
                (inputs[start : start + rows],),
                greedy=self.greedy,
                max_length=cfg.max_decode_length,
                eos_id=self.eos_id,
            )
            for row in tokens:
                row = row.tolist()
                row = row[: row.index(self.eos_id)] if self.eos_id in row else row
                texts.append(self.vocabulary.decode([t for t in row if t > 0]))
        return texts[: len(examples)]

    # --- one task ----------------------------------------------------------------------------
    def evaluate_task(
        self, task_name: str, examples: Sequence[Example], groups: Optional[dict[str, np.ndarray]] = None
    ) -> tuple[dict, dict, dict]:
        """(metrics over all examples, {template_id: metrics}, {group: metrics}) for one task.

        Examples are grouped by what their template answers: items (ranked), ratings, text, or a
        choice (yes/no, like/dislike: accuracy); a task whose templates differ gets each group's metrics.
        groups: named boolean masks over `examples` (e.g. the cold-start groups of
        genrec/evaluate/cold_start.py), each scored from the same decoded outputs as the whole task.
        """
        if not examples:
            raise ValueError(f"task {task_name}: no examples to evaluate")
        family = task_family(task_name)
        t0 = time.perf_counter()
        kinds = np.array([answer_kind(family, e) for e in examples])
        scorers = {}  # kind → (indices into examples, fn(positions within the group) → metrics)
        for kind in sorted(set(kinds)):
            group = np.flatnonzero(kinds == kind)
            scorers[kind] = (group, self._scorer(family, kind, _take(examples, group)))

        def summarize(idx: np.ndarray) -> dict:
            out = {}
            for group, score in scorers.values():
                pos = np.flatnonzero(np.isin(group, idx))
                if len(pos):
                    out.update(score(pos))
            return dict(out, examples=len(idx))

        everything = summarize(np.arange(len(examples)))
        ids = np.array([_text(e.get("template_id", "")) for e in examples])
        templates = {tid: summarize(np.flatnonzero(ids == tid)) for tid in sorted(set(ids))}
        by_group = {}
        for name, mask in (groups or {}).items():
            if len(mask) != len(examples):
                raise ValueError(
                    f"group {name!r} masks {len(mask)} examples, task {task_name} has {len(examples)}"
                )
            by_group[name] = summarize(np.flatnonzero(mask))
        logging.info(
            "%s: %d examples in %.1fs: %s", task_name, len(examples), time.perf_counter() - t0, everything
        )
        return everything, templates, by_group

    def _scorer(self, family: str, kind: str, examples: list[Example]) -> Callable[[np.ndarray], dict]:
        """Runs the model on one answer-kind group; returns metrics of any subset of the group."""
        if kind == "item" and family == "direct":
            scores = self.candidate_scores(examples)
            return lambda pos: self.direct_metrics(scores[pos], _take(examples, pos))
        if kind == "item":
            raw, topk, scores = self.recommend(examples)
            return lambda pos: self.sequential_metrics(raw[pos], topk[pos], scores[pos], _take(examples, pos))
        texts = self.generate(examples)
        targets = [_text(e["targets_pretokenized"]) for e in examples]
        if kind == "rating":
            values = [
                float(e["target_rating"]) if "target_rating" in e else rating.parse_rating(t)
                for e, t in zip(examples, targets)
            ]
            return lambda pos: rating.rating_metrics(_take(texts, pos), _take(values, pos))
        if kind == "text":
            return lambda pos: text_metrics.text_metrics(_take(texts, pos), _take(targets, pos))
        return lambda pos: {
            "accuracy": float(np.mean([texts[p].strip().lower() == targets[p].strip().lower() for p in pos]))
        }


def answer_kind(family: str, example: Example) -> str:
    """'item', 'rating', 'text', 'yes_no' or 'like_dislike': the example's `answer_kind` (set from its
    template by the tasks), else its template's, else from the family and target (number → rating)."""
    if "answer_kind" in example:
        return _text(example["answer_kind"])
    # genrec.tasks imports seqio on import; the evaluator runs where TensorFlow is absent (snapshots)
    from genrec.tasks.templates import all_families

    try:
        return all_families()[family].by_id(_text(example.get("template_id", ""))).answer
    except KeyError:
        pass
    if family in ("sequential", "direct"):
        return "item"
    return "rating" if _is_number(_text(example["targets_pretokenized"])) else "text"


def _is_number(text: str) -> bool:
    try:
        float(text.strip())
        return True
    except ValueError:
        return False


def _take(seq, idx):
    return [seq[i] for i in idx]
