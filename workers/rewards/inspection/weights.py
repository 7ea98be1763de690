"""Fitting component weights to the people's choices (Bradley–Terry, L2)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
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

# How each component's weight may move in the fit (see `sign_rules`).
NON_NEGATIVE = "non-negative"
NON_POSITIVE = "non-positive"
FREE = "free"
_BOUNDS: dict[str, tuple[float | None, float | None]] = {
    NON_NEGATIVE: (0.0, None),
    NON_POSITIVE: (None, 0.0),
    FREE: (None, None),
}
# A gradient this large (per choice) at a bound means the choices pull the weight across it.
_PULL_TOLERANCE = 1e-6


def sign_rules(spec: RewardSpec, free_signs: Collection[str] = ()) -> dict[str, str]:
    """The sign rule of the weight fit, per component: a weight keeps the sign the designer
    gave it (non-positive where the current weight is negative, non-negative where it is
    positive or 0, and for every component of a version that combines without weights:
    min, product, formula, whose components count as they score), unless the designer
    freed that component's sign. The one place this rule is written."""
    unknown = sorted(set(free_signs) - set(spec.names))
    if unknown:
        raise ValueError(f"free_signs: no component named {', '.join(map(repr, unknown))}")
    current = spec.combine.weights or {}
    rules = {}
    for name in spec.names:
        if name in free_signs:
            rules[name] = FREE
        elif current.get(name, 0.0) < 0:
            rules[name] = NON_POSITIVE
        else:
            rules[name] = NON_NEGATIVE
    return rules


def _objective(w: np.ndarray, x: np.ndarray, l2: float) -> tuple[float, np.ndarray]:
    margin = x @ w
    loss = float(np.logaddexp(0.0, -margin).sum()) + l2 / 2 * float(w @ w)
    # d/dw log(1 + exp(−m)) = −σ(−m)·x, with σ(−m) = exp(−log(1 + exp(m))) computed stably
    gradient = -(x.T @ np.exp(-np.logaddexp(0.0, margin))) + l2 * w
    return loss, gradient


def _logistic_fit(
    x: np.ndarray, *, l2: float, bounds: Sequence[tuple[float | None, float | None]]
) -> np.ndarray:
    """Weights w minimising Σ log(1 + exp(−w·xᵢ)) + l2/2 ‖w‖² within `bounds` (every target
    is 1: x is winner − loser, the Bradley–Terry likelihood with no intercept). Convex, so
    the bounded quasi-Newton search (L-BFGS-B) finds the one minimum."""
    from scipy.optimize import minimize  # scipy.optimize takes a moment to import

    found = minimize(
        _objective,
        np.zeros(x.shape[1]),
        args=(x, l2),
        jac=True,
        method="L-BFGS-B",
        bounds=list(bounds),
        options={"ftol": 1e-15, "gtol": 1e-10, "maxiter": 1000},
    )
    return np.asarray(found.x, dtype=float)


def _held_at_zero(
    x: np.ndarray, w: np.ndarray, *, l2: float, names: Sequence[str], rules: Mapping[str, str]
) -> list[str]:
    """Components whose weight sits at 0 because the choices pull it across the kept sign."""
    _, gradient = _objective(w, x, l2)
    tolerance = _PULL_TOLERANCE * max(len(x), 1)
    held = []
    for name, weight, slope in zip(names, w, gradient, strict=True):
        if weight != 0.0:
            continue
        # Lowering the loss needs a negative weight (slope > 0) or a positive one (slope < 0).
        if (rules[name] == NON_NEGATIVE and slope > tolerance) or (
            rules[name] == NON_POSITIVE and slope < -tolerance
        ):
            held.append(name)
    return held


def _accuracy(x: np.ndarray, w: np.ndarray) -> float:
    return float(((x @ w) > TIE_TOLERANCE).mean())


def fit_weights(
    spec: RewardSpec,
    transformed: Mapping[str, Sequence[float | None]],
    response_ids: Sequence[int],
    preferences: Sequence[Preference],
    *,
    free_signs: Collection[str] = (),
    l2: float = 1.0,
    folds: int = 5,
    seed: int = 0,
) -> dict[str, Any]:
    """Component weights that maximise the Bradley–Terry likelihood of the people's overall
    choices, from the transformed component values (a missing value counts as no
    difference), with an L2 penalty, each weight kept to its sign (`sign_rules`: the
    designer's sign unless named in `free_signs`). Held-out accuracy comes from
    `folds`-fold cross-validation over comparisons (with the same bounds); the current
    reward's accuracy on the same preferences is given beside it. The proposed weights are
    fitted on every preference; `held_at_zero` names the components the choices would
    have flipped, were their sign free."""
    names = spec.names
    rules = sign_rules(spec, free_signs)
    bounds = [_BOUNDS[rules[n]] for n in names]
    at = {response_id: i for i, response_id in enumerate(response_ids)}
    overall = [p for p in preferences if p.criterion is None]

    def value(name: str, response_id: int) -> float:
        v = transformed[name][at[response_id]]
        return float(v) if is_number(v) else 0.0  # type: ignore[arg-type]

    rows = [[value(n, p.winner) - value(n, p.loser) for n in names] for p in overall]
    result: dict[str, Any] = {
        "n": len(rows), "l2": l2, "folds": folds, "components": names, "signs": rules,
    }  # fmt: skip
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
        w = _logistic_fit(x[~test], l2=l2, bounds=bounds)
        correct += int(((x[test] @ w) > TIE_TOLERANCE).sum())
    weights = _logistic_fit(x, l2=l2, bounds=bounds)
    totals = combine(spec, transformed)
    current = pairwise_accuracy(overall, dict(zip(response_ids, totals, strict=True)))
    result.update({
        # `+ 0.0` turns a -0.0 (a weight at its upper bound) into 0.0
        "weights": {n: float(round(w, 6)) + 0.0 for n, w in zip(names, weights, strict=True)},
        "held_at_zero": _held_at_zero(x, weights, l2=l2, names=names, rules=rules),
        "current_weights": dict(spec.combine.weights) if spec.combine.weights else None,
        "heldout_accuracy": correct / len(rows),
        "train_accuracy": _accuracy(x, weights),
        "current_accuracy": current.value,
        "log_likelihood": float(-np.logaddexp(0, -(x @ weights)).sum()),
    })  # fmt: skip
    return result


def spec_with_weights(spec: Mapping[str, Any], weights: Mapping[str, float]) -> dict[str, Any]:
    """A spec (as JSON) whose combination is the weighted sum of `weights` over the same
    components and transforms, keeping its rule for missing values: what accepting fitted
    weights saves, and what the inspection probes before that."""
    combine = spec.get("combine") or {}
    return {
        **spec,
        "combine": {
            "op": "weighted_sum",
            "weights": dict(weights),
            "missing": combine.get("missing", "skip_renormalise"),
        },
    }
