from __future__ import annotations

import math
import random

import pytest
from pydantic import TypeAdapter

from workers.rewards.spec import Transform
from workers.rewards.transforms import (
    FittedChain,
    FittedZScore,
    TransformError,
    fit_chain,
    log_sigmoid,
    quantile,
    sigmoid,
)

STEPS = TypeAdapter(list[Transform])


def chain(*steps: object) -> list[Transform]:
    return STEPS.validate_python(list(steps))


def test_zscore_uses_the_population_spread_and_keeps_missing_values() -> None:
    fitted = fit_chain(chain("zscore"), [1.0, 2.0, None, 3.0, 4.0])

    assert fitted.steps == [FittedZScore(mean=2.5, std=math.sqrt(1.25), count=4)]
    assert fitted.apply([1.0, None, 2.5]) == [pytest.approx(-1.3416407864998738), None, 0.0]


def test_zscore_with_no_spread_or_no_values_gives_zero() -> None:
    assert fit_chain(chain("zscore"), [2.0, 2.0]).apply([2.0, 5.0]) == [0.0, 0.0]
    empty = fit_chain(chain("zscore"), [None])
    assert empty.steps == [FittedZScore(mean=0.0, std=0.0, count=0)]
    assert empty.apply([3.0, None]) == [0.0, None]


def test_zscore_per_prompt_falls_back_to_global_stats_for_an_unseen_prompt() -> None:
    fitted = fit_chain(
        chain("zscore_per_prompt"), [1.0, 3.0, 10.0, 20.0], prompts=["a", "a", "b", "b"]
    )

    assert fitted.apply([1.0, 3.0, 10.0, 20.0], prompts=["a", "a", "b", "b"]) == [
        -1.0,
        1.0,
        -1.0,
        1.0,
    ]
    assert fitted.apply([8.5, 16.0], prompts=["c", "c"]) == [
        0.0,
        pytest.approx(7.5 / math.sqrt(55.25)),
    ]


def test_zscore_per_prompt_needs_prompt_keys() -> None:
    with pytest.raises(
        TransformError, match="^zscore_per_prompt needs a prompt key for every value$"
    ):
        fit_chain(chain("zscore_per_prompt"), [1.0])
    fitted = fit_chain(chain("zscore_per_prompt"), [1.0], prompts=["a"])
    with pytest.raises(TransformError, match="^1 prompt keys for 2 values$"):
        fitted.apply([1.0, 2.0], prompts=["a"])


def test_minmax_does_not_clip_new_values() -> None:
    fitted = fit_chain(chain("minmax"), [2.0, 4.0, None, 6.0])
    assert fitted.apply([4.0, 8.0, None, 2.0]) == [0.5, 1.5, None, 0.0]
    assert fit_chain(chain("minmax"), [3.0]).apply([3.0, 7.0]) == [0.0, 0.0]


def test_clip_with_one_or_two_bounds() -> None:
    values = [-1.0, 0.5, 2.0, None]
    assert fit_chain(chain({"clip": {"low": 0, "high": 1}}), []).apply(values) == [
        0.0,
        0.5,
        1.0,
        None,
    ]
    assert fit_chain(chain({"clip": {"high": 1}}), []).apply(values) == [-1.0, 0.5, 1.0, None]


def test_centred_sigmoid_against_a_fitted_median() -> None:
    fitted = fit_chain(chain({"sigmoid": {"reference": "p50", "tau": 0.5}}), [1.0, 2.0, 3.0, 4.0])

    assert fitted.steps[0].reference == 2.5  # type: ignore[union-attr]
    assert fitted.apply([3.0, 2.5, None]) == [pytest.approx(0.7310585786300049), 0.5, None]


def test_log_sigmoid_against_a_number_and_a_quantile() -> None:
    fixed = fit_chain(chain({"log_sigmoid": {"reference": 1}}), [])
    assert fixed.apply([1.0, 2.0]) == [
        pytest.approx(-math.log(2)),
        pytest.approx(-0.31326168751822286),
    ]
    p25 = fit_chain(chain({"log_sigmoid": {"reference": "p25"}}), [4.0, 3.0, 2.0, 1.0])
    assert p25.steps[0].reference == 1.75  # type: ignore[union-attr]


def test_log_sigmoid_against_the_reference_answer_goes_through_earlier_steps() -> None:
    steps = chain("zscore_per_prompt", {"log_sigmoid": {"reference": "reference_answer"}})
    fitted = fit_chain(steps, [1.0, 3.0], prompts=["a", "a"], references=[3.0, 3.0])

    # z-scores are [-1, 1]; the reference answer's 3.0 is z = 1 for prompt "a".
    out = fitted.apply([1.0, 3.0, 5.0], prompts=["a", "a", "a"], references=[3.0, 3.0, None])
    assert out == [pytest.approx(log_sigmoid(-2.0)), pytest.approx(-math.log(2)), None]
    with pytest.raises(TransformError, match="^log_sigmoid against reference_answer needs the"):
        fitted.apply([1.0], prompts=["a"])


def test_sigmoid_and_log_sigmoid_are_stable_at_the_extremes() -> None:
    assert sigmoid(-1000.0) == 0.0
    assert sigmoid(1000.0) == 1.0
    assert log_sigmoid(-1000.0) == -1000.0
    assert log_sigmoid(1000.0) == 0.0
    assert log_sigmoid(1.0) == pytest.approx(-0.31326168751822286)


def test_quantile_interpolates_like_numpy() -> None:
    assert quantile([1.0, 2.0, 3.0, 4.0], 0.25) == 1.75
    assert quantile([5.0], 0.9) == 5.0
    assert quantile([], 0.5) == 0.0
    assert quantile([3.0, 1.0, 2.0], 1.0) == 3.0


def test_a_fitted_chain_round_trips_through_json_with_identical_outputs() -> None:
    rng = random.Random(7)
    values = [rng.gauss(0, 3) if rng.random() > 0.1 else None for _ in range(200)]
    prompts = [f"p{rng.randrange(20)}" for _ in values]
    steps = chain(
        "zscore_per_prompt",
        {"clip": {"low": -2.5, "high": 2.5}},
        "minmax",
        {"sigmoid": {"reference": "p40", "tau": 0.3}},
        "zscore",
        {"log_sigmoid": {"reference": "p50"}},
    )
    fitted = fit_chain(steps, values, prompts=prompts)
    loaded = FittedChain.model_validate_json(fitted.model_dump_json())

    new = [rng.gauss(0, 3) for _ in range(50)] + [None]
    new_prompts = [f"p{rng.randrange(25)}" for _ in new]
    assert loaded == fitted
    assert loaded.apply(new, prompts=new_prompts) == fitted.apply(new, prompts=new_prompts)
    assert fitted.apply(values, prompts=prompts)[0] is not None or values[0] is None
