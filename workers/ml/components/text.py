"""Components that read the text only: regex, contains, json_valid, length_penalty, text_metric."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from functools import cached_property

import jsonschema
from rapidfuzz import fuzz
from sacrebleu.metrics import BLEU, CHRF

from workers.contracts import ScoreItem
from workers.ml.components.base import Component
from workers.ml.embeddings import DEFAULT_BACKBONE, load_encoder
from workers.rewards import spec

_WORD = re.compile(r"\w+")


class RegexComponent(Component[spec.Regex]):
    """`match` where the pattern is found in the response, else `no_match`."""

    kind = "regex"

    def score(self, items: Sequence[ScoreItem]) -> list[float | None]:
        pattern = self.params.compiled()
        p = self.params
        return [p.match if pattern.search(item.response) else p.no_match for item in items]


class ContainsComponent(Component[spec.Contains]):
    """`match` where any (or all) substrings occur in the response, else `no_match`."""

    kind = "contains"

    def score(self, items: Sequence[ScoreItem]) -> list[float | None]:
        p = self.params
        needles = p.substrings if p.case_sensitive else [s.casefold() for s in p.substrings]
        test = any if p.mode == "any" else all
        out: list[float | None] = []
        for item in items:
            text = item.response if p.case_sensitive else item.response.casefold()
            out.append(p.match if test(n in text for n in needles) else p.no_match)
        return out


class JsonValidComponent(Component[spec.JsonValid]):
    """`valid` where the response (trimmed) is JSON fitting the schema if any, else `invalid`."""

    kind = "json_valid"

    @cached_property
    def _validator(self) -> jsonschema.protocols.Validator | None:
        schema = self.params.schema_
        if schema is None:
            return None
        cls = jsonschema.validators.validator_for(schema)
        return cls(schema)

    def _is_valid(self, text: str) -> bool:
        try:
            value = json.loads(text)
        except ValueError:
            return False
        return self._validator is None or self._validator.is_valid(value)

    def score(self, items: Sequence[ScoreItem]) -> list[float | None]:
        p = self.params
        return [p.valid if self._is_valid(item.response.strip()) else p.invalid for item in items]


def length_penalty(length: float, *, target: float, tolerance: float, shape: str) -> float:
    """0 within `tolerance` of `target`; beyond it, with d = the excess over the band:
    linear −d/tolerance (−1 per tolerance), Gaussian exp(−½(d/tolerance)²) − 1 (towards −1)."""
    excess = max(0.0, abs(length - target) - tolerance)
    if excess == 0:
        return 0.0
    if shape == "linear":
        return -excess / tolerance
    return math.exp(-0.5 * (excess / tolerance) ** 2) - 1.0


class LengthPenaltyComponent(Component[spec.LengthPenalty]):
    """Penalises responses whose length (words, characters or tokens) is far from a target.

    Words are whitespace-separated; tokens are the default backbone tokenizer's.
    """

    kind = "length_penalty"

    def _lengths(self, items: Sequence[ScoreItem]) -> list[int]:
        texts = [item.response for item in items]
        if self.params.unit == "words":
            return [len(text.split()) for text in texts]
        if self.params.unit == "characters":
            return [len(text) for text in texts]
        return load_encoder(DEFAULT_BACKBONE).token_counts(texts)

    def score(self, items: Sequence[ScoreItem]) -> list[float | None]:
        p = self.params
        return [
            length_penalty(n, target=p.target, tolerance=p.tolerance, shape=p.shape)
            for n in self._lengths(items)
        ]


def rouge_l(hypothesis: str, reference: str) -> float:
    """ROUGE-L F1: longest common subsequence of lower-cased word tokens."""
    hyp = _WORD.findall(hypothesis.lower())
    ref = _WORD.findall(reference.lower())
    if not hyp or not ref:
        return 0.0
    previous = [0] * (len(ref) + 1)
    for word in hyp:
        current = [0]
        for j, other in enumerate(ref):
            current.append(previous[j] + 1 if word == other else max(previous[j + 1], current[j]))
        previous = current
    lcs = previous[-1]
    if lcs == 0:
        return 0.0
    precision, recall = lcs / len(hyp), lcs / len(ref)
    return 2 * precision * recall / (precision + recall)


def _normalise(text: str) -> str:
    return " ".join(text.split())


class TextMetricComponent(Component[spec.TextMetric]):
    """A string metric against the reference answer, from 0 to 1; missing without a reference.

    bleu: sacrebleu's sentence BLEU (effective order) / 100; chrf: sacrebleu's chrF / 100;
    rouge_l: ROUGE-L F1 over words; exact_match: 1 if equal after collapsing whitespace;
    fuzzy_match: rapidfuzz's normalised Indel similarity (`fuzz.ratio` / 100).
    """

    kind = "text_metric"

    @cached_property
    def _metric(self):  # type: ignore[no-untyped-def]
        metric = self.params.metric
        if metric == "bleu":
            bleu = BLEU(effective_order=True)
            return lambda h, r: bleu.sentence_score(h, [r]).score / 100
        if metric == "chrf":
            chrf = CHRF()
            return lambda h, r: chrf.sentence_score(h, [r]).score / 100
        if metric == "rouge_l":
            return rouge_l
        if metric == "exact_match":
            return lambda h, r: 1.0 if _normalise(h) == _normalise(r) else 0.0
        return lambda h, r: fuzz.ratio(h, r) / 100

    def score(self, items: Sequence[ScoreItem]) -> list[float | None]:
        metric = self._metric
        return [
            None if item.reference is None else float(metric(item.response, item.reference))
            for item in items
        ]
