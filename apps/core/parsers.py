"""The API's request parsers: DRF's, with the limits of apps.core.json_limits at the edge.

Named in REST_FRAMEWORK's DEFAULT_PARSER_CLASSES, and by views that accept fewer media types.
A body nested deeper than MAX_JSON_DEPTH is a parse error (400), whatever its depth: DRF's
own parser catches only ValueError, and Python's decoder raises RecursionError. A NUL
character in any string, key or form value is refused (400) with a field error
at its dotted path (`spans.0.note`), before any view sees the data. (Its own module: DRF's
views read the setting naming these classes at import.)
"""

from __future__ import annotations

from typing import IO, Any

from django.http import QueryDict
from rest_framework import parsers
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.utils import json

from apps.core.json_limits import (
    NUL_MESSAGE,
    TOO_DEEP,
    json_problem,
    json_text_may_break_limits,
)


def refuse_nul(names: list[str]) -> None:
    """A 400 naming each field (or query parameter) whose value holds a NUL character."""
    if names:
        raise ValidationError({name.replace("\x00", "\\u0000"): [NUL_MESSAGE] for name in names})


class JSONParser(parsers.JSONParser):
    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None
    ) -> Any:
        encoding = parsers.get_encoding(parser_context or {})
        try:
            text = stream.read().decode(encoding)
            parse_constant = json.strict_constant if self.strict else None
            data = json.loads(text, parse_constant=parse_constant)
        except ValueError as exc:  # as DRF says it, UnicodeDecodeError included
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            raise ParseError(f"JSON parse error - {TOO_DEEP}") from None
        if json_text_may_break_limits(text) and (problem := json_problem(data)):
            if problem.reason == TOO_DEEP:
                raise ParseError(f"JSON parse error - {TOO_DEEP}")
            refuse_nul([problem.path or "non_field_errors"])
        return data


def _refuse_nul_in_form(data: QueryDict) -> None:
    """Form values; a file's name needs no check: Django's parser drops NUL from it."""
    refuse_nul(
        [
            name
            for name, values in data.lists()
            if "\x00" in name or any("\x00" in value for value in values)
        ]
    )


class FormParser(parsers.FormParser):
    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None
    ) -> QueryDict:
        data = super().parse(stream, media_type, parser_context)
        _refuse_nul_in_form(data)
        return data


class MultiPartParser(parsers.MultiPartParser):
    def parse(
        self, stream: IO[bytes], media_type: str | None = None, parser_context: Any = None
    ) -> parsers.DataAndFiles:
        parsed = super().parse(stream, media_type, parser_context)
        _refuse_nul_in_form(parsed.data)
        return parsed
