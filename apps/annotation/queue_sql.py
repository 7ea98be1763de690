"""The statements of the annotation hot path, written out as SQL.

`comparisons/next/` and `comparisons/{id}/labels/` run once per judgment for every
annotator at once, so their statements are few and fixed here rather than built by the
ORM on each call (building them cost more CPU than Postgres spent running them). The
rules are the ones `services` documents: a comparison is open to a person when they
hold no row for it other than a lease that ran out, and (gold items aside) it has room
when its current labels plus its live leases are fewer than it wants.

The checks are scalar subqueries evaluated per candidate row, walking the queue in
order (the `comparison_open` or `comparison_gold` index) so that the first open row ends
the scan. Written as NOT EXISTS, Postgres turned "open to the person" into an anti-join
over the person's whole history; and "< 1" rather than "= 0" because the planner
guesses that an equality with a subquery almost never holds, and would then sort every
comparison of the project.

The same statements run on SQLite (the embedded setup), which has no row locks (one
writer at a time) and no data-modifying CTE; the few differences are marked.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.apps import apps
from django.db import connection

from apps.accounts.models import Membership, Project
from apps.annotation.models import Assignment, Comparison, Label
from apps.core import rawsql
from apps.core.rawsql import Columns
from apps.prompts.models import Prompt, Response

_C = Comparison._meta.db_table
_A = Assignment._meta.db_table
_P = Project._meta.db_table
_M = Membership._meta.db_table
_L = Label._meta.db_table
_R = Response._meta.db_table
_PR = Prompt._meta.db_table
LEASED = Assignment.Status.LEASED.value
DONE = Assignment.Status.DONE.value

# Open to the person: no row of theirs, except a lease that ran out. Found through the
# comparison (a few rows each): "+ 0" keeps Postgres from reaching them through the
# person's index instead, and so reading their whole history for each candidate, which it
# chose when its statistics still had the table nearly empty (a new install's first hour).
_OPEN = f"""
    (SELECT count(*) FROM {_A} mine
      WHERE mine.comparison_id = c.id AND mine.annotator_id + 0 = %(user)s
        AND NOT (mine.status = '{LEASED}' AND mine.expires_at <= %(now)s)) < 1
"""
# Room left: current labels plus live leases below what it wants. `is_open` (labels_done
# < labels_wanted, kept by the database) lets the queue walk its index of open items.
_ROOM = f"""
    c.is_open
    AND c.labels_wanted > c.labels_done + (
        SELECT count(*) FROM {_A} live
         WHERE live.comparison_id = c.id AND live.status = '{LEASED}'
           AND live.expires_at > %(now)s)
