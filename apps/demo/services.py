"""The demo project: three users, a rubric and realistic prompts, loaded through the
same services a user would call. Safe to run again: what exists is reused."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from django.core.files import File
from django.db import transaction

from apps.accounts.models import Membership, Project, Role, User
from apps.accounts.services import membership_add, membership_change_role, project_create
from apps.imports.models import ImportJob
from apps.imports.services import import_create, import_run
from apps.rubrics.models import Rubric
from apps.rubrics.services import rubric_create

DATA_DIR = Path(__file__).resolve().parent / "data"
PROMPTS_FILE = DATA_DIR / "prompts.jsonl"
RUBRIC_FILE = DATA_DIR / "rubric.json"
DEMO_SLUG = "demo"
DEMO_USERS = {"admin": Role.ADMIN, "designer": Role.DESIGNER, "annotator": Role.ANNOTATOR}


@dataclass(frozen=True)
class DemoResult:
    project: Project
    import_job: ImportJob | None


@transaction.atomic
def _users(password: str) -> dict[str, User]:
    users = {}
    for username in DEMO_USERS:
        user, _ = User.objects.get_or_create(
            username=username, defaults={"email": f"{username}@palate.local"}
        )
        user.set_password(password)
        # The demo admin may also open Django's admin site.
        user.is_staff = user.is_superuser = username == "admin"
        user.save()
        users[username] = user
    return users


@transaction.atomic
def _project(users: dict[str, User]) -> Project:
    rubric_spec = json.loads(RUBRIC_FILE.read_text())
    project = Project.objects.filter(slug=DEMO_SLUG).first()
    if project is None:
        project = project_create(
            name="Palate demo: assistant answers",
            slug=DEMO_SLUG,
            created_by=users["admin"],
            description=(
                "Answers from several open chat models to coding, maths, advice, "
                "summarisation, creative, safety and multi-turn requests."
            ),
            guidelines=rubric_spec.get("guidelines", ""),
        )
    for username, role in DEMO_USERS.items():
        membership = Membership.objects.filter(project=project, user=users[username]).first()
        if membership is None:
            membership_add(project=project, user=users[username], role=role)
        elif membership.role != role:
            membership_change_role(membership=membership, role=role)
    rubric = Rubric.objects.filter(project=project, name=rubric_spec["name"]).first()
    if rubric is None:
        rubric = rubric_create(
            project=project,
            name=rubric_spec["name"],
            description=rubric_spec.get("description", ""),
            criteria=rubric_spec["criteria"],
            error_categories=rubric_spec["error_categories"],
            guidelines=rubric_spec.get("guidelines", ""),
            created_by=users["designer"],
        )
    if project.annotation_settings.get("rubric_id") != rubric.pk:
        project.annotation_settings = {**project.annotation_settings, "rubric_id": rubric.pk}
        project.save(update_fields=["annotation_settings", "updated_at"])
    return project


def demo_load(*, password: str) -> DemoResult:
    """Create or refresh the demo users, project, rubric and prompts."""
    users = _users(password)
    project = _project(users)
    already = ImportJob.objects.filter(
        project=project, original_name=PROMPTS_FILE.name, status=ImportJob.Status.SUCCEEDED
    ).exists()
    if already:
        return DemoResult(project=project, import_job=None)
    with PROMPTS_FILE.open("rb") as handle:
        job = import_create(
            project=project,
            created_by=users["designer"],
            upload=File(handle, name=PROMPTS_FILE.name),
            enqueue=False,
        )
    return DemoResult(project=project, import_job=import_run(job_id=job.pk))
