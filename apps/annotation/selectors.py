"""Reads for the workbench: an annotator's items, progress and labels; comparisons and labels
for the API. Querysets are limited to what the user may see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, F, Max, OuterRef, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.models import Project, Role, User
from apps.accounts.permissions import Capability, role_can
from apps.accounts.selectors import project_list_for_user
from apps.annotation import queue_sql
from apps.annotation.models import Assignment, Comparison, Label
from apps.prompts.models import Response


def assignment_get(*, project: Project, user: User, pk: int) -> Assignment:
    """One of this person's assignments in the project, with what the page shows; else 404."""
    return get_object_or_404(
        Assignment.objects.select_related("comparison__prompt", "project"),
        pk=pk,
        project=project,
        annotator=user,
    )


def assignment_responses(*, assignment: Assignment, with_prompt: bool = False) -> list[Response]:
    """The item's responses in the order this person is shown them (left first)."""
    order = [int(pk) for pk in assignment.display_order]
    responses = Response.objects.filter(pk__in=order)
    if with_prompt:
        responses = responses.select_related("prompt").only(
            "pk", "text", "prompt_id", "prompt__id", "prompt__input"
        )
    else:
        responses = responses.only("pk", "text", "prompt_id")
    by_id = {r.pk: r for r in responses}
    return [by_id[pk] for pk in order if pk in by_id]


def project_for_next(
    *, user: User, pk: int, now: datetime, exclude: Sequence[int]
) -> tuple[Project, int | None]:
    """The project if the user may annotate there (the same project, 404 and 403 as
    `project_for_user`), and the lease they hold there outside `exclude`
    (`queue_sql.lease_held_id`): one statement for comparisons/next/."""
    found = None
    if user.is_authenticated:
        found = queue_sql.project_with_held_lease(
            project_id=pk, user_id=user.pk, now=now, exclude=exclude
        )
    if found is None:
        raise Http404("No such project.")
    if not role_can(found[0].user_role, Capability.ANNOTATE):
        raise PermissionDenied("Your role in this project does not allow this.")
    return found


def assignment_shown(*, assignment: Assignment) -> queue_sql.Shown:
    """What the person is shown for the item: its prompt, and its responses left first. A
    lease made with `with_texts` carries it already (`assignment.shown`)."""
    return getattr(assignment, "shown", None) or queue_sql.shown(
        order=[int(pk) for pk in assignment.display_order]
    )


def label_current(*, assignment: Assignment) -> Label | None:
    """This person's standing judgment of the item (what undo reopens), if any."""
    return (
        Label.objects.filter(
            comparison_id=assignment.comparison_id,
            annotator_id=assignment.annotator_id,
            superseded_by__isnull=True,
        )
        .order_by("-pk")
        .first()
    )


def label_undoable(*, project: Project, user: User, now: datetime | None = None) -> Label | None:
    """This person's last judgment in the project if `label_undo` would reopen it now:
    recent enough, not superseded, and its item closed (not already reopened)."""
    now = now or timezone.now()
    last = (
        Label.objects.filter(comparison__project=project, annotator=user, assignment__isnull=False)
        .select_related("assignment")
        .annotate(is_superseded=Exists(Label.objects.filter(supersedes=OuterRef("pk"))))
        .order_by("-created_at", "-pk")
        .first()
    )
    window = timedelta(minutes=project.settings.undo_minutes)
    if (
        last is None
        or now - last.created_at > window
        or last.is_superseded
        or last.assignment.status != Assignment.Status.DONE  # type: ignore[union-attr]
    ):
        return None
    return last


def _start_of_today() -> datetime:
    return timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)


@dataclass(frozen=True)
class QueueProgress:
    done_today: int
    remaining: int

    @property
    def percent(self) -> int:
        total = self.done_today + self.remaining
        return round(100 * self.done_today / total) if total else 100


def _remaining_by_project(*, projects: list[Project], user: User) -> dict[int, int]:
    """Items still needing this person's judgment, per project (gold items not counted)."""
    finished = Assignment.objects.filter(
        comparison=OuterRef("pk"),
        annotator=user,
        status__in=[Assignment.Status.DONE, Assignment.Status.SKIPPED],
    )
    return dict(
        Comparison.objects.filter(project__in=projects, is_gold=False, is_open=True)
        .filter(~Exists(finished))
        .values("project")
        .annotate(n=Count("pk"))
        .values_list("project", "n")
    )


def queue_remaining(*, project: Project, user: User) -> int:
    """How many items still need this person's judgment (gold items not counted)."""
    return _remaining_by_project(projects=[project], user=user).get(project.pk, 0)


def queue_progress(*, project: Project, user: User) -> QueueProgress:
    """Judgments made today and items left, for the workbench's progress bar."""
    done_today = Label.objects.filter(
        comparison__project=project,
        annotator=user,
        supersedes__isnull=True,
        created_at__gte=_start_of_today(),
    ).count()
    return QueueProgress(
        done_today=done_today, remaining=queue_remaining(project=project, user=user)
    )


