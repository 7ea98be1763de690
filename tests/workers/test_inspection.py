"""The inspector's numbers on hand-built data with known answers."""

from __future__ import annotations

import math
from typing import Any

import pytest

from workers.contracts import ScoreItem
from workers.ml.scoring import Scorer
from workers.rewards import inspection as ins
from workers.rewards.fitting import fitted_without_data, raw_values
from workers.rewards.inspection.probes import _verdict
from workers.rewards.spec import RewardSpec

P = ins.Preference


def spec_of(op: str = "weighted_sum", weights: dict[str, float] | None = None) -> RewardSpec:
    combine: dict[str, Any] = {"op": op}
    if op == "weighted_sum":
        combine["weights"] = weights or {"good": 1.0, "noise": 0.1}
    return RewardSpec.model_validate({
        "components": [
            {"name": "good", "type": "contains", "substrings": ["good"]},
            {"name": "noise", "type": "contains", "substrings": ["noise"]},
        ],
        "combine": combine,
    })  # fmt: skip


def test_accuracy_counts_reward_ties_as_wrong_and_leaves_missing_rewards_out() -> None:
    reward = {1: 3.0, 2: 1.0, 3: 2.0, 4: 2.0, 5: None}
    preferences = [P("c1", 1, 2), P("c2", 2, 3), P("c3", 3, 4), P("c4", 1, 5), P("c5", 1, 6)]

    accuracy = ins.pairwise_accuracy(preferences, reward)

    assert (accuracy.value, accuracy.correct, accuracy.ties, accuracy.n, accuracy.missing) == (
        pytest.approx(1 / 3), 1, 1, 3, 2)  # fmt: skip
    low, high = accuracy.interval  # type: ignore[misc]
    assert 0.0 <= low <= 1 / 3 <= high <= 1.0
    assert low in (0.0, pytest.approx(1 / 3))


def test_a_perfect_reward_has_a_point_interval_and_an_empty_one_none() -> None:
    preferences = [P(i, 2 * i, 2 * i + 1) for i in range(10)]
    reward = {k: float(-k) for k in range(30)}

    assert ins.pairwise_accuracy(preferences, reward).interval == (1.0, 1.0)
    empty = ins.pairwise_accuracy([], reward)
    assert (empty.value, empty.n, empty.interval) == (None, 0, None)


def test_the_bootstrap_resamples_comparisons_not_judgments() -> None:
    # One comparison judged 9 times (all right) and one judged once (wrong): resampling
    # comparisons gives either all 10 judgments' worth of one item or the other, so the
    # interval reaches 0 (the wrong one drawn twice) and 1 (the right one drawn twice).
    preferences = [P("big", 1, 2, annotator=f"p{i}") for i in range(9)] + [P("small", 2, 1)]
    accuracy = ins.pairwise_accuracy(preferences, {1: 1.0, 2: 0.0})

    assert accuracy.value == pytest.approx(0.9)
    assert accuracy.interval == (0.0, 1.0)


def test_accuracy_by_slice() -> None:
    preferences = [P("c1", 1, 2, "ann"), P("c2", 2, 1, "ann"), P("c3", 1, 2, "bob")]
    by = ins.accuracy_by(preferences, {1: 1.0, 2: 0.0}, lambda p: p.annotator)

    assert {name: a.value for name, a in by.items()} == {"ann": 0.5, "bob": 1.0}


def test_human_agreement_counts_agreeing_pairs_of_people_per_preference() -> None:
    preferences = [
        P("c1", 1, 2, "x"), P("c1", 1, 2, "y"), P("c1", 2, 1, "z"),  # 1 of 3 pairs agree
        P("c2", 3, 4, "x"),  # judged once: no pair
        P("c3", 5, 6, "x"), P("c3", 5, 6, "y"),  # 1 of 1
    ]  # fmt: skip

    ceiling = ins.human_agreement(preferences)

    assert (ceiling.value, ceiling.correct, ceiling.n) == (0.5, 2, 4)


