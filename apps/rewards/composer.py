"""The reward composer's state: a draft spec read from the page's form and written back.

The forms are generated from the JSON schema of the Pydantic models in
`workers.rewards.spec` (one source of truth): each component kind's fields, and each
parameterised transform's. The page posts every field on each action (add, remove or
move a component, add a transform, load JSON, try, save), so the draft lives in the
form; `ComposerDraft.spec()` turns it into spec JSON, which `spec_errors` then checks.
Values equal to a field's default are left out, so the spec holds what was chosen.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from functools import cache
from typing import Any

from django.http import QueryDict

from apps.core.json_limits import TOO_DEEP, json_problem
from workers.rewards.spec import (
    COMPONENT_TYPES,
    NAMED_TRANSFORMS,
    PARAM_TRANSFORMS,
    ClipParams,
    Contains,
    EmbeddingSimilarity,
    JsonValid,
    LengthPenalty,
    LogSigmoidParams,
    Regex,
    RewardModel,
    RubricJudge,
    SigmoidParams,
    TextMetric,
)

MAX_COMPONENTS = 30
MAX_TRANSFORMS = 8
OPS = ("weighted_sum", "min", "product", "formula")
MISSING = ("skip_renormalise", "missing_total")
_MODELS = dict(
    zip(
        COMPONENT_TYPES,
        (
            RewardModel,
            EmbeddingSimilarity,
            TextMetric,
            Regex,
            Contains,
            JsonValid,
            LengthPenalty,
            RubricJudge,
        ),
        strict=True,
    )
)
_PARAMS = {"clip": ClipParams, "sigmoid": SigmoidParams, "log_sigmoid": LogSigmoidParams}
TRANSFORM_KINDS = NAMED_TRANSFORMS + PARAM_TRANSFORMS
_UNSET = object()


@dataclass(frozen=True)
class FieldSpec:
    """One input generated from a JSON schema property.

    kind: "choice" (a select), "flags" (checkboxes for a list of choices), "boolean",
    "integer", "number", "scalar" (a number or a word such as "p50"), "text",
    "lines" (a list of strings, one per line) or "json" (an object).
    """

    name: str
    label: str
    kind: str
    required: bool
    default: Any
    choices: tuple[str, ...] = ()
    nullable: bool = False

    def default_text(self) -> str:
        return "" if self.default is _UNSET else to_text(self, self.default)


def _field(name: str, prop: dict[str, Any], required: bool) -> FieldSpec:
    options = prop.get("anyOf")
    nullable = False
    if options:
        kept = [o for o in options if o.get("type") != "null"]
        nullable = len(kept) < len(options)
        base = kept[0] if len(kept) == 1 else {}
    else:
        base = prop
    kind = "scalar"
    choices: tuple[str, ...] = ()
    schema_type = base.get("type")
    if "enum" in base:
        kind, choices = "choice", tuple(base["enum"])
    elif "const" in base:
        kind, choices = "choice", (base["const"],)
    elif schema_type == "array" and "enum" in base.get("items", {}):
        kind, choices = "flags", tuple(base["items"]["enum"])
    elif schema_type == "array":
        kind = "lines"
    elif schema_type == "object":
        kind = "json"
    elif schema_type in ("boolean", "integer", "number"):
        kind = schema_type
    elif schema_type == "string":
        kind = "text"
    default = prop.get("default", _UNSET)
    label = prop.get("title", name)
    return FieldSpec(name, label, kind, required, default, choices, nullable)


def _fields_of(model: type, skip: tuple[str, ...] = ()) -> tuple[FieldSpec, ...]:
    schema = model.model_json_schema()  # type: ignore[attr-defined]
    required = set(schema.get("required", []))
    return tuple(
        _field(name, prop, name in required)
        for name, prop in schema.get("properties", {}).items()
        if name not in skip
    )


@cache
def component_fields(kind: str) -> tuple[FieldSpec, ...]:
    """The inputs of a component kind, from its model's schema (name and type aside)."""
    return _fields_of(_MODELS[kind], skip=("name", "type"))


