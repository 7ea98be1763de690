"""The annotation workbench: the compare page, its htmx endpoints, and the annotator's home.

Annotators judge blind: nothing here renders a model name. Responses are shown in the
assignment's `display_order` and named by position; the form's left/right choice is
mapped to the comparison's a/b on the server (see `forms.side_to_choice`).

Every item endpoint answers with HTML: the next item (and the status bar, out of band)
on success, or the error's message with status 422, retargeted to the workbench's
alert region, so a refused action never swaps the item away.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import reswap, retarget

from apps.accounts.models import Project, User
from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user, project_page_context
from apps.annotation import selectors, services
from apps.annotation.forms import RATING_PREFIX, JudgmentForm, choice_to_side
from apps.annotation.models import Assignment, Comparison, Label
from apps.core.errors import ApplicationError
from apps.core.htmx import HtmxHttpRequest
from apps.prompts.models import Response
from apps.rubrics.schema import Criterion, RubricSpec

ALERT_TARGET = "#workbench-alert"


# --- what an item shows -----------------------------------------------------------------


@dataclass(frozen=True)
class RatingRow:
    """One criterion to rate for one response: the radio group's name and points."""

    criterion: Criterion
    field_name: str
    points: list[tuple[int, str]]
    value: int | None


@dataclass(frozen=True)
class ShownResponse:
    """A response as this annotator sees it: by position, never by model."""

    response: Response
    position: int
    ratings: list[RatingRow]


@dataclass(frozen=True)
class Prefill:
    """An earlier judgment of a reopened item (after undo), shown for editing."""

    side: str = ""
    strength: int | None = None
    rationale: str = ""
    spans_json: str = "[]"


@dataclass(frozen=True)
class Item:
    assignment: Assignment
    comparison: Comparison
    is_ranking: bool
    responses: list[ShownResponse]
    strength_scale: list[tuple[int, str]]
    error_categories: list[str]
    rationale_required: bool
    idempotency_key: str
    prefill: Prefill
    ranking_value: str
    is_reopened: bool
    # The prompt's reference answers, when the project lets annotators see them.
    references: list[str]


def _rubric_spec(project: Project) -> RubricSpec | None:
    rubric = services.rubric_version_in_force(project)
    return rubric.spec if rubric else None


def _points(criterion: Criterion) -> list[tuple[int, str]]:
    scale = criterion.scale
    return [(point, scale.labels.get(str(point), "")) for point in range(scale.min, scale.max + 1)]


def _item(project: Project, assignment: Assignment, spec: RubricSpec | None) -> Item:
    settings = project.settings
    comparison = assignment.comparison
    responses = selectors.assignment_responses(assignment=assignment)
    earlier = selectors.label_current(assignment=assignment)
    prefill = _prefill(earlier, assignment) if earlier else Prefill()
    if comparison.kind == Comparison.Kind.RANKING and earlier and earlier.ranking:
        rank = {int(pk): index for index, pk in enumerate(earlier.ranking)}
        responses.sort(key=lambda response: rank.get(response.pk, len(rank)))
    criteria = spec.criteria if (spec and settings.rate_criteria) else []
    earlier_ratings = earlier.ratings if earlier else {}
    position = {int(pk): index for index, pk in enumerate(assignment.display_order, start=1)}
    shown = [
        ShownResponse(
            response=response,
            position=position[response.pk],
            ratings=[
                RatingRow(
                    criterion=criterion,
                    field_name=f"{RATING_PREFIX}{response.pk}:{criterion.name}",
                    points=_points(criterion),
                    value=earlier_ratings.get(str(response.pk), {}).get(criterion.name),
                )
                for criterion in criteria
            ],
        )
        for response in responses
    ]
    return Item(
        assignment=assignment,
        comparison=comparison,
        is_ranking=comparison.kind == Comparison.Kind.RANKING,
        responses=shown,
        strength_scale=list(enumerate(settings.strength_scale)),
        error_categories=[category.name for category in spec.error_categories] if spec else [],
        rationale_required=settings.rationale_required,
        idempotency_key=uuid.uuid4().hex,
        prefill=prefill,
        ranking_value=",".join(str(r.response.pk) for r in shown),
        is_reopened=earlier is not None,
        references=[
            reference if isinstance(reference, str) else json.dumps(reference)
            for reference in (comparison.prompt.references or [])
        ]
        if settings.show_reference_to_annotators
        else [],
    )


def _prefill(label: Label, assignment: Assignment) -> Prefill:
    comparison = assignment.comparison
    side = ""
    if label.choice:
        side = choice_to_side(
            label.choice,
            display_order=[int(pk) for pk in assignment.display_order],
            response_a_id=comparison.response_a_id,
        )
    return Prefill(
        side=side,
        strength=label.strength,
        rationale=label.rationale,
        spans_json=json.dumps(label.spans),
    )


def _can_undo(project: Project, user: User) -> bool:
    """Whether `label_undo` would reopen something now."""
    return selectors.label_undoable(project=project, user=user) is not None


def _item_context(
    project: Project,
    assignment: Assignment | None,
    spec: RubricSpec | None = None,
    paused: str = "",
) -> dict[str, Any]:
    if assignment is not None and spec is None:
        spec = _rubric_spec(project)
    item = _item(project, assignment, spec) if assignment else None
    return project_page_context(project=project, tab="annotate", item=item, paused=paused)


def _next(
    project: Project, user: User, exclude: list[int] | None = None
) -> tuple[Assignment | None, str]:
    """The next lease, or None with the reason when the queue is paused (gold accuracy)."""
    try:
        return services.assignment_next(project=project, user=user, exclude=exclude or ()), ""
    except ApplicationError as error:
        return None, error.message


