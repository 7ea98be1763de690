"""JSON Lines of labels-raw and trl-preference straight from Postgres (the fast road).

`COPY (SELECT …) TO STDOUT` streams the export's comparisons in id order: for each, its
columns, the JSON text of its prompt (in the export's form) and of its response texts, and
its current labels (by id) as plain fields. Postgres does what it is quick at (filtering,
sorting, joining, JSON-escaping the long texts, once per comparison); Python decides what
the Python road decides, with the same code (`apps.exports.formats`: consensus, filters,
the data card's figures) and writes each line from these parts. The bytes are those of
the Python road (tests/exports/test_lines.py exports projects both ways and compares).

Comparisons come in chunks of CHUNK, one COPY each, so that the export's progress can be
written between them (a connection in COPY can run nothing else), and a COPY row holds
GROUP of them (Python pays for each row it reads).

COPY's CSV format, with control characters as delimiter (\x02) and quote (\x01), sends
the text as it is: what is sent is JSON text, numbers and times, none of which holds a
control character, so nothing is escaped. Inside a row, comparisons are separated by
\x1d, a comparison's fields by \x1c, its labels by \x1e and a label's fields by \x1f.
"""

from __future__ import annotations

import contextlib
import queue
import threading
from collections.abc import Iterator
from operator import itemgetter
from typing import Any

import orjson
from django.db import connection, transaction
from psycopg.types.json import Jsonb

from apps.accounts.models import User
from apps.annotation import columns
from apps.annotation.columns import copy_timestamp as _timestamp  # noqa: F401 (tests read it here)
from apps.annotation.models import Comparison, Label
from apps.exports import selectors
from apps.exports.formats import (
    BASE_FIELDS,
    PAIR,
    STRENGTH_LABEL,
    LabelsRaw,
    Memo,
    Scope,
    TrlPreference,
    comparison_items,
    export_resolver,
    own_columns,
)
from apps.prompts.models import Prompt, Response

# Off: every export takes the Python road (the tests compare both roads with it).
ENABLED = True
CHUNK = 20_000  # comparisons per COPY; progress is written between two
GROUP = 100  # comparisons per row of a COPY (Python reads rows one by one, at a cost)
SUPERSEDED_LISTED = 100_000  # superseded labels left out by id; more are looked up
WORK_MEM = "64MB"  # for the COPY's sort of a chunk's labels
FORMATS = ("labels-raw", "trl-preference")
# COPY rows the reading thread may hold before the writer takes them (each GROUP comparisons).
AHEAD = 64

_OPTIONS = "(FORMAT csv, DELIMITER E'\\x02', QUOTE E'\\x01')"
_QUOTE, _RECORD, _FIELD, _LABEL, _NEXT = b"\x01", b"\x1d", b"\x1c", b"\x1e", b"\x1f"


def applies(export_format: str) -> bool:
    """Whether this export's JSON Lines can come from COPY (Postgres only)."""
    return ENABLED and connection.vendor == "postgresql" and export_format in FORMATS


def lines(export_format: str, scope: Scope) -> Iterator[tuple[str, bytes, int]]:
    """The export's JSON lines, by comparison: (prompt's content hash, lines, how many)."""
    if export_format == "labels-raw":
        return _labels_raw(scope)
    return _trl_preference(scope)


# --- SQL --------------------------------------------------------------------------------


def _table(model: Any) -> str:
    return connection.ops.quote_name(model._meta.db_table)


def _label_fields(*, raw: bool, names: bool) -> tuple[list[str], dict[str, int]]:
    """A label's fields as COPY sends them (\\x1f between) and where each is, by field name:
    its id, annotator id and vote (the fields of `formats.BASE_FIELDS`, as `_vote` reads
    them), then for labels-raw its columns of `columns.LABEL_COLUMNS` and, with `names`,
    its annotator's username as JSON ("username", null for none)."""
    sql = ["l.id::text", "coalesce(l.annotator_id::text, '')"]
    at = {"id": 0, "annotator_id": 1}
    wanted = [columns.column(name) for name in BASE_FIELDS[3:]]
    if raw:
        wanted += [column for _, column in columns.export_columns()]
    for column in wanted:
        if column.field not in at:
            at[column.field] = len(sql)
            sql.append(column.sql)
    if raw and names:
        at["username"] = len(sql)
        sql.append(
            f"coalesce((SELECT to_json(u.username)::text FROM {_table(User)} u "
            "WHERE u.id = l.annotator_id), 'null')"
        )
    return sql, at


