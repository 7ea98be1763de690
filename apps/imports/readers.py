"""Stream rows out of JSONL, CSV and Parquet files, one at a time, in bounded memory.

A reader yields `(row_number, data)` where data is a dict (or a RowError when the row
cannot even be decoded) and reports how far through the file it is. Reading is linear in
the file's size and bounded by `ReadLimits`: a JSONL line or CSV row longer than
`max_line_bytes`, or a Parquet file whose metadata says it unpacks past
`max_parquet_bytes`, ends the file with a row error before it is held in memory. A CSV
file is parsed strictly: quoting that does not close where it should refuses the file,
naming the row and column where it broke, rather than merging rows into one cell.
"""

from __future__ import annotations

import csv
import io
import json
import re
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate
from typing import IO, Any, Protocol

from apps.core.json_limits import TOO_DEEP
from apps.imports.rows import RowError

# CSV cells are text: these columns may hold JSON (chat lists, lists of responses, objects).
_JSON_COLUMNS = {"responses", "metadata", "references", "sampling_params"}
# Text, or JSON when it looks like a list of objects (chat lists, HelpSteer3's ratings).
_CONVERSATION_COLUMNS = {
    "prompt", "chosen", "rejected", "completion", "context", "individual_preference",
}  # fmt: skip
# The columns whose empty cell is an empty answer, for prompt rows and for pair rows.
_ANSWER_COLUMNS = {False: ("response",), True: ("chosen", "rejected")}
csv.field_size_limit(1 << 30)  # rows are bounded by ReadLimits.max_line_bytes instead
_BUFFER_BYTES = 1 << 20


@dataclass(frozen=True, slots=True)
class ReadLimits:
    """How much of a file a reader holds at once (from IMPORT_MAX_LINE_BYTES and
    IMPORT_MAX_PARQUET_UNPACKED_BYTES)."""

    max_line_bytes: int
    max_parquet_bytes: int


class RowReader(Protocol):
    def rows(self) -> Iterator[tuple[int, dict[str, Any] | RowError]]: ...

    def fraction(self) -> float | None: ...


