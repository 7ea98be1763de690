from __future__ import annotations

import subprocess
import sys
from collections import Counter

import numpy as np
import pytest

from apps.annotation.quality import (
    Estimate,
    Judgment,
    bootstrap_interval,
    cohen_kappa_matrix,
    dawid_skene,
    dawid_skene_without_own,
    judgments_by_item,
    krippendorff_alpha,
    majority_vote,
    position_bias,
    ranking_to_pairs,
    raw_agreement,
    signed_scale,
    signed_strength,
    soft_label,
)

PREFERENCES = ("a", "b", "tie", "both_bad")

# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C:
# 4 observers x 12 units, values 1..5, None where an observer gave no value.
KRIPPENDORFF_2011 = {
    "A": [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
    "B": [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
    "C": [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
    "D": [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
}


def _table(rows: dict[str, list]) -> list[Judgment]:
    """Judgments from annotator -> values per unit, None where the unit was not judged."""
    return [
        Judgment(item=unit, annotator=annotator, value=value)
        for annotator, values in rows.items()
        for unit, value in enumerate(values, start=1)
        if value is not None
    ]


def _simulate(
    accuracies: tuple[float, ...], n_items: int, seed: int
) -> tuple[list[str], list[Judgment]]:
    """Labels from annotators who give the true class with their accuracy, else another."""
    rng = np.random.default_rng(seed)
    truth = [PREFERENCES[k] for k in rng.choice(4, size=n_items, p=[0.4, 0.4, 0.1, 0.1])]
    judgments = []
    for item, true in enumerate(truth):
        for annotator, accuracy in enumerate(accuracies):
            if rng.random() < accuracy:
                value = true
            else:
                value = str(rng.choice([c for c in PREFERENCES if c != true]))
            judgments.append(Judgment(item=item, annotator=annotator, value=value))
    return truth, judgments


def test_raw_agreement_weights_items_by_their_pairs() -> None:
    judgments = _table(
        {
            "ann": ["a", "tie", "a", "both_bad"],
            "bob": ["a", "tie", None, "both_bad"],
            "cat": ["b", None, None, None],
        }
    )

    # Unit 1: 1 of 3 pairs agree; unit 2 (tie, tie) and unit 4 (both_bad, both_bad) agree;
    # unit 3 has one judgment and is left out. (1 + 1 + 1) / (3 + 1 + 1).
    assert raw_agreement(judgments) == Estimate(value=3 / 5, n_items=3, n_pairs=5)


def test_raw_agreement_is_none_without_an_item_judged_twice() -> None:
    judgments = [Judgment("x", "ann", "a"), Judgment("y", "ann", "b")]

    assert raw_agreement(judgments) == Estimate(value=None, n_items=0, n_pairs=0)


def test_a_second_judgment_by_the_same_annotator_is_refused() -> None:
    judgments = [Judgment("x", "ann", "a"), Judgment("x", "ann", "b")]

    with pytest.raises(ValueError, match="more than once"):
        raw_agreement(judgments)


def test_judgments_by_item_keeps_first_seen_order() -> None:
    judgments = [Judgment("y", 2, "a"), Judgment("x", 1, "b"), Judgment("y", 1, "tie")]

    assert judgments_by_item(judgments) == {"y": {2: "a", 1: "tie"}, "x": {1: "b"}}
    assert list(judgments_by_item(judgments)) == ["y", "x"]


def test_cohen_kappa_matches_the_textbook_example() -> None:
    # 50 items: both yes 20, first yes / second no 5, first no / second yes 10, both no 15.
    # p_o = 0.7, p_e = 0.5 * 0.6 + 0.5 * 0.4 = 0.5, so κ = 0.2 / 0.5 = 0.4.
    pairs = [("yes", "yes")] * 20 + [("yes", "no")] * 5 + [("no", "yes")] * 10
    pairs += [("no", "no")] * 15
    judgments = [
        Judgment(item, annotator, value)
        for item, answers in enumerate(pairs)
        for annotator, value in zip((1, 2), answers, strict=True)
    ]

    matrix = cohen_kappa_matrix(judgments)

    assert matrix.annotators == (1, 2)
    assert matrix.pairs[(1, 2)].value == pytest.approx(0.4, abs=1e-12)
    assert matrix.pairs[(1, 2)].n_items == 50
    assert matrix.get(2, 1) is matrix.get(1, 2)


def test_cohen_kappa_is_none_for_too_few_shared_items_or_no_variation() -> None:
    judgments = _table(
        {
            "ann": ["a", "a", "a", None],
            "bob": ["a", "a", "a", "b"],
            "cat": [None, None, "b", "b"],
        }
    )

    matrix = cohen_kappa_matrix(judgments)

    assert matrix.annotators == ("ann", "bob", "cat")
    # ann and bob both said "a" on every shared item: expected agreement 1.
    assert matrix.get("ann", "bob") == Estimate(value=None, n_items=3, n_pairs=3)
    # ann and cat share only unit 3.
    assert matrix.get("ann", "cat") == Estimate(value=None, n_items=1, n_pairs=1)
    # bob and cat: units 3 (a/b) and 4 (b/b): p_o = 1/2, p_e = 1/2 * 0 + 1/2 * 1 = 1/2.
    assert matrix.get("bob", "cat") == Estimate(value=0.0, n_items=2, n_pairs=2)


def test_cohen_kappa_agrees_with_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(3)
    first = rng.choice(PREFERENCES, size=60, p=[0.4, 0.3, 0.2, 0.1])
    second = np.where(rng.random(60) < 0.6, first, rng.choice(PREFERENCES, size=60))
    judgments = [Judgment(i, "x", str(v)) for i, v in enumerate(first)]
    judgments += [Judgment(i, "y", str(v)) for i, v in enumerate(second)]

    kappa = cohen_kappa_matrix(judgments).get("x", "y").value

    assert kappa == pytest.approx(metrics.cohen_kappa_score(first, second), abs=1e-12)


def test_krippendorff_alpha_matches_the_published_example() -> None:
    judgments = _table(KRIPPENDORFF_2011)

    nominal = krippendorff_alpha(judgments, "nominal")
    ordinal = krippendorff_alpha(judgments, "ordinal", value_domain=[1, 2, 3, 4, 5])
    interval = krippendorff_alpha(judgments, "interval")

    assert nominal.value == pytest.approx(0.743, abs=5e-4)
    assert ordinal.value == pytest.approx(0.815, abs=5e-4)
    assert interval.value == pytest.approx(0.849, abs=5e-4)
    # Unit 12 has a single value and cannot be paired: 11 units, 3+6*8+3+1 pairs.
    assert (nominal.n_items, nominal.n_pairs) == (11, 55)


def test_krippendorff_alpha_orders_string_labels_by_the_value_domain() -> None:
    names = {1: "very low", 2: "low", 3: "mid", 4: "high", 5: "very high"}
    judgments = [
        Judgment(j.item, j.annotator, names[int(j.value)]) for j in _table(KRIPPENDORFF_2011)
    ]

    ordinal = krippendorff_alpha(judgments, "ordinal", value_domain=list(names.values()))

    assert ordinal.value == pytest.approx(0.815, abs=5e-4)
    assert krippendorff_alpha(judgments, "nominal").value == pytest.approx(0.743, abs=5e-4)
    with pytest.raises(ValueError, match="value_domain"):
        krippendorff_alpha(judgments, "ordinal")
    with pytest.raises(ValueError, match="numeric"):
        krippendorff_alpha(judgments, "interval")


def test_krippendorff_alpha_nominal_hand_computed() -> None:
    # Units (a, a), (a, b), (tie, tie), one "b" alone (unpairable). n = 6 pairable values:
    # a 3, b 1, tie 2. D_o = 2/6; D_e = (2*3*1 + 2*3*2 + 2*1*2) / (6*5) = 22/30.
    # α = 1 - (1/3) / (22/30) = 1 - 10/22 = 6/11.
    judgments = _table({"ann": ["a", "a", "tie", "b"], "bob": ["a", "b", "tie", None]})

    alpha = krippendorff_alpha(judgments, "nominal")

    assert alpha.value == pytest.approx(6 / 11, abs=1e-12)
    assert (alpha.n_items, alpha.n_pairs) == (3, 3)


def test_krippendorff_alpha_ordinal_and_interval_hand_computed() -> None:
    # Units (1, 2) and (3, 3): n_1 = 1, n_2 = 1, n_3 = 2, n = 4.
    # Interval: Σ o·δ² = 2·1 = 2, Σ n_c·n_k·δ² = 2·(1 + 2·4 + 2·1) = 22, α = 1 - 3·2/22 = 8/11.
    # Ordinal: δ(1,2) = (2 - 1)² = 1, δ(1,3) = (4 - 1.5)² = 6.25, δ(2,3) = (3 - 1.5)² = 2.25;
    # Σ o·δ = 2, Σ n_c·n_k·δ = 2·(1 + 2·6.25 + 2·2.25) = 36, α = 1 - 3·2/36 = 5/6.
    judgments = _table({"ann": [1, 3], "bob": [2, 3]})

    interval = krippendorff_alpha(judgments, "interval")
    ordinal = krippendorff_alpha(judgments, "ordinal", value_domain=signed_scale(3))

    assert interval.value == pytest.approx(8 / 11, abs=1e-12)
    assert ordinal.value == pytest.approx(5 / 6, abs=1e-12)


def test_krippendorff_alpha_unchosen_scale_points_leave_ordinal_alpha_unchanged() -> None:
    judgments = _table(KRIPPENDORFF_2011)

    observed = krippendorff_alpha(judgments, "ordinal").value
    wider = krippendorff_alpha(judgments, "ordinal", value_domain=[0, 1, 2, 3, 4, 5, 6]).value

    assert wider == pytest.approx(observed, abs=1e-12)


def test_krippendorff_alpha_rejects_values_off_the_scale() -> None:
    judgments = _table({"ann": [1, 4], "bob": [2, 3]})

    with pytest.raises(ValueError, match="outside value_domain"):
        krippendorff_alpha(judgments, "ordinal", value_domain=signed_scale(3))


def test_krippendorff_alpha_is_none_without_variation_or_pairs() -> None:
    unanimous = _table({"ann": ["a", "b"], "bob": ["a", None], "cat": ["a", None]})
    unpaired = _table({"ann": ["a", None], "bob": [None, "b"]})

    assert krippendorff_alpha(unanimous) == Estimate(value=None, n_items=1, n_pairs=3)
    assert krippendorff_alpha(unpaired) == Estimate(value=None, n_items=0, n_pairs=0)


def test_bootstrap_interval_is_deterministic_for_a_seed() -> None:
    judgments = _table(KRIPPENDORFF_2011)

    def statistic(sample: list[Judgment]) -> float | None:
        return krippendorff_alpha(sample, "nominal").value

    first = bootstrap_interval(judgments, statistic, n_resamples=200, seed=7)
    again = bootstrap_interval(judgments, statistic, n_resamples=200, seed=7)
    other = bootstrap_interval(judgments, statistic, n_resamples=200, seed=8)

    assert first == again
    assert first != other
    assert first is not None
    assert first[0] < 0.743 < first[1]


def test_bootstrap_interval_moves_an_item_s_judgments_together() -> None:
    # Every item is unanimous, so any resample of whole items agrees perfectly; resampling
    # single judgments would mix answers of different items and disagree.
    judgments = _table({"ann": ["a", "b", "tie", "a", "b"], "bob": ["a", "b", "tie", "a", "b"]})

    interval = bootstrap_interval(judgments, lambda sample: raw_agreement(sample).value)

    assert interval == (1.0, 1.0)


def test_bootstrap_interval_keeps_items_drawn_twice_apart() -> None:
    judgments = _table({"ann": ["a", "b", "tie", "a"], "bob": ["a", "a", "tie", "b"]})

    items = bootstrap_interval(judgments, lambda sample: len({j.item for j in sample}))
    pairs = bootstrap_interval(judgments, lambda sample: raw_agreement(sample).n_pairs)

    assert items == (4.0, 4.0)
    assert pairs == (4.0, 4.0)


def test_bootstrap_interval_is_none_when_the_statistic_never_is_defined() -> None:
    judgments = [Judgment("x", "ann", "a")]

    assert bootstrap_interval(judgments, lambda sample: None, n_resamples=10) is None
    assert bootstrap_interval([], lambda sample: 1.0) is None


def test_position_bias_uses_an_exact_two_sided_binomial_test() -> None:
    # 9 of 10 on the left: P(X <= 1) + P(X >= 9) = 2 * (1 + 10) / 1024.
    assert position_bias(9, 10).share == 0.9
    assert position_bias(9, 10).p_value == pytest.approx(22 / 1024, abs=1e-15)
    assert position_bias(60, 100).p_value == pytest.approx(0.056887933640981, abs=1e-12)
    assert position_bias(5, 10).p_value == pytest.approx(1.0, abs=1e-15)
    assert position_bias(0, 0).share is None
    with pytest.raises(ValueError, match="left_choices"):
        position_bias(11, 10)


def test_majority_vote_leaves_ties_undecided() -> None:
    judgments = _table(
        {
            "ann": ["a", "a", "tie", "b"],
            "bob": ["a", "b", "tie", None],
            "cat": ["b", None, "both_bad", None],
        }
    )

    assert majority_vote(judgments) == {1: "a", 2: None, 3: "tie", 4: "b"}


def test_soft_label_counts_tie_and_both_bad_as_half() -> None:
    label = soft_label({"a": 0.5, "b": 0.2, "tie": 0.2, "both_bad": 0.1})

    assert label.p_a_preferred == pytest.approx(0.65, abs=1e-12)
    assert label.strength == pytest.approx(0.3, abs=1e-12)
    assert label.p_both_bad == pytest.approx(0.1, abs=1e-12)


def test_soft_label_normalises_and_fills_missing_classes() -> None:
    label = soft_label({"b": 3.0, "tie": 1.0})

    assert label.p_a_preferred == pytest.approx(0.125, abs=1e-12)
    assert label.strength == pytest.approx(0.75, abs=1e-12)
    assert soft_label({"both_bad": 1.0}).p_a_preferred == 0.5
    with pytest.raises(ValueError, match="unknown classes"):
        soft_label({"left": 1.0})


def test_signed_strength_maps_choices_onto_the_signed_scale() -> None:
    assert signed_strength("a", 0, 3) == 1
    assert signed_strength("a", 2, 3) == 3
    assert signed_strength("b", 2, 3) == -3
    assert signed_strength("b", 0, 4) == -1
    assert signed_strength("tie", None, 3) == 0
    assert signed_strength("tie", 2, 3) == 0
    assert signed_strength("both_bad", 1, 3) is None
    assert signed_strength("a", None, 3) is None
    assert signed_scale(3) == [-3, -2, -1, 0, 1, 2, 3]


def test_signed_strength_rejects_labels_off_the_scale() -> None:
    with pytest.raises(ValueError, match="outside 0..2"):
        signed_strength("a", 3, 3)
    with pytest.raises(ValueError, match="unknown choice"):
        signed_strength("left", 0, 3)


def test_ranking_to_pairs_expands_every_implied_preference() -> None:
    assert ranking_to_pairs(["r3", "r1", "r4", "r2"]) == [
        ("r3", "r1"),
        ("r3", "r4"),
        ("r3", "r2"),
        ("r1", "r4"),
        ("r1", "r2"),
        ("r4", "r2"),
    ]
    assert ranking_to_pairs(["r1"]) == []
    with pytest.raises(ValueError, match="once"):
        ranking_to_pairs(["r1", "r2", "r1"])


def test_dawid_skene_recovers_simulated_annotator_accuracies() -> None:
    accuracies = (0.95, 0.9, 0.8, 0.7, 0.6)
    truth, judgments = _simulate(accuracies, n_items=400, seed=0)

    result = dawid_skene(judgments, PREFERENCES)

    assert result.converged
    for annotator, accuracy in enumerate(accuracies):
        assert result.accuracy[annotator] == pytest.approx(accuracy, abs=0.05)
        # P(says "a" | truly "a") against the rate in this sample of ~160 "a" items.
        said = [j.value for j in judgments if j.annotator == annotator and truth[j.item] == "a"]
        sampled = said.count("a") / len(said)
        assert result.confusion[annotator]["a"]["a"] == pytest.approx(sampled, abs=0.03)
    for value in PREFERENCES:
        assert result.priors[value] == pytest.approx(truth.count(value) / 400, abs=0.02)


def test_dawid_skene_beats_majority_vote_on_simulated_labels() -> None:
    truth, judgments = _simulate((0.95, 0.9, 0.8, 0.7, 0.6), n_items=400, seed=0)

    result = dawid_skene(judgments, PREFERENCES)

    ds_correct = sum(
        max(result.posteriors[item], key=result.posteriors[item].__getitem__) == true
        for item, true in enumerate(truth)
    )
    # Majority vote with ties broken at random, counted by its expected number correct.
    majority_correct = 0.0
    for item, answers in judgments_by_item(judgments).items():
        counts = Counter(answers.values())
        top = [value for value, n in counts.items() if n == max(counts.values())]
        majority_correct += (truth[item] in top) / len(top)
    assert ds_correct > majority_correct
    assert ds_correct / len(truth) >= 0.97


def test_dawid_skene_returns_distributions() -> None:
    _, judgments = _simulate((0.9, 0.8, 0.7), n_items=50, seed=1)

    result = dawid_skene(judgments, PREFERENCES)

    assert len(result.posteriors) == 50
    assert all(sum(p.values()) == pytest.approx(1.0) for p in result.posteriors.values())
    assert all(
        sum(row.values()) == pytest.approx(1.0)
        for rows in result.confusion.values()
        for row in rows.values()
    )
    assert sum(result.priors.values()) == pytest.approx(1.0)
    assert 1 <= result.iterations <= 100


def test_dawid_skene_without_own_removes_exactly_the_annotators_term() -> None:
    """Each posterior is prior × the other annotators' confusion rows, normalised; an item
    nobody else judged has none."""
    _, judgments = _simulate((0.9, 0.8, 0.6), n_items=60, seed=2)
    judgments.append(Judgment("alone", 0, "b"))
    result = dawid_skene(judgments, PREFERENCES)

    loo = dawid_skene_without_own(judgments, result)

    assert len(loo) == len(judgments)
    assert loo[("alone", 0)] is None
    for item, answers in judgments_by_item(judgments).items():
        for annotator in answers if item != "alone" else ():
            weights = {
                true: result.priors[true] * np.prod([
                    result.confusion[other][true][value]
                    for other, value in answers.items() if other != annotator
                ])
                for true in PREFERENCES
            }  # fmt: skip
            total = sum(weights.values())
            assert loo[(item, annotator)] == pytest.approx(
                {true: weight / total for true, weight in weights.items()}
            )


def test_dawid_skene_without_own_never_follows_the_annotator_alone() -> None:
    """A lone contrarian on an item the two others agree on: with their own vote the
    posterior could follow them; without it, it follows the others."""
    judgments = [Judgment(i, "x", "a") for i in range(20)] + [
        Judgment(i, "y", "a") for i in range(20)
    ]
    judgments += [Judgment(i, "z", "b" if i < 10 else "a") for i in range(20)]

    loo = dawid_skene_without_own(judgments, dawid_skene(judgments, PREFERENCES))

    for i in range(10):
        posterior = loo[(i, "z")]
        assert max(posterior, key=posterior.__getitem__) == "a"
        assert posterior["b"] < 0.01


def test_dawid_skene_refuses_values_outside_the_classes() -> None:
    judgments = [Judgment("x", "ann", "a"), Judgment("x", "bob", "left")]

    with pytest.raises(ValueError, match="not one of the classes"):
        dawid_skene(judgments, PREFERENCES)


def test_dawid_skene_on_no_judgments_returns_uniform_priors() -> None:
    result = dawid_skene([], PREFERENCES)

    assert result.posteriors == {}
    assert result.priors == {"a": 0.25, "b": 0.25, "tie": 0.25, "both_bad": 0.25}
    assert result.iterations == 0


def test_the_statistics_core_does_not_import_django() -> None:
    # A fresh interpreter: this test process has Django loaded already.
    code = (
        "import sys, apps.annotation.quality; "
        "print(','.join(m for m in sys.modules if m.split('.')[0] in ('django', 'torch')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == ""
