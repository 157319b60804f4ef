"""BLEU-4 (Papineni et al. 2002, corpus level, no smoothing) and ROUGE-1/2/L (F1, Lin 2004).

`text_metrics` reports both on a 0-100 scale, as P5 and its successors do. Text is lower-cased and
split into alphanumeric runs before scoring (the rouge-score convention; no stemming).
"""
from __future__ import annotations

import collections
import math
import re
from typing import Sequence

Tokens = Sequence[str]


def tokenize(text: str) -> list[str]:
    return re.findall(r"[a-z0-9]+", text.lower())


def ngrams(tokens: Tokens, n: int) -> collections.Counter:
    return collections.Counter(tuple(tokens[i:i + n]) for i in range(len(tokens) - n + 1))


def modified_precision(references: Sequence[Tokens], hypothesis: Tokens, n: int) -> tuple[int, int]:
    """(clipped n-gram matches, hypothesis n-grams): each n-gram counts at most as often as in a reference."""
    counts = ngrams(hypothesis, n)
    max_ref = collections.Counter()
    for ref in references:
        max_ref |= ngrams(ref, n)  # elementwise max
    return sum(min(c, max_ref[g]) for g, c in counts.items()), sum(counts.values())


def closest_reference_length(references: Sequence[Tokens], hyp_len: int) -> int:
    """The reference length nearest the hypothesis length; the shorter one on a tie."""
    return min((len(r) for r in references), key=lambda r: (abs(r - hyp_len), r))


def brevity_penalty(ref_len: int, hyp_len: int) -> float:
    if hyp_len > ref_len:
        return 1.0
    return math.exp(1.0 - ref_len / hyp_len) if hyp_len else 0.0


def corpus_bleu(list_of_references: Sequence[Sequence[Tokens]], hypotheses: Sequence[Tokens],
                max_n: int = 4) -> float:
    """Corpus BLEU in [0, 1]: n-gram matches and lengths summed over the corpus before dividing."""
    if len(list_of_references) != len(hypotheses):
        raise ValueError(f"{len(hypotheses)} hypotheses but {len(list_of_references)} reference sets")
    matches, totals = [0] * max_n, [0] * max_n
    hyp_len = ref_len = 0
    for refs, hyp in zip(list_of_references, hypotheses):
        for n in range(1, max_n + 1):
            m, t = modified_precision(refs, hyp, n)
            matches[n - 1] += m
            totals[n - 1] += t
        hyp_len += len(hyp)
        ref_len += closest_reference_length(refs, len(hyp))
    if min(matches) == 0:
        return 0.0  # some order has no match: the geometric mean is 0 (no smoothing)
    log_p = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    return brevity_penalty(ref_len, hyp_len) * math.exp(log_p)


def _f1(matches: int, hyp_total: int, ref_total: int) -> tuple[float, float, float]:
    p = matches / hyp_total if hyp_total else 0.0
    r = matches / ref_total if ref_total else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def rouge_n(reference: Tokens, hypothesis: Tokens, n: int) -> tuple[float, float, float]:
    """(precision, recall, F1) of overlapping n-grams, counts clipped."""
    ref, hyp = ngrams(reference, n), ngrams(hypothesis, n)
    return _f1(sum((ref & hyp).values()), sum(hyp.values()), sum(ref.values()))


def lcs_length(a: Tokens, b: Tokens) -> int:
    prev = [0] * (len(b) + 1)
    for x in a:
        cur = [0]
        for j, y in enumerate(b):
            cur.append(prev[j] + 1 if x == y else max(prev[j + 1], cur[j]))
        prev = cur
    return prev[-1]


def rouge_l(reference: Tokens, hypothesis: Tokens) -> tuple[float, float, float]:
    """(precision, recall, F1) of the longest common subsequence."""
    return _f1(lcs_length(reference, hypothesis), len(hypothesis), len(reference))


def text_metrics(predictions: Sequence[str], references: Sequence[str]) -> dict[str, float]:
    """Corpus BLEU-4 and mean ROUGE-1/2/L F1 over examples, all x100."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions but {len(references)} references")
    if not predictions:
        return {}
    hyps = [tokenize(p) for p in predictions]
    refs = [tokenize(r) for r in references]
    mean = lambda xs: 100.0 * sum(xs) / len(xs)  # noqa: E731
    return {
        "bleu4": 100.0 * corpus_bleu([[r] for r in refs], hyps),
        "rouge1": mean([rouge_n(r, h, 1)[2] for r, h in zip(refs, hyps)]),
        "rouge2": mean([rouge_n(r, h, 2)[2] for r, h in zip(refs, hyps)]),
        "rougeL": mean([rouge_l(r, h)[2] for r, h in zip(refs, hyps)]),
    }