class _RawReader(io.RawIOBase):
    """Any binary file (a local one, a storage backend's object) as a raw stream that
    io.BufferedReader can buffer."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        data = self.raw.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _amount(size: int) -> str:
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} bytes"


def _lines(file: IO[bytes], limit: int) -> Iterator[bytes | None]:
    """The file's lines, each with its b"\\n", read through a 1 MiB buffer: linear in the
    file's size whatever the length of its lines. A line longer than `limit` bytes is
    not read whole: None stands for it, and ends the lines."""
    stream = io.BufferedReader(_RawReader(file), buffer_size=_BUFFER_BYTES)
    while line := stream.readline(limit + 1):
        if len(line) > limit:
            yield None
            return
        yield line


def _universal_lines(file: IO[bytes], limit: int) -> Iterator[bytes | None]:
    """As `_lines`, for lines that end in b"\\n", b"\\r\\n" or a bare b"\\r" (as CSV
    lines may), each with its line ending."""
    parts: list[bytes] = []  # the start of a line that continues in the next chunk
    held = 0
    carried = b""  # a chunk's final b"\\r", which may be the start of b"\\r\\n"
    while True:
        chunk = file.read(_BUFFER_BYTES)
        data = carried + chunk
        carried = b"\r" if chunk and data.endswith(b"\r") else b""
        if carried:
            data = data[:-1]
        for piece in data.splitlines(keepends=True):
            held += len(piece)
            if held > limit:
                yield None
                return
            if not piece.endswith((b"\n", b"\r")):  # the last one, unfinished
                parts.append(piece)
                continue
            yield b"".join((*parts, piece)) if parts else piece
            parts, held = [], 0
        if not chunk:
            if parts:
                yield b"".join(parts)
            return


def _too_long(row: int, what: str, limit: int) -> RowError:
    return RowError(
        row,
        "",
        f"the {what} is longer than {_amount(limit)} (IMPORT_MAX_LINE_BYTES); "
        "the file was not read further",
    )


class JsonlReader:
    def __init__(self, file: IO[bytes], size: int, max_line_bytes: int) -> None:
        self.file, self.size, self.max_line_bytes, self.consumed = file, size, max_line_bytes, 0

    def rows(self) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
        for number, line in enumerate(_lines(self.file, self.max_line_bytes), start=1):
            if line is None:
                yield number, _too_long(number, "line", self.max_line_bytes)
                return
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


class _RowTooLong(Exception):
    """A CSV row ran past ReadLimits.max_line_bytes."""


@dataclass(frozen=True, slots=True)
class _Quote:
    """A quoted cell of one CSV row: its column, and the lines of the row it opens and
    closes on (counted from 0; `closes` is None when it never closes)."""

    column: int
    opens: int
    closes: int | None
    followed_by: str  # up to 20 characters after the closing quote, on its line

    @property
    def broken(self) -> bool:
        return self.closes is None or self.followed_by[:1] not in ("", ",")


_UNQUOTED_CELL_END = re.compile(r"[,\r\n]")
_LINE_BREAK = re.compile(r"[\r\n]")


def _quoted_cells(lines: list[str]) -> Iterator[_Quote]:
    """The quoted cells of one CSV row (given as its lines), read as the strict parser
    reads them, up to the first broken one."""
    text = "".join(lines)
    ends = list(accumulate(len(line) for line in lines))
    column, at = 0, 0
    while at < len(text):
        if text[at] == '"':
            end = at + 1
            while (end := text.find('"', end)) != -1 and text.startswith('"', end + 1):
                end += 2  # a doubled quote inside the cell
            opens = bisect_right(ends, at)
            if end == -1:
                yield _Quote(column, opens, None, "")
                return
            after = _LINE_BREAK.split(text[end + 1 : end + 21], maxsplit=1)[0]
            quote = _Quote(column, opens, bisect_right(ends, end), after)
            yield quote
            if quote.broken:
                return
            at = end + 1
        elif match := _UNQUOTED_CELL_END.search(text, at):
            at = match.start()
        else:
            return
        if not text.startswith(",", at):
            return
        column, at = column + 1, at + 1


class CsvReader:
    """CSV with a header. Structured cells hold JSON; `metadata.<key>` columns fill metadata.

    Parsed strictly, a row at a time, each row at most `max_line_bytes`: a file whose
    quoting does not close where it should is refused at the cell where it broke."""

    def __init__(self, file: IO[bytes], size: int, max_line_bytes: int) -> None:
        self.file, self.size, self.limit = file, size, max_line_bytes
        self.consumed = 0
        self.lines_read = 0
        # The row being parsed: its lines, their size, the number of its first line.
        self.row_lines: list[str] = []
        self.row_bytes = 0
        self.row_start = 1

    def _text_lines(self) -> Iterator[str]:
        for line in _universal_lines(self.file, self.limit):
            if line is None:
                raise _RowTooLong
            self.lines_read += 1
            self.consumed += len(line)
            self.row_bytes += len(line)
            if self.row_bytes > self.limit:
                raise _RowTooLong
            if self.lines_read == 1 and line.startswith(b"\xef\xbb\xbf"):
                line = line[3:]
            text = line.decode("utf-8")
            self.row_lines.append(text)
            yield text

    def rows(self) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
        reader = csv.reader(self._text_lines(), strict=True)
        header: list[str] | None = None
        number = 0
        while True:
            self.row_lines, self.row_bytes, self.row_start = [], 0, self.lines_read + 1
            try:
                cells = next(reader, None)
            except (csv.Error, UnicodeDecodeError, _RowTooLong) as exc:
                row = 0 if header is None else number + 1
                yield row, self._unreadable(row, header, exc)
                return
            if cells is None:
                return
            if not cells:
                continue  # a blank line
            if header is None:
                header = cells
                continue
            number += 1
            yield number, self._row(number, header, cells)

    def _unreadable(self, row: int, header: list[str] | None, exc: Exception) -> RowError:
        """Why the row that starts after the rows read so far cannot be read."""
        if isinstance(exc, UnicodeDecodeError):
            return RowError(row, "", f"line {self.lines_read} is not UTF-8 text")
        first_line = self.row_start
        quote = next((q for q in _quoted_cells(self.row_lines) if q.broken), None)
        if quote is not None:
            where = f"column {quote.column + 1}, line {first_line + quote.opens}"
            if isinstance(exc, _RowTooLong):
                reason = (
                    f"the quote that opens this cell ({where}) is still open after "
                    f"{_amount(self.limit)} (IMPORT_MAX_LINE_BYTES): is its closing quote "
                    "missing? The file was not read further"
                )
            elif quote.closes is None:
                reason = (
                    f"the quote that opens this cell ({where}) is never closed: "
                    "the file ends inside it"
                )
            else:
                reason = (
                    f"the quote that opens this cell ({where}) closes on line "
                    f"{first_line + quote.closes} and is followed by {quote.followed_by!r}, "
                    "not a comma or the end of the line: is a quote left open, or a quote "
                    'inside the cell not doubled ("")?'
                )
            return self._cell_error(row, header, quote.column, reason)
        if isinstance(exc, _RowTooLong):
            return _too_long(row, "row", self.limit)
        return RowError(row, "", f"not valid CSV on line {self.lines_read} ({exc})")

    @staticmethod
    def _cell_error(row: int, header: list[str] | None, column: int, reason: str) -> RowError:
        if header is None:
            return RowError(0, "", f"in the header, {reason}")
        name = header[column] if column < len(header) else f"column {column + 1}"
        return RowError(row, name, reason)

    def _row(self, number: int, header: list[str], cells: list[str]) -> dict[str, Any] | RowError:
        if len(cells) != len(header):
            first_line = self.row_start
            quotes = _quoted_cells(self.row_lines)
            if spanning := next((q for q in quotes if q.closes != q.opens), None):
                assert spanning.closes is not None
                return self._cell_error(
                    number,
                    header,
                    spanning.column,
                    f"the quote that opens this cell (column {spanning.column + 1}, line "
                    f"{first_line + spanning.opens}) closes only on line "
                    f"{first_line + spanning.closes}, and the row has {len(cells)} cells "
                    f"where the header has {len(header)} columns: is a quote left open?",
                )
            fewer_or_more = "fewer" if len(cells) < len(header) else "more"
            return RowError(number, "", f"has {fewer_or_more} cells than the header has columns")
        data: dict[str, Any] = {}
        metadata: dict[str, Any] = {}
        empty: list[str] = []
        for column, cell in zip(header, cells, strict=True):
            try:
                value = _csv_cell(column, cell)
            except json.JSONDecodeError as exc:
                return RowError(number, column, f"not valid JSON ({exc.msg})")
            except RecursionError:
                return RowError(number, column, TOO_DEEP)
            if value is None:
                empty.append(column)
                continue
            if column.startswith("metadata."):
                metadata[column.removeprefix("metadata.")] = value
            else:
                data[column] = value
        # An empty answer is an empty cell: in a pair row (one side given), an empty
        # `chosen` or `rejected` is that side's empty text; in a prompt row, an empty
        # `response` is one. Other empty cells (and these in rows of the other kind) are absent.
        pair_row = "chosen" in data or "rejected" in data
        for column in _ANSWER_COLUMNS[pair_row]:
            if column in empty and "responses" not in data and (pair_row or "prompt" in data):
                data[column] = ""
        if metadata:
            existing = data.get("metadata")
            data["metadata"] = {**metadata, **(existing if isinstance(existing, dict) else {})}
        return data

    def fraction(self) -> float | None:
        return self.consumed / self.size if self.size else None


_SLICE_BYTES = 8 << 20  # rows turned into Python objects at once, by their decoded size


def _row_bytes(array: Any) -> Any:
    """What each row of an Arrow array holds once decoded (text and binary by their
    length, other values by their width), as a numpy array; dictionary-encoded values are
    measured without expanding them."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.compute as pc

    kind = array.type
    if pa.types.is_dictionary(kind):
        per_value = _row_bytes(array.dictionary)
        indices = array.indices.fill_null(0).to_numpy(zero_copy_only=False)
        sizes = per_value[indices] if len(per_value) else np.zeros(len(array), np.int64)
        return np.where(array.is_null().to_numpy(zero_copy_only=False), 0, sizes)
    if (
        pa.types.is_string(kind)
        or pa.types.is_large_string(kind)
        or pa.types.is_binary(kind)
        or pa.types.is_large_binary(kind)
    ):
        return pc.binary_length(array).fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    if pa.types.is_struct(kind):
        sizes = np.zeros(len(array), np.int64)
        for index in range(kind.num_fields):
            sizes += _row_bytes(pc.struct_field(array, [index]))
        return sizes
    if pa.types.is_map(kind):  # a list of key-value structs
        entries = pa.StructArray.from_arrays([array.keys, array.items], ["key", "value"])
        array = pa.ListArray.from_arrays(array.offsets, entries)
        kind = array.type
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        values = _row_bytes(pc.list_flatten(array))
        parents = pc.list_parent_indices(array).to_numpy(zero_copy_only=False)
        return np.bincount(parents, weights=values, minlength=len(array)).astype(np.int64)
    width = max(kind.bit_width // 8, 1) if pa.types.is_primitive(kind) else 8
    return np.full(len(array), width, np.int64)


class ParquetReader:
    """Parquet, a batch of rows at a time, in bounded memory.

    Its metadata is checked before any data is read: a file that unpacks past
    `max_parquet_bytes`, or whose rows unpack to more than `max_line_bytes` each on
    average, is refused unread. Text is then read dictionary-encoded and measured before
    it is expanded, as Parquet can store a value once and repeat it in every row: a row
    over `max_line_bytes`, or rows over `max_parquet_bytes` in all, stop the file there.
    """

    def __init__(self, file: IO[bytes], limits: ReadLimits, batch_rows: int = 2048) -> None:
        self.file, self.limits, self.batch_rows = file, limits, batch_rows
        self.done, self.total, self.unpacked = 0, 0, 0
        self.plain_schema: Any = None

    def rows(self) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
        # pyarrow is tens of MiB once imported: only a Parquet import pays for it.
        import pyarrow as pa
        import pyarrow.parquet as pq

        try:
            parquet = pq.ParquetFile(self.file)
        except Exception as exc:  # pyarrow raises ArrowInvalid, OSError, …
            yield 0, RowError(0, "", f"not a readable Parquet file ({exc})")
            return
        if refusal := self._too_big(parquet.metadata):
            yield refusal.row, refusal
            return
        self.total = parquet.metadata.num_rows
        self.plain_schema = parquet.schema_arrow
        schema = parquet.schema
        text_columns = [
            schema.column(i).path
            for i in range(len(schema))
            if schema.column(i).physical_type == "BYTE_ARRAY"
        ]
        parquet = pq.ParquetFile(self.file, read_dictionary=text_columns)
        try:
            yield from self._batches(parquet)
        except pa.ArrowException as exc:
            yield self.done + 1, RowError(self.done + 1, "", f"not readable Parquet ({exc})")

    def _batches(self, parquet: Any) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
        # A row group at a time: Arrow reads nested text as dictionaries only within one.
        batches = (
            batch
            for group in range(parquet.metadata.num_row_groups)
            for batch in parquet.iter_batches(batch_size=self.batch_rows, row_groups=[group])
        )
        for batch in batches:
            sizes = sum((_row_bytes(column) for column in batch.columns), start=0)
            start = 0
            while start < batch.num_rows:
                end, held = start, 0
                while end < batch.num_rows and (end == start or held < _SLICE_BYTES):
                    if refusal := self._row_too_big(self.done + end - start + 1, int(sizes[end])):
                        yield from self._slice(batch, start, end)
                        yield refusal.row, refusal
                        return
                    held += int(sizes[end])
                    end += 1
                yield from self._slice(batch, start, end)
                start = end

    def _slice(self, batch: Any, start: int, end: int) -> Iterator[tuple[int, dict[str, Any]]]:
        # Measured, the slice may be expanded (faster to convert than dictionaries).
        for data in batch.slice(start, end - start).cast(self.plain_schema).to_pylist():
            self.done += 1
            yield self.done, data

    def _row_too_big(self, row: int, size: int) -> RowError | None:
        self.unpacked += size
        if size > self.limits.max_line_bytes:
            return RowError(
                row,
                "",
                f"this row unpacks to {_amount(size)}; a row may hold at most "
                f"{_amount(self.limits.max_line_bytes)} (IMPORT_MAX_LINE_BYTES). "
                "The file was not read further",
            )
        if self.unpacked > self.limits.max_parquet_bytes:
            return RowError(
                row,
                "",
                "the rows up to this one unpack to more than the limit of "
                f"{_amount(self.limits.max_parquet_bytes)} "
                "(IMPORT_MAX_PARQUET_UNPACKED_BYTES). The file was not read further",
            )
        return None

    def _too_big(self, metadata: Any) -> RowError | None:
        """What the file unpacks to, as its metadata says (the larger of the row group's own
        figure and the sum of its column chunks'), over the limits."""
        total, first_row = 0, 1
        for index in range(metadata.num_row_groups):
            group = metadata.row_group(index)
            unpacked = max(
                group.total_byte_size,
                sum(group.column(c).total_uncompressed_size for c in range(group.num_columns)),
            )
            total += unpacked
            rows = group.num_rows
            if rows and unpacked / rows > self.limits.max_line_bytes:
                what = (
                    f"this row unpacks to {_amount(unpacked)}"
                    if rows == 1
                    else f"its row group (rows {first_row}–{first_row + rows - 1}) unpacks to "
                    f"{_amount(unpacked)}, {_amount(unpacked // rows)} a row on average"
                )
                return RowError(
                    first_row,
                    "",
                    f"{what}; a row may hold at most {_amount(self.limits.max_line_bytes)} "
                    "(IMPORT_MAX_LINE_BYTES). Nothing was read",
                )
            first_row += rows
        if total > self.limits.max_parquet_bytes:
            return RowError(
                0,
                "",
                f"the file unpacks to {_amount(total)}, over the limit of "
                f"{_amount(self.limits.max_parquet_bytes)} "
                "(IMPORT_MAX_PARQUET_UNPACKED_BYTES). Nothing was read",
            )
        return None

    def fraction(self) -> float | None:
        return self.done / self.total if self.total else None


def open_reader(file_format: str, file: IO[bytes], size: int, limits: ReadLimits) -> RowReader:
    if file_format == "jsonl":
        return JsonlReader(file, size, limits.max_line_bytes)
    if file_format == "csv":
        return CsvReader(file, size, limits.max_line_bytes)
    if file_format == "parquet":
        return ParquetReader(file, limits)
    raise ValueError(f"unknown format {file_format!r}")
