from __future__ import annotations

import copy
import subprocess
import sys
from typing import Any

import pytest
from pydantic import ValidationError

from workers.rewards.spec import (
    Contains,
    JsonValid,
    LogSigmoid,
    Regex,
    RewardSpec,
    TextMetric,
    spec_errors,
)

DESIGN_EXAMPLE: dict[str, Any] = {
    "components": [
        {"name": "rm", "type": "reward_model", "model": 12},
        {"name": "sim", "type": "embedding_similarity", "against": "reference"},
        {"name": "bleu", "type": "text_metric", "metric": "bleu", "against": "reference"},
        {
            "name": "apology",
            "type": "regex",
            "pattern": "(?i)as an ai",
            "match": -1.0,
            "no_match": 0.0,
        },
        {"name": "len", "type": "length_penalty", "unit": "words", "target": 150, "tolerance": 100},
    ],
    "transforms": {"rm": ["zscore_per_prompt", {"log_sigmoid": {"reference": "p50"}}]},
    "combine": {
        "op": "weighted_sum",
        "weights": {"rm": 1.0, "sim": 0.5, "bleu": 0.2, "apology": 1.0, "len": 0.3},
    },
}
TYPES = (
    "'reward_model', 'embedding_similarity', 'text_metric', 'regex', 'contains', "
    "'json_valid', 'length_penalty', 'rubric_judge'"
)
TRANSFORMS = "'zscore', 'zscore_per_prompt', 'minmax', 'clip', 'sigmoid', 'log_sigmoid'"


def with_component(component: dict[str, Any], **combine: Any) -> dict[str, Any]:
    return {
        "components": [component],
        "combine": combine or {"op": "weighted_sum", "weights": {component["name"]: 1.0}},
    }


def test_the_design_example_is_valid_and_round_trips_through_json() -> None:
    assert spec_errors(DESIGN_EXAMPLE) == []
    spec = RewardSpec.model_validate(DESIGN_EXAMPLE)

    assert spec.names == ["rm", "sim", "bleu", "apology", "len"]
    assert spec.transforms["rm"] == [
        "zscore_per_prompt",
        LogSigmoid.model_validate({"log_sigmoid": {"reference": "p50"}}),
    ]
    assert RewardSpec.model_validate_json(spec.model_dump_json(by_alias=True)) == spec


def test_every_component_kind_with_its_parameters() -> None:
    spec = RewardSpec.model_validate(
        {
            "components": [
                {"name": "rm", "type": "reward_model"},
                {
                    "name": "ex",
                    "type": "embedding_similarity",
                    "against": "exemplars",
                    "exemplars": ["a", "b"],
                    "aggregate": "mean",
                },
                {"name": "chrf", "type": "text_metric", "metric": "chrf"},
                {"name": "re", "type": "regex", "pattern": "sorry", "flags": ["ignorecase"]},
                {"name": "has", "type": "contains", "substrings": ["x", "y"], "mode": "all"},
                {
                    "name": "js",
                    "type": "json_valid",
                    "schema": {"type": "object", "required": ["a"]},
                },
                {"name": "len", "type": "length_penalty", "target": 10, "tolerance": 5},
                {
                    "name": "judge",
                    "type": "rubric_judge",
                    "rubric_version": 3,
                    "endpoint": "http://127.0.0.1:8001/v1",
                    "model": "m",
                    "api_key_setting": "JUDGE_API_KEY",
                },
            ],
            "combine": {"op": "min"},
        }
    )

    rm, ex, chrf, regex, has, js, length, judge = spec.components
    assert rm.model is None
    assert (ex.backbone, ex.aggregate) == ("all-MiniLM-L6-v2", "mean")
    assert isinstance(chrf, TextMetric)
    assert chrf.against == "reference"
    assert isinstance(regex, Regex)
    assert regex.compiled().search("SORRY") is not None
    assert isinstance(has, Contains)
    assert (has.case_sensitive, has.match, has.no_match) == (True, 1.0, 0.0)
    assert isinstance(js, JsonValid)
    assert js.schema_ == {"type": "object", "required": ["a"]}
    assert (length.unit, length.shape) == ("words", "linear")
    assert (judge.timeout, judge.api_key_setting) == (30.0, "JUDGE_API_KEY")


@pytest.mark.parametrize(
    ("component", "message"),
    [
        (
            {"name": "bleu", "type": "text_metric", "metric": "blue"},
            "components[0] (bleu).metric: Input should be 'bleu', 'chrf', 'rouge_l', "
            "'exact_match' or 'fuzzy_match'",
        ),
        (
            {"name": "rm", "type": "rewardmodel"},
            f"components[0] (rm).type: unknown type 'rewardmodel'; expected one of {TYPES}",
        ),
        ({"name": "rm"}, f"components[0] (rm).type: required; expected one of {TYPES}"),
        (
            {"name": "rm", "type": "reward_model", "model": 0},
            "components[0] (rm).model: Input should be greater than 0",
        ),
        (
            {"name": "rm", "type": "reward_model", "modle": 1},
            "components[0] (rm).modle: Extra inputs are not permitted",
        ),
        (
            {"name": "Rm", "type": "reward_model"},
            "components[0] (Rm).name: must start with a lowercase letter and use only "
            "a-z, 0-9 and _, at most 40 characters",
        ),
        (
            {"name": "and", "type": "reward_model"},
            "components[0] (and).name: 'and' is a reserved word",
        ),
        (
            {"name": "sim", "type": "embedding_similarity", "against": "exemplars"},
            "components[0] (sim).exemplars: give at least one exemplar answer",
        ),
        (
            {"name": "sim", "type": "embedding_similarity", "exemplars": ["a"]},
            "components[0] (sim).exemplars: only used with against 'exemplars'",
        ),
        (
            {"name": "re", "type": "regex", "pattern": "(("},
            "components[0] (re).pattern: does not compile: "
            "missing ), unterminated subpattern at position 1",
        ),
        (
            {"name": "re", "type": "regex", "pattern": r"(\w+) \1"},
            "components[0] (re).pattern: RE2 cannot run it (invalid escape sequence: \\1); "
            "patterns run on RE2, which matches in linear time and has no backreferences, "
            "lookahead, lookbehind or possessive repeats",
        ),
        (
            {"name": "re", "type": "regex", "pattern": "(?i)sorry(?! not)"},
            "components[0] (re).pattern: RE2 cannot run it (invalid perl operator: (?!); "
            "patterns run on RE2, which matches in linear time and has no backreferences, "
            "lookahead, lookbehind or possessive repeats",
        ),
        (
            {
                "name": "js",
                "type": "json_valid",
                "schema": {"type": "object", "patternProperties": {"^(a)\\1$": {"type": "string"}}},
            },
            "components[0] (js).schema: patternProperties key '^(a)\\\\1$': RE2 cannot run it "
            "(invalid escape sequence: \\1); patterns run on RE2, which matches in linear "
            "time and has no backreferences, lookahead, lookbehind or possessive repeats",
        ),
        (
            {
                "name": "js",
                "type": "json_valid",
                "schema": {
                    "type": "object",
                    "patternProperties": {"^x": {"type": "string"}},
                    "unevaluatedProperties": False,
                },
            },
            "components[0] (js).schema: patternProperties with unevaluatedProperties is not "
            "supported (its patterns would not run on RE2)",
        ),
        (
            {"name": "re", "type": "regex", "pattern": "a" * 501},
            "components[0] (re).pattern: is 501 characters long; the limit is 500",
        ),
        (
            {"name": "re", "type": "regex", "pattern": "a", "match": "nan"},
            "components[0] (re).match: Input should be a finite number",
        ),
        (
            {"name": "has", "type": "contains", "substrings": []},
            "components[0] (has).substrings: List should have at least 1 item after "
            "validation, not 0",
        ),
        (
            {"name": "js", "type": "json_valid", "schema": {"type": "obj"}},
            "components[0] (js).schema: is not a JSON Schema: type 'obj' is not one of "
            "array, boolean, integer, null, number, object, string",
        ),
        (
            {"name": "js", "type": "json_valid", "schema": {"properties": {"a": 3}}},
            "components[0] (js).schema: is not a JSON Schema: properties.a. should be an object",
        ),
        (
            {"name": "len", "type": "length_penalty", "target": 0, "tolerance": 5},
            "components[0] (len).target: Input should be greater than 0",
        ),
        (
            {"name": "len", "type": "length_penalty", "target": 5, "tolerance": 5, "shape": "box"},
            "components[0] (len).shape: Input should be 'linear' or 'gaussian'",
        ),
        (
            {"name": "judge", "type": "rubric_judge", "rubric_version": 1, "api_key": "sk-1"},
            "components[0] (judge).api_key: put the key in a setting and name it in "
            "api_key_setting",
        ),
        (
            {"name": "judge", "type": "rubric_judge", "rubric_version": 1, "timeout": 0},
            "components[0] (judge).timeout: Input should be greater than 0",
        ),
        (
            {
                "name": "judge",
                "type": "rubric_judge",
                "rubric_version": 1,
                "api_key_setting": "sk-abc",
            },
            "components[0] (judge).api_key_setting: String should match pattern "
            "'^[A-Z][A-Z0-9_]{0,99}$'",
        ),
    ],
)
def test_component_errors_name_the_component_and_field(
    component: dict[str, Any], message: str
) -> None:
    assert spec_errors(with_component(component)) == [message]


def test_a_component_that_is_not_an_object() -> None:
    data = {"components": ["rm"], "combine": {"op": "min"}}
    assert spec_errors(data) == [
        "components[0]: Input should be a valid dictionary or object to extract fields from"
    ]


def test_top_level_errors() -> None:
    assert spec_errors([]) == ["spec: Input should be a valid dictionary or instance of RewardSpec"]
    assert spec_errors({}) == ["components: Field required", "combine: Field required"]
    assert spec_errors({"components": [], "combine": {"op": "min"}}) == [
        "components: give at least one component"
    ]


def test_transform_errors_name_the_component_and_step() -> None:
    data = copy.deepcopy(DESIGN_EXAMPLE)
    data["transforms"] = {
        "rm": [
            "zcore",
            {"clip": {}},
            {"clip": {"low": 1, "high": 0}},
            {"sigmoid": {"reference": "p500", "tau": 0}},
            {"log_sigmoid": {"reference": True}},
            {"foo": {}},
            3,
            {"log_sigmoid": {"reference": "reference_answer"}},
            {"sigmoid": {"reference": "p90"}},
        ]
    }
    assert spec_errors(data) == [
        "transforms.rm[0]: Input should be 'zscore', 'zscore_per_prompt' or 'minmax'",
        "transforms.rm[1].clip.low: give low, high or both",
        "transforms.rm[2].clip.high: must not be below low",
        "transforms.rm[3].sigmoid.reference: should be a number or a quantile from 'p0' to 'p100'",
        "transforms.rm[3].sigmoid.tau: Input should be greater than 0",
        "transforms.rm[4].log_sigmoid.reference: should be a number or a quantile from "
        "'p0' to 'p100', or 'reference_answer'",
        f"transforms.rm[5]: unknown transform 'foo'; expected one of {TRANSFORMS}",
        f"transforms.rm[6]: unknown transform 3; expected one of {TRANSFORMS}",
    ]


def test_cross_field_errors() -> None:
    data = copy.deepcopy(DESIGN_EXAMPLE)
    data["components"].append({"name": "rm", "type": "contains", "substrings": ["x"]})
    data["transforms"]["nope"] = ["zscore"]
    data["combine"]["weights"] = {"rm": 1, "sim": 0, "bleu": 1, "apology": 1, "zz": 2}

    assert spec_errors(data) == [
        "components[5] (rm).name: duplicate; components[0] has it",
        "transforms.nope: no component named 'nope'",
        "combine.weights.zz: no component named 'zz'",
        "combine.weights: no weight for component 'len' "
        "(give it 0 to compute it without counting it)",
    ]


@pytest.mark.parametrize(
    ("combine", "message"),
    [
        (
            {"op": "sum"},
            "combine.op: Input should be 'weighted_sum', 'min', 'product' or 'formula'",
        ),
        (
            {"op": "weighted_sum"},
            "combine.weights: weighted_sum needs a weight for every component",
        ),
        ({"op": "min", "weights": {"rm": 1}}, "combine.weights: not used by min"),
        ({"op": "formula"}, "combine.expression: formula needs an expression"),
        ({"op": "product", "expression": "rm"}, "combine.expression: not used by product"),
        (
            {"op": "min", "missing": "zero"},
            "combine.missing: Input should be 'skip_renormalise' or 'missing_total'",
        ),
        (
            {"op": "formula", "expression": "rm + foo"},
            "combine.expression: `foo`: unknown name; the components are: rm, sim",
        ),
        (
            {"op": "formula", "expression": "rm.__class__"},
            "combine.expression: `rm.__class__`: attribute access is not allowed",
        ),
        (
            {"op": "formula", "expression": "rm * 2"},
            "combine.expression: component 'sim' is not used",
        ),
    ],
)
def test_combine_errors(combine: dict[str, Any], message: str) -> None:
    data = {
        "components": [
            {"name": "rm", "type": "reward_model"},
            {"name": "sim", "type": "embedding_similarity"},
        ],
        "combine": combine,
    }
    assert spec_errors(data) == [message]


def test_a_formula_combination_is_valid_and_parsed() -> None:
    data = with_component(
        {"name": "rm", "type": "reward_model"}, op="formula", expression="if(rm > 0, rm ^ 2, 0)"
    )
    spec = RewardSpec.model_validate(data)
    assert spec.formula().evaluate({"rm": [3.0, -1.0]}) == [9.0, 0.0]


def test_validating_directly_raises_with_the_same_messages() -> None:
    data = copy.deepcopy(DESIGN_EXAMPLE)
    data["transforms"] = {"nope": ["zscore"]}
    with pytest.raises(ValidationError, match="transforms.nope: no component named 'nope'"):
        RewardSpec.model_validate(data)


def test_importing_the_spec_loads_neither_django_nor_torch() -> None:
    heavy = ("django", "torch", "transformers", "sentence_transformers", "numpy")
    code = (
        "import sys, workers.rewards.spec, workers.rewards.transforms, workers.rewards.combine; "
        f"print(','.join(m for m in {heavy!r} if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )

    assert result.stdout.strip() == ""
