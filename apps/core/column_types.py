"""Column types: plain descriptions of what a column of an export holds.

One of the names below, or ("list", type), or ("struct", ((name, type), ...)). The export
writers turn them into Arrow types (`apps.exports.writers.arrow_type`); the apps that
declare columns (`apps.annotation.columns`) name them without importing the exports.
"""

from __future__ import annotations

from typing import Any

ColumnType = str | tuple[Any, ...]
INT, FLOAT, BOOL, TEXT = "int64", "float64", "bool", "string"


def list_of(item: ColumnType) -> ColumnType:
    return ("list", item)


def struct_of(*fields: tuple[str, ColumnType]) -> ColumnType:
    return ("struct", tuple(fields))