"""

Candidate = tuple[int, str, int | None, int | None, int, bool]


_ASSIGNMENT, _COMPARISON = Columns(Assignment), Columns(Comparison)
# Not the description and guidelines: Markdown that can run long, and nothing here reads
# it (an instance loads a deferred field when asked).
_PROJECT = Columns(
    Project,
    [
        f.attname
        for f in Project._meta.concrete_fields
        if f.name not in {"description", "guidelines"}
    ],
)
_PROMPT_INPUT = Prompt._meta.get_field("input")


def _conditions(gold: bool) -> str:
    return _OPEN if gold else f"{_OPEN} AND {_ROOM}"


def _postgres() -> bool:
    return connection.vendor == "postgresql"


def _when(value: datetime) -> object:
    """A timestamp as the backend stores it (SQLite compares them as text)."""
    return connection.ops.adapt_datetimefield_value(value)


def _not_in(column: str, ids: Sequence[int]) -> str:
    """`column NOT IN (…)` for a few ids (integers, written into the statement)."""
    return f"{column} NOT IN ({', '.join(str(int(pk)) for pk in ids)})" if ids else "TRUE"


def candidate_lock(
    *, project_id: int, user_id: int, gold: bool, now: datetime, tried: Sequence[int]
) -> Candidate | None:
    """The best open comparison nobody else has locked, locked for this transaction."""
    sql = f"""
        SELECT c.id, c.kind, c.response_a_id, c.response_b_id, c.prompt_id, c.is_gold
          FROM {_C} c
         WHERE c.project_id = %(project)s AND {"c.is_gold" if gold else "NOT c.is_gold"}
           AND {_not_in("c.id", tried)} AND {_conditions(gold)}
         ORDER BY c.priority DESC, c.id
         LIMIT 1 {"FOR UPDATE OF c SKIP LOCKED" if _postgres() else ""}
    """  # noqa: S608 - our table names and fixed text
    params = {"project": project_id, "user": user_id, "now": _when(now)}
    with rawsql.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else tuple(row)  # type: ignore[return-value]


@dataclass(frozen=True)
class Shown:
    """What a person is shown for an item: the prompt, and the responses left first."""

    prompt_id: int
    prompt_input: object
    responses: list[tuple[int, str]]  # (id, text)


def lease_insert(
    *,
    project_id: int,
    user_id: int,
    comparison_id: int,
    gold: bool,
    order: list[int],
    now: datetime,
    expires_at: datetime,
    with_texts: bool = False,
) -> tuple[int, Shown | None] | None:
    """Lease the locked comparison if it is still open (checked in this new statement,
    which sees leases committed after the candidate was chosen); the assignment id, or
    None when someone took the room meanwhile. Renews this person's lease that ran out.

    `with_texts`: also what the person is shown (see `shown`), read in the same statement
    on Postgres."""
    insert = f"""
        INSERT INTO {_A} (created_at, updated_at, project_id, comparison_id, annotator_id,
                          status, display_order, leased_at, expires_at, finished_at,
                          skip_reason)
        SELECT %(now)s, %(now)s, %(project)s, c.id, %(user)s, '{LEASED}',
               %(order)s{"::jsonb" if _postgres() else ""}, %(now)s, %(expires)s, NULL, ''
          FROM {_C} c
         WHERE c.id = %(comparison)s AND {_conditions(gold)}
        ON CONFLICT (comparison_id, annotator_id) DO UPDATE
           SET status = EXCLUDED.status, display_order = EXCLUDED.display_order,
               leased_at = EXCLUDED.leased_at, expires_at = EXCLUDED.expires_at,
               updated_at = EXCLUDED.updated_at
        RETURNING id
    """  # noqa: S608 - our table names and fixed text
    params = {"project": project_id, "user": user_id, "comparison": comparison_id,
              "order": json.dumps(order), "now": _when(now),
              "expires": _when(expires_at)}  # fmt: skip
    texts_here = with_texts and _postgres()  # no INSERT inside WITH on SQLite
    if texts_here:
        insert = f"""
            WITH lease AS ({insert})
            SELECT lease.id, r.id, r.text, p.id, p.input
              FROM lease
              JOIN {_R} r ON r.id IN ({", ".join(f"%(shown{i})s" for i in range(len(order)))})
              JOIN {_PR} p ON p.id = r.prompt_id
        """  # noqa: S608 - our table names and fixed text
        # One parameter per response rather than one array: Postgres then plans the
        # statement once per connection. With an array of unknown length its one plan
        # for all calls looked dearer than a plan for each call's two ids, so it planned
        # again on every lease (0.6 ms of its CPU each).
        params.update((f"shown{i}", pk) for i, pk in enumerate(order))
    with rawsql.cursor() as cursor:
        cursor.execute(insert, params)
        rows = cursor.fetchall()
    if not rows:
        return None
    if texts_here:
        return int(rows[0][0]), _shown(order, [row[1:] for row in rows])
    return int(rows[0][0]), shown(order=order) if with_texts else None


def lease_with_role(*, comparison_id: int, user_id: int) -> tuple[int, int, str | None] | None:
    """The person's assignment of a comparison: (assignment id, project id, their role in
    that project or None if they are no longer a member); None without an assignment."""
    sql = f"""
        SELECT a.id, a.project_id, m.role
          FROM {_A} a
          LEFT JOIN {_M} m ON m.project_id = a.project_id AND m.user_id = a.annotator_id
         WHERE a.comparison_id = %(comparison)s AND a.annotator_id = %(user)s
    """  # noqa: S608 - our table names and fixed text
    with rawsql.cursor() as cursor:
        cursor.execute(sql, {"comparison": comparison_id, "user": user_id})
        row = cursor.fetchone()
    return None if row is None else (int(row[0]), int(row[1]), row[2])


def judgment_recorded(
    *, assignment_id: int, comparison_id: int, finished_at: datetime, counts: bool
) -> None:
    """Close the assignment and, for a first judgment (not one that supersedes), count
    it on the comparison: one statement on Postgres."""
    close = f"""
        UPDATE {_A} SET status = '{DONE}', finished_at = %(now)s, updated_at = %(now)s
         WHERE id = %(assignment)s
    """  # noqa: S608 - our table names and fixed text
    count = f"UPDATE {_C} SET labels_done = labels_done + 1 WHERE id = %(comparison)s"  # noqa: S608
    params: dict[str, object] = {
        "now": _when(finished_at), "assignment": assignment_id, "comparison": comparison_id,
    }  # fmt: skip
    with rawsql.cursor() as cursor:
        if not _postgres():  # no UPDATE inside WITH
            cursor.execute(close, params)
            if counts:
                cursor.execute(count, params)
            return
        cursor.execute(
            f"WITH done AS ({close}) {count} AND %(counts)s", {**params, "counts": counts}
        )


def _held(exclude: Sequence[int]) -> str:
    """The id of the person's oldest live lease in the project outside `exclude`."""
    return f"""
        SELECT a.id FROM {_A} a
         WHERE a.project_id = %(project)s AND a.annotator_id = %(user)s
           AND a.status = '{LEASED}' AND a.expires_at > %(now)s AND {_not_in("a.id", exclude)}
         ORDER BY a.leased_at, a.id
         LIMIT 1
    """  # noqa: S608 - our table names and fixed text


