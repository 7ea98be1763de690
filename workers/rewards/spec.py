"""The reward function spec: one Pydantic model for the API, the pages and the workers.

A version's JSON is validated here and nowhere else, so a spec that saves is a spec
that scores. `spec_errors(data)` turns a validation failure into sentences that
name the component and field (`components[2] (bleu).metric: ...`), which the API
answers with a 400 and the composer page shows next to the field.

Regular expressions (a regex component's pattern, a json_valid schema's `pattern` and
`patternProperties`) run on RE2, which matches in time linear in the text, so no pattern
can hold a worker. `spec_errors` refuses a pattern RE2 cannot run (backreferences,
lookaround); a version saved before that rule still parses (its pages and scores stay
readable), and `spec_errors` on it names what a worker will refuse to score.
"""

from __future__ import annotations

import keyword
import math
import re
import warnings
from collections.abc import Iterator
from functools import lru_cache
from typing import Annotated, Any, Literal

import re2
from pydantic import (
    BaseModel,
    ConfigDict,
    Discriminator,
    Field,
    FiniteFloat,
    Tag,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from workers.rewards.formula import Formula, FormulaError, parse_formula

NAME_RE = re.compile(r"^[a-z][a-z0-9_]{0,39}$")
MAX_PATTERN = 500
QUANTILE_RE = re.compile(r"^p(100|[1-9]?[0-9])$")
SETTING_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,99}$")
_JSON_TYPES = {"object", "array", "string", "number", "integer", "boolean", "null"}
_REGEX_FLAGS = {"ignorecase": "i", "multiline": "m", "dotall": "s"}
# Validation context for a spec coming in (the API, the composer); stored versions parse
# without it. See the module docs.
NEW_SPEC = {"new": True}
_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False  # the error comes back as an exception; no stderr line


@lru_cache(maxsize=256)
def compile_pattern(pattern: str) -> re2._Regexp:
    """The pattern compiled by RE2 (inline flags like `(?i)` included); re2.error if RE2
    cannot run it."""
    return re2.compile(pattern, _RE2_OPTIONS)


def regex_problem(pattern: str) -> str | None:
    """Why RE2 cannot run the pattern; None when it can."""
    try:
        compile_pattern(pattern)
    except re2.error as exc:
        reason = exc.args[0] if exc.args else exc
        reason = reason.decode(errors="replace") if isinstance(reason, bytes) else str(reason)
    else:
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            re.compile(pattern)
        except re.error as exc:  # a plain syntax error: Python's message gives the position
            return f"does not compile: {exc}"
    return (
        f"RE2 cannot run it ({reason}); patterns run on RE2, which matches in linear "
        "time and has no backreferences, lookahead, lookbehind or possessive repeats"
    )


def _is_new(info: ValidationInfo) -> bool:
    return bool(info.context and info.context.get("new"))


def _reference(value: Any, *, answer: bool) -> float | str:
    """A number, a quantile of the fitted values ("p50"), or (log_sigmoid) "reference_answer"."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    if isinstance(value, str) and (
        QUANTILE_RE.match(value) or (answer and value == "reference_answer")
    ):
        return value
    extra = ", or 'reference_answer'" if answer else ""
    raise ValueError(f"should be a number or a quantile from 'p0' to 'p100'{extra}")


def _field_error(field: str, message: str) -> PydanticCustomError:
    """An error inside a model validator that still names its field."""
    return PydanticCustomError("field", "{field}: {message}", {"field": field, "message": message})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Component(_Strict):
    name: str

    @field_validator("name")
    @classmethod
    def _check_name(cls, name: str) -> str:
        if not NAME_RE.match(name):
            raise ValueError(
                "must start with a lowercase letter and use only a-z, 0-9 and _, "
                "at most 40 characters"
            )
        if keyword.iskeyword(name):
            raise ValueError(f"'{name}' is a reserved word")
        return name


class RewardModel(_Component):
    """A trained reward head; no `model` means the project's promoted model."""

    type: Literal["reward_model"]
    model: Annotated[int, Field(gt=0)] | None = None


class EmbeddingSimilarity(_Component):
    """Cosine similarity to the reference answer or to the best/mean of exemplars."""

    type: Literal["embedding_similarity"]
    against: Literal["reference", "exemplars"] = "reference"
    exemplars: list[Annotated[str, Field(min_length=1)]] = []
    aggregate: Literal["max", "mean"] = "max"
    backbone: Annotated[str, Field(min_length=1, max_length=200)] = "all-MiniLM-L6-v2"

    @model_validator(mode="after")
    def _check_exemplars(self) -> EmbeddingSimilarity:
        if self.against == "exemplars" and not self.exemplars:
            raise _field_error("exemplars", "give at least one exemplar answer")
        if self.against == "reference" and self.exemplars:
            raise _field_error("exemplars", "only used with against 'exemplars'")
        return self


class TextMetric(_Component):
    """A string metric between the response and the reference answer."""

    type: Literal["text_metric"]
    metric: Literal["bleu", "chrf", "rouge_l", "exact_match", "fuzzy_match"]
    against: Literal["reference"] = "reference"


class Regex(_Component):
    """`match` when the pattern is found anywhere in the response, else `no_match`."""

    type: Literal["regex"]
    pattern: str
    flags: list[Literal["ignorecase", "multiline", "dotall"]] = []
    match: FiniteFloat = 1.0
    no_match: FiniteFloat = 0.0

    @field_validator("pattern")
    @classmethod
    def _check_pattern(cls, pattern: str, info: ValidationInfo) -> str:
        if len(pattern) > MAX_PATTERN:
            raise ValueError(f"is {len(pattern)} characters long; the limit is {MAX_PATTERN}")
        if not pattern:
            raise ValueError("is empty")
        problem = regex_problem(pattern)
        if problem is None:
            return pattern
        if _is_new(info):
            raise ValueError(problem)
        try:  # a version saved before patterns ran on RE2 (see the module docs)
            re.compile(pattern)
        except re.error as exc:
            raise ValueError(f"does not compile: {exc}") from None
        return pattern

    def compiled(self) -> re2._Regexp:
        """The pattern on RE2, with the flags as inline flags; re2.error if RE2 cannot run it."""
        flags = "".join(_REGEX_FLAGS[flag] for flag in self.flags)
        return compile_pattern(f"(?{flags}){self.pattern}" if flags else self.pattern)


class Contains(_Component):
    """`match` when any (or all) of the substrings occur in the response, else `no_match`."""

    type: Literal["contains"]
    substrings: Annotated[list[Annotated[str, Field(min_length=1)]], Field(min_length=1)]
    mode: Literal["any", "all"] = "any"
    case_sensitive: bool = True
    match: FiniteFloat = 1.0
    no_match: FiniteFloat = 0.0


class JsonValid(_Component):
    """`valid` when the response parses as JSON (and fits `schema` if given), else `invalid`."""

    type: Literal["json_valid"]
    schema_: dict[str, Any] | None = Field(default=None, alias="schema")
    valid: FiniteFloat = 1.0
    invalid: FiniteFloat = 0.0

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @field_validator("schema_")
    @classmethod
    def _check_schema(
        cls, schema: dict[str, Any] | None, info: ValidationInfo
    ) -> dict[str, Any] | None:
        if schema is not None and (problem := _schema_problem(schema, "")):
            raise ValueError(f"is not a JSON Schema: {problem}")
        if schema is not None and _is_new(info) and (problem := schema_regex_problem(schema)):
            raise ValueError(problem)
        return schema


# Keywords whose values are data, not schemas: a "pattern" key inside them is no pattern.
_DATA_KEYWORDS = {"enum", "const", "default", "examples"}


def _schema_patterns(schema: object, where: str) -> Iterator[tuple[str, str]]:
    """Every regular expression in a JSON Schema, as (where, pattern)."""
    if isinstance(schema, list):
        for i, sub in enumerate(schema):
            yield from _schema_patterns(sub, f"{where}[{i}]")
        return
    if not isinstance(schema, dict):
        return
    for key, value in schema.items():
        at = f"{where}.{key}" if where else str(key)
        if key == "pattern" and isinstance(value, str):
            yield at, value
        elif key == "patternProperties" and isinstance(value, dict):
            for pattern, sub in value.items():
                yield f"{at} key {pattern!r}", pattern
                yield from _schema_patterns(sub, f"{at}[{pattern!r}]")
        elif key not in _DATA_KEYWORDS:
            yield from _schema_patterns(value, at)


