"""Agreement between annotators: raw agreement, Cohen's κ, Krippendorff's α, intervals, bias."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from itertools import combinations
from typing import Literal

import krippendorff
import numpy as np

from apps.annotation.quality.judgments import Judgment, Value, judgments_by_item

AlphaLevel = Literal["nominal", "ordinal", "interval"]


@dataclass(frozen=True, slots=True)
class Estimate:
    """A statistic with the data behind it: value is None where the statistic is undefined.

    n_items counts the items that entered the statistic (those with two or more judgments,
    or for Cohen's κ the items both annotators judged) and n_pairs the pairs of judgments
    compared within them.
    """

    value: float | None
    n_items: int
    n_pairs: int


@dataclass(frozen=True, slots=True)
class KappaMatrix:
    """Cohen's κ for every pair of annotators.

    `annotators` is sorted where the ids sort, else in first-seen order; `pairs` holds each
    unordered pair once, keyed in that order. Use `get(a, b)` to read a cell either way round.
    """

    annotators: tuple[Hashable, ...]
    pairs: dict[tuple[Hashable, Hashable], Estimate]

    def get(self, first: Hashable, second: Hashable) -> Estimate:
        """The κ of two different annotators, in either order."""
        if (first, second) in self.pairs:
            return self.pairs[(first, second)]
        return self.pairs[(second, first)]


@dataclass(frozen=True, slots=True)
class PositionBias:
    """How often an annotator chose the left response, and how surprising that is at 50%."""

    share: float | None
    p_value: float | None
    n: int


def raw_agreement(judgments: Iterable[Judgment]) -> Estimate:
    """The share of agreeing annotator pairs within items, weighted by pairs.

    Every item with m >= 2 judgments contributes its m(m-1)/2 pairs; a pair agrees when both
    values are equal, so "tie" and "both_bad" are answers like any other. Items judged once
    are left out. The value is None when no item has two judgments.
    """
    n_items = n_pairs = n_agreeing = 0
    for answers in judgments_by_item(judgments).values():
        m = len(answers)
        if m < 2:
            continue
        n_items += 1
        n_pairs += m * (m - 1) // 2
        n_agreeing += sum(c * (c - 1) // 2 for c in Counter(answers.values()).values())
    value = n_agreeing / n_pairs if n_pairs else None
    return Estimate(value=value, n_items=n_items, n_pairs=n_pairs)


def cohen_kappa_matrix(judgments: Iterable[Judgment]) -> KappaMatrix:
    """Cohen's κ (unweighted) for every pair of annotators, over the items both judged.

    κ = (p_o - p_e) / (1 - p_e), with p_o the share of shared items they agree on and p_e the
    agreement expected from each annotator's own category shares. A pair's value is None when
    they share fewer than two items or when p_e is 1 (both gave one and the same answer
    throughout). Implemented here rather than taken from scikit-learn, which only the ML
    workers install; the tests check it against sklearn.metrics.cohen_kappa_score.
    """
    by_annotator: dict[Hashable, dict[Hashable, Value]] = {}
    for item, answers in judgments_by_item(judgments).items():
        for annotator, value in answers.items():
            by_annotator.setdefault(annotator, {})[item] = value
    annotators = _ordered(by_annotator)
    pairs = {}
    for first, second in combinations(annotators, 2):
        shared = by_annotator[first].keys() & by_annotator[second].keys()
        first_values = [by_annotator[first][item] for item in shared]
        second_values = [by_annotator[second][item] for item in shared]
        pairs[(first, second)] = Estimate(
            value=_cohen_kappa(first_values, second_values),
            n_items=len(shared),
            n_pairs=len(shared),
        )
    return KappaMatrix(annotators=annotators, pairs=pairs)


def _cohen_kappa(first: Sequence[Value], second: Sequence[Value]) -> float | None:
    n = len(first)
    if n < 2:
        return None
    observed = sum(x == y for x, y in zip(first, second, strict=True)) / n
    first_counts, second_counts = Counter(first), Counter(second)
    expected = sum(first_counts[c] * second_counts[c] for c in first_counts) / (n * n)
    if math.isclose(expected, 1.0):
        return None
    return (observed - expected) / (1.0 - expected)


def krippendorff_alpha(
    judgments: Iterable[Judgment],
    level: AlphaLevel = "nominal",
    *,
    value_domain: Sequence[Value] | None = None,
) -> Estimate:
    """Krippendorff's α, computed by the `krippendorff` package.

    - "nominal": any hashable categories; strings are mapped to integer codes.
    - "ordinal": pass `value_domain`, every point of the scale in order (e.g.
      `signed_scale(3)` for -3..+3, or a rating scale's labels): it gives the order of
      string labels and rejects values off the scale. Without it the observed values must
      be numbers and are sorted. A point nobody chose has frequency 0 in Krippendorff's
      ordinal distance, so it leaves α unchanged.
    - "interval": numeric values, distances are squared differences.

    Values outside a given `value_domain` raise ValueError. Items with a single judgment
    cannot be paired and are left out of n_items and n_pairs (α ignores them too). The
    value is None when no item has two judgments or when the paired judgments all have the
    same value (no expected disagreement to compare against).
    """
    by_item = judgments_by_item(judgments)
    domain = _alpha_domain(by_item, level, value_domain)
    paired = [answers for answers in by_item.values() if len(answers) >= 2]
    n_items = len(paired)
    n_pairs = sum(len(answers) * (len(answers) - 1) // 2 for answers in paired)
    if len({value for answers in paired for value in answers.values()}) < 2:
        return Estimate(value=None, n_items=n_items, n_pairs=n_pairs)

    # The reliability matrix is annotators x items with NaN where an annotator did not judge
    # the item. Nominal and ordinal values go in as their position in the domain: nominal
    # distance only asks whether codes differ and ordinal distance only uses the rank, so
    # the codes give the same α as the labels and the package never sees strings.
    annotators = _ordered({a: None for answers in paired for a in answers})
    row = {annotator: index for index, annotator in enumerate(annotators)}
    matrix = np.full((len(annotators), n_items), np.nan)
    code = {value: index for index, value in enumerate(domain)}
    for column, answers in enumerate(paired):
        for annotator, value in answers.items():
            matrix[row[annotator], column] = value if level == "interval" else code[value]
    if level == "interval":
        package_domain = np.asarray(domain, dtype=float)
    else:
        package_domain = np.arange(len(domain))
    value = krippendorff.alpha(
        reliability_data=matrix, value_domain=package_domain, level_of_measurement=level
    )
    return Estimate(value=float(value), n_items=n_items, n_pairs=n_pairs)


def _alpha_domain(
    by_item: dict[Hashable, dict[Hashable, Value]],
    level: AlphaLevel,
    value_domain: Sequence[Value] | None,
) -> list[Value]:
    """The values α is computed over, in scale order, checked against what was observed."""
    if level not in ("nominal", "ordinal", "interval"):
        raise ValueError(f"level must be nominal, ordinal or interval, got {level!r}")
    observed = {value: None for answers in by_item.values() for value in answers.values()}
    if level != "nominal" and any(
        isinstance(value, bool) or not isinstance(value, int | float) for value in observed
    ):
        if level == "interval":
            raise ValueError("interval α needs numeric values")
        if value_domain is None:
            raise ValueError("ordinal α on labels needs value_domain to give their order")
    if value_domain is None:
        return list(observed) if level == "nominal" else sorted(observed)  # type: ignore[type-var]
    domain = list(value_domain)
    if len(set(domain)) != len(domain):
        raise ValueError("value_domain lists a value twice")
    if outside := [value for value in observed if value not in set(domain)]:
        raise ValueError(f"values outside value_domain: {outside!r}")
    return domain


def bootstrap_interval(
    judgments: Iterable[Judgment],
    statistic: Callable[[list[Judgment]], float | None],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """A percentile bootstrap interval for `statistic`, resampling items with replacement.

    All judgments of an item move together, and an item drawn twice enters the resample as
    two distinct items (its id becomes `(draw, item)`), so the statistic sees the same shape
    of data as the original. `statistic` takes the resampled judgments and returns a float
    or None, e.g. `lambda js: krippendorff_alpha(js, "ordinal", value_domain=d).value`.
    Resamples where it is None are dropped; the result is None when every one was.
    The same judgments in the same order and the same seed give the same interval.
    """
    if n_resamples < 1:
        raise ValueError(f"n_resamples must be at least 1, got {n_resamples}")
    if not 0 < confidence < 1:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    by_item: dict[Hashable, list[Judgment]] = {}
    for judgment in judgments:
        by_item.setdefault(judgment.item, []).append(judgment)
    groups = list(by_item.values())
    if not groups:
        return None
    rng = np.random.default_rng(seed)
    estimates = []
    for _ in range(n_resamples):
        draws = rng.integers(0, len(groups), size=len(groups))
        resample = [
            Judgment(item=(draw, judgment.item), annotator=judgment.annotator, value=judgment.value)
            for draw, group in enumerate(groups[index] for index in draws)
            for judgment in group
        ]
        if (estimate := statistic(resample)) is not None:
            estimates.append(estimate)
    if not estimates:
        return None
    tail = (1 - confidence) / 2
    low, high = np.quantile(estimates, [tail, 1 - tail])
    return float(low), float(high)


def position_bias(left_choices: int, total: int) -> PositionBias:
    """The share of decisive judgments that chose the response shown on the left.

    `total` counts the judgments that picked a side (ties and both-bad left out); the
    p-value is scipy's exact two-sided binomial test against 0.5. Both are None when total
    is 0.
    """
    if total < 0 or not 0 <= left_choices <= total:
        raise ValueError(f"need 0 <= left_choices <= total, got {left_choices} of {total}")
    if total == 0:
        return PositionBias(share=None, p_value=None, n=0)
    # scipy.stats takes a noticeable moment to import; only the reports need it.
    from scipy.stats import binomtest

    p_value = binomtest(left_choices, total, p=0.5, alternative="two-sided").pvalue
    return PositionBias(share=left_choices / total, p_value=float(p_value), n=total)


def _ordered(ids: Iterable[Hashable]) -> tuple[Hashable, ...]:
    """Ids sorted when they sort (user ids do), else in first-seen order."""
    unique = list(dict.fromkeys(ids))
    try:
        return tuple(sorted(unique))  # type: ignore[type-var]
    except TypeError:
        return tuple(unique)