def _status_context(request: HtmxHttpRequest, project: Project) -> dict[str, Any]:
    return {
        "progress": selectors.queue_progress(project=project, user=request.user),
        "can_undo": _can_undo(project, request.user),
    }


def _annotator_project(request: HtmxHttpRequest, slug: str) -> Project:
    return project_for_user(user=request.user, capability=Capability.ANNOTATE, slug=slug)


def _show(
    request: HtmxHttpRequest, project: Project, assignment: Assignment | None, paused: str = ""
) -> HttpResponse:
    """The item and, out of band, the status bar: what every item action answers with."""
    if not request.htmx:
        return redirect("annotation:workbench", slug=project.slug)
    context = _item_context(project, assignment, paused=paused)
    context.update(_status_context(request, project))
    return render(request, "annotation/workbench.html#swap", context)


def _refuse(request: HtmxHttpRequest, project: Project, message: str) -> HttpResponse:
    """An ApplicationError's message in the alert region, with 422; the item stays."""
    if not request.htmx:
        messages.error(request, message)
        return redirect("annotation:workbench", slug=project.slug)
    response = render(request, "components/htmx_error.html", {"message": message}, status=422)
    return reswap(retarget(response, ALERT_TARGET), "innerHTML")


def _reason(request: HtmxHttpRequest) -> str:
    return request.POST.get("reason", "")[:1000]


# --- pages ------------------------------------------------------------------------------


@require_GET
@login_required
def workbench(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The compare page: leases the annotator's next item (or the one they already hold)."""
    project = _annotator_project(request, slug)
    assignment, paused = _next(project, request.user)
    rubric_version = services.rubric_version_in_force(project)
    spec = rubric_version.spec if rubric_version else None
    context = _item_context(project, assignment, spec, paused)
    context.update(_status_context(request, project))
    # The version new labels are made under (each label keeps it): shown with its guidelines.
    context["rubric_version"] = rubric_version
    context["rubric_spec"] = spec if (spec and project.settings.rate_criteria) else None
    context["error_categories"] = spec.error_categories if spec else []
    return render(request, "annotation/workbench.html", context)


@require_GET
@login_required
def item_next(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The item after the one on screen, leased now so the page can prefetch it."""
    project = _annotator_project(request, slug)
    exclude = [int(pk) for pk in request.GET.getlist("exclude") if pk.isdigit()]
    assignment, paused = _next(project, request.user, exclude)
    context = _item_context(project, assignment, paused=paused)
    return render(request, "annotation/workbench.html#item", context)


@require_POST
@login_required
def label_submit(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """Record the judgment (idempotent by its key) and answer with the next item."""
    project = _annotator_project(request, slug)
    assignment = selectors.assignment_get(project=project, user=request.user, pk=pk)
    form = JudgmentForm(request.POST, assignment=assignment)
    try:
        judgment = form.judgment()
        services.label_submit(assignment=assignment, user=request.user, judgment=judgment)
    except ApplicationError as error:
        return _refuse(request, project, error.message)
    return _show(request, project, *_next(project, request.user))


@require_POST
@login_required
def item_skip(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = _annotator_project(request, slug)
    assignment = selectors.assignment_get(project=project, user=request.user, pk=pk)
    try:
        services.assignment_skip(assignment=assignment, user=request.user, reason=_reason(request))
    except ApplicationError as error:
        return _refuse(request, project, error.message)
    return _show(request, project, *_next(project, request.user))


@require_POST
@login_required
def item_flag(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """Flag the item for a reviewer; the annotator stays on it."""
    project = _annotator_project(request, slug)
    assignment = selectors.assignment_get(project=project, user=request.user, pk=pk)
    try:
        services.comparison_flag(
            comparison=assignment.comparison, user=request.user, reason=_reason(request)
        )
    except ApplicationError as error:
        return _refuse(request, project, error.message)
    notice = "Flagged for a reviewer. Thank you — you can judge this item or skip it."
    if not request.htmx:
        messages.success(request, notice)
        return redirect("annotation:workbench", slug=project.slug)
    return render(request, "annotation/workbench.html#flagged", {"notice": notice})


@require_POST
@login_required
def label_undo(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Reopen the last judged item, filled in with that judgment."""
    project = _annotator_project(request, slug)
    try:
        assignment = services.label_undo(project=project, user=request.user)
    except ApplicationError as error:
        return _refuse(request, project, error.message)
    assignment = selectors.assignment_get(project=project, user=request.user, pk=assignment.pk)
    return _show(request, project, assignment)


@require_GET
@login_required
def home(request: HtmxHttpRequest) -> HttpResponse:
    """My work: queues across projects, today's count, recent judgments."""
    queues = selectors.annotator_queues(user=request.user)
    labels = list(selectors.label_list_recent(user=request.user))
    superseded = set(
        Label.objects.filter(supersedes__in=labels).values_list("supersedes_id", flat=True)
    )
    recent = [
        {
            "label": label,
            "verdict": _verdict(label),
            "is_superseded": label.pk in superseded,
            "url": reverse("annotation:workbench", args=[label.comparison.project.slug]),
        }
        for label in labels
    ]
    context = {
        "queues": queues,
        "total_today": sum(queue.done_today for queue in queues),
        "recent": recent,
    }
    return render(request, "annotation/home.html", context)


def _verdict(label: Label) -> str:
    """A judgment in the words the annotator saw it in (positions, not a/b)."""
    if label.ranking:
        return f"Ranked {len(label.ranking)} responses"
    if label.choice == Label.Choice.TIE:
        return "Tie"
    if label.choice == Label.Choice.BOTH_BAD:
        return "Both bad"
    left_is_a = label.shown_order != "ba"
    side = "1" if (label.choice == Label.Choice.A) == left_is_a else "2"
    return f"Response {side} better"