def _uses_keyword(schema: object, keyword: str) -> bool:
    if isinstance(schema, list):
        return any(_uses_keyword(sub, keyword) for sub in schema)
    if not isinstance(schema, dict):
        return False
    return keyword in schema or any(
        _uses_keyword(value, keyword) for key, value in schema.items() if key not in _DATA_KEYWORDS
    )


def schema_regex_problem(schema: dict[str, Any]) -> str | None:
    """Why a schema's regular expressions cannot run on RE2 (json_valid checks them there)."""
    for where, pattern in _schema_patterns(schema, ""):
        if len(pattern) > MAX_PATTERN:
            return f"{where}: is {len(pattern)} characters long; the limit is {MAX_PATTERN}"
        if problem := regex_problem(pattern):
            return f"{where}: {problem}"
    if _uses_keyword(schema, "patternProperties") and _uses_keyword(
        schema, "unevaluatedProperties"
    ):
        return (
            "patternProperties with unevaluatedProperties is not supported (its patterns "
            "would not run on RE2)"
        )
    return None


def _schema_problem(schema: object, where: str) -> str | None:
    """A light structural check of the JSON Schema keywords people actually use."""
    if isinstance(schema, bool):
        return None
    if not isinstance(schema, dict):
        return f"{where or 'the schema'} should be an object"
    kind = schema.get("type")
    kinds = kind if isinstance(kind, list) else [kind] if kind is not None else []
    for k in kinds:
        if k not in _JSON_TYPES:
            return f"{where}type {k!r} is not one of {', '.join(sorted(_JSON_TYPES))}"
    if "properties" in schema:
        if not isinstance(schema["properties"], dict):
            return f"{where}properties should be an object"
        for key, sub in schema["properties"].items():
            if problem := _schema_problem(sub, f"{where}properties.{key}."):
                return problem
    required = schema.get("required", [])
    if not isinstance(required, list) or not all(isinstance(r, str) for r in required):
        return f"{where}required should be a list of strings"
    if "enum" in schema and not isinstance(schema["enum"], list):
        return f"{where}enum should be a list"
    if "items" in schema:
        return _schema_problem(schema["items"], f"{where}items.")
    return None


class LengthPenalty(_Component):
    """0 within `tolerance` of `target` length, falling linearly or as a Gaussian outside."""

    type: Literal["length_penalty"]
    unit: Literal["words", "characters", "tokens"] = "words"
    target: Annotated[FiniteFloat, Field(gt=0)]
    tolerance: Annotated[FiniteFloat, Field(gt=0)]
    shape: Literal["linear", "gaussian"] = "linear"


class RubricJudge(_Component):
    """An OpenAI-compatible chat model scores the response against a rubric version.

    The key itself never sits in a spec (specs are shown and exported); the
    component names the Django setting that holds it."""

    type: Literal["rubric_judge"]
    rubric_version: Annotated[int, Field(gt=0)]
    endpoint: Annotated[str, Field(pattern=r"^https?://\S+$", max_length=500)] | None = None
    model: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    api_key_setting: Annotated[str, Field(pattern=SETTING_RE.pattern)] | None = None
    timeout: Annotated[FiniteFloat, Field(gt=0, le=300)] = 30.0

    @model_validator(mode="before")
    @classmethod
    def _refuse_key(cls, data: Any) -> Any:
        if isinstance(data, dict) and "api_key" in data:
            raise _field_error("api_key", "put the key in a setting and name it in api_key_setting")
        return data


Component = Annotated[
    RewardModel
    | EmbeddingSimilarity
    | TextMetric
    | Regex
    | Contains
    | JsonValid
    | LengthPenalty
    | RubricJudge,
    Field(discriminator="type"),
]
COMPONENT_TYPES = (
    "reward_model",
    "embedding_similarity",
    "text_metric",
    "regex",
    "contains",
    "json_valid",
    "length_penalty",
    "rubric_judge",
)