def lease_held_id(
    *, project_id: int, user_id: int, now: datetime, exclude: Sequence[int]
) -> int | None:
    """The id of this person's oldest live lease in the project outside `exclude`."""
    params = {"project": project_id, "user": user_id, "now": _when(now)}
    with rawsql.cursor() as cursor:
        cursor.execute(_held(exclude), params)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


def project_with_held_lease(
    *, project_id: int, user_id: int, now: datetime, exclude: Sequence[int]
) -> tuple[Project, int | None] | None:
    """The project with the person's role in it (`user_role`), and `lease_held_id`, in one
    statement; None if they are not a member."""
    sql = f"""
        SELECT {_PROJECT.select("p")}, m.role, ({_held(exclude)})
          FROM {_P} p JOIN {_M} m ON m.project_id = p.id AND m.user_id = %(user)s
         WHERE p.id = %(project)s
    """  # noqa: S608 - our table names and fixed text
    params = {"project": project_id, "user": user_id, "now": _when(now)}
    with rawsql.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    project = _PROJECT.load(row[:-2])
    project.user_role = row[-2]
    return project, row[-1]


def labels_standing(*, idempotency_key: str, assignment_id: int) -> list[int]:
    """Ids of the label sent with this key and of the assignment's current label (the
    judgment an undo reopened): usually none."""
    sql = f"""
        SELECT l.id FROM {_L} l WHERE l.idempotency_key = %(key)s
        UNION
        SELECT l.id FROM {_L} l
         WHERE l.assignment_id = %(assignment)s
           AND NOT EXISTS (SELECT 1 FROM {_L} later WHERE later.supersedes_id = l.id)
    """  # noqa: S608 - our table names and fixed text
    with rawsql.cursor() as cursor:
        cursor.execute(sql, {"key": idempotency_key, "assignment": assignment_id})
        return [int(row[0]) for row in cursor.fetchall()]


@dataclass(frozen=True)
class Locked:
    """An assignment locked for the transaction, with `comparison` and `project` filled in."""

    assignment: Assignment
    role: str | None  # the person's role in the project; None if no longer a member
    has_retrain_rule: bool  # the project retrains after N new labels (see reward_models)


def assignment_lock(
    *, user_id: int, assignment_id: int | None = None, comparison_id: int | None = None
) -> Locked | None:
    """This person's assignment, by its id or by its comparison's, locked for the
    transaction; None if they have none."""
    # Read by table: reward_models builds on annotation, not the other way round.
    rules = apps.get_model("reward_models", "RetrainRule")._meta.db_table
    by = "a.id = %(assignment)s" if assignment_id is not None else "a.comparison_id = %(item)s"
    width_a, width_c, width_p = len(_ASSIGNMENT), len(_COMPARISON), len(_PROJECT)
    sql = f"""
        SELECT {_ASSIGNMENT.select("a")}, {_COMPARISON.select("c")}, {_PROJECT.select("p")},
               m.role,
               EXISTS (SELECT 1 FROM {rules} r
                        WHERE r.project_id = a.project_id AND r.after_labels IS NOT NULL)
          FROM {_A} a
          JOIN {_C} c ON c.id = a.comparison_id
          JOIN {_P} p ON p.id = a.project_id
          LEFT JOIN {_M} m ON m.project_id = a.project_id AND m.user_id = a.annotator_id
         WHERE {by} AND a.annotator_id = %(user)s
         {"FOR UPDATE OF a" if _postgres() else ""}
    """  # noqa: S608 - our table names and fixed text
    params = {"assignment": assignment_id, "item": comparison_id, "user": user_id}
    with rawsql.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    if row is None:
        return None
    assignment = _ASSIGNMENT.load(row[:width_a])
    assignment.comparison = _COMPARISON.load(row[width_a : width_a + width_c])
    assignment.project = _PROJECT.load(row[width_a + width_c : width_a + width_c + width_p])
    return Locked(assignment=assignment, role=row[-2], has_retrain_rule=bool(row[-1]))