def _prompt(scope: Scope) -> str:
    """The prompt as JSON in the export's form when Postgres can write it (a string); for
    the rest (a chat list), Python writes it from the stored JSON."""
    if scope.conversational:
        value = '\'[{"role":"user","content":\' || p.input::text || \'}]\''
    else:
        value = "p.input::text"
    return f"CASE WHEN jsonb_typeof(p.input) = 'string' THEN {value} END"


def _superseded(scope: Scope) -> list[int] | None:
    """The ids of the project's labels that another supersedes; None when too many to
    list in a query (then each label is looked up)."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT s.supersedes_id FROM {_table(Label)} s "
            f"JOIN {_table(Label)} l ON l.id = s.supersedes_id "
            f"JOIN {_table(Comparison)} c ON c.id = l.comparison_id "
            "WHERE c.project_id = %s LIMIT %s",
            [scope.project.pk, SUPERSEDED_LISTED + 1],
        )
        ids = [row[0] for row in cursor.fetchall()]
    return ids if len(ids) <= SUPERSEDED_LISTED else None


def _sql(scope: Scope, *, raw: bool, superseded: list[int] | None) -> tuple[str, dict[str, Any]]:
    """One chunk: the comparisons with ids after %(after)s up to %(until)s, in groups that
    end at the ids %(groups)s (one COPY row per group, records separated by \\x1d).

    The labels and prompts are those of `selectors.export_label_filter` and
    `export_prompt_filter`. A record's fields (\\x1c between): the comparison's id, kind,
    is_gold, prompt id, the prompt's content hash, its JSON text (a string prompt) or its
    stored JSON (any other), the response ids, the JSON text of their texts and the labels.

    Every step keeps the order of the one before: the chunk's labels, joined to their
    comparison, sorted by group, comparison and id and aggregated per comparison then per
    group (string_agg() takes its rows in the order of the sorted input it reads); each
    comparison's prompt and texts looked up by id.
    """
    options = scope.options
    params: dict[str, Any] = {"project": scope.project.pk}
    label_where = ["l.comparison_id > %(after)s", "l.comparison_id <= %(until)s"]
    if superseded is None:
        label_where.append(
            f"NOT EXISTS (SELECT 1 FROM {_table(Label)} s WHERE s.supersedes_id = l.id)"
        )
    elif superseded:
        label_where.append("l.id <> ALL(%(superseded)s::bigint[])")
        params["superseded"] = superseded
    start, end = selectors.export_label_period(options=options)
    if start is not None:
        label_where.append("l.created_at >= %(labelled_from)s")
        params["labelled_from"] = start
    if end is not None:
        label_where.append("l.created_at < %(labelled_until)s")
        params["labelled_until"] = end
    if scope.excluded_annotators:
        label_where.append("(l.annotator_id IS NULL OR l.annotator_id <> ALL(%(excluded)s))")
        params["excluded"] = sorted(scope.excluded_annotators)
    prompt_where = ["p.id = c.prompt_id"]
    if options.prompt_group is not None:
        prompt_where.append('p."group" = %(prompt_group)s')
        params["prompt_group"] = options.prompt_group
    if options.metadata:
        prompt_where.append("p.metadata @> %(metadata)s")
        params["metadata"] = Jsonb(dict(options.metadata))
    ranked, response = _table(Comparison.ranked_responses.through), _table(Response)
    pair_text = "(SELECT to_json(r.text)::text FROM {table} r WHERE r.id = c.response_{side}_id)"
    texts = (
        f"CASE WHEN c.kind = '{PAIR}' THEN {pair_text.format(table=response, side='a')} "
        f"|| %(between)s || {pair_text.format(table=response, side='b')} "
        f"ELSE (SELECT string_agg(to_json(r.text)::text, %(between)s ORDER BY r.id) "
        f"FROM {ranked} t JOIN {response} r ON r.id = t.response_id "
        f"WHERE t.comparison_id = c.id) END"
    )
    ids = (
        f"CASE WHEN c.kind = '{PAIR}' THEN c.response_a_id || ',' || c.response_b_id "
        "ELSE (SELECT string_agg(t.response_id::text, ',' ORDER BY t.response_id) "
        f"FROM {ranked} t WHERE t.comparison_id = c.id) END"
    )
    fields, _ = _label_fields(raw=raw, names=not options.pseudonymise_annotators)
    # labels-raw writes the texts as one JSON list: a comma between them.
    params["between"] = "," if raw else _LABEL.decode()
    # Joined with || (concat_ws() would copy each long text twice more): none is null.
    record = " || E'\\x1c' || ".join(
        [
            "c.id::text",
            "c.kind",
            "c.is_gold::text",  # true or false, as JSON writes them
            "c.prompt_id::text",
            "p.content_hash",
            f"coalesce({_prompt(scope)}, '')",
            "CASE WHEN jsonb_typeof(p.input) = 'string' THEN '' ELSE p.input::text END",
            f"coalesce({ids}, '')",
            f"coalesce({texts}, '')",
            "c.labels",
        ]
    )
    sql = f"""