class ClipParams(_Strict):
    low: FiniteFloat | None = None
    high: FiniteFloat | None = None

    @model_validator(mode="after")
    def _check_bounds(self) -> ClipParams:
        if self.low is None and self.high is None:
            raise _field_error("low", "give low, high or both")
        if self.low is not None and self.high is not None and self.low > self.high:
            raise _field_error("high", "must not be below low")
        return self


class Clip(_Strict):
    clip: ClipParams


class SigmoidParams(_Strict):
    reference: float | str
    tau: Annotated[FiniteFloat, Field(gt=0)] = 1.0

    @field_validator("reference", mode="plain")
    @classmethod
    def _check_reference(cls, value: Any) -> float | str:
        return _reference(value, answer=False)


class Sigmoid(_Strict):
    """Centred sigmoid σ((r − r_ref)/τ) (Preference-As-Reward)."""

    sigmoid: SigmoidParams


class LogSigmoidParams(_Strict):
    reference: float | str

    @field_validator("reference", mode="plain")
    @classmethod
    def _check_reference(cls, value: Any) -> float | str:
        return _reference(value, answer=True)


class LogSigmoid(_Strict):
    """log σ(r − r_ref) (Wang et al., "Transforming and Combining Rewards")."""

    log_sigmoid: LogSigmoidParams


NAMED_TRANSFORMS = ("zscore", "zscore_per_prompt", "minmax")
PARAM_TRANSFORMS = ("clip", "sigmoid", "log_sigmoid")


def _transform_tag(value: Any) -> str | None:
    if isinstance(value, str):
        return "named"
    if isinstance(value, dict) and len(value) == 1:
        return str(next(iter(value)))
    if isinstance(value, Clip | Sigmoid | LogSigmoid):
        return PARAM_TRANSFORMS[(Clip, Sigmoid, LogSigmoid).index(type(value))]
    return None


Transform = Annotated[
    Annotated[Literal["zscore", "zscore_per_prompt", "minmax"], Tag("named")]
    | Annotated[Clip, Tag("clip")]
    | Annotated[Sigmoid, Tag("sigmoid")]
    | Annotated[LogSigmoid, Tag("log_sigmoid")],
    Discriminator(_transform_tag, custom_error_type="transform_kind", custom_error_message="-"),
]


class Combine(_Strict):
    """How transformed component values become one reward.

    `missing`: "skip_renormalise" leaves a missing component out (a weighted sum
    scales the present weights back up to the same total absolute weight; min and
    product use the present values; a formula is missing only where it needs a
    missing value); "missing_total" makes the reward missing whenever a counted
    component is missing."""

    op: Literal["weighted_sum", "min", "product", "formula"]
    weights: dict[str, FiniteFloat] | None = None
    expression: Annotated[str, Field(max_length=1000)] | None = None
    missing: Literal["skip_renormalise", "missing_total"] = "skip_renormalise"

    @model_validator(mode="after")
    def _check_op_fields(self) -> Combine:
        if self.op == "weighted_sum" and self.weights is None:
            raise _field_error("weights", "weighted_sum needs a weight for every component")
        if self.op != "weighted_sum" and self.weights is not None:
            raise _field_error("weights", f"not used by {self.op}")
        if self.op == "formula" and self.expression is None:
            raise _field_error("expression", "formula needs an expression")
        if self.op != "formula" and self.expression is not None:
            raise _field_error("expression", f"not used by {self.op}")
        return self


class RewardSpec(_Strict):
    """A reward function version: components, per-component transforms, one combination."""

    components: list[Component]
    transforms: dict[str, list[Transform]] = {}
    combine: Combine

    @field_validator("components")
    @classmethod
    def _some_components(cls, components: list[Any]) -> list[Any]:
        if not components:
            raise ValueError("give at least one component")
        return components

    @property
    def names(self) -> list[str]:
        return [c.name for c in self.components]

    def formula(self) -> Formula:
        """The parsed combination formula (only for op 'formula')."""
        assert self.combine.expression is not None
        return parse_formula(self.combine.expression, self.names)

    @model_validator(mode="after")
    def _check_references(self) -> RewardSpec:
        errors = _cross_errors(self)
        if errors:
            raise PydanticCustomError(
                "reward_spec",
                "{summary}",
                {"summary": "; ".join(f"{loc}: {msg}" for loc, msg in errors), "errors": errors},
            )
        return self


