from __future__ import annotations

import io
import subprocess
import sys

import pytest
from django.core.management import CommandError, call_command
from rest_framework.authtoken.models import Token

from apps.accounts.models import Membership, Project, Role, User
from apps.imports.models import ImportJob
from apps.prompts.models import Prompt, Response
from apps.rubrics.models import Rubric
from tests.factories import UserFactory
from tests.imports.files import PROMPT_ROWS, jsonl_bytes

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