SELECT string_agg({record}, E'\\x1d')
FROM (
  SELECT l.g, l.id, l.kind, l.is_gold, l.prompt_id, l.response_a_id, l.response_b_id,
    string_agg(l.label, E'\\x1e') AS labels
  FROM (
    SELECT width_bucket(c.id, %(groups)s::bigint[]) AS g, c.id, c.kind, c.is_gold,
      c.prompt_id, c.response_a_id, c.response_b_id,
      concat_ws(E'\\x1f', {", ".join(fields)}) AS label
    FROM {_table(Label)} l
    JOIN {_table(Comparison)} c ON c.id = l.comparison_id
    WHERE c.project_id = %(project)s AND c.id > %(after)s AND c.id <= %(until)s
      AND {" AND ".join(label_where)}
    ORDER BY g, c.id, l.id
  ) l
  GROUP BY l.g, l.id, l.kind, l.is_gold, l.prompt_id, l.response_a_id, l.response_b_id
) c
CROSS JOIN LATERAL (
  SELECT p.content_hash, p.input FROM {_table(Prompt)} p
  WHERE {" AND ".join(prompt_where)} OFFSET 0
) p
GROUP BY c.g
ORDER BY c.g"""
    return sql, params


def _bounds(scope: Scope) -> list[int]:
    """The project's comparison ids that end each group of GROUP comparisons, in order."""
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM (SELECT c.id, row_number() OVER (ORDER BY c.id) AS n "
            f"FROM {_table(Comparison)} c WHERE c.project_id = %s) c "
            f"WHERE n %% %s = 0 ORDER BY id",
            [scope.project.pk, GROUP],
        )
        return [row[0] for row in cursor.fetchall()]


