"""Fitting component weights to the people's choices (Bradley–Terry, L2)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from workers.rewards.combine import combine
from workers.rewards.inspection.agreement import (
    TIE_TOLERANCE,
    Preference,
    is_number,
    pairwise_accuracy,
)
from workers.rewards.spec import RewardSpec


def _logistic_fit(x: np.ndarray, *, l2: float, iterations: int = 50) -> np.ndarray:
    """Weights w minimising Σ log(1 + exp(−w·xᵢ)) + l2/2 ‖w‖² (every target is 1: x is
    winner − loser, the Bradley–Terry likelihood with no intercept), by Newton's method."""
    w = np.zeros(x.shape[1])
    for _ in range(iterations):
        margin = x @ w
        p = 1.0 / (1.0 + np.exp(-margin))  # P(winner beats loser)
        gradient = -(x.T @ (1 - p)) + l2 * w
        hessian = (x.T * (p * (1 - p))) @ x + l2 * np.eye(x.shape[1])
        step = np.linalg.solve(hessian, gradient)
        w -= step
        if float(np.abs(step).max()) < 1e-10:
            break
    return w


def _accuracy(x: np.ndarray, w: np.ndarray) -> float:
    return float(((x @ w) > TIE_TOLERANCE).mean())


def fit_weights(
    spec: RewardSpec,
    transformed: Mapping[str, Sequence[float | None]],
    response_ids: Sequence[int],
    preferences: Sequence[Preference],
    *,
    l2: float = 1.0,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Component weights that maximise the Bradley–Terry likelihood of the people's overall
    choices, from the transformed component values (a missing value counts as no
    difference), with an L2 penalty. Held-out accuracy comes from `folds`-fold
    cross-validation over comparisons; the current reward's accuracy on the same
    preferences is given beside it. The proposed weights are fitted on every preference."""
    names = spec.names
    at = {response_id: i for i, response_id in enumerate(response_ids)}
    overall = [p for p in preferences if p.criterion is None]

    def value(name: str, response_id: int) -> float:
        v = transformed[name][at[response_id]]
        return float(v) if is_number(v) else 0.0  # type: ignore[arg-type]

    rows = [[value(n, p.winner) - value(n, p.loser) for n in names] for p in overall]
    result: dict[str, Any] = {"n": len(rows), "l2": l2, "folds": folds, "components": names}
    if len(rows) < max(folds, 2):
        result["error"] = (
            f"{len(rows)} decisive human choices: at least {max(folds, 2)} are needed to fit "
            "and check weights."
        )
        return result
    x = np.array(rows, dtype=float)
    items = sorted({p.item for p in overall}, key=str)
    order = np.random.default_rng(seed).permutation(len(items))
    fold_of_item = {items[j]: k % folds for k, j in enumerate(order)}
    fold = np.array([fold_of_item[p.item] for p in overall])
    correct = 0
    for k in range(folds):
        test = fold == k
        if not test.any() or test.all():
            continue
        w = _logistic_fit(x[~test], l2=l2)
        correct += int(((x[test] @ w) > TIE_TOLERANCE).sum())
    weights = _logistic_fit(x, l2=l2)
    totals = combine(spec, transformed)
    current = pairwise_accuracy(overall, dict(zip(response_ids, totals, strict=True)))
    result.update({
        "weights": {n: float(round(w, 6)) for n, w in zip(names, weights, strict=True)},
        "current_weights": dict(spec.combine.weights) if spec.combine.weights else None,
        "heldout_accuracy": correct / len(rows),
        "train_accuracy": _accuracy(x, weights),
        "current_accuracy": current.value,
        "log_likelihood": float(-np.logaddexp(0, -(x @ weights)).sum()),
    })  # fmt: skip
    return result
