"""Row writers: JSON Lines, Parquet (row group by row group) and CSV, each streaming.

A writer is given its columns up front, with their Arrow types, so a Parquet file has
one schema from the first row group on and a CSV file one header. CSV holds nested
values (lists, objects) as JSON strings and a missing value as an empty cell.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

PARQUET_ROW_GROUP_ROWS = 10_000

MESSAGE = pa.struct([("role", pa.string()), ("content", pa.string())])
MESSAGES = pa.list_(MESSAGE)


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: pa.DataType

    @property
    def is_nested(self) -> bool:
        return pa.types.is_nested(self.type)


class RowWriter(Protocol):
    rows: int

    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...


class JsonlWriter:
    """One compact JSON object per line, UTF-8, keys in column order.

    orjson rather than json.dumps: several times faster, which the export's throughput
    target needs (tests/benchmarks/bench_export.py).
    """

    def __init__(self, path: Path, columns: list[Column]) -> None:
        self.rows = 0
        self._handle: IO[bytes] = path.open("wb", buffering=1024 * 1024)
        self._dumps = orjson.dumps
        self._newline = orjson.OPT_APPEND_NEWLINE

    def write(self, row: dict[str, Any]) -> None:
        self._handle.write(self._dumps(row, option=self._newline))
        self.rows += 1

    def write_line(self, line: bytes) -> None:
        """A row already encoded by the format (see `LabelsRaw.json_lines`), newline included."""
        self._handle.write(line)
        self.rows += 1

    def close(self) -> None:
        self._handle.close()


class ParquetWriter:
    """Buffers up to PARQUET_ROW_GROUP_ROWS rows and writes them as one row group."""

    def __init__(self, path: Path, columns: list[Column]) -> None:
        self.rows = 0
        self._schema = pa.schema([(column.name, column.type) for column in columns])
        self._writer = pq.ParquetWriter(str(path), self._schema, compression="zstd")
        self._buffer: list[dict[str, Any]] = []

    def write(self, row: dict[str, Any]) -> None:
        self._buffer.append(row)
        self.rows += 1
        if len(self._buffer) >= PARQUET_ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._buffer:
            # Column by column: about twice as fast as Table.from_pylist over the row dicts.
            rows = self._buffer
            arrays = [
                pa.array([row.get(field.name) for row in rows], type=field.type)
                for field in self._schema
            ]
            self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))
            self._buffer = []

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self._writer.close()


class CsvWriter:
    """A header row, then one line per row; nested values as JSON, None as an empty cell."""

    def __init__(self, path: Path, columns: list[Column]) -> None:
        self.rows = 0
        self._handle: IO[str] = path.open("w", encoding="utf-8", newline="")
        self._names = [column.name for column in columns]
        self._nested = {column.name for column in columns if column.is_nested}
        self._csv = csv.writer(self._handle)
        self._csv.writerow(self._names)

    def _cell(self, name: str, value: Any) -> Any:
        if value is None:
            return ""
        if name in self._nested:
            # json.dumps' spacing is this format's published form: keep it.
            return json.dumps(value, ensure_ascii=False)
        if isinstance(value, bool):
            return "true" if value else "false"
        return value

    def write(self, row: dict[str, Any]) -> None:
        self._csv.writerow([self._cell(name, row.get(name)) for name in self._names])
        self.rows += 1

    def close(self) -> None:
        self._handle.close()


WRITERS: dict[str, type[JsonlWriter] | type[ParquetWriter] | type[CsvWriter]] = {
    "jsonl": JsonlWriter,
    "parquet": ParquetWriter,
    "csv": CsvWriter,
}


def open_writer(file_format: str, path: Path, columns: list[Column]) -> RowWriter:
    return WRITERS[file_format](path, columns)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1024 * 1024):
            digest.update(chunk)
    return digest.hexdigest()