_LABEL_INSERTED = [field for field in Label._meta.concrete_fields if not field.primary_key]
_LABEL_COLUMNS = ", ".join(field.column for field in _LABEL_INSERTED)
_CLOSE_AND_COUNT = f"""
    done AS (
        UPDATE {_A} SET status = '{DONE}', finished_at = %s, updated_at = %s
         WHERE id = %s AND EXISTS (SELECT 1 FROM label)),
    counted AS (
        UPDATE {_C} SET labels_done = labels_done + 1
         WHERE id = %s AND %s AND EXISTS (SELECT 1 FROM label))
    SELECT id FROM label
"""  # noqa: S608 - our table names and fixed text
_LABEL_RECORD = f"""
    WITH label AS (
        INSERT INTO {_L} ({_LABEL_COLUMNS}) VALUES ({", ".join(["%s"] * len(_LABEL_INSERTED))})
        RETURNING id),
    {_CLOSE_AND_COUNT}
"""  # noqa: S608 - our table names and fixed text


@functools.cache
def _label_first_sql() -> str:
    # INSERT … SELECT gives its values no column types, as VALUES would: each is cast.
    casts = [
        "text" if (kind := field.db_type(connection) or "").startswith("varchar") else kind
        for field in _LABEL_INSERTED
    ]
    return f"""
        WITH label AS (
            INSERT INTO {_L} ({_LABEL_COLUMNS})
            SELECT {", ".join(f"%s::{kind}" for kind in casts)}
             WHERE NOT EXISTS (SELECT 1 FROM {_L} k WHERE k.idempotency_key = %s)
               AND NOT EXISTS (
                   SELECT 1 FROM {_L} l
                    WHERE l.assignment_id = %s
                      AND NOT EXISTS (SELECT 1 FROM {_L} later WHERE later.supersedes_id = l.id))
            RETURNING id),
        {_CLOSE_AND_COUNT}
    """  # noqa: S608 - our table names and fixed text


def label_record(
    *, label: Label, finished_at: datetime, counts: bool, only_first: bool = False
) -> bool:
    """Insert the label (its id set on it), close its assignment and, for a first judgment
    (`counts`: not one that supersedes), count it on the comparison: one statement on
    Postgres. `label` is a new, unsaved Label with its assignment and comparison set.

    `only_first`: only if nothing stands yet (`labels_standing` would find nothing), checked
    in the same statement; False, with nothing written, if something does.
    """
    if not _postgres():  # no INSERT or UPDATE inside WITH; one writer at a time
        if only_first and labels_standing(
            idempotency_key=label.idempotency_key,  # type: ignore[arg-type]
            assignment_id=label.assignment_id,  # type: ignore[arg-type]
        ):
            return False
        label.save(force_insert=True)
        judgment_recorded(
            assignment_id=label.assignment_id, comparison_id=label.comparison_id,  # type: ignore[arg-type]
            finished_at=finished_at, counts=counts,
        )  # fmt: skip
        return True
    values = [
        field.get_db_prep_save(field.pre_save(label, add=True), connection)
        for field in _LABEL_INSERTED
    ]
    if only_first:
        sql = _label_first_sql()
        values += [label.idempotency_key, label.assignment_id]
    else:
        sql = _LABEL_RECORD
    now = _when(finished_at)
    with rawsql.cursor() as cursor:
        cursor.execute(sql, [*values, now, now, label.assignment_id, label.comparison_id, counts])
        row = cursor.fetchone()
    if row is None:
        return False
    label.pk = row[0]
    label._state.adding = False
    label._state.db = connection.alias
    return True


def shown(*, order: Sequence[int]) -> Shown:
    """What the person is shown for an item whose responses are `order`, left first."""
    sql = f"""
        SELECT r.id, r.text, p.id, p.input
          FROM {_R} r JOIN {_PR} p ON p.id = r.prompt_id
         WHERE r.id IN ({", ".join(str(int(pk)) for pk in order) or "NULL"})
    """  # noqa: S608 - our table names; the ids are integers
    with rawsql.cursor() as cursor:
        cursor.execute(sql)
        return _shown(order, cursor.fetchall())


def _shown(order: Sequence[int], rows: Sequence[Sequence[Any]]) -> Shown:
    """From rows of (response id, text, prompt id, prompt input as stored)."""
    texts = {pk: text for pk, text, *_ in rows}
    prompt_id, prompt_input = rows[0][2:] if rows else (None, None)
    prompt_input = _PROMPT_INPUT.from_db_value(prompt_input, None, connection)
    return Shown(
        prompt_id=prompt_id,  # type: ignore[arg-type]
        prompt_input=prompt_input,
        responses=[(pk, texts[pk]) for pk in order if pk in texts],
    )