@cache
def transform_fields(kind: str) -> tuple[FieldSpec, ...]:
    return _fields_of(_PARAMS[kind]) if kind in _PARAMS else ()


def component_help(kind: str) -> str:
    return (_MODELS[kind].__doc__ or "").strip().splitlines()[0]


def to_text(spec: FieldSpec, value: Any) -> str:
    """A spec value as the text its input shows."""
    if value is None:
        return ""
    if spec.kind == "boolean":
        return "on" if value else ""
    if spec.kind == "flags":
        return ",".join(value)
    if spec.kind == "lines":
        return "\n".join(str(v) for v in value)
    if spec.kind == "json":
        return json.dumps(value, indent=2)
    if isinstance(value, float):
        return f"{value:g}" if math.isfinite(value) and abs(value) < 1e15 else repr(value)
    return str(value)


def _number(text: str, integer: bool) -> float | int:
    value = float(text)
    if integer:
        if not value.is_integer():
            raise ValueError
        return int(value)
    return int(value) if value.is_integer() and "." not in text and "e" not in text else value


def to_value(spec: FieldSpec, text: str) -> Any:
    """The typed value of an input's text; _UNSET when left empty. Raises ValueError."""
    if spec.kind == "boolean":
        return text == "on"
    if spec.kind == "flags":
        return [part for part in text.split(",") if part]
    stripped = text.strip()
    if spec.kind == "lines":
        return [line.strip() for line in text.splitlines() if line.strip()]
    if not stripped:
        return _UNSET
    if spec.kind == "json":
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"is not JSON: {exc.msg} (line {exc.lineno})") from None
        except RecursionError:
            raise ValueError(f"is {TOO_DEEP}") from None
        if problem := json_problem(value):  # as the API's parser refuses it
            raise ValueError(str(problem))
        return value
    if spec.kind in ("integer", "number"):
        try:
            return _number(stripped, spec.kind == "integer")
        except ValueError:
            whole = "a whole number" if spec.kind == "integer" else "a number"
            raise ValueError(f"{stripped!r} is not {whole}") from None
    if spec.kind == "scalar":
        try:
            return _number(stripped, False)
        except ValueError:
            return stripped
    return text if spec.kind == "text" else stripped


_WEIGHT = FieldSpec("weight", "Weight", "number", True, _UNSET)


@dataclass(frozen=True)
class BoundInput:
    """A field with the text its input shows."""

    spec: FieldSpec
    text: str
    input_name: str

    @property
    def chosen(self) -> list[str]:
        return self.text.split(",") if self.spec.kind == "flags" else [self.text]


@dataclass
class TransformRow:
    kind: str
    params: dict[str, str] = field(default_factory=dict)
    prefix: str = ""  # "c-<i>-t-<j>", set by ComposerDraft.renumber

    @property
    def fields(self) -> list[BoundInput]:
        return [
            BoundInput(f, self.params.get(f.name, f.default_text()), f"{self.prefix}-p-{f.name}")
            for f in transform_fields(self.kind)
        ]


@dataclass
class ComponentRow:
    type: str
    name: str = ""
    values: dict[str, str] = field(default_factory=dict)
    transforms: list[TransformRow] = field(default_factory=list)
    weight: str = "1"
    prefix: str = ""  # "c-<i>", set by ComposerDraft.renumber

    @property
    def fields(self) -> list[BoundInput]:
        return [
            BoundInput(f, self.values.get(f.name, f.default_text()), f"{self.prefix}-f-{f.name}")
            for f in component_fields(self.type)
        ]

    @property
    def help(self) -> str:
        return component_help(self.type)


