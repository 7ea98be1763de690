"""The vectorised bootstrap gives the generic bootstrap's intervals, draw for draw."""

from __future__ import annotations

import random

import pytest

from apps.annotation import quality
from apps.annotation.quality.resampling import alpha_interval, raw_agreement_interval


def choices(seed: int) -> list[quality.Judgment]:
    """150 items judged by one to three of 8 annotators (singletons included)."""
    rng = random.Random(seed)
    return [
        quality.Judgment(item, annotator, rng.choice(["a", "a", "b", "tie", "both_bad"]))
        for item in range(150)
        for annotator in rng.sample(range(8), rng.choice([1, 2, 3]))
    ]


def signed(seed: int) -> list[quality.Judgment]:
    rng = random.Random(seed)
    return [quality.Judgment(j.item, j.annotator, rng.randint(-3, 3)) for j in choices(seed)]


def generic(judgments, statistic):  # type: ignore[no-untyped-def]
    return quality.bootstrap_interval(
        judgments, lambda js: statistic(js).value, n_resamples=300, seed=7
    )


@pytest.mark.parametrize("seed", [1, 2])
def test_raw_agreement_interval_matches_the_generic_bootstrap(seed: int) -> None:
    judgments = choices(seed)

    fast = raw_agreement_interval(judgments, n_resamples=300, seed=7)

    assert fast == pytest.approx(generic(judgments, quality.raw_agreement), abs=1e-12)


@pytest.mark.parametrize(
    ("level", "domain", "data"),
    [
        ("nominal", None, choices),
        ("ordinal", quality.signed_scale(4), signed),
        ("ordinal", None, signed),
        ("interval", None, signed),
    ],
)
def test_alpha_interval_matches_the_generic_bootstrap(level, domain, data) -> None:  # type: ignore[no-untyped-def]
    judgments = data(3)

    fast = alpha_interval(judgments, level, value_domain=domain, n_resamples=300, seed=7)
    slow = generic(judgments, lambda js: quality.krippendorff_alpha(js, level, value_domain=domain))

    assert fast is not None
    assert fast == pytest.approx(slow, abs=1e-12)


def test_blocks_of_resamples_give_the_same_interval(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    judgments = choices(4)
    whole = alpha_interval(judgments, "nominal", n_resamples=100, seed=1)

    monkeypatch.setattr("apps.annotation.quality.resampling.BLOCK_CELLS", 1000)  # 6 per block
    blocked = alpha_interval(judgments, "nominal", n_resamples=100, seed=1)

    assert blocked == whole


def test_undefined_statistics_have_no_interval() -> None:
    alike = [quality.Judgment(item, who, "a") for item in range(5) for who in range(2)]
    single = [quality.Judgment(item, 0, "a") for item in range(5)]

    assert alpha_interval(alike, "nominal", n_resamples=50) is None
    assert raw_agreement_interval(single, n_resamples=50) is None
    assert alpha_interval([], "nominal") is None
    assert raw_agreement_interval([]) is None
