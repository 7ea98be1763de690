"""A label's columns, declared once: what the API answers and what labels-raw exports.

Each `LabelColumn` names a Label field and says how it reads in every output: its name
and DRF field in the API (`api.LabelOutputSerializer` and the hot path's `label_output`),
and its name, type and value in labels-raw on both export roads (`exports.formats`
from `values()` rows, `exports.lines` from the text COPY sends). Adding a field to a
label's outputs is one entry of LABEL_COLUMNS (tests/annotation/test_columns.py adds one
and finds it everywhere). Readers take `columns.LABEL_COLUMNS` when they run, not when
they are imported.

labels-raw's own columns around these (label_id, the comparison's, annotator and
strength_label) are the format's: `exports.formats.LabelsRaw`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import orjson
from rest_framework import serializers

from apps.annotation.models import Label
from apps.core.column_types import FLOAT, INT, TEXT, ColumnType, list_of, struct_of


@dataclass(frozen=True)
class LabelColumn:
    """One column of a label's outputs.

    `field`: the model attribute, as `values()` names it. `api`: the key in the API's
    label (None: not in the API), `api_field` its DRF field (its schema, and the
    serializer's output) and `to_api` the model value as `api_field` writes it (None: as
    it is). `export`: the key in labels-raw (None: not exported), `export_type` its type,
    `to_export` the `values()` value as written (None: as it is). `sql`: the column's
    text for COPY, from the label `l`; `sql_to_json` that text as JSON (None: `sql`
    writes JSON already), called on a text that is not empty: an empty one is written
    `sql_empty`.
    """

    field: str
    api: str | None
    api_field: Callable[..., serializers.Field] = serializers.CharField
    to_api: Callable[[Any], Any] | None = None
    export: str | None = None
    export_type: ColumnType = TEXT
    to_export: Callable[[Any], Any] | None = None
    sql: str = ""
    sql_to_json: Callable[[bytes], bytes] | None = None
    sql_empty: bytes = b"null"

    def serializer_field(self) -> serializers.Field:
        source = {} if self.field == self.api else {"source": self.field}
        return self.api_field(**source)


# --- values as written ------------------------------------------------------------------


def json_value(value: Any, empty: Any) -> Any:
    """A JSON column as read from a cursor: text (Postgres jsonb, SQLite) or a value."""
    if isinstance(value, str | bytes):
        return empty if value in ("{}", "[]") else orjson.loads(value)
    return empty if value is None else value


def timestamp(value: Any) -> str:
    """An aware datetime's isoformat(): from Postgres' ISO text (with its `+00` offset) or
    SQLite's naive UTC datetime."""
    if isinstance(value, str):
        if value.endswith("+00") and value[10:11] == " ":
            # Postgres' text in UTC, `YYYY-MM-DD HH:MM:SS[.fraction]+00` with the fraction's
            # trailing zeros dropped: rewritten as isoformat() would write it, without
            # building a datetime (a good part of a labels-raw export's time).
            clock, _, fraction = value[11:-3].partition(".")
            if fraction:
                return f"{value[:10]}T{clock}.{fraction:0<6}+00:00"
            return f"{value[:10]}T{clock}+00:00"
        value = datetime.fromisoformat(value)
    if value.tzinfo is None:  # SQLite keeps UTC without an offset
        value = value.replace(tzinfo=UTC)
    return value.isoformat()


# Zeros that make a fraction of a second six digits, by the length of Postgres' text.
_PADDING = {22: b"", **{length: b"0" * (29 - length) for length in range(24, 30)}}


def copy_timestamp(value: bytes, quote: bytes = b"") -> bytes:
    """`timestamp` of Postgres' text in UTC, on bytes for the usual cases: a four-digit
    year, `YYYY-MM-DD HH:MM:SS[.fraction]+00`, the fraction's trailing zeros dropped
    (written back, as isoformat() writes six digits or none); between `quote`s."""
    padding = _PADDING.get(len(value))
    if padding is not None and value[-3:] == b"+00" and value[10:11] == b" ":
        return quote + value[:10] + b"T" + value[11:-3] + padding + b"+00:00" + quote
    return quote + timestamp(value.decode()).encode() + quote


def ranking_values(value: Any) -> list[int]:
    """A label's ranking column (JSON text or value) as written: response ids, best first."""
    if value == "[]" or value == "{}":  # most labels: no need to decode
        return []
    ranking = json_value(value, [])
    return [int(pk) for pk in ranking] if ranking else []


def rating_values(value: Any) -> list[dict[str, Any]]:
    """A label's ratings column as written: one entry per response and criterion, by
    response id then criterion name."""
    if value == "[]" or value == "{}":  # most labels: no need to decode
        return []
    ratings = json_value(value, {})
    if not ratings:
        return []
    return [
        {"response_id": int(pk), "criterion": name, "value": rating}
        for pk, values in sorted(ratings.items(), key=lambda kv: int(kv[0]))
        for name, rating in sorted(values.items())
    ]


def span_values(value: Any) -> list[dict[str, Any]]:
    """A label's spans column as written, each with all five keys."""
    if value == "[]" or value == "{}":  # most labels: no need to decode
        return []
    spans = json_value(value, [])
    if not spans:
        return []
    return [
        {
            "response": span["response"],
            "start": span["start"],
            "end": span["end"],
            "category": span.get("category", ""),
            "note": span.get("note", ""),
        }
        for span in spans
    ]


