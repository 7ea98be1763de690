"""The plain data the quality statistics work on, and the mappings from labels into it."""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence
from dataclasses import dataclass

# A category ("a", "b", "tie", "both_bad", a gold answer) or a number (signed strength, a rating).
Value = str | int


@dataclass(frozen=True, slots=True)
class Judgment:
    """One annotator's answer on one item: the unit every statistic in this package counts."""

    item: Hashable
    annotator: Hashable
    value: Value


def judgments_by_item(judgments: Iterable[Judgment]) -> dict[Hashable, dict[Hashable, Value]]:
    """Group judgments as item -> annotator -> value, items and annotators in first-seen order.

    Raises ValueError when an annotator judged the same item twice: labels are append-only,
    so the caller passes only the label that supersedes the others.
    """
    grouped: dict[Hashable, dict[Hashable, Value]] = {}
    for judgment in judgments:
        answers = grouped.setdefault(judgment.item, {})
        if judgment.annotator in answers:
            raise ValueError(
                f"annotator {judgment.annotator!r} judged item {judgment.item!r} more than once;"
                " pass only their latest label"
            )
        answers[judgment.annotator] = judgment.value
    return grouped


def signed_strength(choice: str, strength: int | None, scale_size: int) -> int | None:
    """Place a pairwise label on the signed ordinal scale -scale_size..+scale_size.

    "a" with strength index s (0 = the weakest label of the project's strength scale) maps to
    s + 1, "b" to -(s + 1), and "tie" to 0 whatever its strength; with a three-step scale
    this is the -3..+3 scale. "both_bad" states no preference between the two, and an "a" or
    "b" without a strength cannot be placed, so both give None: leave those out of ordinal α.
    """
    if scale_size < 1:
        raise ValueError(f"scale_size must be at least 1, got {scale_size}")
    if choice == "tie":
        return 0
    if choice == "both_bad":
        return None
    if choice not in ("a", "b"):
        raise ValueError(f"unknown choice {choice!r}; expected a, b, tie or both_bad")
    if strength is None:
        return None
    if not 0 <= strength < scale_size:
        raise ValueError(f"strength {strength} is outside 0..{scale_size - 1}")
    return strength + 1 if choice == "a" else -(strength + 1)


def signed_scale(scale_size: int) -> list[int]:
    """Every point of the signed scale, -scale_size..+scale_size: the `value_domain` for α."""
    if scale_size < 1:
        raise ValueError(f"scale_size must be at least 1, got {scale_size}")
    return list(range(-scale_size, scale_size + 1))


def ranking_to_pairs(order: Sequence[Hashable]) -> list[tuple[Hashable, Hashable]]:
    """Expand a ranking (response ids, best first) into every implied (winner, loser) pair.

    A ranking of k responses gives k(k-1)/2 pairs, in the order (1st, 2nd), (1st, 3rd), ...,
    (2nd, 3rd), ...; a ranking of fewer than two responses gives none.
    """
    if len(set(order)) != len(order):
        raise ValueError(f"a ranking lists each response once, got {list(order)!r}")
    return [(winner, loser) for i, winner in enumerate(order) for loser in order[i + 1 :]]
