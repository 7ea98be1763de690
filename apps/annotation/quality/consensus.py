"""Consensus from several judgments: majority vote, Dawid–Skene, and soft preference labels."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from apps.annotation.quality.judgments import Judgment, Value, judgments_by_item

PREFERENCE_CLASSES: tuple[str, ...] = ("a", "b", "tie", "both_bad")


def majority_vote(judgments: Iterable[Judgment]) -> dict[Hashable, Value | None]:
    """The most frequent value of each item (a plurality, not necessarily over half).

    Ties are not broken: an item whose top count is shared by two or more values maps to
    None, so the caller decides (send it to review, fall back to Dawid–Skene). Every item
    with at least one judgment appears, in first-seen order.
    """
    result: dict[Hashable, Value | None] = {}
    for item, answers in judgments_by_item(judgments).items():
        ranked = Counter(answers.values()).most_common(2)
        is_tied = len(ranked) == 2 and ranked[0][1] == ranked[1][1]
        result[item] = None if is_tied else ranked[0][0]
    return result


@dataclass(frozen=True, slots=True)
class SoftLabel:
    """A soft preference target: P(A preferred), how strong the preference is, P(both bad)."""

    p_a_preferred: float
    strength: float
    p_both_bad: float


def soft_label(posterior: Mapping[str, float]) -> SoftLabel:
    """Turn a distribution over a / b / tie / both_bad into a soft pairwise target.

    P(A preferred) = p(a) + (p(tie) + p(both_bad)) / 2: a tie and a both-bad verdict state
    no preference between the two responses, so each counts half for either side.
    strength = |p(a) - p(b)| = |2 P(A preferred) - 1|, from 0 (no preference, or an even
    split) to 1 (certain); the side is given by P(A preferred) > 0.5. p_both_bad is kept
    so exports can drop or down-weight pairs where neither response is acceptable.
    Missing classes count as 0; the distribution is normalised first.
    """
    if unknown := set(posterior) - set(PREFERENCE_CLASSES):
        raise ValueError(f"unknown classes {sorted(unknown)!r}; expected {PREFERENCE_CLASSES}")
    if any(p < 0 for p in posterior.values()):
        raise ValueError("probabilities cannot be negative")
    total = sum(posterior.values())
    if total <= 0:
        raise ValueError("the posterior has no mass")
    p = {name: posterior.get(name, 0.0) / total for name in PREFERENCE_CLASSES}
    p_a_preferred = p["a"] + (p["tie"] + p["both_bad"]) / 2
    return SoftLabel(
        p_a_preferred=p_a_preferred, strength=abs(p["a"] - p["b"]), p_both_bad=p["both_bad"]
    )


@dataclass(frozen=True, slots=True)
class DawidSkeneResult:
    """A fitted Dawid–Skene model.

    posteriors: item -> class -> P(true class | all judgments).
    confusion: annotator -> true class -> given value -> P(annotator gives value | true class).
    accuracy: annotator -> expected share of their judgments that match the true class,
        Σ over their judgments of P(true class = their value).
    priors: class -> share of items with that true class.
    """

    classes: tuple[Value, ...]
    posteriors: dict[Hashable, dict[Value, float]]
    confusion: dict[Hashable, dict[Value, dict[Value, float]]]
    accuracy: dict[Hashable, float]
    priors: dict[Value, float]
    iterations: int
    converged: bool
    log_likelihood: float


def dawid_skene(
    judgments: Iterable[Judgment],
    classes: Sequence[Value],
    *,
    max_iter: int = 100,
    tol: float = 1e-6,
    smoothing: float = 0.01,
) -> DawidSkeneResult:
    """Fit Dawid & Skene (1979): each annotator's confusion matrix and each item's true class.

    EM starts from each item's vote shares (a soft majority vote), then alternates the
    M-step (priors and confusion matrices from the current posteriors, each count plus
    `smoothing` so a class an annotator never saw does not get probability 0) and the
    E-step (posteriors from priors and confusion matrices). It stops when no posterior moves
    by more than `tol`, or after `max_iter` rounds (`converged` is then False).
    Every value must be one of `classes`.
    """
    classes = tuple(classes)
    if len(set(classes)) != len(classes) or len(classes) < 2:
        raise ValueError(f"need at least two distinct classes, got {classes!r}")
    if max_iter < 1 or tol <= 0 or smoothing < 0:
        raise ValueError("need max_iter >= 1, tol > 0 and smoothing >= 0")
    by_item = judgments_by_item(judgments)
    class_index = {value: index for index, value in enumerate(classes)}
    annotator_index: dict[Hashable, int] = {}
    item_rows, annotator_rows, value_rows = [], [], []
    for row, answers in enumerate(by_item.values()):
        for annotator, value in answers.items():
            if value not in class_index:
                raise ValueError(f"value {value!r} is not one of the classes {classes!r}")
            item_rows.append(row)
            annotator_rows.append(annotator_index.setdefault(annotator, len(annotator_index)))
            value_rows.append(class_index[value])
    n_classes = len(classes)
    if not by_item:
        uniform = dict.fromkeys(classes, 1 / n_classes)
        return DawidSkeneResult(classes, {}, {}, {}, uniform, 0, True, 0.0)

    items = np.asarray(item_rows)
    annotators = np.asarray(annotator_rows)
    values = np.asarray(value_rows)
    n_items, n_annotators = len(by_item), len(annotator_index)

    posteriors = np.zeros((n_items, n_classes))
    np.add.at(posteriors, (items, values), 1.0)
    posteriors /= posteriors.sum(axis=1, keepdims=True)

    converged = False
    iterations = 0
    log_likelihood = 0.0
    while iterations < max_iter:
        iterations += 1
        priors, confusion = _maximise(
            posteriors, items, annotators, values, n_annotators, smoothing
        )
        updated, log_likelihood = _expect(priors, confusion, items, annotators, values, n_items)
        change = float(np.max(np.abs(updated - posteriors)))
        posteriors = updated
        if change < tol:
            converged = True
            break
    # The reported parameters are the ones that go with the final posteriors.
    priors, confusion = _maximise(posteriors, items, annotators, values, n_annotators, smoothing)

    hits = np.bincount(annotators, weights=posteriors[items, values], minlength=n_annotators)
    totals = np.bincount(annotators, minlength=n_annotators)
    return DawidSkeneResult(
        classes=classes,
        posteriors={
            item: dict(zip(classes, map(float, posteriors[row]), strict=True))
            for row, item in enumerate(by_item)
        },
        confusion={
            annotator: {
                true: dict(zip(classes, map(float, confusion[index, k]), strict=True))
                for k, true in enumerate(classes)
            }
            for annotator, index in annotator_index.items()
        },
        accuracy={
            annotator: float(hits[index] / totals[index])
            for annotator, index in annotator_index.items()
        },
        priors=dict(zip(classes, map(float, priors), strict=True)),
        iterations=iterations,
        converged=converged,
        log_likelihood=log_likelihood,
    )


def dawid_skene_without_own(
    judgments: Iterable[Judgment], fitted: DawidSkeneResult
) -> dict[tuple[Hashable, Hashable], dict[Value, float] | None]:
    """Each judgment's item posterior with that judgment's annotator left out.

    Keyed (item, annotator). The posterior is the item's under `fitted` (priors and every
    other annotator's confusion matrix) with the annotator's own likelihood term removed:
    their vote never counts towards the answer they are compared with. Reliabilities stay
    those fitted on all judgments. None where nobody else judged the item.
    """
    classes = fitted.classes
    class_index = {value: index for index, value in enumerate(classes)}
    annotator_index = {annotator: index for index, annotator in enumerate(fitted.confusion)}
    keys, item_rows, annotator_rows, value_rows = [], [], [], []
    for row, (item, answers) in enumerate(judgments_by_item(judgments).items()):
        for annotator, value in answers.items():
            keys.append((item, annotator))
            item_rows.append(row)
            annotator_rows.append(annotator_index[annotator])
            value_rows.append(class_index[value])
    if not keys:
        return {}
    items = np.asarray(item_rows)
    confusion = np.asarray([
        [[matrix[true][given] for given in classes] for true in classes]
        for matrix in fitted.confusion.values()
    ])  # fmt: skip
    with np.errstate(divide="ignore"):
        log_priors = np.log(np.asarray([fitted.priors[c] for c in classes]))
        terms = np.log(confusion)[np.asarray(annotator_rows), :, np.asarray(value_rows)]
    totals = np.tile(log_priors, (int(items.max()) + 1, 1))
    np.add.at(totals, items, terms)
    scores = totals[items] - terms
    weights = np.exp(scores - scores.max(axis=1, keepdims=True))
    weights /= weights.sum(axis=1, keepdims=True)
    alone = np.bincount(items)[items] == 1
    return {
        key: None if alone[j] else dict(zip(classes, map(float, weights[j]), strict=True))
        for j, key in enumerate(keys)
    }


def _maximise(
    posteriors: np.ndarray,
    items: np.ndarray,
    annotators: np.ndarray,
    values: np.ndarray,
    n_annotators: int,
    smoothing: float,
) -> tuple[np.ndarray, np.ndarray]:
    """Priors (K,) and confusion matrices (annotator, true class, given value)."""
    n_items, n_classes = posteriors.shape
    priors = (posteriors.sum(axis=0) + smoothing) / (n_items + n_classes * smoothing)
    # counts[j, given, true]: expected number of times annotator j gave `given` when the
    # item's class was `true`; built per judgment so memory stays linear in the labels.
    counts = np.zeros((n_annotators, n_classes, n_classes))
    np.add.at(counts, (annotators, values), posteriors[items])
    confusion = counts.transpose(0, 2, 1) + smoothing
    confusion /= confusion.sum(axis=2, keepdims=True)
    return priors, confusion


def _expect(
    priors: np.ndarray,
    confusion: np.ndarray,
    items: np.ndarray,
    annotators: np.ndarray,
    values: np.ndarray,
    n_items: int,
) -> tuple[np.ndarray, float]:
    """Posteriors over the true class of every item, and the data's log-likelihood."""
    with np.errstate(divide="ignore"):
        log_priors = np.log(priors)
        log_confusion = np.log(confusion)
    scores = np.tile(log_priors, (n_items, 1))
    np.add.at(scores, items, log_confusion[annotators, :, values])
    peak = scores.max(axis=1, keepdims=True)
    weights = np.exp(scores - peak)
    totals = weights.sum(axis=1, keepdims=True)
    log_likelihood = float(np.sum(np.log(totals) + peak))
    return weights / totals, log_likelihood
