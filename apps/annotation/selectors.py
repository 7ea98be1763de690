"""Reads for the workbench: an annotator's items, progress and labels; comparisons and labels
for the API. Querysets are limited to what the user may see."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Exists, F, Max, OuterRef, Prefetch, Q, QuerySet
from django.http import Http404
from django.shortcuts import get_object_or_404
from django.utils import timezone

from apps.accounts.models import Project, Role, User
from apps.accounts.permissions import Capability, role_can
from apps.accounts.selectors import project_list_for_user
from apps.annotation import queue_sql
from apps.annotation.models import Assignment, Comparison, Label
from apps.core.errors import ApplicationError
from apps.prompts.models import Prompt, Response


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


# The orders the comparison and label lists offer, by name: the API's `sort` and the pages'
# sort menu read these. The first is each API list's default.
COMPARISON_SORTS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "priority": ("Priority, highest first", ("-priority", "pk")),
    "newest": ("Newest first", ("-pk",)),
    "oldest": ("Oldest first", ("pk",)),
    "most_labels": ("Most labels first", ("-labels_done", "pk")),
    "fewest_labels": ("Fewest labels first", ("labels_done", "pk")),
}
# Time spent is unknown on imported labels: those sort last either way.
LABEL_SORTS: dict[str, tuple[str, tuple[Any, ...]]] = {
    "oldest": ("Oldest first", ("pk",)),
    "newest": ("Newest first", ("-pk",)),
    "slowest": ("Most time spent first", (F("seconds_spent").desc(nulls_last=True), "-pk")),
    "fastest": ("Least time spent first", (F("seconds_spent").asc(nulls_last=True), "-pk")),
}


def _order(sorts: dict[str, tuple[str, tuple[Any, ...]]], sort: str) -> tuple[Any, ...]:
    """The ordering of `sort`, or of the list's default for a name it does not offer."""
    return sorts[sort][1] if sort in sorts else next(iter(sorts.values()))[1]


def _shows_model(
    rows: QuerySet[Any], project: Project, model: str, prefix: str = ""
) -> QuerySet[Any]:
    """Comparisons (or labels, through `prefix`) where one of the responses is `model`'s.
    The responses are one list that Postgres hashes once, not joins per side."""
    responses = Response.objects.filter(prompt__project=project, model=model).values("pk")
    ranked = Comparison.ranked_responses.through.objects.filter(response__in=responses)
    return rows.filter(
        Q(**{f"{prefix}response_a__in": responses})
        | Q(**{f"{prefix}response_b__in": responses})
        | Q(**{f"{prefix}pk__in": ranked.values("comparison_id")})
    )


def comparison_list(
    *,
    project: Project,
    prompt: int | None = None,
    is_gold: bool | None = None,
    needs_labels: bool | None = None,
    search: str = "",
    model: str = "",
    since: datetime | None = None,
    until: datetime | None = None,
    sort: str = "priority",
) -> QuerySet[Comparison]:
    """A project's comparisons, filtered and in a `COMPARISON_SORTS` order, for the API and
    the comparisons page (which reads a page of ids here, then `comparison_rows`).

    `search` matches the prompt's text; `model` a response's source; `since`/`until` the
    time the comparison was made (from, and before)."""
    items = Comparison.objects.filter(project=project)
    if prompt is not None:
        items = items.filter(prompt_id=prompt)
    if is_gold is not None:
        items = items.filter(is_gold=is_gold)
    if needs_labels is True:
        items = items.filter(is_open=True)
    elif needs_labels is False:
        items = items.filter(is_open=False)
    if search:
        items = items.filter(prompt__input__icontains=search)
    if model:
        items = _shows_model(items, project, model)
    if since is not None:
        items = items.filter(created_at__gte=since)
    if until is not None:
        items = items.filter(created_at__lt=until)
    items = items.prefetch_related("ranked_responses")
    return items.order_by(*_order(COMPARISON_SORTS, sort))


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


def labels_of_others_visible(*, role: str) -> bool:
    """Whether this role sees everyone's labels in a project; annotators see only their own."""
    return role != Role.ANNOTATOR


