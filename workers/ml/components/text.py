"""Components that read the text only: regex, contains, json_valid, length_penalty, text_metric."""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from functools import cached_property

import jsonschema
from jsonschema.exceptions import ValidationError
from rapidfuzz import fuzz
from sacrebleu.metrics import BLEU, CHRF

from workers.contracts import ScoreItem, ScoringError
from workers.ml.components.base import Component, ItemComponent, ItemTimeout
from workers.ml.embeddings import DEFAULT_BACKBONE, load_encoder
from workers.rewards import spec

_WORD = re.compile(r"\w+")
# rapidfuzz's Indel similarity runs in C, where the per-item alarm cannot stop it, in
# time about len(a) · len(b) / 64: 200,000 characters against 200,000 take about 2 s.
FUZZY_MAX_CELLS = 4 * 10**10


def _search(pattern: str, text: str) -> bool:
    """Whether an RE2 pattern (checked by the spec) occurs in the text; linear in the text."""
    try:
        return spec.compile_pattern(pattern).search(text) is not None
    except spec.re2.error:
        raise ScoringError(f"RE2 cannot run the pattern {pattern!r}") from None


class RegexComponent(ItemComponent[spec.Regex]):
    """`match` where the pattern is found in the response, else `no_match`.

    The pattern runs on RE2 (linear in the response's length; see workers.rewards.spec)."""

    kind = "regex"

    @cached_property
    def _pattern(self):  # type: ignore[no-untyped-def]
        try:
            return self.params.compiled()
        except spec.re2.error:
            raise ScoringError(f"{self.name}: RE2 cannot run the pattern") from None

    def score_one(self, item: ScoreItem) -> float | None:
        p = self.params
        return p.match if self._pattern.search(item.response) else p.no_match


class ContainsComponent(ItemComponent[spec.Contains]):
    """`match` where any (or all) substrings occur in the response, else `no_match`."""

    kind = "contains"

    def score_one(self, item: ScoreItem) -> float | None:
        p = self.params
        needles = p.substrings if p.case_sensitive else [s.casefold() for s in p.substrings]
        test = any if p.mode == "any" else all
        text = item.response if p.case_sensitive else item.response.casefold()
        return p.match if test(n in text for n in needles) else p.no_match


# JSON Schema keywords that match regular expressions, on RE2 instead of Python's `re`
# (jsonschema's own use `re.search`, which can backtrack for hours). The spec refuses
# `unevaluatedProperties` with `patternProperties`, the one other place jsonschema
# matches patterns.
def _pattern(validator, pattern, instance, schema):  # type: ignore[no-untyped-def]
    if validator.is_type(instance, "string") and not _search(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


def _pattern_properties(validator, patterns, instance, schema):  # type: ignore[no-untyped-def]
    if not validator.is_type(instance, "object"):
        return
    for pattern, subschema in patterns.items():
        for key, value in instance.items():
            if _search(pattern, key):
                yield from validator.descend(value, subschema, path=key, schema_path=pattern)


def _additional_properties(validator, additional, instance, schema):  # type: ignore[no-untyped-def]
    if not validator.is_type(instance, "object"):
        return
    known = schema.get("properties", {})
    patterns = schema.get("patternProperties", {})
    extras = [
        key
        for key in instance
        if key not in known and not any(_search(pattern, key) for pattern in patterns)
    ]
    if validator.is_type(additional, "object"):
        for key in extras:
            yield from validator.descend(instance[key], additional, path=key)
    elif not additional and extras:
        yield ValidationError(f"additional properties are not allowed: {sorted(extras)}")


_RE2_KEYWORDS = {
    "pattern": _pattern,
    "patternProperties": _pattern_properties,
    "additionalProperties": _additional_properties,
}


class JsonValidComponent(ItemComponent[spec.JsonValid]):
    """`valid` where the response (trimmed) is JSON fitting the schema if any, else `invalid`.

    JSON nested deeper than Python's recursion limit counts as invalid."""

    kind = "json_valid"

    @cached_property
    def _validator(self) -> jsonschema.protocols.Validator | None:
        schema = self.params.schema_
        if schema is None:
            return None
        cls = jsonschema.validators.validator_for(schema)
        return jsonschema.validators.extend(cls, _RE2_KEYWORDS)(schema)

    def _is_valid(self, text: str) -> bool:
        try:
            value = json.loads(text)
            return self._validator is None or self._validator.is_valid(value)
        except (ValueError, RecursionError):
            return False

    def score_one(self, item: ScoreItem) -> float | None:
        p = self.params
        return p.valid if self._is_valid(item.response.strip()) else p.invalid


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


def _fuzzy_match(hypothesis: str, reference: str) -> float:
    if len(hypothesis) * len(reference) > FUZZY_MAX_CELLS:
        raise ItemTimeout  # it would run past the budget where nothing can stop it
    return fuzz.ratio(hypothesis, reference) / 100


class TextMetricComponent(ItemComponent[spec.TextMetric]):
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
        return _fuzzy_match

    def score_one(self, item: ScoreItem) -> float | None:
        if item.reference is None:
            return None
        return float(self._metric(item.response, item.reference))
