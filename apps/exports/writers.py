"""Row writers: JSON Lines, Parquet (row group by row group) and CSV, each streaming.

A writer is given its columns up front, with their types, so a Parquet file has one
schema from the first row group on and a CSV file one header. CSV holds nested values
(lists, objects) as JSON strings and a missing value as an empty cell.

Column types are plain descriptions (`apps.core.column_types`), turned
into Arrow types only by the Parquet writer: pyarrow (tens of MiB once imported) is
loaded only by an export that writes Parquet.
"""

from __future__ import annotations

import csv
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

import orjson

from apps.core.column_types import (  # noqa: F401 (the types, for the formats)
    BOOL,
    FLOAT,
    INT,
    TEXT,
    ColumnType,
    list_of,
    struct_of,
)

if TYPE_CHECKING:
    import pyarrow as pa

PARQUET_ROW_GROUP_ROWS = 5_000  # a group's rows are held in memory: keep the worker under 300 MB
JSONL_BUFFER_BYTES = 1024 * 1024

MESSAGE = struct_of(("role", TEXT), ("content", TEXT))
MESSAGES = list_of(MESSAGE)


def arrow_type(kind: ColumnType) -> pa.DataType:
    """The Arrow type of a column type (imports pyarrow)."""
    import pyarrow as pa

    if isinstance(kind, str):
        return {INT: pa.int64, FLOAT: pa.float64, BOOL: pa.bool_, TEXT: pa.string}[kind]()
    if kind[0] == "list":
        return pa.list_(arrow_type(kind[1]))
    return pa.struct([(name, arrow_type(field)) for name, field in kind[1]])


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: ColumnType

    @property
    def is_nested(self) -> bool:
        return not isinstance(self.type, str)


class RowWriter(Protocol):
    rows: int

    def write(self, row: dict[str, Any]) -> None: ...

    def close(self) -> None: ...

    def sha256(self) -> str: ...


class JsonlWriter:
    """One compact JSON object per line, UTF-8, keys in column order.

    orjson rather than json.dumps: several times faster, which the export's throughput
    target needs (tests/benchmarks/bench_export.py). Bytes are buffered and hashed as
    they are written, so the file is not read again for its sha256.
    """

    def __init__(self, path: Path, columns: list[Column]) -> None:
        self.rows = 0
        self._handle: IO[bytes] = path.open("wb", buffering=0)
        self._digest = hashlib.sha256()
        # One growing buffer: a list of many small bytes objects kept alive makes each new
        # one slow to allocate (several times slower encoding, measured).
        self._buffer = bytearray()
        self._dumps = orjson.dumps
        self._newline = orjson.OPT_APPEND_NEWLINE

    def write(self, row: dict[str, Any]) -> None:
        self._buffer += self._dumps(row, option=self._newline)
        self.rows += 1
        if len(self._buffer) >= JSONL_BUFFER_BYTES:
            self._flush()

    def write_lines(self, data: bytes, count: int) -> None:
        """`count` rows already encoded (see `apps.exports.lines`), each ending in a newline."""
        self._buffer += data
        self.rows += count
        if len(self._buffer) >= JSONL_BUFFER_BYTES:
            self._flush()

    def _flush(self) -> None:
        self._digest.update(self._buffer)
        self._handle.write(self._buffer)
        del self._buffer[:]

    def close(self) -> None:
        if not self._handle.closed:
            try:
                self._flush()
            finally:
                self._handle.close()

    def sha256(self) -> str:
        return self._digest.hexdigest()


class ParquetWriter:
    """Buffers up to PARQUET_ROW_GROUP_ROWS rows and writes them as one row group.

    The rows are buffered as JSON Lines and read into Arrow by pyarrow's JSON reader with
    the export's schema: faster than converting Python values column by column, and it
    leaves pandas unloaded, which `pyarrow.array()` imports on first use (tens of MiB in
    the worker for the rest of its life).
    """

    def __init__(self, path: Path, columns: list[Column]) -> None:
        import pyarrow as pa
        import pyarrow.json as pj
        import pyarrow.parquet as pq

        self.rows = 0
        self._path = path
        self._pa, self._pj = pa, pj
        self._schema = pa.schema([(column.name, arrow_type(column.type)) for column in columns])
        self._parse = pj.ParseOptions(
            explicit_schema=self._schema, unexpected_field_behavior="ignore"
        )
        self._writer = pq.ParquetWriter(str(path), self._schema, compression="zstd")
        self._buffer = bytearray()
        self._buffered = 0
        self._dumps, self._newline = orjson.dumps, orjson.OPT_APPEND_NEWLINE

    def write(self, row: dict[str, Any]) -> None:
        self._buffer += self._dumps(row, option=self._newline)
        self._buffered += 1
        self.rows += 1
        if self._buffered >= PARQUET_ROW_GROUP_ROWS:
            self._flush()

    def _flush(self) -> None:
        if self._buffered:
            source = self._pa.BufferReader(self._pa.py_buffer(self._buffer))
            table = self._pj.read_json(source, parse_options=self._parse)
            self._writer.write_table(table)
            del table, source
            self._buffer = bytearray()
            self._buffered = 0

    def close(self) -> None:
        try:
            self._flush()
        finally:
            self._writer.close()

    def sha256(self) -> str:
        return file_sha256(self._path)


class CsvWriter:
    """A header row, then one line per row; nested values as JSON, None as an empty cell."""

    def __init__(self, path: Path, columns: list[Column]) -> None:
        self.rows = 0
        self._path = path
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

    def sha256(self) -> str:
        return file_sha256(self._path)


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