def _rows(scope: Scope, *, raw: bool) -> Iterator[list[bytes]]:
    """Each comparison's record of fields (see `_sql`), as COPY sends them.

    Outside a transaction (a worker's export), the COPYs run on a second connection in a
    thread that reads ahead while this one decides and writes: Postgres sorts and joins
    the next rows on one CPU while Python works on the last ones on another. Inside a
    transaction (a test's), a second connection could not see its rows: the COPYs run
    here, one after the other.
    """
    sql, params = _sql(scope, raw=raw, superseded=_superseded(scope))
    groups = _bounds(scope)
    per_chunk = max(CHUNK // GROUP, 1)
    ends = [*groups[per_chunk - 1 :: per_chunk], 2**63 - 1]
    chunks = [
        {
            **params,
            "after": after,
            "until": until,
            # Lower bounds of the groups after the first: an id's group is how many it reaches.
            "groups": [end + 1 for end in groups if after < end < until],
        }
        for after, until in zip([0, *ends], ends, strict=False)
    ]
    copied = _copied(sql, chunks) if connection.in_atomic_block else _read_ahead(sql, chunks)
    count = 0
    try:
        for data in copied:
            if data is None:  # a chunk's end; between two: the progress, as items_total counts
                if count:
                    scope.advance(count)
                count = 0
                continue
            records = _unquote(data).split(_RECORD)
            records[-1] = records[-1][:-1]  # the row's newline
            count += len(records)
            for record in records:
                yield record.split(_FIELD)
    finally:
        copied.close()  # stops the reading thread at once when the export stops early


def _copied(sql: str, chunks: list[dict[str, Any]]) -> Iterator[bytes | None]:
    """The COPY rows of each chunk in turn, on this thread's connection; None after each
    chunk."""
    for chunk in chunks:
        with transaction.atomic(), connection.cursor() as cursor:
            # The texts the fields are read as (ISO times in UTC, exact floats), room to sort
            # a chunk in memory; JIT compiling would cost more than it saves here.
            cursor.execute(
                "SELECT set_config('TimeZone', 'UTC', true), "
                "set_config('DateStyle', 'ISO, YMD', true), "
                "set_config('extra_float_digits', '1', true), set_config('jit', 'off', true), "
                "set_config('work_mem', %s, true)",
                [WORK_MEM],
            )
            with cursor.cursor.copy(f"COPY ({sql}) TO STDOUT {_OPTIONS}", chunk) as copy:
                for data in copy:
                    yield bytes(data)
        yield None


class _Stopped(Exception):
    """The reader was told to stop (the export ended or failed first)."""


def _read_ahead(sql: str, chunks: list[dict[str, Any]]) -> Iterator[bytes | None]:
    """`_copied`'s rows, read by a thread on its own connection up to AHEAD rows ahead of
    the caller. A failure there is raised here; when the caller stops early, the thread's
    COPY is cancelled and its connection closed."""
    ahead: queue.Queue[Any] = queue.Queue(maxsize=AHEAD)
    stop = threading.Event()
    done = object()  # the reader's last item

    def put(item: Any) -> None:
        while True:
            if stop.is_set():
                raise _Stopped
            try:
                ahead.put(item, timeout=0.05)
                return
            except queue.Full:
                continue  # until the caller takes one or stops

    def read() -> None:
        try:
            for data in _copied(sql, chunks):
                put(data)
            put(done)
        except _Stopped:
            return  # the caller stopped first: nobody waits for anything more
        except BaseException as error:  # raised again by the caller
            with contextlib.suppress(_Stopped):
                put(error)
        finally:
            connection.close()  # this thread's own

    reader = threading.Thread(target=read, name="export-copy", daemon=True)
    reader.start()
    try:
        while True:
            item = ahead.get()
            if item is done:
                return
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        reader.join()


def _unquote(row: bytes) -> bytes:
    """A CSV row of one value as sent: wrapped in the quote character if it held a newline
    (it holds none: JSON text has no raw control character)."""
    return row[1:-2] + b"\n" if row[:1] == _QUOTE else row


# --- the two formats ----------------------------------------------------------------------


class _Prompts:
    """Each comparison's prompt as JSON text in the export's form. Postgres writes string
    prompts; the others (chat lists) are written here from their stored JSON, as the Python
    road does (the last one kept: a prompt's comparisons come together, mostly)."""

    def __init__(self, scope: Scope) -> None:
        self.scope = scope
        self._last: tuple[bytes, bytes] = (b"", b"")

    def __call__(self, prompt_id: bytes, written: bytes, stored: bytes) -> bytes:
        if written:
            return written
        if self._last[0] != prompt_id:
            value = self.scope.prompt_from_input(int(prompt_id), orjson.loads(stored))
            self._last = (prompt_id, orjson.dumps(value))
        return self._last[1]


class _Decoded(dict[bytes, Any]):
    """JSON texts met often (choices, kinds) and their values, each decoded once."""

    def __missing__(self, text: bytes) -> Any:
        value = self[text] = orjson.loads(text)
        return value


def _items(kind: str, ids: bytes, votes: list[tuple[Any, ...]]) -> Any:
    if kind == PAIR:
        a_id, b_id = ids.split(b",")
        return comparison_items(kind, int(a_id), int(b_id), votes)
    return comparison_items(kind, None, None, votes)


_KINDS = {kind.encode(): kind for kind in Comparison.Kind.values}
_SHARED = (
    b'"comparison_id":%b,"kind":%b,"is_gold":%b,"prompt_id":%b,"prompt":%b,'
    b'"response_ids":[%b],"responses":[%b]'
)


def _labels_raw(scope: Scope) -> Iterator[tuple[str, bytes, int]]:
    """Each written comparison's labels-raw lines, as `LabelsRaw.json_lines` writes them."""
    options, stats = scope.options, scope.stats
    resolver = LabelsRaw.resolver(scope)  # before the COPY: it reads the reviews
    prompts = _Prompts(scope)
    dumps = orjson.dumps
    scale = scope.scale

    def strength_label(raw: bytes) -> bytes:
        return dumps(scale[int(raw)]) if raw != b"null" and int(raw) < len(scale) else b"null"

    strength_labels = Memo(strength_label)

    names = not options.pseudonymise_annotators
    _, at = _label_fields(raw=True, names=names)
    vote_at = _vote_at(at)
    # A label's own columns after the comparison's: the line's template, the fields they
    # are written from, in order, and the ones whose text is not JSON yet, with how it is
    # written when there is one and what is written when it is empty.
    if names:
        picked, writes = [at["username"]], []
    else:
        pseudonym = Memo(lambda raw: dumps(scope.pseudonym(int(raw))))
        picked, writes = [at["annotator_id"]], [(0, pseudonym.__getitem__, b"null")]
    line = b'{"label_id":%b,%b,"annotator":%b'
    for name, column in own_columns():
        line += b',"%b":%%b' % name.encode()
        if name == STRENGTH_LABEL:
            writes.append((len(picked), strength_labels.__getitem__, b"null"))
        elif column.sql_to_json is not None:
            writes.append((len(picked), column.sql_to_json, column.sql_empty))
        picked.append(at[column.field])
    line += b"}\n"
    pick = itemgetter(*picked)
    choices = _Decoded()
    count_label = stats.count_label
    for row in _rows(scope, raw=True):
        comparison_id, kind = int(row[0]), _KINDS[row[1]]
        labels = [label.split(_NEXT) for label in row[9].split(_LABEL)]
        votes = [_vote(field, comparison_id, vote_at, choices) for field in labels]
        if not LabelsRaw.keep(scope, resolver, comparison_id, kind, _items(kind, row[7], votes)):
            continue
        for vote in votes:
            count_label(vote[2], vote[6])
        # The columns after label_id up to the annotator, the same for every label.
        shared = _SHARED % (
            row[0],
            dumps(kind),
            row[2],
            row[3],
            prompts(row[3], row[5], row[6]),
            row[7],
            row[8],
        )
        out = []
        for field in labels:
            values = list(pick(field))
            for at_value, write, empty in writes:
                raw = values[at_value]
                values[at_value] = write(raw) if raw else empty
            out.append(line % (field[0], shared, *values))
        lines = b"".join(out)
        yield row[4].decode(), lines, len(labels)


def _vote_at(at: dict[str, int]) -> tuple[int, ...]:
    """Where a label's choice, strength, ranking and rubric version are in its fields."""
    return tuple(at[name] for name in BASE_FIELDS[3:])


def _vote(
    field: list[bytes], comparison_id: int, at: tuple[int, ...], choices: _Decoded
) -> tuple[Any, ...]:
    """A label's fields (`_label_fields`) as a row of formats.BASE_FIELDS: (id, comparison,
    annotator, choice, strength, ranking, rubric version); the id as sent, since it only
    names an imported label's voter."""
    choice, strength, ranking, rubric = at
    return (
        field[0],
        comparison_id,
        int(field[1]) if field[1] else None,
        choices[field[choice]],
        None if field[strength] == b"null" else int(field[strength]),
        field[ranking] or None,
        None if field[rubric] == b"null" else int(field[rubric]),
    )


def _trl_preference(scope: Scope) -> Iterator[tuple[str, bytes, int]]:
    """Each comparison's trl-preference lines (one per item written), as
    `TrlPreference.rows` writes them."""
    options = scope.options
    decider = TrlPreference()
    resolver = export_resolver(scope)  # before the COPY: it reads the reviews
    prompts = _Prompts(scope)
    dumps = orjson.dumps
    choices = _Decoded()
    if scope.conversational:
        before, after = b'[{"role":"assistant","content":', b"}]"
    else:
        before = after = b""
    _, at = _label_fields(raw=False, names=False)
    vote_at = _vote_at(at)
    for row in _rows(scope, raw=False):
        comparison_id, kind = int(row[0]), _KINDS[row[1]]
        votes = [
            _vote(vote.split(_NEXT), comparison_id, vote_at, choices)
            for vote in row[9].split(_LABEL)
        ]
        ids = [int(pk) for pk in row[7].split(b",")] if row[7] else []
        if kind == PAIR:
            items = comparison_items(kind, ids[0], ids[1], votes)
        else:
            items = comparison_items(kind, None, None, votes)
        decisions = decider.decisions(scope, resolver, comparison_id, kind, items, votes)
        if not decisions:
            continue
        texts = dict(zip(ids, row[8].split(_LABEL), strict=True))
        prompt = prompts(row[3], row[5], row[6])
        out = []
        for chosen, rejected, result in decisions:
            line = b'{"prompt":%b,"chosen":%b%b%b,"rejected":%b%b%b' % (
                prompt,
                before,
                texts[chosen],
                after,
                before,
                texts[rejected],
                after,
            )
            if options.margin:
                line += b',"margin":' + dumps(decider.margin(result))
            if options.soft_label:
                line += b',"p_chosen":' + dumps(decider.p_chosen(result))
            out.append(line + b"}\n")
        yield row[4].decode(), b"".join(out), len(out)