def test_histogram_bins_present_values_and_counts_missing_ones() -> None:
    result = ins.histogram([0.0, 1.0, 1.0, 2.0, None, float("nan")], bins=2)

    assert result == {"edges": [0.0, 1.0, 2.0], "counts": [1, 3], "n": 4, "missing": 2,
                      "mean": 1.0, "std": pytest.approx(math.sqrt(0.5)), "min": 0.0,
                      "max": 2.0}  # fmt: skip
    assert ins.histogram([3.0, 3.0])["counts"] == [2]


def test_correlation_matrix_with_an_undefined_entry() -> None:
    result = ins.correlation_matrix(
        {
            "x": [1.0, 2.0, 3.0, 4.0],
            "y": [2.0, 4.0, 6.0, 8.0],
            "z": [1.0, 1.0, 1.0, 1.0],
            "w": [4.0, 3.0, 2.0, 1.0],
        }  # fmt: skip
    )

    assert result["names"] == ["x", "y", "z", "w"]
    assert result["matrix"][0] == [1.0, pytest.approx(1.0), None, pytest.approx(-1.0)]
    assert result["matrix"][2] == [None, None, None, None]


def test_ablation_sets_a_weight_to_zero_in_a_weighted_sum() -> None:
    # 1 beats 2 and 3 beats 4; `good` knows it, `noise` says the opposite, weakly.
    transformed = {"good": [1.0, 0.0, 1.0, 0.0], "noise": [0.0, 5.0, 0.0, 5.0]}
    preferences = [P("c1", 1, 2), P("c2", 3, 4)]

    rows = ins.ablation(spec_of(), transformed, [1, 2, 3, 4], preferences)

    assert [(r["component"], r["how"], r["accuracy"]["value"], r["change"]) for r in rows] == [
        ("good", "weight 0", 0.0, -1.0),
        ("noise", "weight 0", 1.0, 0.0),
    ]


def test_ablation_holds_a_component_at_its_mean_for_min() -> None:
    transformed = {"good": [1.0, 0.0, 1.0, 0.0], "noise": [2.0, 2.0, 2.0, 2.0]}
    preferences = [P("c1", 1, 2), P("c2", 3, 4)]

    rows = ins.ablation(spec_of("min"), transformed, [1, 2, 3, 4], preferences)

    # min(0.5, 2) everywhere: every pair a tie, so accuracy 0.
    assert [(r["how"], r["accuracy"]["value"], r["accuracy"]["ties"]) for r in rows] == [
        ("held at its mean", 0.0, 2),
        ("held at its mean", 1.0, 0),
    ]


def test_contributions_are_weighted_differences() -> None:
    rows = ins.contributions(spec_of(), {"good": 1.0, "noise": 0.0}, {"good": 0.0, "noise": None})

    assert rows == [{"component": "good", "value": 1.0}, {"component": "noise", "value": None}]


def test_majority_and_worst_pairs() -> None:
    preferences = [
        P("c1", 1, 2, "x"), P("c1", 1, 2, "y"), P("c1", 2, 1, "z"),
        P("c2", 3, 4, "x"), P("c2", 4, 3, "y"),  # tied vote: left out
        P("c3", 5, 6, "x"),
        P("c3", 5, 6, "x", criterion="clarity"),  # criteria are not the overall choice
    ]  # fmt: skip
    pairs = ins.majority_pairs(preferences)
    assert [(p.item, p.winner, p.loser, p.votes, p.judgments) for p in pairs] == [
        ("c1", 1, 2, 2, 3), ("c3", 5, 6, 1, 1)]  # fmt: skip

    worst = ins.worst_pairs(pairs, {1: 0.0, 2: 3.0, 5: 1.0, 6: 1.0})
    assert [(p.item, margin) for p, margin in worst] == [("c1", 3.0), ("c3", 0.0)]


def test_length_bias() -> None:
    reward = {1: 1.0, 2: 2.0, 3: 3.0, 4: 4.0}
    lengths = {1: 10, 2: 20, 3: 30, 4: 40}
    # People prefer the shorter response in one of the two pairs.
    preferences = [P("c1", 1, 2), P("c2", 4, 3)]

    result = ins.length_bias(reward, lengths, preferences)

    assert result["correlation"] == pytest.approx(1.0)
    assert result["longer_lost"]["value"] == 0.0
    assert result["longer_won"]["value"] == 1.0
    assert result["human_prefers_longer"] == 0.5


