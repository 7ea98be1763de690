"""The statements of the annotation hot path, written out as SQL.

`comparisons/next/` and `comparisons/{id}/labels/` run once per judgment for every
annotator at once, so their statements are few and fixed here rather than built by the
ORM on each call (building them cost more CPU than Postgres spent running them). The
rules are the ones `services` documents: a comparison is open to a person when they
hold no row for it other than a lease that ran out, and (gold items aside) it has room
when its current labels plus its live leases are fewer than it wants.

The checks are scalar subqueries evaluated per candidate row, walking the queue in
order (`comparison_queue`) so that the first open row ends the scan. Written as NOT
EXISTS, Postgres turned "open to the person" into an anti-join over the person's whole
history; and "< 1" rather than "= 0" because the planner guesses that an equality with
a subquery almost never holds, and would then sort every comparison of the project.

The same statements run on SQLite (the embedded setup), which has no row locks (one
writer at a time) and no data-modifying CTE; the few differences are marked.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

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

# Open to the person: no row of theirs, except a lease that ran out.
_OPEN = f"""
    (SELECT count(*) FROM {_A} mine
      WHERE mine.comparison_id = c.id AND mine.annotator_id = %(user)s
        AND NOT (mine.status = '{LEASED}' AND mine.expires_at <= %(now)s)) < 1
"""
# Room left: current labels plus live leases below what it wants.
_ROOM = f"""
    c.labels_done < c.labels_wanted
    AND c.labels_wanted > c.labels_done + (
        SELECT count(*) FROM {_A} live
         WHERE live.comparison_id = c.id AND live.status = '{LEASED}'
           AND live.expires_at > %(now)s)
"""

Candidate = tuple[int, str, int | None, int | None, int, bool]


_ASSIGNMENT, _COMPARISON, _PROJECT = Columns(Assignment), Columns(Comparison), Columns(Project)
_RESPONSE_TEXT = Columns(Response, ["id", "prompt_id", "text"])
_PROMPT_INPUT = Columns(Prompt, ["id", "input"])


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
         WHERE c.project_id = %(project)s AND c.is_gold = %(gold)s
           AND {_not_in("c.id", tried)} AND {_conditions(gold)}
         ORDER BY c.priority DESC, c.id
         LIMIT 1 {"FOR UPDATE OF c SKIP LOCKED" if _postgres() else ""}
    """  # noqa: S608 - our table names and fixed text
    params = {"project": project_id, "user": user_id, "gold": gold, "now": _when(now)}
    with rawsql.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else tuple(row)  # type: ignore[return-value]


def lease_insert(
    *,
    project_id: int,
    user_id: int,
    comparison_id: int,
    gold: bool,
    order: list[int],
    now: datetime,
    expires_at: datetime,
) -> int | None:
    """Lease the locked comparison if it is still open (checked in this new statement,
    which sees leases committed after the candidate was chosen); the assignment id, or
    None when someone took the room meanwhile. Renews this person's lease that ran out."""
    sql = f"""
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
    with rawsql.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


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


def lease_held_id(
    *, project_id: int, user_id: int, now: datetime, exclude: Sequence[int]
) -> int | None:
    """The id of this person's oldest live lease in the project outside `exclude`."""
    sql = f"""
        SELECT a.id FROM {_A} a
         WHERE a.project_id = %(project)s AND a.annotator_id = %(user)s
           AND a.status = '{LEASED}' AND a.expires_at > %(now)s AND {_not_in("a.id", exclude)}
         ORDER BY a.leased_at, a.id
         LIMIT 1
    """  # noqa: S608 - our table names and fixed text
    params = {"project": project_id, "user": user_id, "now": _when(now)}
    with rawsql.cursor() as cursor:
        cursor.execute(sql, params)
        row = cursor.fetchone()
    return None if row is None else int(row[0])


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


def assignment_lock(*, assignment_id: int, user_id: int) -> tuple[Assignment, bool] | None:
    """This person's assignment, locked for the transaction, with `comparison` and
    `project` filled in; and whether the project has a "retrain after N new labels" rule
    (so that a label enqueues that check only where there is one). None if it is not theirs.
    """
    # Read by table: reward_models builds on annotation, not the other way round.
    rules = apps.get_model("reward_models", "RetrainRule")._meta.db_table
    width_a, width_c = len(_ASSIGNMENT), len(_COMPARISON)
    sql = f"""
        SELECT {_ASSIGNMENT.select("a")}, {_COMPARISON.select("c")}, {_PROJECT.select("p")},
               EXISTS (SELECT 1 FROM {rules} r
                        WHERE r.project_id = a.project_id AND r.after_labels IS NOT NULL)
          FROM {_A} a
          JOIN {_C} c ON c.id = a.comparison_id
          JOIN {_P} p ON p.id = a.project_id
         WHERE a.id = %(assignment)s AND a.annotator_id = %(user)s
         {"FOR UPDATE OF a" if _postgres() else ""}
    """  # noqa: S608 - our table names and fixed text
    with rawsql.cursor() as cursor:
        cursor.execute(sql, {"assignment": assignment_id, "user": user_id})
        row = cursor.fetchone()
    if row is None:
        return None
    assignment = _ASSIGNMENT.load(row[:width_a])
    assignment.comparison = _COMPARISON.load(row[width_a : width_a + width_c])
    assignment.project = _PROJECT.load(row[width_a + width_c : -1])
    return assignment, bool(row[-1])


_LABEL_INSERTED = [field for field in Label._meta.concrete_fields if not field.primary_key]
_LABEL_RECORD = f"""
    WITH label AS (
        INSERT INTO {_L} ({", ".join(field.column for field in _LABEL_INSERTED)})
        VALUES ({", ".join(["%s"] * len(_LABEL_INSERTED))})
        RETURNING id),
    done AS (
        UPDATE {_A} SET status = '{DONE}', finished_at = %s, updated_at = %s WHERE id = %s),
    counted AS (
        UPDATE {_C} SET labels_done = labels_done + 1 WHERE id = %s AND %s)
    SELECT id FROM label
"""  # noqa: S608 - our table names and fixed text


def label_record(*, label: Label, finished_at: datetime, counts: bool) -> None:
    """Insert the label (its id set on it), close its assignment and, for a first judgment
    (`counts`: not one that supersedes), count it on the comparison: one statement on
    Postgres. `label` is a new, unsaved Label with its assignment and comparison set."""
    if not _postgres():  # no INSERT or UPDATE inside WITH
        label.save(force_insert=True)
        judgment_recorded(
            assignment_id=label.assignment_id, comparison_id=label.comparison_id,  # type: ignore[arg-type]
            finished_at=finished_at, counts=counts,
        )  # fmt: skip
        return
    values = [
        field.get_db_prep_save(field.pre_save(label, add=True), connection)
        for field in _LABEL_INSERTED
    ]
    now = _when(finished_at)
    with rawsql.cursor() as cursor:
        cursor.execute(
            _LABEL_RECORD, [*values, now, now, label.assignment_id, label.comparison_id, counts]
        )
        label.pk = cursor.fetchone()[0]
    label._state.adding = False
    label._state.db = connection.alias


def shown_responses(*, order: Sequence[int]) -> list[Response]:
    """The responses of an item in the order shown, each with its `prompt` (id and input)."""
    if not order:
        return []
    width = len(_RESPONSE_TEXT)
    sql = f"""
        SELECT {_RESPONSE_TEXT.select("r")}, {_PROMPT_INPUT.select("p")}
          FROM {_R} r JOIN {_PR} p ON p.id = r.prompt_id
         WHERE r.id IN ({", ".join(str(int(pk)) for pk in order)})
    """  # noqa: S608 - our table names; the ids are integers
    with rawsql.cursor() as cursor:
        cursor.execute(sql)
        rows = cursor.fetchall()
    by_id = {}
    for row in rows:
        response = _RESPONSE_TEXT.load(row[:width])
        response.prompt = _PROMPT_INPUT.load(row[width:])
        by_id[response.pk] = response
    return [by_id[pk] for pk in order if pk in by_id]
