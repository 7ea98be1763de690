from __future__ import annotations

from typing import Any

import pytest

from workers.rewards.combine import combine
from workers.rewards.formula import FormulaError
from workers.rewards.spec import RewardSpec


def spec(combine_rule: dict[str, Any], names: tuple[str, ...] = ("a", "b", "c")) -> RewardSpec:
    components = [{"name": n, "type": "reward_model"} for n in names]
    return RewardSpec.model_validate({"components": components, "combine": combine_rule})


VALUES = {"a": [1.0, 1.0, None, 2.0], "b": [2.0, None, None, 3.0], "c": [3.0, 3.0, None, None]}


def test_weighted_sum_renormalises_over_the_present_components() -> None:
    rule = {"op": "weighted_sum", "weights": {"a": 1, "b": 2, "c": -1}}
    # total |w| = 4; row 1 has |w| 2 present (scale 2); row 3 has |w| 3 present (scale 4/3).
    assert combine(spec(rule), VALUES) == [2.0, -4.0, None, pytest.approx(32 / 3)]


def test_weighted_sum_with_missing_total() -> None:
    rule = {"op": "weighted_sum", "weights": {"a": 1, "b": 2, "c": -1}, "missing": "missing_total"}
    assert combine(spec(rule), VALUES) == [2.0, None, None, None]


def test_a_zero_weight_component_is_neither_counted_nor_needed() -> None:
    rule = {"op": "weighted_sum", "weights": {"a": 1, "b": 1, "c": 0}, "missing": "missing_total"}
    assert combine(spec(rule), VALUES) == [3.0, None, None, 5.0]
    all_zero = {"op": "weighted_sum", "weights": {"a": 0, "b": 0, "c": 0}}
    assert combine(spec(all_zero), VALUES) == [None, None, None, None]


def test_min_and_product_over_present_values_or_missing_total() -> None:
    assert combine(spec({"op": "min"}), VALUES) == [1.0, 1.0, None, 2.0]
    assert combine(spec({"op": "product"}), VALUES) == [6.0, 3.0, None, 6.0]
    assert combine(spec({"op": "min", "missing": "missing_total"}), VALUES) == [
        1.0,
        None,
        None,
        None,
    ]
    assert combine(spec({"op": "product", "missing": "missing_total"}), VALUES) == [
        6.0,
        None,
        None,
        None,
    ]


def test_formula_is_missing_where_it_needs_a_missing_value() -> None:
    rule = {"op": "formula", "expression": "if(a > 1, b, c) - a / 2"}
    assert combine(spec(rule), VALUES) == [2.5, 2.5, None, 2.0]
    total = {**rule, "missing": "missing_total"}
    assert combine(spec(total), VALUES) == [2.5, None, None, None]


def test_nan_inputs_count_as_missing() -> None:
    rule = {"op": "weighted_sum", "weights": {"a": 1, "b": 1}}
    assert combine(spec(rule, ("a", "b")), {"a": [float("nan")], "b": [4.0]}) == [8.0]


def test_columns_must_be_present_and_equally_long() -> None:
    with pytest.raises(FormulaError, match="^no values for component `c`$"):
        combine(spec({"op": "min"}), {"a": [1.0], "b": [1.0]})
    with pytest.raises(FormulaError, match="^component columns have different lengths$"):
        combine(spec({"op": "min"}), {"a": [1.0], "b": [1.0], "c": [1.0, 2.0]})