def test_consistency_is_the_spread_of_prompt_means_within_a_group() -> None:
    reward = {1: 0.0, 2: 2.0, 3: 3.0, 4: 3.0, 5: 10.0}
    prompt_of = {1: 10, 2: 10, 3: 11, 4: 11, 5: 12}
    group_of = {10: "capital", 11: "capital", 12: ""}

    result = ins.consistency(reward, prompt_of, group_of)

    assert result["groups"] == [
        {"group": "capital", "prompts": 2, "mean": 2.0, "spread": 1.0, "range": 2.0}
    ]
    assert result["mean_spread"] == 1.0
    assert result["between_prompts"] == pytest.approx(
        math.sqrt(((1 - 14 / 3) ** 2 + (3 - 14 / 3) ** 2 + (10 - 14 / 3) ** 2) / 3)
    )


def test_starc_distance_ignores_per_prompt_shifts_and_scale() -> None:
    prompt_of = {1: 1, 2: 1, 3: 2, 4: 2}
    first = {1: 1.0, 2: -1.0, 3: 5.0, 4: 4.0}
    shifted_scaled = {1: 12.0, 2: 8.0, 3: -1.0, 4: -3.0}  # ×2, +10 in prompt 1, −11 in 2
    reversed_ = {k: -v for k, v in first.items()}

    assert ins.starc_distance(first, shifted_scaled, prompt_of)["distance"] == pytest.approx(0.0)
    assert ins.starc_distance(first, reversed_, prompt_of)["distance"] == pytest.approx(2.0)


def test_starc_distance_of_unrelated_rewards_is_root_two() -> None:
    prompt_of = {1: 1, 2: 1, 3: 2, 4: 2}
    first = {1: 1.0, 2: -1.0, 3: 5.0, 4: 5.0}  # orders prompt 1 only
    second = {1: 7.0, 2: 7.0, 3: 2.0, 4: 0.0}  # orders prompt 2 only

    result = ins.starc_distance(first, second, prompt_of)

    assert result == {"distance": pytest.approx(math.sqrt(2)), "responses": 4, "note": ""}


def test_starc_distance_is_undefined_for_a_reward_constant_within_prompts() -> None:
    prompt_of = {1: 1, 2: 1}
    result = ins.starc_distance({1: 1.0, 2: 0.0}, {1: 3.0, 2: 3.0}, prompt_of)

    assert result["distance"] is None
    assert result["note"] == "A version gives every response of each prompt the same reward."


def test_flips_list_pairs_preferred_the_other_way() -> None:
    pairs = [("c1", 1, 2), ("c2", 3, 4), ("c3", 5, 6)]
    first = {1: 1.0, 2: 0.0, 3: 1.0, 4: 0.0, 5: 1.0, 6: 1.0}
    second = {1: 0.0, 2: 2.0, 3: 3.0, 4: 0.0, 5: 0.0, 6: 1.0}  # c3 was a tie: no flip

    assert ins.flips(pairs, first, second) == [
        {"item": "c1", "a": 1, "b": 2, "first_prefers": 1, "second_prefers": 2,
         "first_margin": 1.0, "second_margin": -2.0}
    ]  # fmt: skip


def test_fit_weights_finds_the_component_that_predicts_people() -> None:
    # 20 choices: `good` is always higher for the winner; `noise` half the time.
    n = 20
    good = [v for _ in range(n) for v in (1.0, 0.0)]
    noise = [v for i in range(n) for v in ((1.0, 0.0) if i % 2 else (0.0, 1.0))]
    ids = list(range(2 * n))
    preferences = [P(f"c{i}", 2 * i, 2 * i + 1) for i in range(n)]

    fit = ins.fit_weights(spec_of(), {"good": good, "noise": noise}, ids, preferences, l2=1.0)

    w = fit["weights"]["good"]
    assert w > 0
    # The maximum of Σ log σ(w) − w²/2 over 20 identical rows: 20 (1 − σ(w)) = w.
    assert n * (1 - 1 / (1 + math.exp(-w))) == pytest.approx(w, abs=1e-5)
    assert fit["weights"]["noise"] == pytest.approx(0.0, abs=1e-6)
    assert fit["heldout_accuracy"] == 1.0
    assert fit["current_accuracy"] == 1.0
    assert fit["current_weights"] == {"good": 1.0, "noise": 0.1}
    assert fit["n"] == n