@dataclass(frozen=True)
class AnnotatorQueue:
    project: Project
    role: str
    done_today: int
    remaining: int


def annotator_queues(*, user: User) -> list[AnnotatorQueue]:
    """Every project where this person may annotate, with today's count and what is left."""
    queues = []
    today = _start_of_today()
    done = dict(
        Label.objects.filter(annotator=user, supersedes__isnull=True, created_at__gte=today)
        .values("comparison__project")
        .annotate(n=Count("pk"))
        .values_list("comparison__project", "n")
    )
    projects = [
        project
        for project in project_list_for_user(user=user)
        if role_can(project.user_role, Capability.ANNOTATE)
    ]
    remaining = _remaining_by_project(projects=projects, user=user)
    for project in projects:
        queues.append(
            AnnotatorQueue(
                project=project,
                role=project.user_role,
                done_today=done.get(project.pk, 0),
                remaining=remaining.get(project.pk, 0),
            )
        )
    return queues


def label_list_recent(*, user: User, limit: int = 20) -> QuerySet[Label]:
    """This person's latest judgments across projects, newest first."""
    return (
        Label.objects.filter(annotator=user)
        .select_related("comparison__project", "comparison__prompt")
        .order_by("-created_at", "-pk")[:limit]
    )


def comparison_list(
    *,
    project: Project,
    prompt: int | None = None,
    is_gold: bool | None = None,
    needs_labels: bool | None = None,
) -> QuerySet[Comparison]:
    """A project's comparisons for the API, with the ids a client needs."""
    items = Comparison.objects.filter(project=project).prefetch_related("ranked_responses")
    if prompt is not None:
        items = items.filter(prompt_id=prompt)
    if is_gold is not None:
        items = items.filter(is_gold=is_gold)
    if needs_labels is True:
        items = items.filter(is_open=True)
    elif needs_labels is False:
        items = items.filter(is_open=False)
    return items.order_by("-priority", "pk")


def comparison_get(*, project: Project, user: User, pk: int) -> Comparison | None:
    """One comparison of the project with its prompt and responses, as the user may see it.

    Roles that see the data get any comparison. An annotator gets only one they were
    given (leased, judged or skipped), else PermissionDenied; what an annotator may not
    learn (gold answers, model names) is left out by the API's serializer.
    """
    if not role_can(project.user_role, Capability.VIEW_DATA):
        given = Assignment.objects.filter(project=project, comparison_id=pk, annotator=user)
        if not given.exists():
            raise PermissionDenied(
                "Annotators see only the comparisons they were given: lease one with "
                "comparisons/next/."
            )
    return (
        Comparison.objects.filter(project=project, pk=pk)
        .select_related("prompt", "response_a", "response_b")
        .prefetch_related("ranked_responses")
        .first()
    )


def label_list(
    *,
    project: Project,
    user: User,
    role: str,
    comparison: int | None = None,
    annotator: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> QuerySet[Label]:
    """A project's labels, newest last. Annotators see only their own."""
    labels = Label.objects.filter(comparison__project=project)
    if role == Role.ANNOTATOR:
        labels = labels.filter(annotator=user)
    if comparison is not None:
        labels = labels.filter(comparison_id=comparison)
    if annotator is not None:
        labels = labels.filter(annotator_id=annotator)
    if since is not None:
        labels = labels.filter(created_at__gte=since)
    if until is not None:
        labels = labels.filter(created_at__lt=until)
    return labels.order_by("pk")


# --- label quality ----------------------------------------------------------------------


def review_item_get(*, project: Project, pk: int) -> Comparison:
    """A pair of the project with what the review page shows; else 404."""
    return get_object_or_404(
        Comparison.objects.select_related("prompt", "response_a", "response_b"),
        pk=pk,
        project=project,
        kind=Comparison.Kind.PAIR,
    )


def review_item_labels(*, comparison: Comparison) -> QuerySet[Label]:
    """The labels in force on a comparison (annotators' and imported), oldest first."""
    return (
        Label.objects.filter(comparison=comparison, superseded_by__isnull=True)
        .select_related("annotator")
        .order_by("created_at", "pk")
    )


def gold_list(*, project: Project) -> QuerySet[Comparison]:
    """The project's gold items with how many current annotator labels match their answer."""
    current = Label.objects.filter(
        comparison=OuterRef("pk"), superseded_by__isnull=True, source=Label.Source.ANNOTATOR
    )
    return (
        Comparison.objects.filter(project=project, is_gold=True)
        .select_related("prompt")
        .annotate(
            answered=Count("labels", filter=Q(labels__in=current.values("pk"))),
            correct=Count(
                "labels",
                filter=Q(labels__in=current.values("pk"), labels__choice=F("gold_choice")),
            ),
        )
        .order_by("pk")
    )


def label_newest_at(*, project: Project) -> datetime | None:
    """When the project's newest label was made (superseded ones included), or None."""
    return Label.objects.filter(comparison__project=project).aggregate(newest=Max("created_at"))[
        "newest"
    ]
