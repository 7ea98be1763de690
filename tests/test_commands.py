from __future__ import annotations

import io
import json
import os
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from apps.accounts.models import Membership, Project, Role, User
from apps.annotation.models import Label
from apps.imports.models import ImportJob
from apps.prompts.models import Prompt, Response
from apps.rubrics.models import Rubric
from tests.factories import ProjectFactory, UserFactory
from tests.imports.files import HH_ERRORS, HH_REPORT, HH_ROWS, PROMPT_ROWS, jsonl_bytes

pytestmark = pytest.mark.django_db


def test_it_prints_a_users_token():
    user = UserFactory(username="ml-engineer")
    out = io.StringIO()

    call_command("issue_token", "ml-engineer", stdout=out)

    assert out.getvalue().strip() == Token.objects.get(user=user).key


def test_it_refuses_a_token_for_an_unknown_user():
    with pytest.raises(CommandError, match="No user named 'ghost'."):
        call_command("issue_token", "ghost")

    assert not Token.objects.exists()


def test_it_imports_a_file_from_the_command_line(project, tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(jsonl_bytes(PROMPT_ROWS))
    out = io.StringIO()

    call_command("import_data", project.slug, str(path), stdout=out, stderr=io.StringIO())

    assert "2 rows, 2 new prompts, 5 new responses" in out.getvalue()
    assert Prompt.objects.filter(project=project).count() == 2


def test_it_exits_with_the_row_errors_and_imports_nothing(project, tmp_path):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(jsonl_bytes([*PROMPT_ROWS, {"prompt": "x", "responses": [{}]}]))
    err = io.StringIO()

    with pytest.raises(CommandError, match="failed with 1 error"):
        call_command("import_data", project.slug, str(path), stdout=io.StringIO(), stderr=err)

    assert "row 3, field responses.0.text: Field required" in err.getvalue()
    assert not Prompt.objects.filter(project=project).exists()


def test_skip_invalid_imports_the_valid_rows_and_exits_with_3(project, tmp_path, settings):  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"
    path = tmp_path / "hh-test.jsonl"
    path.write_bytes(jsonl_bytes(HH_ROWS))
    report = tmp_path / "skipped.jsonl"
    out, err = io.StringIO(), io.StringIO()

    with pytest.raises(CommandError) as raised:
        call_command(
            "import_data", project.slug, str(path), "--skip-invalid", "--skipped-report",
            str(report), stdout=out, stderr=err,
        )  # fmt: skip

    job = ImportJob.objects.get()
    assert raised.value.returncode == 3
    assert str(raised.value) == (
        f"Import {job.pk} skipped 2 invalid row(s) and imported the other 4; "
        f"the skipped rows, with their errors: {report}."
    )
    assert out.getvalue() == (
        f"Imported hh-test.jsonl into {project.slug}: 4 of 6 rows (2 skipped), 4 new prompts, "
        "8 new responses, 4 new comparisons, 4 new labels.\n"
    )
    assert [line for line in err.getvalue().splitlines() if line.startswith("  row")] == [
        f"  {error}" for error in HH_ERRORS
    ]
    assert [json.loads(line) for line in report.read_text().splitlines()] == HH_REPORT
    assert (job.status, job.rows_skipped, job.labels_created) == ("succeeded", 2, 4)


@pytest.mark.django_db(transaction=True)
def test_import_data_exits_0_3_or_1_for_a_clean_partial_or_failed_import(tmp_path):  # type: ignore[no-untyped-def]
    from django.db import connection

    project = ProjectFactory(slug="exit-codes")
    db = connection.settings_dict
    env = {
        **os.environ,
        "DATABASE_URL": f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@"
        f"{db['HOST'] or '127.0.0.1'}:{db['PORT'] or '5432'}/{db['NAME']}",
        "MEDIA_ROOT": str(tmp_path / "media"),
    }
    files = {"clean.jsonl": HH_ROWS[:2], "hh-test.jsonl": HH_ROWS, "bad.jsonl": [HH_ROWS[2]]}
    for name, rows in files.items():
        (tmp_path / name).write_bytes(jsonl_bytes(rows))

    def import_data(name: str, *flags: str) -> subprocess.CompletedProcess[str]:
        command = [sys.executable, "manage.py", "import_data", project.slug, str(tmp_path / name)]
        return subprocess.run([*command, *flags], capture_output=True, text=True, env=env)

    clean = import_data("clean.jsonl", "--skip-invalid")
    partial = import_data("hh-test.jsonl", "--skip-invalid")
    failed = import_data("bad.jsonl", "--skip-invalid")

    partial_job = ImportJob.objects.get(original_name="hh-test.jsonl")
    failed_job = ImportJob.objects.get(original_name="bad.jsonl")
    assert [clean.returncode, partial.returncode, failed.returncode] == [0, 3, 1]
    assert clean.stdout.startswith("Imported clean.jsonl into exit-codes: 2 rows, ")
    assert partial.stdout.startswith(
        "Imported hh-test.jsonl into exit-codes: 4 of 6 rows (2 skipped), "
    )
    assert partial.stderr.endswith(
        f"CommandError: Import {partial_job.pk} skipped 2 invalid row(s) and imported the other "
        f"4; the skipped rows, with their errors: GET /api/v1/imports/{partial_job.pk}/skipped/ "
        "or the import's page.\n"
    )
    assert failed.stderr.endswith(
        f"CommandError: Import {failed_job.pk} failed with 1 error(s); nothing was imported.\n"
    )
    assert (
        Label.objects.filter(comparison__project=project).count() == 4 + 2 - 2
    )  # pairs 1, 2 twice


def test_a_skipped_rows_report_needs_skip_invalid(project, tmp_path):  # type: ignore[no-untyped-def]
    path = tmp_path / "hh-test.jsonl"
    path.write_bytes(jsonl_bytes(HH_ROWS))

    with pytest.raises(CommandError, match="--skipped-report goes with --skip-invalid."):
        call_command(
            "import_data", project.slug, str(path), "--skipped-report", str(tmp_path / "r")
        )

    assert not ImportJob.objects.exists()


def test_it_refuses_an_unknown_project(tmp_path):
    path = tmp_path / "prompts.jsonl"
    path.write_bytes(jsonl_bytes(PROMPT_ROWS))

    with pytest.raises(CommandError, match="No project with slug 'nope'."):
        call_command("import_data", "nope", str(path))

    assert not ImportJob.objects.exists()


def test_it_loads_the_demo_and_is_safe_to_run_twice(settings):
    settings.DEMO_PASSWORD = "demo-pass-123"

    call_command("load_demo", "--fresh-only", stdout=io.StringIO())
    counts = (Prompt.objects.count(), Response.objects.count(), ImportJob.objects.count())
    call_command("load_demo", "--fresh-only", stdout=io.StringIO())

    project = Project.objects.get(slug="demo")
    assert counts == (Prompt.objects.count(), Response.objects.count(), ImportJob.objects.count())
    assert counts[0] >= 60
    assert set(Prompt.objects.values_list("metadata__kind", flat=True)) >= {
        "coding", "math", "factual", "advice", "summarization", "creative", "safety",
    }  # fmt: skip
    assert Prompt.objects.filter(project=project).exclude(references=[]).exists()
    roles = dict(Membership.objects.filter(project=project).values_list("user__username", "role"))
    assert roles == {"admin": Role.ADMIN, "designer": Role.DESIGNER, "annotator": Role.ANNOTATOR}
    assert User.objects.get(username="annotator").check_password("demo-pass-123")
    rubric = Rubric.objects.get(project=project)
    assert project.settings.rubric_id == rubric.pk
    assert rubric.versions.count() == 1
    for prompt in Prompt.objects.filter(project=project):
        assert 2 <= prompt.responses.count() <= 4


def test_it_names_the_variable_when_a_service_is_down():
    result = subprocess.run(
        [sys.executable, "manage.py", "check_services"],
        capture_output=True,
        text=True,
        env={
            "PATH": "/usr/bin:/bin",
            "DATABASE_URL": "postgres://postgres@127.0.0.1:1/palate",
            "CELERY_BROKER_URL": "redis://127.0.0.1:1/0",
        },
    )

    assert result.returncode == 1
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 2
    assert lines[0].startswith("Cannot reach the database (")
    assert lines[0].endswith("start it or set DATABASE_URL.")
    assert lines[1].startswith("Cannot reach the Celery broker at redis://127.0.0.1:1/0 (")
    assert lines[1].endswith("start it or set CELERY_BROKER_URL.")


def test_it_requires_a_secret_key_when_debug_is_off():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "import django, os; "
            "os.environ['DJANGO_SETTINGS_MODULE'] = 'config.settings'; django.setup()",
        ],
        capture_output=True,
        text=True,
        env={"PATH": "/usr/bin:/bin", "DEBUG": "false"},
    )

    assert result.returncode == 1
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr
