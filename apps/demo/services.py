"""The demo: two projects over the same realistic prompts, loaded through the same services
a user would call. `demo` is fresh (nothing labelled yet); `demo-lived-in` has been worked
in for a while (see `apps.demo.lived_in`). Safe to run again: what exists is reused."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.core.files import File
from django.db import transaction

from apps.accounts.models import Membership, Project, Role, User
from apps.accounts.services import (
    membership_add,
    membership_change_role,
    project_create,
    project_update,
)
from apps.demo import lived_in
from apps.imports.models import ImportJob
from apps.imports.services import import_create, import_run
from apps.rubrics.models import Rubric
from apps.rubrics.services import rubric_create

DATA_DIR = Path(__file__).resolve().parent / "data"
PROMPTS_FILE = DATA_DIR / "prompts.jsonl"
RUBRIC_FILE = DATA_DIR / "rubric.json"
DEMO_SLUG = "demo"
DEMO_USERS = {"admin": Role.ADMIN, "designer": Role.DESIGNER, "annotator": Role.ANNOTATOR}
LIVED_IN_SLUG = "demo-lived-in"
# The demo's people plus a viewer and the simulated annotators, all with DEMO_PASSWORD.
LIVED_IN_USERS = {
    **DEMO_USERS,
    "viewer": Role.VIEWER,
    **{persona.username: Role.ANNOTATOR for persona in lived_in.PERSONAS},
}


@dataclass(frozen=True)
class DemoResult:
    project: Project
    import_job: ImportJob | None
    lived_in: lived_in.LivedIn | None = None


@transaction.atomic
def _users(password: str) -> dict[str, User]:
    users = {}
    for username in LIVED_IN_USERS:
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
def _project(
    users: dict[str, User],
    *,
    slug: str,
    name: str,
    description: str,
    members: dict[str, Role],
    settings: dict[str, Any] | None = None,
) -> Project:
    """The project with its members, the demo rubric in force and `settings` applied."""
    rubric_spec = json.loads(RUBRIC_FILE.read_text())
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        project = project_create(
            name=name,
            slug=slug,
            created_by=users["admin"],
            description=description,
            guidelines=rubric_spec.get("guidelines", ""),
        )
    for username, role in members.items():
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
    wanted = {**(settings or {}), "rubric_id": rubric.pk}
    if any(project.annotation_settings.get(key) != value for key, value in wanted.items()):
        project_update(
            project=project, annotation_settings={**project.annotation_settings, **wanted}
        )
    return project


def _prompts_import(project: Project, user: User, *, every: int = 1) -> ImportJob | None:
    """Import the demo prompts (every `every`-th of them) into the project once; None when
    they are there already."""
    name = PROMPTS_FILE.name if every == 1 else f"{PROMPTS_FILE.stem}-every-{every}.jsonl"
    already = ImportJob.objects.filter(
        project=project, original_name=name, status=ImportJob.Status.SUCCEEDED
    ).exists()
    if already:
        return None
    lines = PROMPTS_FILE.read_bytes().splitlines(keepends=True)
    job = import_create(
        project=project,
        created_by=user,
        upload=File(io.BytesIO(b"".join(lines[::every])), name=name),
        enqueue=False,
    )
    return import_run(job_id=job.pk)


def demo_load(*, password: str, with_lived_in: bool = True) -> DemoResult:
    """Create or refresh the demo users, both projects, their rubric and prompts; and (with
    `with_lived_in`) the lived-in project's labels, models, reward functions and jobs."""
    users = _users(password)
    project = _project(
        users,
        slug=DEMO_SLUG,
        name="Palate demo: assistant answers",
        description=(
            "Answers from several open chat models to coding, maths, advice, "
            "summarisation, creative, safety and multi-turn requests."
        ),
        members=DEMO_USERS,
    )
    job = _prompts_import(project, users["designer"])
    if (job is not None and job.status != ImportJob.Status.SUCCEEDED) or not with_lived_in:
        return DemoResult(project=project, import_job=job)
    worked_in = _project(
        users,
        slug=LIVED_IN_SLUG,
        name="Palate demo: a project in use",
        description=(
            "The same prompts a few weeks in: six annotators' labels (who disagree, and "
            "why), gold items, a review, a promoted reward model and a gated reward "
            "function with its score run, inspection and an export."
        ),
        members=LIVED_IN_USERS,
        settings=lived_in.SETTINGS,
    )
    # Half the prompts (every kind, code, lists and tables among them): the model's
    # training and the inspection's probes embed every response, which sets the time.
    lived_in_job = _prompts_import(worked_in, users["designer"], every=2)
    if lived_in_job is not None and lived_in_job.status != ImportJob.Status.SUCCEEDED:
        return DemoResult(project=project, import_job=lived_in_job)
    return DemoResult(
        project=project,
        import_job=job,
        lived_in=lived_in.lived_in_fill(project=worked_in, users=users),
    )
