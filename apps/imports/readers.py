"""Stream rows out of JSONL, CSV and Parquet files, one at a time, in bounded memory.

A reader yields `(row_number, data)` where data is a dict (or a RowError when the row
cannot even be decoded) and reports how far through the file it is.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import IO, Any, Protocol

from apps.core.json_limits import TOO_DEEP
from apps.imports.rows import RowError

# CSV cells are text: these columns may hold JSON (chat lists, lists of responses, objects).
_JSON_COLUMNS = {"responses", "metadata", "references", "sampling_params"}
_CONVERSATION_COLUMNS = {"prompt", "chosen", "rejected"}
csv.field_size_limit(1 << 30)


class RowReader(Protocol):
    def rows(self) -> Iterator[tuple[int, dict[str, Any] | RowError]]: ...

    def fraction(self) -> float | None: ...


class _CountingReader(io.RawIOBase):
    """Wraps a binary file and counts the bytes read through it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.count = 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        self.count += len(data)
        return len(data)


class JsonlReader:
    def __init__(self, file: IO[bytes], size: int) -> None:
        self.file, self.size, self.consumed = file, size, 0

    def rows(self) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
        for number, line in enumerate(self.file, start=1):
            self.consumed += len(line)
            if number == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            if not line.strip():
                continue
            if number == 1 and line.lstrip().startswith(b"["):
                yield (
                    number,
                    RowError(
                        0, "", "this is a JSON array; expected JSON Lines (one object per line)"
                    ),
                )
                return
            try:
                yield number, json.loads(line)
            except (json.JSONDecodeError, UnicodeDecodeError) as exc:
                reason = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
                yield number, RowError(number, "", f"not valid JSON ({reason})")
            except RecursionError:  # past Python's own limit; parse_row checks the rest
                yield number, RowError(number, "", TOO_DEEP)

    def fraction(self) -> float | None:
        return self.consumed / self.size if self.size else None


def _csv_cell(column: str, cell: str) -> Any:
    if cell == "":
        return None
    if column in _JSON_COLUMNS:
        return json.loads(cell)
    if column in _CONVERSATION_COLUMNS and cell.lstrip().startswith("[{"):
        try:
            return json.loads(cell)
        except json.JSONDecodeError:
            return cell  # plain text that happens to start with "[{"
    return cell


class CsvReader:
    """CSV with a header. Structured cells hold JSON; `metadata.<key>` columns fill metadata;
    a `response` (+ `model`) column gives one response per row (rows of one prompt merge)."""

    def __init__(self, file: IO[bytes], size: int) -> None:
        self.counter = _CountingReader(file)
        self.size = size

    def rows(self) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
        text = io.TextIOWrapper(io.BufferedReader(self.counter), encoding="utf-8-sig", newline="")
        reader = csv.DictReader(text)
        try:
            for number, raw in enumerate(reader, start=1):
                yield number, self._row(number, raw)
        except UnicodeDecodeError:
            yield 0, RowError(0, "", "the file is not UTF-8 text")
        except csv.Error as exc:
            yield reader.line_num, RowError(reader.line_num, "", f"not valid CSV ({exc})")

    def _row(self, number: int, raw: dict[str | None, Any]) -> dict[str, Any] | RowError:
        if None in raw:
            return RowError(number, "", "has more cells than the header has columns")
        data: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        for column, cell in raw.items():
            assert column is not None
            if cell is None:
                return RowError(number, "", "has fewer cells than the header has columns")
            try:
                value = _csv_cell(column, cell)
            except json.JSONDecodeError as exc:
                return RowError(number, column, f"not valid JSON ({exc.msg})")
            except RecursionError:
                return RowError(number, column, TOO_DEEP)
            if value is None:
                continue
            if column.startswith("metadata."):
                metadata[column.removeprefix("metadata.")] = value
            else:
                data[column] = value
        if "response" in data and "responses" not in data:
            response = {"text": data.pop("response")}
            if "model" in data:
                response["model"] = data.pop("model")
            data["responses"] = [response]
        if metadata:
            existing = data.get("metadata")
            data["metadata"] = {**metadata, **(existing if isinstance(existing, dict) else {})}
        return data

    def fraction(self) -> float | None:
        return self.counter.count / self.size if self.size else None


class ParquetReader:
    def __init__(self, file: IO[bytes], batch_rows: int = 2048) -> None:
        self.file, self.batch_rows, self.done, self.total = file, batch_rows, 0, 0

    def rows(self) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
        # pyarrow is tens of MiB once imported: only a Parquet import pays for it.
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(self.file)
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, …
            yield 0, RowError(0, "", f"not a readable Parquet file ({exc})")
            return
        self.total = parquet.metadata.num_rows
        for batch in parquet.iter_batches(batch_size=self.batch_rows):
            for data in batch.to_pylist():
                self.done += 1
                yield self.done, data

    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


def open_reader(file_format: str, file: IO[bytes], size: int) -> RowReader:
    if file_format == "jsonl":
        return JsonlReader(file, size)
    if file_format == "csv":
        return CsvReader(file, size)
    if file_format == "parquet":
        return ParquetReader(file)
    raise ValueError(f"unknown format {file_format!r}")