def _penalty_world(n: int = 20) -> tuple[dict[str, list[float]], list[int], list[Any]]:
    """`good` is 1 for every winner; `len` (a length penalty: 0 or −2) is lower for the winner
    in 15 of 20 choices: people liked the longer answers, so an unconstrained fit would turn
    the penalty into a bonus."""
    good: list[float] = []
    length: list[float] = []
    for i in range(n):
        good += [1.0, 0.0]
        length += [-2.0, 0.0] if i % 4 else [0.0, -2.0]
    preferences = [P(f"c{i}", 2 * i, 2 * i + 1) for i in range(n)]
    return {"good": good, "len": length}, list(range(2 * n)), preferences


def _penalty_spec(len_weight: float = 0.5) -> RewardSpec:
    return RewardSpec.model_validate({
        "components": [
            {"name": "good", "type": "contains", "substrings": ["good"]},
            {"name": "len", "type": "length_penalty", "target": 10, "tolerance": 5},
        ],
        "combine": {"op": "weighted_sum", "weights": {"good": 1.0, "len": len_weight}},
    })  # fmt: skip


def _stationary(
    values: dict[str, list[float]], preferences: list[Any], w: dict[str, float]
) -> list[float]:
    """The gradient of the penalised log-likelihood (l2 = 1) at w, per component."""
    names = list(w)
    rows = [[values[n][p.winner] - values[n][p.loser] for n in names] for p in preferences]
    gradient = [0.0 for _ in names]
    for row in rows:
        margin = sum(x * w[n] for x, n in zip(row, names, strict=True))
        pull = 1 / (1 + math.exp(margin))
        for k, x in enumerate(row):
            gradient[k] += pull * x
    return [g - w[n] for g, n in zip(gradient, names, strict=True)]


def test_fit_weights_keeps_the_sign_the_designer_gave_a_penalty() -> None:
    values, ids, preferences = _penalty_world()

    fit = ins.fit_weights(_penalty_spec(), values, ids, preferences, l2=1.0)

    assert fit["signs"] == {"good": "non-negative", "len": "non-negative"}
    assert fit["weights"]["len"] == 0.0
    assert fit["held_at_zero"] == ["len"]
    # With `len` held at 0, `good` is the one-component maximum: 20 (1 − σ(w)) = w.
    w = fit["weights"]["good"]
    assert 20 * (1 - 1 / (1 + math.exp(-w))) == pytest.approx(w, abs=1e-5)


def test_fit_weights_keeps_a_negative_weight_non_positive() -> None:
    values, ids, preferences = _penalty_world()
    # The designer made `len` a bonus for short answers by its weight's sign instead.
    flipped = {"good": values["good"], "len": [-v for v in values["len"]]}

    fit = ins.fit_weights(_penalty_spec(-0.5), flipped, ids, preferences, l2=1.0)

    assert fit["signs"] == {"good": "non-negative", "len": "non-positive"}
    assert (fit["weights"]["len"], fit["held_at_zero"]) == (0.0, ["len"])


def test_fit_weights_flips_a_sign_the_designer_freed() -> None:
    values, ids, preferences = _penalty_world()

    fit = ins.fit_weights(_penalty_spec(), values, ids, preferences, l2=1.0, free_signs={"len"})

    assert fit["signs"] == {"good": "non-negative", "len": "free"}
    assert fit["weights"]["len"] == pytest.approx(-0.273942, abs=1e-6)
    assert fit["held_at_zero"] == []
    # The unconstrained maximum: the gradient is 0 in every direction.
    gradient = _stationary(values, preferences, fit["weights"])
    assert gradient == [pytest.approx(0.0, abs=1e-4)] * 2


def test_fit_weights_without_weights_keeps_every_component_non_negative() -> None:
    spec = spec_of("min")

    assert ins.sign_rules(spec) == {"good": "non-negative", "noise": "non-negative"}
    assert ins.sign_rules(spec, {"noise"}) == {"good": "non-negative", "noise": "free"}
    with pytest.raises(ValueError, match="free_signs: no component named 'nope'"):
        ins.sign_rules(spec, {"nope"})


