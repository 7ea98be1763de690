"""Two versions: a STARC-style distance and the pairs whose preferred response flips."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from workers.rewards.inspection.agreement import TIE_TOLERANCE, is_number


def _canonical(
    reward: Mapping[int, float | None], ids: Sequence[int], prompt_of: Mapping[int, int]
) -> np.ndarray:
    values = np.array([reward[i] for i in ids], dtype=float)
    by_prompt: dict[int, list[int]] = defaultdict(list)
    for at, response_id in enumerate(ids):
        by_prompt[prompt_of[response_id]].append(at)
    for positions in by_prompt.values():
        values[positions] -= values[positions].mean()
    return values


def starc_distance(
    first: Mapping[int, float | None],
    second: Mapping[int, float | None],
    prompt_of: Mapping[int, int],
) -> dict[str, Any]:
    """STARC-style distance between two versions over the responses both scored.

    Rewards are centred per prompt (so a per-prompt shift does not count), scaled to unit
    L2 norm (so a positive scale does not count), and compared by L2 distance: 0 for the
    same ordering everywhere, √2 for unrelated rewards, 2 for reversed ones. A version
    that is constant within every prompt has no direction: the distance is then None."""
    ids = sorted(i for i in first if is_number(first[i]) and is_number(second.get(i)))
    result: dict[str, Any] = {"distance": None, "responses": len(ids), "note": ""}
    if not ids:
        result["note"] = "No response has a reward from both versions."
        return result
    a = _canonical(first, ids, prompt_of)
    b = _canonical(second, ids, prompt_of)
    norm_a, norm_b = float(np.linalg.norm(a)), float(np.linalg.norm(b))
    if norm_a <= TIE_TOLERANCE or norm_b <= TIE_TOLERANCE:
        result["note"] = "A version gives every response of each prompt the same reward."
        return result
    result["distance"] = float(np.linalg.norm(a / norm_a - b / norm_b))
    return result


def flips(
    pairs: Iterable[tuple[Hashable, int, int]],
    first: Mapping[int, float | None],
    second: Mapping[int, float | None],
) -> list[dict[str, Any]]:
    """The pairs (item, response a, response b) that one version prefers one way and the
    other the other way (a tie is no preference), largest swing first."""
    found = []
    for item, a, b in pairs:
        values = (first.get(a), first.get(b), second.get(a), second.get(b))
        if not all(is_number(v) for v in values):
            continue
        first_a, first_b, second_a, second_b = values  # type: ignore[misc]
        before, after = first_a - first_b, second_a - second_b
        if (before > TIE_TOLERANCE and after < -TIE_TOLERANCE) or (
            before < -TIE_TOLERANCE and after > TIE_TOLERANCE
        ):
            found.append({
                "item": item, "a": a, "b": b,
                "first_prefers": a if before > 0 else b,
                "second_prefers": a if after > 0 else b,
                "first_margin": before, "second_margin": after,
            })  # fmt: skip
    found.sort(key=lambda f: -abs(f["first_margin"] - f["second_margin"]))
    return found
