"""Agreement with people: pairwise accuracy with item-bootstrap intervals, per slice,
and the human–human ceiling."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np

BOOTSTRAP_RESAMPLES = 1000
BOOTSTRAP_CELLS = 2_000_000  # index entries drawn at once (16 MB)
TIE_TOLERANCE = 1e-9


@dataclass(frozen=True)
class Preference:
    """One person's decisive judgment that response `winner` beats `loser`.

    `item` is what the bootstrap resamples (the comparison); `criterion` is None for
    the overall choice, else the rubric criterion whose ratings decided it.
    """

    item: Hashable
    winner: int
    loser: int
    annotator: str = ""
    group: str = ""
    criterion: str | None = None


@dataclass(frozen=True)
class Accuracy:
    """How often the reward ranks the human winner strictly higher, with a 95% interval."""

    value: float | None
    correct: int
    ties: int  # reward ties (counted as wrong)
    n: int  # preferences with both rewards present
    missing: int  # preferences left out: a reward was missing
    interval: tuple[float, float] | None

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["interval"] = list(self.interval) if self.interval else None
        return data


def is_number(value: float | None) -> bool:
    """Present and finite: the values every statistic here counts."""
    return value is not None and math.isfinite(value)


def _percentile_interval(
    numerators: np.ndarray, denominators: np.ndarray, *, n_resamples: int, seed: int
) -> tuple[float, float] | None:
    """Bootstrap interval of sum(numerators)/sum(denominators), resampling items."""
    if len(denominators) == 0 or denominators.sum() == 0:
        return None
    rng = np.random.default_rng(seed)
    items = len(denominators)
    # Resamples in chunks, so the index matrix stays near BOOTSTRAP_CELLS entries however
    # many items there are.
    chunk = max(1, BOOTSTRAP_CELLS // items)
    num_parts, den_parts = [], []
    for start in range(0, n_resamples, chunk):
        draws = rng.integers(0, items, size=(min(chunk, n_resamples - start), items))
        den_parts.append(denominators[draws].sum(axis=1))
        num_parts.append(numerators[draws].sum(axis=1))
    den, num = np.concatenate(den_parts), np.concatenate(num_parts)
    keep = den > 0
    if not keep.any():
        return None
    low, high = np.quantile(num[keep] / den[keep], [0.025, 0.975])
    return float(low), float(high)


def pairwise_accuracy(
    preferences: Iterable[Preference],
    reward: Mapping[int, float | None],
    *,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
    seed: int = 0,
) -> Accuracy:
    """The share of preferences where reward(winner) > reward(loser); ties count as wrong."""
    correct_by_item: dict[Hashable, int] = defaultdict(int)
    n_by_item: dict[Hashable, int] = defaultdict(int)
    ties = missing = 0
    for preference in preferences:
        won, lost = reward.get(preference.winner), reward.get(preference.loser)
        if not (is_number(won) and is_number(lost)):
            missing += 1
            continue
        assert won is not None
        assert lost is not None
        n_by_item[preference.item] += 1
        if abs(won - lost) <= TIE_TOLERANCE:
            ties += 1
        elif won > lost:
            correct_by_item[preference.item] += 1
    n = sum(n_by_item.values())
    correct = sum(correct_by_item.values())
    items = list(n_by_item)
    interval = _percentile_interval(
        np.array([correct_by_item[i] for i in items], dtype=float),
        np.array([n_by_item[i] for i in items], dtype=float),
        n_resamples=n_resamples,
        seed=seed,
    )
    return Accuracy(correct / n if n else None, correct, ties, n, missing, interval)


def accuracy_by(
    preferences: Sequence[Preference],
    reward: Mapping[int, float | None],
    key: Callable[[Preference], str | None],
    *,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict[str, Accuracy]:
    """Pairwise accuracy per slice (annotator, prompt group, criterion); None keys are left out."""
    slices: dict[str, list[Preference]] = defaultdict(list)
    for preference in preferences:
        if (name := key(preference)) is not None:
            slices[name].append(preference)
    return {
        name: pairwise_accuracy(found, reward, n_resamples=n_resamples)
        for name, found in sorted(slices.items())
    }


def human_agreement(
    preferences: Iterable[Preference], *, n_resamples: int = BOOTSTRAP_RESAMPLES, seed: int = 0
) -> Accuracy:
    """The ceiling: among pairs of judgments of the same preference by different people,
    the share that agree. Only items judged decisively by two people or more count."""
    by_item: dict[Hashable, dict[str, tuple[int, int]]] = defaultdict(dict)
    for preference in preferences:
        pair = tuple(sorted((preference.winner, preference.loser)))
        key = (preference.item, pair, preference.criterion)
        by_item[key][preference.annotator] = (preference.winner, preference.loser)
    agree: list[float] = []
    pairs: list[float] = []
    for votes in by_item.values():
        if len(votes) < 2:
            continue
        both = list(combinations(votes.values(), 2))
        agree.append(sum(first == second for first, second in both))
        pairs.append(len(both))
    total = sum(pairs)
    correct = int(sum(agree))
    interval = _percentile_interval(
        np.array(agree), np.array(pairs), n_resamples=n_resamples, seed=seed
    )
    return Accuracy(correct / total if total else None, correct, 0, int(total), 0, interval)
