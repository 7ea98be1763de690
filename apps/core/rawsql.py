"""Statements written out by hand, for the few that run on every API call.

The annotation hot path runs a few fixed statements on every call; building them with
the ORM cost more CPU than Postgres spent running them. `Columns` gives the column list
for such a statement and turns the row back into a model instance with the backend's
converters applied (JSON text decoded, SQLite's timestamps parsed), without a queryset.
`cursor()` runs them as prepared statements on Postgres, so that Postgres plans each
once per connection rather than on every call.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper


def cursor() -> CursorWrapper:
    """`connection.cursor()`, but on Postgres with server-side parameters: the connection
    then prepares a statement it has run `prepare_threshold` times (settings:
    DATABASE_PREPARED_STATEMENTS). Django's own cursors bind on the client and never
    prepare, so only the statements run here are prepared. Errors are wrapped and queries
    logged as with any Django cursor."""
    db = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: each `connection.x` is a lookup
    if db.vendor != "postgresql":
        return db.cursor()
    from django.db.backends.postgresql.base import ServerBindingCursor

    db.close_if_health_check_failed()
    db.ensure_connection()
    db.validate_thread_sharing()
    with db.wrap_database_errors:
        raw = ServerBindingCursor(db.connection)
    return (_Logged if db.queries_logged else CursorWrapper)(raw, db)


class _Logged(CursorDebugWrapper):
    """Logs each statement with its values written in, as Django's client-side cursors do
    (a prepared statement leaves no text behind for Django to read back)."""

    def execute(self, sql: str, params: Any = None) -> Any:
        with self.debug_sql(self.db.ops.compose_sql(sql, params)):
            return CursorWrapper.execute(self, sql, params)


class Columns:
    """The concrete fields of `model` (or those in `names`), in the model's order."""

    def __init__(self, model: type[models.Model], names: Sequence[str] | None = None) -> None:
        self.model = model
        self.fields = [
            field
            for field in model._meta.concrete_fields
            if names is None or field.attname in names
        ]
        self.attnames = [field.attname for field in self.fields]
        self._selects: dict[str, str] = {}
        self._converters: dict[str, list[tuple[int, Any, list[Any]]]] = {}

    def __len__(self) -> int:
        return len(self.fields)

    def select(self, alias: str) -> str:
        """`alias.column, …` for a SELECT list (our column names need no quoting)."""
        text = self._selects.get(alias)
        if text is None:
            text = self._selects[alias] = ", ".join(f"{alias}.{f.column}" for f in self.fields)
        return text

    def load(self, values: Sequence[object]) -> Any:
        """An instance from the values of `select`'s columns, in that order."""
        db = connections[DEFAULT_DB_ALIAS]
        converters = self._converters.get(db.vendor)
        if converters is None:
            converters = self._converters[db.vendor] = [
                (number, field.cached_col, found)
                for number, field in enumerate(self.fields)
                if (
                    found := db.ops.get_db_converters(field.cached_col)
                    + field.get_db_converters(db)
                )
            ]
        row = list(values)
        for number, column, functions in converters:
            for function in functions:
                row[number] = function(row[number], column, db)
        return self.model.from_db(db.alias, self.attnames, row)