def _cross_errors(spec: RewardSpec) -> list[tuple[str, str]]:
    """Checks across fields; each is (location, message)."""
    errors: list[tuple[str, str]] = []
    first: dict[str, int] = {}
    for i, component in enumerate(spec.components):
        if component.name in first:
            where = f"components[{i}] ({component.name}).name"
            errors.append((where, f"duplicate; components[{first[component.name]}] has it"))
        first.setdefault(component.name, i)
    for name in spec.transforms:
        if name not in first:
            errors.append((f"transforms.{name}", f"no component named '{name}'"))
    rule = spec.combine
    if rule.op == "weighted_sum":
        assert rule.weights is not None
        for name in rule.weights:
            if name not in first:
                errors.append((f"combine.weights.{name}", f"no component named '{name}'"))
        for name in first:
            if name not in rule.weights:
                errors.append(
                    (
                        "combine.weights",
                        f"no weight for component '{name}' "
                        "(give it 0 to compute it without counting it)",
                    )
                )
    if rule.op == "formula":
        try:
            used = spec.formula().names
        except FormulaError as exc:
            errors.append(("combine.expression", str(exc)))
        else:
            for name in first:
                if name not in used:
                    errors.append(("combine.expression", f"component '{name}' is not used"))
    return errors


def spec_errors(data: Any) -> list[str]:
    """Every problem with `data` as a reward spec, as sentences; [] when it is valid."""
    try:
        RewardSpec.model_validate(data, context=NEW_SPEC)
    except ValidationError as exc:
        messages: list[str] = []
        for error in exc.errors():
            if error["type"] == "reward_spec":
                messages += [f"{loc}: {msg}" for loc, msg in error["ctx"]["errors"]]
            else:
                messages.append(_describe(error, data))
        return messages
    return []


def _describe(error: Any, data: Any) -> str:
    loc = list(error["loc"])
    message = str(error["msg"]).removeprefix("Value error, ")
    kind = error["type"]
    if kind == "field":
        loc.append(error["ctx"]["field"])
        message = error["ctx"]["message"]
    if kind == "transform_kind":
        known = ", ".join(f"'{t}'" for t in NAMED_TRANSFORMS + PARAM_TRANSFORMS)
        message = f"unknown transform {_short(error['input'])}; expected one of {known}"
    if kind in ("union_tag_invalid", "union_tag_not_found") and loc[:1] == ["components"]:
        loc.append("type")
        known = ", ".join(f"'{t}'" for t in COMPONENT_TYPES)
        got = error["ctx"].get("tag") if kind == "union_tag_invalid" else None
        message = f"{'unknown type ' + repr(got) if got else 'required'}; expected one of {known}"
    return f"{_location(loc, data)}: {message}"


def _short(value: Any) -> str:
    if isinstance(value, dict) and len(value) == 1:
        return repr(next(iter(value)))
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _location(loc: list[Any], data: Any) -> str:
    """`components[2] (bleu).metric`, `transforms.rm[1].sigmoid.tau`, `combine.weights.x`."""
    if not loc:
        return "spec"
    head, rest = str(loc[0]), loc[1:]
    if head == "components" and rest and isinstance(rest[0], int):
        index, rest = rest[0], rest[1:]
        if rest and rest[0] in COMPONENT_TYPES:
            rest = rest[1:]  # the discriminator tag pydantic adds to the location
        head = f"components[{index}]"
        name = _component_name(data, index)
        if name:
            head += f" ({name})"
    elif head == "transforms" and len(rest) >= 2:
        head = f"transforms.{rest[0]}[{rest[1]}]"
        rest = rest[2:]
        if rest and rest[0] == "named":
            rest = rest[1:]
        elif len(rest) >= 2 and rest[0] == rest[1]:
            rest = rest[1:]  # tag and field share the transform's name
    parts = [head] + [f"[{p}]" if isinstance(p, int) else f".{p}" for p in rest]
    return "".join(parts)


def _component_name(data: Any, index: int) -> str | None:
    try:
        name = data["components"][index]["name"]
    except (KeyError, IndexError, TypeError):
        return None
    return name if isinstance(name, str) and len(name) <= 40 else None