def test_fit_weights_needs_enough_choices() -> None:
    fit = ins.fit_weights(
        spec_of(), {"good": [1.0, 0.0], "noise": [0.0, 0.0]}, [1, 2], [P("c", 1, 2)]
    )

    assert (
        fit["error"] == "1 decisive human choices: at least 5 are needed to fit and check weights."
    )
    assert "weights" not in fit


def test_probes_rescore_perturbed_responses_with_the_real_components() -> None:
    spec = RewardSpec.model_validate({
        "components": [
            {"name": "flattery", "type": "regex", "pattern": "(?i)great question"},
            {"name": "steps", "type": "contains", "substrings": ["step by step"]},
        ],
        "combine": {"op": "weighted_sum", "weights": {"flattery": 1.0, "steps": 2.0}},
    })  # fmt: skip
    fitted = fitted_without_data(spec)
    items = [ScoreItem("Why?", text) for text in ("Because.", "It rains a lot", "So it goes")]
    compute = Scorer(spec).component_values
    base = raw_values(spec, items, compute).rewards(spec, fitted).totals
    assert base == [0.0, 0.0, 0.0]

    rows = {row["probe"]: row for row in ins.probe_effects(spec, fitted, items, base, compute)}

    assert list(rows) == ["empty", "truncated", "repeated", "padded", "flattery", "colon",
                          "step_by_step"]  # fmt: skip
    assert rows["flattery"] == {
        "probe": "flattery", "label": 'prefixing "Great question!"', "n": 3,
        "mean_change": 1.0, "median_change": 1.0, "raised": 1.0, "lowered": 0.0,
        "verdict": "gamed",
    }  # fmt: skip
    assert (rows["step_by_step"]["mean_change"], rows["step_by_step"]["verdict"]) == (2.0, "gamed")
    assert (rows["empty"]["raised"], rows["empty"]["verdict"]) == (0.0, "robust")


def test_probe_verdicts_and_sample() -> None:
    assert [_verdict(v) for v in (None, 0.0, 0.1, 0.49, 0.5)] == [
        "unknown", "robust", "at risk", "at risk", "gamed"]  # fmt: skip
    assert ins.probe_sample(3, 5) == [0, 1, 2]
    sample = ins.probe_sample(1000, 5)
    assert len(sample) == 5
    assert sample == sorted(set(sample))
    assert sample == ins.probe_sample(1000, 5)


def test_probing_a_proposed_weighting_names_the_probes_only_it_is_gamed_by() -> None:
    current = RewardSpec.model_validate({
        "components": [
            {"name": "flattery", "type": "regex", "pattern": "(?i)great question",
             "match": -1.0},
            {"name": "steps", "type": "contains", "substrings": ["step by step"]},
        ],
        "combine": {"op": "weighted_sum", "weights": {"flattery": 1.0, "steps": 2.0}},
    })  # fmt: skip
    proposed = RewardSpec.model_validate(
        ins.spec_with_weights(current.model_dump(), {"flattery": -0.5, "steps": 2.0})
    )
    fitted = fitted_without_data(current)
    items = [ScoreItem("Why?", text) for text in ("Because.", "It rains a lot", "So it goes")]
    compute = Scorer(current).component_values
    raw = raw_values(current, items, compute)
    bases = [raw.rewards(spec, fitted).totals for spec in (current, proposed)]
    calls: list[int] = []

    now, then = ins.probe_effects_of(
        [current, proposed], fitted, items, bases, compute, on_probe=calls.append
    )

    assert calls == [1, 2, 3, 4, 5, 6, 7]
    assert now == ins.probe_effects(current, fitted, items, bases[0], compute)
    verdicts = [(a["probe"], a["verdict"], b["verdict"]) for a, b in zip(now, then, strict=True)]
    assert ("flattery", "robust", "gamed") in verdicts
    # Answering "Let's solve this step by step." games both: not new.
    assert ("step_by_step", "gamed", "gamed") in verdicts
    assert ins.newly_gamed(now, then) == [{
        "probe": "flattery", "label": 'prefixing "Great question!"', "current_raised": 0.0,
        "current_verdict": "robust", "proposed_raised": 1.0,
    }]  # fmt: skip
