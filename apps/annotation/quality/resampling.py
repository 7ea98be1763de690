"""The item bootstrap of raw agreement and Krippendorff's α, vectorised with numpy.

`bootstrap_interval` rebuilds every resample as Python objects and calls the statistic on
it: general, but seconds per interval on a few thousand judgments. Both statistics here
are sums over items (agreeing pairs and pairs; α's coincidence matrix), so a resample is
a vector of how often each item was drawn and all resamples are one matrix product. The
draws are the same as `bootstrap_interval`'s for the same judgments and seed, so the
intervals are the same (tests compare them).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Iterator, Sequence

import numpy as np

from apps.annotation.quality.agreement import AlphaLevel, _alpha_domain
from apps.annotation.quality.judgments import Judgment, Value, judgments_by_item

# Resamples are drawn in blocks of at most this many counts, so memory stays bounded.
BLOCK_CELLS = 2_000_000


def _draw_counts(n_items: int, n_resamples: int, seed: int) -> Iterator[np.ndarray]:
    """How often each item is drawn in each resample, in blocks (resamples × items), in
    the order `bootstrap_interval` draws them."""
    rng = np.random.default_rng(seed)
    block = max(1, BLOCK_CELLS // n_items)
    for start in range(0, n_resamples, block):
        rows = min(block, n_resamples - start)
        counts = np.empty((rows, n_items), dtype=np.float64)
        for index in range(rows):
            draws = rng.integers(0, n_items, size=n_items)
            counts[index] = np.bincount(draws, minlength=n_items)
        yield counts


def _percentiles(estimates: np.ndarray, confidence: float) -> tuple[float, float] | None:
    estimates = estimates[~np.isnan(estimates)]
    if estimates.size == 0:
        return None
    tail = (1 - confidence) / 2
    low, high = np.quantile(estimates, [tail, 1 - tail])
    return float(low), float(high)


def _items(judgments: Iterable[Judgment]) -> list[dict[Hashable, Value]]:
    """Each item's answers, in the order items first appear (as `bootstrap_interval` groups)."""
    return list(judgments_by_item(judgments).values())


def raw_agreement_interval(
    judgments: Iterable[Judgment],
    *,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """`bootstrap_interval(judgments, lambda js: raw_agreement(js).value, ...)`, fast."""
    items = _items(judgments)
    if not items:
        return None
    pairs = np.array([len(a) * (len(a) - 1) / 2 for a in items])
    agreeing = np.array([sum(c * (c - 1) / 2 for c in Counter(a.values()).values()) for a in items])
    per_block = []
    for counts in _draw_counts(len(items), n_resamples, seed):
        total = counts @ pairs
        with np.errstate(invalid="ignore", divide="ignore"):
            per_block.append(np.where(total > 0, (counts @ agreeing) / total, np.nan))
    return _percentiles(np.concatenate(per_block), confidence)


def alpha_interval(
    judgments: Iterable[Judgment],
    level: AlphaLevel = "nominal",
    *,
    value_domain: Sequence[Value] | None = None,
    n_resamples: int = 1000,
    confidence: float = 0.95,
    seed: int = 0,
) -> tuple[float, float] | None:
    """`bootstrap_interval(judgments, lambda js: krippendorff_alpha(js, level, ...).value)`,
    fast: α = 1 − (n − 1) Σ o_ck δ²_ck / Σ n_c n_k δ²_ck over each resample's coincidences."""
    items = _items(judgments)
    if not items:
        return None
    by_item = dict(enumerate(items))
    domain = _alpha_domain(by_item, level, value_domain)
    code = {value: index for index, value in enumerate(domain)}
    size = len(domain)
    # Each item's coincidence matrix: every ordered pair of its values, weighted 1/(m − 1).
    coincidences = np.zeros((len(items), size, size))
    for index, answers in enumerate(items):
        m = len(answers)
        if m < 2:
            continue
        values = Counter(code[value] for value in answers.values())
        for first, n_first in values.items():
            for second, n_second in values.items():
                pairs = n_first * (n_second - (first == second))
                coincidences[index, first, second] = pairs / (m - 1)
    flat = coincidences.reshape(len(items), -1)
    per_block = []
    for counts in _draw_counts(len(items), n_resamples, seed):
        observed = (counts @ flat).reshape(-1, size, size)
        marginals = observed.sum(axis=2)  # resamples × values
        n = marginals.sum(axis=1)
        delta = _delta_squared(level, domain, marginals)  # resamples × values × values
        expected = np.einsum("rc,rk,rck->r", marginals, marginals, delta)
        disagreement = np.einsum("rck,rck->r", observed, delta)
        with np.errstate(invalid="ignore", divide="ignore"):
            per_block.append(np.where(expected > 0, 1 - (n - 1) * disagreement / expected, np.nan))
    return _percentiles(np.concatenate(per_block), confidence)


def _delta_squared(level: AlphaLevel, domain: list[Value], marginals: np.ndarray) -> np.ndarray:
    resamples, size = marginals.shape
    if level == "nominal":
        return np.broadcast_to(1 - np.eye(size), (resamples, size, size))
    if level == "interval":
        values = np.asarray(domain, dtype=float)
        return np.broadcast_to((values[:, None] - values[None, :]) ** 2, (resamples, size, size))
    # Ordinal: (Σ_{g between c and k} n_g − (n_c + n_k) / 2)², from each resample's marginals.
    cumulative = np.concatenate([np.zeros((resamples, 1)), np.cumsum(marginals, axis=1)], axis=1)
    low = np.minimum.outer(np.arange(size), np.arange(size))
    high = np.maximum.outer(np.arange(size), np.arange(size))
    between = cumulative[:, high + 1] - cumulative[:, low]
    ends = (marginals[:, :, None] + marginals[:, None, :]) / 2
    return (between - ends) ** 2