@dataclass
class ComposerDraft:
    components: list[ComponentRow] = field(default_factory=list)
    op: str = "weighted_sum"
    expression: str = ""
    missing: str = "skip_renormalise"

    # --- reading and writing -----------------------------------------------------------

    def renumber(self) -> ComposerDraft:
        """Give each row the input-name prefix of its position (after any move)."""
        for i, row in enumerate(self.components):
            row.prefix = f"c-{i}"
            for j, step in enumerate(row.transforms):
                step.prefix = f"c-{i}-t-{j}"
        return self

    @classmethod
    def from_spec(cls, spec: Any) -> ComposerDraft:
        """The draft showing `spec` (a dict; anything unreadable is left out)."""
        draft = cls()
        if not isinstance(spec, dict):
            return draft
        combine = spec.get("combine") if isinstance(spec.get("combine"), dict) else {}
        weights = combine.get("weights") if isinstance(combine.get("weights"), dict) else {}
        transforms = spec.get("transforms") if isinstance(spec.get("transforms"), dict) else {}
        components = spec.get("components")
        for item in components if isinstance(components, list) else []:
            if not isinstance(item, dict) or item.get("type") not in _MODELS:
                continue
            row = ComponentRow(type=item["type"], name=str(item.get("name", "")))
            for f in component_fields(row.type):
                if f.name in item:
                    row.values[f.name] = to_text(f, item[f.name])
            name = row.name
            if name in weights:
                row.weight = to_text(_WEIGHT, weights[name])
            steps = transforms.get(name)
            for step in steps if isinstance(steps, list) else []:
                if isinstance(step, str) and step in NAMED_TRANSFORMS:
                    row.transforms.append(TransformRow(step))
                elif isinstance(step, dict) and len(step) == 1:
                    kind, params = next(iter(step.items()))
                    if kind in _PARAMS and isinstance(params, dict):
                        texts = {
                            f.name: to_text(f, params[f.name])
                            for f in transform_fields(kind)
                            if f.name in params
                        }
                        row.transforms.append(TransformRow(kind, texts))
            draft.components.append(row)
        if combine.get("op") in OPS:
            draft.op = combine["op"]
        if isinstance(combine.get("expression"), str):
            draft.expression = combine["expression"]
        if combine.get("missing") in MISSING:
            draft.missing = combine["missing"]
        return draft.renumber()

    @classmethod
    def from_post(cls, data: QueryDict) -> ComposerDraft:
        def indices(prefix: str, limit: int) -> list[int]:
            found = set()
            for key in data:
                if key.startswith(prefix):
                    number = key[len(prefix) :].partition("-")[0]
                    if number.isdigit():
                        found.add(int(number))
            return sorted(found)[:limit]

        draft = cls(
            op=data.get("combine-op", "weighted_sum"),
            expression=data.get("combine-expression", "").replace("\r\n", "\n"),
            missing=data.get("combine-missing", "skip_renormalise"),
        )
        if draft.op not in OPS:
            draft.op = "weighted_sum"
        if draft.missing not in MISSING:
            draft.missing = "skip_renormalise"
        for i in indices("c-", MAX_COMPONENTS):
            kind = data.get(f"c-{i}-type", "")
            if kind not in _MODELS:
                continue
            row = ComponentRow(
                type=kind,
                name=data.get(f"c-{i}-name", "").strip(),
                weight=data.get(f"c-{i}-weight", "1").strip(),
            )
            for f in component_fields(kind):
                key = f"c-{i}-f-{f.name}"
                if f.kind == "flags":
                    row.values[f.name] = ",".join(v for v in data.getlist(key) if v in f.choices)
                elif f.kind == "boolean":
                    row.values[f.name] = "on" if data.get(key) else ""
                elif key in data:
                    row.values[f.name] = data.get(key, "").replace("\r\n", "\n")
            for j in indices(f"c-{i}-t-", MAX_TRANSFORMS):
                t_kind = data.get(f"c-{i}-t-{j}-kind", "")
                if t_kind not in TRANSFORM_KINDS:
                    continue
                params = {
                    f.name: data.get(f"c-{i}-t-{j}-p-{f.name}", "")
                    for f in transform_fields(t_kind)
                }
                row.transforms.append(TransformRow(t_kind, params))
            draft.components.append(row)
        return draft.renumber()

    def spec(self) -> tuple[dict[str, Any], list[str]]:
        """The spec JSON this draft builds, and the inputs that could not be read."""
        errors: list[str] = []
        components = []
        transforms: dict[str, list[Any]] = {}
        weights: dict[str, Any] = {}
        for i, row in enumerate(self.components):
            where = f"components[{i}]" + (f" ({row.name})" if row.name else "")
            item: dict[str, Any] = {"name": row.name, "type": row.type}
            for bound in row.fields:
                f, text = bound.spec, bound.text
                try:
                    value = to_value(f, text)
                except ValueError as exc:
                    errors.append(f"{where}.{f.name}: {exc}")
                    continue
                if value is _UNSET or (f.default is not _UNSET and value == f.default):
                    continue
                item[f.name] = value
            components.append(item)
            steps: list[Any] = []
            for j, step in enumerate(row.transforms):
                if step.kind in NAMED_TRANSFORMS:
                    steps.append(step.kind)
                    continue
                params: dict[str, Any] = {}
                for bound in step.fields:
                    f, text = bound.spec, bound.text
                    try:
                        value = to_value(f, text)
                    except ValueError as exc:
                        errors.append(f"transforms.{row.name}[{j}].{step.kind}.{f.name}: {exc}")
                        continue
                    if value is _UNSET or (f.default is not _UNSET and value == f.default):
                        continue
                    params[f.name] = value
                steps.append({step.kind: params})
            if steps:
                transforms[row.name] = steps
            if self.op == "weighted_sum":
                try:
                    weights[row.name] = _number(row.weight or "0", False)
                except ValueError:
                    errors.append(f"combine.weights.{row.name}: {row.weight!r} is not a number")
        combine: dict[str, Any] = {"op": self.op}
        if self.op == "weighted_sum":
            combine["weights"] = weights
        if self.op == "formula":
            combine["expression"] = self.expression
        if self.missing != "skip_renormalise":
            combine["missing"] = self.missing
        spec: dict[str, Any] = {"components": components}
        if transforms:
            spec["transforms"] = transforms
        spec["combine"] = combine
        return spec, errors

    # --- actions -------------------------------------------------------------------------

    def _fresh_name(self, kind: str) -> str:
        taken = {row.name for row in self.components}
        base = kind.split("_")[0][:30]
        name, n = base, 2
        while name in taken:
            name, n = f"{base}_{n}", n + 1
        return name

    def apply(self, action: str, data: QueryDict) -> bool:
        """Add, remove or move a component, or add or remove a transform.

        `add` reads the kind from `new-component`; `add_transform:i` from
        `c-i-new-transform`. Returns False for an action this does not know."""
        verb, _, rest = action.partition(":")
        parts = [int(p) for p in rest.split(":") if p.isdigit()] if rest else []
        rows = self.components
        if verb == "add":
            kind = data.get("new-component", "")
            if kind not in _MODELS or len(rows) >= MAX_COMPONENTS:
                return False
            rows.append(ComponentRow(type=kind, name=self._fresh_name(kind)))
            self.renumber()
            return True
        if not parts or parts[0] >= len(rows):
            return False
        i = parts[0]
        if verb == "remove":
            del rows[i]
        elif verb == "up" and i > 0:
            rows[i - 1], rows[i] = rows[i], rows[i - 1]
        elif verb == "down" and i + 1 < len(rows):
            rows[i + 1], rows[i] = rows[i], rows[i + 1]
        elif verb == "add_transform":
            kind = data.get(f"c-{i}-new-transform", "")
            if kind not in TRANSFORM_KINDS or len(rows[i].transforms) >= MAX_TRANSFORMS:
                return False
            rows[i].transforms.append(TransformRow(kind))
        elif verb == "remove_transform" and len(parts) == 2 and parts[1] < len(rows[i].transforms):
            del rows[i].transforms[parts[1]]
        else:
            return False
        self.renumber()
        return True
