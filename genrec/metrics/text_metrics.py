"""BLEU-4 and ROUGE-1/2/L of generated text, by the reference implementations (setup.py pins both).

BLEU: sacrebleu's corpus BLEU with its defaults, signature
`nrefs:1|case:mixed|eff:no|tok:13a|smooth:exp|version:2.6.0` (13a tokenisation, exponential smoothing
of zero n-gram counts). ROUGE: Google's rouge-score, F1 per example
(lower-cased alphanumeric tokens, no stemming) averaged over examples. Both x100, as P5 reports them.
"""

from __future__ import annotations

import functools
from typing import Sequence

ROUGE_TYPES = ("rouge1", "rouge2", "rougeL")


@functools.cache
def _scorers():
    """sacrebleu's BLEU (max_ngram_order 4) and rouge-score's scorer, imported on first use: rouge-score
    pulls in nltk and scipy.stats (about a second), which ranking and serving never need."""
    from rouge_score import rouge_scorer
    from sacrebleu.metrics import BLEU

    return BLEU(), rouge_scorer.RougeScorer(list(ROUGE_TYPES), use_stemmer=False)


def text_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU-4 (`bleu4`) and mean ROUGE-1/2/L F1 (`rouge1`, `rouge2`, `rougeL`), all x100."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        return {}
    bleu, rouge = _scorers()
    out = {"bleu4": float(bleu.corpus_score(list(predictions), [list(references)]).score)}
    scores = [rouge.score(ref, pred) for pred, ref in zip(predictions, references)]
    for kind in ROUGE_TYPES:
        out[kind] = 100.0 * sum(s[kind].fmeasure for s in scores) / len(scores)
    return out