def json_text_sql(column: str, values: list[str]) -> str:
    """SQL for the JSON text of a short text column: known values as constants (to_json()
    costs more than the rest of a label); any other value through to_json()."""
    whens = " ".join(
        f"WHEN '{value}' THEN '{orjson.dumps(value).decode()}'"
        for value in values
        if value.isidentifier() or value == ""
    )
    return f"CASE {column} {whens} ELSE to_json({column})::text END"


def _optional(convert: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else convert(value)


def _json_sql(column: str, empty: str) -> str:
    """SQL for a jsonb column's text, or '' when it is empty (most labels)."""
    return f"CASE WHEN {column} = '{empty}'::jsonb THEN '' ELSE {column}::text END"


def _copied_json(convert: Callable[[Any], Any]) -> Callable[[bytes], bytes]:
    return lambda raw: orjson.dumps(convert(raw))


_datetime = serializers.DateTimeField()
RATING = struct_of(("response_id", INT), ("criterion", TEXT), ("value", INT))
SPAN = struct_of(
    ("response", INT), ("start", INT), ("end", INT), ("category", TEXT), ("note", TEXT)
)


def _list_of(child: Callable[[], serializers.Field]) -> Callable[..., serializers.Field]:
    """A ListField's factory: each field its own child (DRF binds the child to its list)."""
    return lambda **kwargs: serializers.ListField(child=child(), **kwargs)


_INT_OR_NULL = partial(serializers.IntegerField, allow_null=True)

LABEL_COLUMNS: tuple[LabelColumn, ...] = (
    LabelColumn("id", "id", serializers.IntegerField),
    LabelColumn("comparison_id", "comparison", serializers.IntegerField),
    LabelColumn("annotator_id", "annotator", _INT_OR_NULL),
    LabelColumn(
        "source", "source", to_api=str, export="source",
        sql=json_text_sql("l.source", Label.Source.values),
    ),
    LabelColumn(
        "choice", "choice",
        partial(serializers.CharField, help_text="a, b, tie or both_bad; empty for a ranking."),
        to_api=str, export="choice",
        sql=json_text_sql("l.choice", [*Label.Choice.values, ""]),
    ),
    LabelColumn(
        "strength", "strength", _INT_OR_NULL, _optional(int), "strength", INT,
        sql="coalesce(l.strength::text, 'null')",
    ),
    LabelColumn(
        "ranking", "ranking", _list_of(serializers.IntegerField),
        lambda value: [int(pk) for pk in value], "ranking", list_of(INT), ranking_values,
        _json_sql("l.ranking", "[]"), _copied_json(ranking_values), b"[]",
    ),
    LabelColumn(
        "ratings", "ratings", serializers.DictField,
        lambda value: {str(key): rating for key, rating in value.items()},
        "ratings", list_of(RATING), rating_values,
        _json_sql("l.ratings", "{}"), _copied_json(rating_values), b"[]",
    ),
    LabelColumn(
        "spans", "spans", _list_of(serializers.DictField),
        lambda value: [{str(key): part for key, part in span.items()} for span in value],
        "spans", list_of(SPAN), span_values,
        _json_sql("l.spans", "[]"), _copied_json(span_values), b"[]",
    ),
    LabelColumn(
        "rationale", "rationale", to_api=str, export="rationale",
        sql="CASE WHEN l.rationale = '' THEN '\"\"' ELSE to_json(l.rationale)::text END",
    ),
    LabelColumn(
        "shown_order", "shown_order",
        partial(serializers.CharField, help_text="'ab' or 'ba': which response was on the left."),
        to_api=str, export="shown_order", sql=json_text_sql("l.shown_order", ["ab", "ba", ""]),
    ),
    LabelColumn(
        "seconds_spent", "seconds_spent", partial(serializers.FloatField, allow_null=True),
        _optional(float), "seconds_spent", FLOAT,
        sql="coalesce(l.seconds_spent::text, '')",
        sql_to_json=lambda raw: orjson.dumps(float(raw)),
    ),
    LabelColumn(
        "rubric_version_id", "rubric_version", _INT_OR_NULL, export="rubric_version_id",
        export_type=INT, sql="coalesce(l.rubric_version_id::text, 'null')",
    ),
    LabelColumn("supersedes_id", "supersedes", _INT_OR_NULL),
    LabelColumn(
        "created_at", "created_at", serializers.DateTimeField, _datetime.to_representation,
        "created_at", TEXT, timestamp, "l.created_at::text",
        partial(copy_timestamp, quote=b'"'),
    ),
)  # fmt: skip


def api_columns() -> list[tuple[str, LabelColumn]]:
    """The API's label, in order: (key, column)."""
    return [(column.api, column) for column in LABEL_COLUMNS if column.api is not None]


def export_columns() -> list[tuple[str, LabelColumn]]:
    """The label's columns in labels-raw, in order: (name, column)."""
    return [(column.export, column) for column in LABEL_COLUMNS if column.export is not None]


def column(name: str) -> LabelColumn:
    """The column of a field (`values()` name)."""
    return next(column for column in LABEL_COLUMNS if column.field == name)
