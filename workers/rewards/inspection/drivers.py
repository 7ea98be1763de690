"""What drives the reward: ablation, per-component contributions, the worst pairs."""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from workers.rewards.combine import combine
from workers.rewards.inspection.agreement import (
    BOOTSTRAP_RESAMPLES,
    TIE_TOLERANCE,
    Preference,
    is_number,
    pairwise_accuracy,
)
from workers.rewards.spec import RewardSpec


def _without(spec: RewardSpec, name: str) -> tuple[RewardSpec, bool]:
    """The spec with one component's weight set to 0 (weighted sums); False for other ops."""
    if spec.combine.op != "weighted_sum":
        return spec, False
    data = spec.model_dump(mode="json", by_alias=True)
    data["combine"]["weights"][name] = 0.0
    return RewardSpec.model_validate(data), True


def ablation(
    spec: RewardSpec,
    transformed: Mapping[str, Sequence[float | None]],
    response_ids: Sequence[int],
    preferences: Sequence[Preference],
    *,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
) -> list[dict[str, Any]]:
    """Accuracy with each component dropped: weight 0 in a weighted sum; for min, product
    and formulas (where 0 is not neutral) the component is held at its mean instead."""
    base_totals = combine(spec, transformed)
    base = pairwise_accuracy(
        preferences, dict(zip(response_ids, base_totals, strict=True)), n_resamples=n_resamples
    )
    rows = []
    for name in spec.names:
        changed, by_weight = _without(spec, name)
        columns = {n: list(v) for n, v in transformed.items()}
        if not by_weight:
            present = [v for v in columns[name] if is_number(v)]
            mean = statistics.fmean(present) if present else None  # type: ignore[arg-type]
            columns[name] = [mean if is_number(v) else None for v in columns[name]]
        totals = combine(changed, columns)
        accuracy = pairwise_accuracy(
            preferences, dict(zip(response_ids, totals, strict=True)), n_resamples=n_resamples
        )
        change = (
            None if accuracy.value is None or base.value is None else accuracy.value - base.value
        )
        rows.append({
            "component": name,
            "how": "weight 0" if by_weight else "held at its mean",
            "accuracy": accuracy.as_json(),
            "change": change,
        })  # fmt: skip
    return rows


def contributions(
    spec: RewardSpec, winner: Mapping[str, float | None], loser: Mapping[str, float | None]
) -> list[dict[str, Any]]:
    """Each component's part in reward(winner) − reward(loser): weight × difference of
    transformed values for a weighted sum, the plain difference for other combinations."""
    weights = spec.combine.weights or {}
    rows = []
    for name in spec.names:
        a, b = winner.get(name), loser.get(name)
        if not (is_number(a) and is_number(b)):
            rows.append({"component": name, "value": None})
            continue
        assert a is not None
        assert b is not None
        scale = weights.get(name, 1.0) if spec.combine.op == "weighted_sum" else 1.0
        rows.append({"component": name, "value": scale * (a - b)})
    return rows


@dataclass(frozen=True)
class MajorityPair:
    """The people's majority on one comparison's pair of responses."""

    item: Hashable
    winner: int
    loser: int
    votes: int  # for the winner
    judgments: int  # decisive judgments of this pair


def majority_pairs(preferences: Iterable[Preference]) -> list[MajorityPair]:
    """One entry per (item, pair of responses) of the overall choices; tied votes left out."""
    votes: dict[tuple[Hashable, int, int], dict[int, int]] = defaultdict(lambda: defaultdict(int))
    for preference in preferences:
        if preference.criterion is not None:
            continue
        low, high = sorted((preference.winner, preference.loser))
        votes[(preference.item, low, high)][preference.winner] += 1
    result = []
    for (item, low, high), count in votes.items():
        if count[low] == count[high]:
            continue
        winner, loser = (low, high) if count[low] > count[high] else (high, low)
        result.append(MajorityPair(item, winner, loser, count[winner], count[low] + count[high]))
    return result


def worst_pairs(
    pairs: Sequence[MajorityPair], reward: Mapping[int, float | None], *, limit: int = 10
) -> list[tuple[MajorityPair, float]]:
    """The pairs the reward gets most wrong: reward(loser) − reward(winner), largest first
    (a tie, margin 0, is wrong too)."""
    wrong = []
    for pair in pairs:
        won, lost = reward.get(pair.winner), reward.get(pair.loser)
        if is_number(won) and is_number(lost):
            assert won is not None
            assert lost is not None
            if lost - won >= -TIE_TOLERANCE:
                wrong.append((pair, max(lost - won, 0.0)))
    wrong.sort(key=lambda found: (-found[1], str(found[0].item)))
    return wrong[:limit]