def label_list(
    *,
    project: Project,
    user: User,
    role: str,
    comparison: int | None = None,
    annotator: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    choice: str = "",
    current: bool | None = None,
    is_gold: bool | None = None,
    model: str = "",
    search: str = "",
    sort: str = "oldest",
) -> QuerySet[Label]:
    """A project's labels, filtered and in a `LABEL_SORTS` order (oldest first unless
    asked), for the API and the labels page (which reads a page of ids here, then
    `label_rows`).

    Annotators see only their own, and judge blind: filtering by gold or by model, which
    would tell them which items are gold or which model wrote a response, is refused
    (ApplicationError). `current`: True for labels in force, False for superseded ones."""
    labels = Label.objects.filter(comparison__project=project)
    if not labels_of_others_visible(role=role):
        labels = labels.filter(annotator=user)
    if not role_can(role, Capability.VIEW_DATA) and (is_gold is not None or model):
        raise ApplicationError(
            "Annotators judge blind: labels cannot be filtered by gold or model."
        )
    if comparison is not None:
        labels = labels.filter(comparison_id=comparison)
    if annotator is not None:
        labels = labels.filter(annotator_id=annotator)
    if since is not None:
        labels = labels.filter(created_at__gte=since)
    if until is not None:
        labels = labels.filter(created_at__lt=until)
    if choice:
        labels = labels.filter(choice=choice)
    if current is not None:
        labels = labels.filter(superseded_by__isnull=current)
    if is_gold is not None:
        labels = labels.filter(comparison__is_gold=is_gold)
    if model:
        labels = _shows_model(labels, project, model, prefix="comparison__")
    if search:
        labels = labels.filter(comparison__prompt__input__icontains=search)
    return labels.order_by(*_order(LABEL_SORTS, sort))


def _in_order(rows: QuerySet[Any], ids: Sequence[int]) -> list[Any]:
    by_id = {row.pk: row for row in rows.filter(pk__in=ids)}
    return [by_id[pk] for pk in ids if pk in by_id]


# A page reads its ids first (sorting and skipping narrow rows), then the rows it shows with
# their joins: joined first, Postgres sorted every comparison's prompt and responses.
def comparison_rows(*, ids: Sequence[int]) -> list[Comparison]:
    """These comparisons (from `comparison_list`), in this order, with their prompt and
    the responses' models (texts left out)."""
    rows = (
        Comparison.objects.select_related("prompt", "response_a", "response_b")
        .defer("response_a__text", "response_b__text", "prompt__references")
        .prefetch_related(
            Prefetch("ranked_responses", queryset=Response.objects.only("pk", "model"))
        )
    )
    return _in_order(rows, ids)


def label_rows(*, ids: Sequence[int]) -> list[Label]:
    """These labels (from `label_list`), in this order, with what the labels page shows."""
    rows = Label.objects.select_related(
        "comparison__prompt", "annotator", "rubric_version__rubric"
    ).annotate(is_superseded=Exists(Label.objects.filter(supersedes=OuterRef("pk"))))
    return _in_order(rows, ids)


@dataclass(frozen=True)
class Agreement:
    """How a comparison's labels in force (annotators' and imported) agree: the answer most
    chose (empty when two answers share the most), how many chose it, and of how many."""

    choice: str
    agreeing: int
    labels: int


def comparison_agreement(*, comparisons: Sequence[Comparison]) -> dict[int, Agreement]:
    """The `Agreement` of each of these comparisons that has labels in force. One query."""
    counts: dict[int, dict[str, int]] = {}
    rows = (
        Label.objects.filter(comparison__in=[c.pk for c in comparisons], superseded_by__isnull=True)
        .exclude(choice="")
        .values_list("comparison_id", "choice")
        .annotate(n=Count("pk"))
        .order_by()
    )
    for comparison_id, choice, n in rows:
        counts.setdefault(comparison_id, {})[choice] = n
    agreement = {}
    for comparison_id, by_choice in counts.items():
        most = max(by_choice.values())
        leaders = [choice for choice, n in by_choice.items() if n == most]
        agreement[comparison_id] = Agreement(
            choice=leaders[0] if len(leaders) == 1 else "",
            agreeing=most,
            labels=sum(by_choice.values()),
        )
    return agreement


def response_models(*, project: Project, sample: int = 1000) -> list[str]:
    """The sources of the responses to the project's latest `sample` prompts, sorted (for
    filters: a project's few models answer most of its prompts)."""
    latest = Prompt.objects.filter(project=project).order_by("-pk").values("pk")[:sample]
    return sorted(
        set(
            Response.objects.filter(prompt__in=latest)
            .exclude(model="")
            .order_by()
            .values_list("model", flat=True)
            .distinct()
        )
    )


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
