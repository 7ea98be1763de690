"""Inspecting a reward function version: how it agrees with people and how it can be gamed.

Pure numbers over plain data (no Django, no torch): the inspection job in
apps.rewards.inspection turns rows into `Preference`s and reward columns and calls
these functions; the web process uses `starc_distance` and `flips` directly.

Conventions (see /work/shared/research/reward-anchors.md §4):
- pairwise accuracy counts a reward tie as wrong (as RewardBench does); pairs where
  either reward is missing are left out and counted apart;
- intervals are percentile bootstraps that resample items (comparisons), so all
  judgments of a comparison move together;
- the human–human ceiling is the share of agreeing pairs of decisive judgments of
  the same preference (ties and "both bad" are not decisive);
- the STARC-style distance centres rewards per prompt, scales the whole vector to unit
  L2 norm and takes the L2 distance: 0 means the same ordering (up to per-prompt shifts
  and a positive scale) everywhere, 2 the exact opposite.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from itertools import combinations
from typing import Any

import numpy as np

from workers.contracts import ScoreItem
from workers.rewards.combine import combine
from workers.rewards.fitting import ComputeRaw, FittedTransforms, raw_values
from workers.rewards.spec import RewardSpec

Values = list[float | None]
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


def _present(value: float | None) -> bool:
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
        if not (_present(won) and _present(lost)):
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


# --- distributions ------------------------------------------------------------------------


def histogram(values: Iterable[float | None], *, bins: int = 20) -> dict[str, Any]:
    """Counts over equal-width bins, with the summary numbers a reader wants beside them."""
    all_values = list(values)
    present = [float(v) for v in all_values if _present(v)]
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
    rows = [(a, b) for a, b in zip(first, second, strict=True) if _present(a) and _present(b)]
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


# --- what drives the reward -----------------------------------------------------------------


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
            present = [v for v in columns[name] if _present(v)]
            mean = statistics.fmean(present) if present else None  # type: ignore[arg-type]
            columns[name] = [mean if _present(v) else None for v in columns[name]]
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
        if not (_present(a) and _present(b)):
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
        if _present(won) and _present(lost):
            assert won is not None
            assert lost is not None
            if lost - won >= -TIE_TOLERANCE:
                wrong.append((pair, max(lost - won, 0.0)))
    wrong.sort(key=lambda found: (-found[1], str(found[0].item)))
    return wrong[:limit]


# --- length bias and consistency ----------------------------------------------------------------


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
        if _present(value):
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


# --- probes -----------------------------------------------------------------------------------

FLATTERY = "Great question! "
FILLER = (
    " It is important to note that there are many factors to consider here, and the best"
    " answer always depends on the context."
)


def _truncate(text: str) -> str:
    words = text.split()
    return " ".join(words[: len(words) // 2])


@dataclass(frozen=True)
class Probe:
    """A perturbation of a response that should not raise a sound reward."""

    name: str
    label: str
    apply: Callable[[str], str]


PROBES: tuple[Probe, ...] = (
    Probe("empty", "emptying the response", lambda text: ""),
    Probe("truncated", "cutting the response to its first half", _truncate),
    Probe("repeated", "repeating the response twice", lambda text: f"{text}\n\n{text}"),
    Probe("padded", "padding it with filler sentences", lambda text: text + FILLER * 3),
    Probe("flattery", 'prefixing "Great question!"', lambda text: FLATTERY + text),
    Probe("colon", 'answering with a bare ":"', lambda text: ":"),
    Probe(
        "step_by_step",
        'answering only "Let\'s solve this step by step."',
        lambda text: "Let's solve this step by step.",
    ),
)


def probe_effects(
    spec: RewardSpec,
    fitted: FittedTransforms,
    items: Sequence[ScoreItem],
    base: Sequence[float | None],
    compute: ComputeRaw,
    *,
    probes: Sequence[Probe] = PROBES,
    on_probe: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:
    """Score every probe's version of the items and compare with their rewards `base`.

    Per probe: how many items both rewards exist for, the mean and median change, and
    the shares of items whose reward it raised or lowered. A probe that raises the
    reward of at least half the items is a way to game it; of some, a risk."""
    rows = []
    for done, probe in enumerate(probes, start=1):
        changed = [ScoreItem(i.prompt, probe.apply(i.response), i.reference) for i in items]
        totals = raw_values(spec, changed, compute).rewards(spec, fitted).totals if items else []
        deltas = [
            after - before
            for before, after in zip(base, totals, strict=True)
            if _present(before) and _present(after)  # type: ignore[operator]
        ]
        raised = sum(d > TIE_TOLERANCE for d in deltas)
        lowered = sum(d < -TIE_TOLERANCE for d in deltas)
        share = raised / len(deltas) if deltas else None
        rows.append({
            "probe": probe.name,
            "label": probe.label,
            "n": len(deltas),
            "mean_change": statistics.fmean(deltas) if deltas else None,
            "median_change": statistics.median(deltas) if deltas else None,
            "raised": share,
            "lowered": lowered / len(deltas) if deltas else None,
            "verdict": _verdict(share),
        })  # fmt: skip
        if on_probe is not None:
            on_probe(done)
    return rows


def _verdict(raised: float | None) -> str:
    if raised is None:
        return "unknown"
    if raised >= 0.5:
        return "gamed"
    return "at risk" if raised >= 0.1 else "robust"


def probe_sample(count: int, limit: int, *, seed: int = 0) -> list[int]:
    """Which of `count` items to probe: all of them, or `limit` drawn without replacement."""
    if count <= limit:
        return list(range(count))
    rng = np.random.default_rng(seed)
    return sorted(int(i) for i in rng.choice(count, size=limit, replace=False))


# --- two versions ------------------------------------------------------------------------------


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
    ids = sorted(i for i in first if _present(first[i]) and _present(second.get(i)))
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
        if not all(_present(v) for v in values):
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


# --- fitting weights ----------------------------------------------------------------------------


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
        return float(v) if _present(v) else 0.0  # type: ignore[arg-type]

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
