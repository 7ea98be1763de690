"""Distributions, correlations, length bias and consistency across paraphrases."""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from workers.rewards.inspection.agreement import (
    BOOTSTRAP_RESAMPLES,
    TIE_TOLERANCE,
    Preference,
    is_number,
    pairwise_accuracy,
)


def histogram(values: Iterable[float | None], *, bins: int = 20) -> dict[str, Any]:
    """Counts over equal-width bins, with the summary numbers a reader wants beside them."""
    all_values = list(values)
    present = [float(v) for v in all_values if is_number(v)]
    missing = len(all_values) - len(present)
    if not present:
        return {"edges": [], "counts": [], "n": 0, "missing": missing,
                "mean": None, "std": None, "min": None, "max": None}  # fmt: skip
    low, high = min(present), max(present)
    if high - low <= TIE_TOLERANCE:
        edges = [low - 0.5, low + 0.5]
        counts = [len(present)]
    else:
        counted, bin_edges = np.histogram(present, bins=bins, range=(low, high))
        edges = [float(e) for e in bin_edges]
        counts = [int(c) for c in counted]
    return {
        "edges": edges,
        "counts": counts,
        "n": len(present),
        "missing": missing,
        "mean": statistics.fmean(present),
        "std": statistics.pstdev(present),
        "min": low,
        "max": high,
    }


def pearson(first: Sequence[float | None], second: Sequence[float | None]) -> float | None:
    """Pearson's r over the rows where both are present; None when either is constant."""
    rows = [(a, b) for a, b in zip(first, second, strict=True) if is_number(a) and is_number(b)]
    if len(rows) < 3:
        return None
    x = np.array([a for a, _ in rows], dtype=float)
    y = np.array([b for _, b in rows], dtype=float)
    x -= x.mean()
    y -= y.mean()
    norm = math.sqrt(float((x * x).sum()) * float((y * y).sum()))
    if norm <= TIE_TOLERANCE:
        return None
    return float((x * y).sum() / norm)


def correlation_matrix(columns: Mapping[str, Sequence[float | None]]) -> dict[str, Any]:
    """Pearson's r between every two columns (None where undefined), in column order."""
    names = list(columns)
    matrix = [[pearson(columns[a], columns[b]) for b in names] for a in names]
    for i, row in enumerate(matrix):
        if row[i] is not None:
            row[i] = 1.0
    return {"names": names, "matrix": matrix}


def length_bias(
    reward: Mapping[int, float | None],
    lengths: Mapping[int, int],
    preferences: Sequence[Preference],
    *,
    n_resamples: int = BOOTSTRAP_RESAMPLES,
) -> dict[str, Any]:
    """Correlation of reward with length (characters), and accuracy on the preferences
    where the longer response lost, and where it won."""
    ids = list(reward)
    longer_lost = [p for p in preferences if lengths[p.winner] < lengths[p.loser]]
    longer_won = [p for p in preferences if lengths[p.winner] > lengths[p.loser]]
    return {
        "correlation": pearson([reward[i] for i in ids], [float(lengths[i]) for i in ids]),
        "longer_lost": pairwise_accuracy(longer_lost, reward, n_resamples=n_resamples).as_json(),
        "longer_won": pairwise_accuracy(longer_won, reward, n_resamples=n_resamples).as_json(),
        "human_prefers_longer": (len(longer_won) / (len(longer_won) + len(longer_lost)))
        if longer_won or longer_lost
        else None,
    }


def consistency(
    reward: Mapping[int, float | None],
    prompt_of: Mapping[int, int],
    group_of: Mapping[int, str],
) -> dict[str, Any]:
    """Spread of the mean reward across prompts that share a group (paraphrases).

    For each group with two prompts or more: the population standard deviation and the
    range of its prompts' mean rewards. `between_prompts` is the same spread over all
    prompts, the scale to read the groups' spreads against."""
    by_prompt: dict[int, list[float]] = defaultdict(list)
    for response_id, value in reward.items():
        if is_number(value):
            assert value is not None
            by_prompt[prompt_of[response_id]].append(value)
    means = {prompt: statistics.fmean(values) for prompt, values in by_prompt.items()}
    groups: dict[str, list[float]] = defaultdict(list)
    for prompt, mean in means.items():
        if group := group_of.get(prompt, ""):
            groups[group].append(mean)
    rows = [
        {
            "group": group,
            "prompts": len(values),
            "mean": statistics.fmean(values),
            "spread": statistics.pstdev(values),
            "range": max(values) - min(values),
        }
        for group, values in groups.items()
        if len(values) >= 2
    ]
    rows.sort(key=lambda row: (-row["spread"], row["group"]))
    return {
        "groups": rows,
        "mean_spread": statistics.fmean(r["spread"] for r in rows) if rows else None,
        "between_prompts": statistics.pstdev(means.values()) if len(means) >= 2 else None,
    }
