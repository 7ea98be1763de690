"""A reward model's metrics on validation pairs, from its rewards r_c and r_r (numpy only).

Pairs whose target is 0.5 (kept ties) have no right answer: they count in the loss
but not in accuracy or calibration. Calibration reads the model's confidence
max(p, 1 − p), p = σ(r_c − r_r), against how often its preferred side was the
chosen one (Guo et al.'s ECE over RELIABILITY_BINS equal bins of [0.5, 1]).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

BOOTSTRAP_SAMPLES = 1000
RELIABILITY_BINS = 5
# Agreement buckets: (label, low, high), low inclusive, high exclusive (the last takes 1.0).
AGREEMENT_BUCKETS = (("<60%", 0.0, 0.6), ("60–80%", 0.6, 0.8), ("≥80%", 0.8, 1.0))


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


def bradley_terry_loss(
    chosen: np.ndarray, rejected: np.ndarray, targets: np.ndarray, margins: np.ndarray
) -> float:
    """Mean −[t·log σ(d) + (1 − t)·log σ(−d)], d = r_c − r_r − m: −log σ(d) when t = 1."""
    d = chosen - rejected - margins
    log_p = -np.logaddexp(0.0, -d)
    log_q = -np.logaddexp(0.0, d)
    return float(-(targets * log_p + (1.0 - targets) * log_q).mean())


def accuracy_interval(
    correct: np.ndarray, *, samples: int = BOOTSTRAP_SAMPLES, seed: int = 0
) -> list[float]:
    """The 95% percentile bootstrap interval of the mean of `correct` (0/1 values)."""
    if correct.size == 0:
        return [0.0, 0.0]
    rng = np.random.default_rng(seed)
    means = correct[rng.integers(0, correct.size, size=(samples, correct.size))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return [float(low), float(high)]


def reliability(
    probabilities: np.ndarray, chosen_won: np.ndarray, bins: int = RELIABILITY_BINS
) -> tuple[float, list[dict[str, float | int | None]]]:
    """ECE and the reliability bins of confidence max(p, 1 − p) against being right."""
    confidence = np.maximum(probabilities, 1.0 - probabilities)
    right = (probabilities > 0.5) == chosen_won
    edges = np.linspace(0.5, 1.0, bins + 1)
    which = np.clip(np.digitize(confidence, edges[1:-1], right=False), 0, bins - 1)
    rows: list[dict[str, float | int | None]] = []
    ece = 0.0
    for b in range(bins):
        inside = which == b
        count = int(inside.sum())
        row: dict[str, float | int | None] = {
            "bin_low": float(edges[b]),
            "bin_high": float(edges[b + 1]),
            "mean_predicted": None,
            "observed": None,
            "count": count,
        }
        if count:
            predicted = float(confidence[inside].mean())
            observed = float(right[inside].mean())
            row.update(mean_predicted=predicted, observed=observed)
            ece += count / max(len(confidence), 1) * abs(predicted - observed)
        rows.append(row)
    return float(ece), rows


def _accuracy_by(keys: Sequence[str | None], correct: np.ndarray) -> dict[str, dict[str, float]]:
    groups: dict[str, list[bool]] = {}
    for key, hit in zip(keys, correct, strict=True):
        if key is not None:
            groups.setdefault(key, []).append(bool(hit))
    return {
        key: {"accuracy": float(np.mean(hits)), "count": len(hits)}
        for key, hits in sorted(groups.items())
    }


def agreement_bucket(agreement: float | None) -> str | None:
    if agreement is None:
        return None
    for label, low, high in AGREEMENT_BUCKETS:
        if low <= agreement < high:
            return label
    return AGREEMENT_BUCKETS[-1][0]


def pair_metrics(
    *,
    chosen: np.ndarray,
    rejected: np.ndarray,
    targets: np.ndarray,
    margins: np.ndarray,
    strengths: Sequence[int | None],
    agreements: Sequence[float | None],
    chosen_lengths: Sequence[int],
    rejected_lengths: Sequence[int],
    seed: int = 0,
) -> dict[str, object]:
    """Accuracy (with its 95% bootstrap interval), loss, ECE and reliability bins, accuracy
    by strength and by agreement, and accuracy where the longer response lost."""
    chosen = np.asarray(chosen, dtype=np.float64)
    rejected = np.asarray(rejected, dtype=np.float64)
    targets = np.asarray(targets, dtype=np.float64)
    decided = targets != 0.5
    chosen_won = targets[decided] > 0.5
    difference = (chosen - rejected)[decided]
    correct = ((difference > 0) == chosen_won).astype(np.float64)
    ece, bins = reliability(sigmoid(difference), chosen_won)
    kept = np.flatnonzero(decided)
    # "Longer lost": the response that was not preferred is the longer one.
    longer_lost = np.array(
        [
            (rejected_lengths[i] > chosen_lengths[i])
            if targets[i] > 0.5
            else (chosen_lengths[i] > rejected_lengths[i])
            for i in kept
        ],
        dtype=bool,
    )
    return {
        "accuracy": float(correct.mean()) if correct.size else 0.0,
        "accuracy_ci": accuracy_interval(correct, seed=seed),
        "validation_pairs": int(decided.sum()),
        "loss": bradley_terry_loss(chosen, rejected, targets, np.asarray(margins)),
        "ece": ece,
        "reliability": bins,
        "accuracy_by_strength": _accuracy_by(
            [None if strengths[i] is None else str(strengths[i]) for i in kept], correct
        ),
        "accuracy_by_agreement": _accuracy_by(
            [agreement_bucket(agreements[i]) for i in kept], correct
        ),
        "longer_lost_accuracy": float(correct[longer_lost].mean()) if longer_lost.any() else None,
        "longer_lost_pairs": int(longer_lost.sum()),
    }


def regression_metrics(predicted: np.ndarray, observed: np.ndarray) -> dict[str, float | None]:
    """Mean absolute error and Pearson correlation (None when either side is constant)."""
    predicted = np.asarray(predicted, dtype=np.float64)
    observed = np.asarray(observed, dtype=np.float64)
    mae = float(np.abs(predicted - observed).mean()) if predicted.size else 0.0
    pearson = None
    if predicted.size > 1 and predicted.std() > 0 and observed.std() > 0:
        pearson = float(np.corrcoef(predicted, observed)[0, 1])
    return {"mae": mae, "pearson": pearson}
