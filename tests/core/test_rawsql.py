"""Hand-written statements: instances as the ORM makes them, Django's errors and logging,
and prepared statements that a setting turns off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.db import IntegrityError, connection
from django.test.utils import CaptureQueriesContext

from apps.accounts.models import Project
from apps.core import rawsql
from apps.core.rawsql import Columns
from tests.factories import ProjectFactory

pytestmark = pytest.mark.django_db


def test_a_row_loads_as_the_orm_loads_it() -> None:
    made = ProjectFactory(annotation_settings={"overlap": 2}, description="Long text.")
    columns = Columns(Project, ["id", "name", "annotation_settings", "created_at"])

    with rawsql.cursor() as cursor:
        cursor.execute(f"SELECT {columns.select('p')} FROM accounts_project p WHERE p.id = %s",
                       [made.pk])  # fmt: skip
        loaded = columns.load(cursor.fetchone())

    orm = Project.objects.get(pk=made.pk)
    assert loaded.pk == orm.pk
    assert loaded.annotation_settings == orm.annotation_settings == {"overlap": 2}
    assert loaded.created_at == orm.created_at
    assert loaded.get_deferred_fields() >= {"description", "guidelines"}
    assert loaded.description == "Long text."  # a deferred field is read when asked


def test_errors_are_djangos_and_statements_are_logged_with_their_values() -> None:
    project = ProjectFactory(slug="taken")

    with CaptureQueriesContext(connection) as queries, rawsql.cursor() as cursor:
        cursor.execute("SELECT slug FROM accounts_project WHERE id = %s", [project.pk])
        with pytest.raises(IntegrityError):
            cursor.execute(
                "INSERT INTO accounts_project (created_at, updated_at, name, slug, description,"
                " guidelines, annotation_settings) VALUES (now(), now(), 'x', %s, '', '', '{}')",
                ["taken"],
            )

    assert queries.captured_queries[0]["sql"] == (
        f"SELECT slug FROM accounts_project WHERE id = {project.pk}"
    )


def test_statements_run_unprepared_when_the_setting_is_off() -> None:
    code = (
        "import django, os; os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; "
        "django.setup(); from django.conf import settings; "
        "print(settings.DATABASES['default'].get('OPTIONS', {}).get('prepare_threshold'))"
    )
    env = {**os.environ, "DATABASE_PREPARED_STATEMENTS": "false"}
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    env["DATABASE_PREPARED_STATEMENTS"] = "true"
    on = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)

    assert (off.stdout.strip(), on.stdout.strip()) == ("None", "1")
    connection.ensure_connection()
    threshold = connection.connection.prepare_threshold
    connection.connection.prepare_threshold = None
    try:
        for _ in range(3):
            with rawsql.cursor() as cursor:
                cursor.execute("SELECT %s::int + 1 AS unprepared_check", [1])
                assert cursor.fetchone() == (2,)
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_prepared_statements"
                           " WHERE statement LIKE '%%unprepared_check%%'")  # fmt: skip
            assert cursor.fetchone() == (0,)
    finally:
        connection.connection.prepare_threshold = threshold
