from __future__ import annotations

import math

import pytest

from workers.rewards.formula import FormulaError, as_values, parse_formula

NAMES = ["rm", "sim", "len"]


def evaluate(expression: str, **columns: list[float | None]) -> list[float | None]:
    return parse_formula(expression, NAMES).evaluate(columns)


def refusal(expression: str) -> str:
    with pytest.raises(FormulaError) as info:
        parse_formula(expression, NAMES)
    return str(info.value)


def test_arithmetic_follows_the_usual_precedence_with_caret_as_power() -> None:
    assert evaluate("rm + 2 ^ 3 * sim - -1", rm=[1.0, 2.0], sim=[0.5, -1.0]) == [6.0, -5.0]
    assert evaluate("2 ^ 3 ^ 2 + rm", rm=[0.0]) == [512.0]
    assert evaluate("rm ** 2 / 4", rm=[3.0]) == [2.25]


def test_functions_on_hand_computed_values() -> None:
    f = "min(rm, sim, 0.5) + max(rm, sim) + abs(len) + clip(len, -1, 1)"
    assert evaluate(f, rm=[0.2], sim=[0.7], len=[-3.0]) == [pytest.approx(0.2 + 0.7 + 3 - 1)]
    assert evaluate("exp(rm) + log(sim) + sqrt(len)", rm=[0.0], sim=[math.e], len=[9.0]) == [
        pytest.approx(5.0)
    ]


def test_comparisons_and_gates_give_one_or_zero() -> None:
    f = "if(len > 300, -1, rm) + (sim >= 0.5) + (0 < rm < 1) + (rm == 2) + (rm != 2)"
    assert evaluate(f, rm=[0.5, 2.0], sim=[0.5, 0.4], len=[10.0, 400.0]) == [3.5, 0.0]
    assert evaluate("rm > 0 and not sim or len", rm=[1.0, 0.0], sim=[0.0, 1.0], len=[0.0, 0.0]) == [
        1.0,
        0.0,
    ]


def test_missing_values_propagate_except_through_the_branch_not_taken() -> None:
    f = "if(rm > 0, sim, len)"
    assert evaluate(f, rm=[1.0, None, -1.0], sim=[None, 1.0, None], len=[2.0, 2.0, 3.0]) == [
        None,
        None,
        3.0,
    ]
    assert evaluate("rm + sim", rm=[1.0, math.nan], sim=[math.inf, 1.0]) == [None, None]


def test_undefined_results_are_missing_not_errors() -> None:
    f = "log(rm) + sqrt(sim) + 1 / len + rm ^ 0.5"
    assert evaluate(f, rm=[0.0, 1.0, -1.0, 1.0], sim=[1.0, -1.0, 1.0, 1.0], len=[1.0] * 4) == [
        None,
        None,
        None,
        3.0,
    ]
    assert evaluate("rm / len", rm=[1.0], len=[0.0]) == [None]


def test_names_lists_the_components_in_order_of_first_use() -> None:
    assert parse_formula("sim * rm + sim", NAMES).names == ("sim", "rm")


def test_evaluate_row_and_a_constant_formula() -> None:
    assert parse_formula("rm + 1", NAMES).evaluate_row({"rm": 2.0}) == 3.0
    assert parse_formula("1 + 1", NAMES).evaluate({"rm": [0.0, 0.0]}) == [2.0, 2.0]


def test_as_values_turns_nan_and_infinities_into_none() -> None:
    assert as_values([1, None, math.nan, -math.inf, 2.5]) == [1.0, None, None, None, 2.5]


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        (
            "__import__('os')",
            "`__import__('os')`: unknown function; "
            "the functions are: abs, clip, exp, if, log, max, min, sqrt",
        ),
        ("rm.__class__", "`rm.__class__`: attribute access is not allowed"),
        ("[1][0]", "`[1][0]`: subscripts are not allowed"),
        ("lambda: 1", "`lambda: 1`: lambda is not allowed"),
        (
            "open('x')",
            "`open('x')`: unknown function; "
            "the functions are: abs, clip, exp, if, log, max, min, sqrt",
        ),
        ("2 ^ 1000", "`2 ^ 1000`: the exponent 1000 is beyond ±100"),
        ("9 ** 9 ** 9", "`9 ** 9 ** 9`: the exponent 3.8742e+08 is beyond ±100"),
        ("rm + 'x'", "`'x'`: strings are not allowed"),
        ("True", "`True`: True is not allowed"),
        ("1e400", "`1e400`: the number is too large"),
        ("exp(1000)", "`exp(1000)`: the result is too large"),
        ("rm % 2", "`rm % 2`: this operator is not allowed; use + - * / ^"),
        ("foo + 1", "`foo`: unknown name; the components are: rm, sim, len"),
        (
            "rm if sim else len",
            "`rm if sim else len`: `a if c else b` is not allowed; write if(c, a, b)",
        ),
        ("(rm, sim)", "`(rm, sim)`: tuples are not allowed"),
        ("[x for x in rm]", "`[x for x in rm]`: comprehensions are not allowed"),
        ("(x := 1)", "`x := 1`: assignment is not allowed"),
        ("max(*rm)", "`max(*rm)`: only plain positional arguments are allowed"),
        ("clip(rm, 1)", "`clip(rm, 1)`: clip() takes 3 argument(s), got 2"),
        ("if(rm, 1)", "`if(rm, 1)`: if() takes 3 argument(s), got 2"),
        ("min()", "`min()`: min() takes at least 1 argument(s), got 0"),
        ("rm +", "cannot parse the formula: invalid syntax"),
        ("(rm", "cannot read the formula: EOF in multi-line statement"),
        ("", "the formula is empty"),
        ("-" * 60 + "rm", "the formula is nested more than 50 levels deep"),
        ("rm" + " " * 1000, "the formula is 1002 characters long; the limit is 1000"),
    ],
)
def test_it_refuses(expression: str, message: str) -> None:
    assert refusal(expression) == message


def test_a_huge_exponent_computed_from_values_is_an_error_at_evaluation() -> None:
    formula = parse_formula("2 ^ rm", NAMES)
    assert formula.evaluate({"rm": [10.0]}) == [1024.0]
    with pytest.raises(FormulaError, match=r"^`2 \^ rm`: the exponent 101 is beyond ±100$"):
        formula.evaluate({"rm": [101.0]})


def test_an_overflowing_product_is_an_error() -> None:
    with pytest.raises(FormulaError, match=r"^`rm \* rm`: the result is too large$"):
        parse_formula("rm * rm", NAMES).evaluate({"rm": [1e200]})


def test_evaluate_needs_every_used_column_with_equal_lengths() -> None:
    formula = parse_formula("rm + sim", NAMES)
    with pytest.raises(FormulaError, match="^no values for component `sim`$"):
        formula.evaluate({"rm": [1.0]})
    with pytest.raises(FormulaError, match="^component columns have different lengths$"):
        formula.evaluate({"rm": [1.0], "sim": [1.0, 2.0]})


def test_if_inside_a_name_or_a_longer_name_is_not_rewritten() -> None:
    names = ["iffy", "gift"]
    formula = parse_formula("if(iffy > 0, gift, 0)", names)
    assert formula.evaluate({"iffy": [1.0, -1.0], "gift": [5.0, 5.0]}) == [5.0, 0.0]
