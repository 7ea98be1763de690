"""Label-quality pages: agreement (with a recompute button), annotator reports (with the
admin's resume button), the review queue and its items, and gold items.

Pages read the figures a worker stored (`reports.AgreementReport`) and say how fresh they
are; review decisions and gold answers are written through `review`'s services.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseClientRefresh

from apps.accounts.models import Project, User
from apps.accounts.permissions import Capability, role_can
from apps.accounts.selectors import project_for_user, project_page_context
from apps.annotation import quality_charts, reports, review, selectors
from apps.annotation.forms import GoldForm, ReviewForm
from apps.annotation.models import Comparison, Label
from apps.core.errors import ApplicationError
from apps.core.htmx import HtmxHttpRequest

REVIEW_PAGE = 50


def _page(project: Project, section: str, **extra: Any) -> dict[str, Any]:
    report = reports.agreement_report_get(project=project)
    # Figures older than the newest label leave it out (a recompute is queued, or was lost
    # with a killed worker): the freshness line says so.
    newest_label_at = None
    if report is not None and report.computed_at is not None:
        newest = selectors.label_newest_at(project=project)
        if newest is not None and newest > report.computed_at:
            newest_label_at = newest
    return project_page_context(
        project=project,
        tab="quality",
        section=section,
        report=report,
        newest_label_at=newest_label_at,
        **extra,
    )


# --- agreement --------------------------------------------------------------------------


@require_GET
@login_required
def quality(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Agreement figures with their intervals and item counts, as the worker last stored them."""
    project = project_for_user(user=request.user, capability=Capability.VIEW_QUALITY, slug=slug)
    context = _page(project, "agreement")
    figures = context["report"].figures if context["report"] else {}
    rows = quality_charts.estimate_rows(figures)
    groups = quality_charts.group_rows(figures)
    names = figures.get("annotator_names", {}) if figures else {}
    context.update(
        rows=rows,
        summary_chart=quality_charts.interval_bars(rows) if rows else None,
        groups=groups,
        group_chart=quality_charts.interval_bars(groups, horizontal=True) if groups else None,
        kappa_chart=quality_charts.kappa_heatmap(figures),
        kappa=[
            {**pair, "names": [names.get(str(pk), f"#{pk}") for pk in pair["annotators"]]}
            for pair in (figures.get("kappa", []) if figures else [])
        ],
    )
    return render(request, "annotation/quality.html", context)


@require_GET
@login_required
def quality_status(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """The freshness line, polled while a recompute is queued; reloads the page when done."""
    project = project_for_user(user=request.user, capability=Capability.VIEW_QUALITY, slug=slug)
    context = _page(project, "agreement")
    report = context["report"]
    if report is not None and report.requested_at is None and request.htmx:
        return HttpResponseClientRefresh()
    return render(request, "annotation/quality.html#freshness", context)


@require_POST
@login_required
def quality_recompute(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Queue a recompute now (admins and designers), e.g. after changing the consensus rule."""
    project = project_for_user(user=request.user, capability=Capability.MANAGE_QUALITY, slug=slug)
    reports.agreement_request(project_id=project.pk, force=True)
    messages.success(request, "Recompute queued: the figures update when a worker has run it.")
    return redirect("annotation:quality", slug=project.slug)


# --- annotators -------------------------------------------------------------------------


@require_GET
@login_required
def annotator_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Every annotator's figures beside the team's, flags first in mind."""
    project = project_for_user(user=request.user, capability=Capability.MANAGE_QUALITY, slug=slug)
    context = _page(project, "annotators")
    stored = context["report"].annotators if context["report"] else {}
    people = stored.get("people", [])
    context.update(
        people=people,
        team=stored.get("team"),
        people_chart=quality_charts.people_bars(people, stored["team"]) if people else None,
        paused=set(review.paused_users(project=project).values_list("user_id", flat=True)),
        min_median_seconds=f"{reports.FLAG_MIN_MEDIAN_SECONDS:g}",
        # Reports stored before the leave-one-out rule counted each person's own vote.
        consensus_outdated=bool(people) and "skipped" not in stored["team"]["consensus"],
    )
    return render(request, "annotation/quality_annotators.html", context)


def _report_target(request: HtmxHttpRequest, slug: str, user_id: int) -> tuple[Project, User]:
    """Admins and designers see anyone's report; an annotator only their own."""
    project = project_for_user(user=request.user, capability=Capability.VIEW_PROJECT, slug=slug)
    role = project.user_role  # type: ignore[attr-defined]
    own = user_id == request.user.pk and role_can(role, Capability.ANNOTATE)
    if not (own or role_can(role, Capability.MANAGE_QUALITY)):
        raise PermissionDenied("Your role in this project does not allow this.")
    person = User.objects.filter(pk=user_id, memberships__project=project).first()
    if person is None:
        raise Http404("No such member.")
    return project, person


@dataclass(frozen=True)
class Row:
    """One figure of a person beside the team's."""

    name: str
    theirs: str
    team: str


def _share(figure: dict[str, Any] | None) -> str:
    if not figure or figure["share"] is None:
        return "—"
    return f"{figure['share']:.0%} ({figure['count']}/{figure['n']})"


def _consensus(figure: dict[str, Any] | None) -> str:
    """Agreement with the others' consensus, with what it rests on and what it skipped."""
    if not figure or "skipped" not in figure:
        return "— (computed before the leave-one-out rule: recompute)"
    skipped = f"{figure['skipped']} skipped"
    if figure["share"] is None:
        return f"— (none compared; {skipped})"
    return f"{figure['share']:.0%} ({figure['count']}/{figure['n']}; {skipped})"


def _rows(person: dict[str, Any], team: dict[str, Any]) -> list[Row]:
    def seconds(value: float | None) -> str:
        return "—" if value is None else f"{value:.1f} s"

    def left(figure: dict[str, Any]) -> str:
        if figure["share"] is None:
            return "—"
        return f"{figure['share']:.0%} of {figure['n']} (p = {figure['p_value']:.3g})"

    return [
        Row("Median time per item", seconds(person["median_seconds"]),
            seconds(team["median_seconds"])),
        Row("Agreement with the others' consensus", _consensus(person["consensus"]),
            _consensus(team["consensus"])),
        Row("Gold accuracy", _share(person["gold"]), _share(team["gold"])),
        Row("Chose the left response", left(person["position"]), left(team["position"])),
        Row("Tie rate", _share(person["tie"]), _share(team["tie"])),
        Row("Both-bad rate", _share(person["both_bad"]), _share(team["both_bad"])),
        Row("Chose the longer response", _share(person["longer"]), _share(team["longer"])),
    ]  # fmt: skip


@require_GET
@login_required
def annotator_report(request: HtmxHttpRequest, slug: str, user_id: int) -> HttpResponse:
    project, person = _report_target(request, slug, user_id)
    context = _page(project, "annotators" if person != request.user else "mine", person=person)
    stored = context["report"].annotators if context["report"] else {}
    figures = reports.annotator_report_of(context["report"], person.pk)
    team = stored.get("team")
    context.update(
        figures=figures,
        rows=_rows(figures, team) if figures and team else [],
        day_chart=quality_charts.labels_per_day(figures) if figures else None,
        gold_chart=(
            quality_charts.gold_over_time(figures, team["gold"]["share"])
            if figures and figures["gold_by_day"]
            else None
        ),
        gold_now=review.gold_accuracy(project=project, user=person),
        paused=review.annotator_paused(project=project, user=person),
    )
    return render(request, "annotation/quality_annotator.html", context)


@require_POST
@login_required
def annotator_resume(request: HtmxHttpRequest, slug: str, user_id: int) -> HttpResponse:
    """An admin lets a paused annotator work again."""
    project = project_for_user(user=request.user, capability=Capability.MANAGE_PROJECT, slug=slug)
    person = User.objects.filter(pk=user_id, memberships__project=project).first()
    if person is None:
        raise Http404("No such member.")
    try:
        review.annotator_resume(project=project, user=person, by=request.user)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"{person.username} can annotate again.")
    return redirect("annotation:quality_annotator", slug=project.slug, user_id=person.pk)


# --- review -----------------------------------------------------------------------------


@require_GET
@login_required
def review_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Pairs whose labels disagree, or that are flagged, waiting for a reviewer."""
    project = project_for_user(user=request.user, capability=Capability.MANAGE_QUALITY, slug=slug)
    queue = review.review_queue(project=project)
    context = _page(project, "review", total=queue.count(), items=list(queue[:REVIEW_PAGE]))
    return render(request, "annotation/review_list.html", context)


@dataclass(frozen=True)
class SpanView:
    response: str  # "A" or "B"
    quote: str
    category: str
    note: str


@dataclass(frozen=True)
class LabelView:
    label: Label
    who: str
    verdict: str
    strength: str
    spans: list[SpanView]


def _label_views(project: Project, comparison: Comparison) -> list[LabelView]:
    scale = project.settings.strength_scale
    texts = {
        comparison.response_a_id: ("A", comparison.response_a.text),  # type: ignore[union-attr]
        comparison.response_b_id: ("B", comparison.response_b.text),  # type: ignore[union-attr]
    }
    views = []
    for label in selectors.review_item_labels(comparison=comparison):
        spans = []
        for span in label.spans:
            side, text = texts.get(span.get("response"), ("?", ""))
            quote = text[int(span.get("start", 0)) : int(span.get("end", 0))]
            spans.append(SpanView(side, quote, span.get("category", ""), span.get("note", "")))
        strength = ""
        if label.strength is not None and label.strength < len(scale):
            strength = scale[label.strength]
        who = label.annotator.username if label.annotator else "Imported"
        views.append(LabelView(label, who, label.get_choice_display(), strength, spans))
    return views


def _span_marks(comparison: Comparison, labels: list[Label]) -> dict[str, str]:
    """Each response's marked spans, from every label in force, as JSON for
    static/js/model-text.js: {"a": [{start, end, title}], "b": [...]}."""
    sides = {comparison.response_a_id: "a", comparison.response_b_id: "b"}
    marks: dict[str, list[dict[str, object]]] = {"a": [], "b": []}
    for label in labels:
        who = label.annotator.username if label.annotator else "Imported"
        for span in label.spans:
            side = sides.get(span.get("response"))
            if side is None:
                continue
            title = f"{who}: {span.get('category', '')}" + (
                f" — {span['note']}" if span.get("note") else ""
            )
            marks[side].append({"start": span.get("start"), "end": span.get("end"), "title": title})
    return {side: json.dumps(spans) for side, spans in marks.items()}


def _review_item_page(
    request: HtmxHttpRequest, project: Project, comparison: Comparison, form: ReviewForm,
    status: int = 200,
) -> HttpResponse:  # fmt: skip
    queue = review.review_queue(project=project)
    labels = _label_views(project, comparison)
    context = _page(
        project,
        "review",
        comparison=comparison,
        labels=labels,
        span_marks=_span_marks(comparison, [view.label for view in labels]),
        decisions=comparison.review_decisions.select_related("reviewer").order_by("-pk"),
        flags=comparison.flags.select_related("user").order_by("pk"),
        form=form,
        gold_form=GoldForm(initial={"comparison": comparison.pk,
                                    "gold_choice": comparison.gold_choice}),
        in_queue=queue.filter(pk=comparison.pk).exists(),
        strength_scale=project.settings.strength_scale,
    )  # fmt: skip
    return render(request, "annotation/review_item.html", context, status=status)


@require_GET
@login_required
def review_item(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """One pair with every label in force side by side, and the reviewer's form."""
    project = project_for_user(user=request.user, capability=Capability.MANAGE_QUALITY, slug=slug)
    comparison = selectors.review_item_get(project=project, pk=pk)
    form = ReviewForm(strength_scale=project.settings.strength_scale)
    return _review_item_page(request, project, comparison, form)


@require_POST
@login_required
def review_decide(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """Record the reviewer's final judgment, then go to the next item in the queue."""
    project = project_for_user(user=request.user, capability=Capability.MANAGE_QUALITY, slug=slug)
    comparison = selectors.review_item_get(project=project, pk=pk)
    form = ReviewForm(request.POST, strength_scale=project.settings.strength_scale)
    if form.is_valid():
        try:
            review.review_decide(
                comparison=comparison,
                reviewer=request.user,
                choice=form.cleaned_data["choice"],
                strength=form.cleaned_data["strength"],
                note=form.cleaned_data["note"],
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Comparison {comparison.pk}: decision recorded.")
            following = review.review_queue(project=project).first()
            if following is not None:
                return redirect("annotation:review_item", slug=project.slug, pk=following.pk)
            return redirect("annotation:review_list", slug=project.slug)
    return _review_item_page(request, project, comparison, form, status=400)


# --- gold -------------------------------------------------------------------------------


def _gold_page(
    request: HtmxHttpRequest, project: Project, form: GoldForm, status: int = 200
) -> HttpResponse:
    context = _page(project, "gold", items=selectors.gold_list(project=project), form=form)
    return render(request, "annotation/gold_list.html", context, status=status)


@require_GET
@login_required
def gold_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Gold items with their answers and how often annotators got them right."""
    project = project_for_user(user=request.user, capability=Capability.MANAGE_QUALITY, slug=slug)
    return _gold_page(request, project, GoldForm())


@require_POST
@login_required
def gold_mark(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Mark a pair as gold with its answer, or unmark it (empty answer)."""
    project = project_for_user(user=request.user, capability=Capability.MANAGE_QUALITY, slug=slug)
    form = GoldForm(request.POST)
    if form.is_valid():
        comparison = Comparison.objects.filter(
            project=project, pk=form.cleaned_data["comparison"]
        ).first()
        if comparison is None:
            form.add_error("comparison", "No such comparison in this project.")
        else:
            try:
                review.comparison_mark_gold(
                    comparison=comparison, gold_choice=form.cleaned_data["gold_choice"] or None
                )
            except ApplicationError as error:
                form.add_error(None, error.message)
            else:
                state = "is now a gold item" if comparison.is_gold else "is no longer gold"
                messages.success(request, f"Comparison {comparison.pk} {state}.")
                if request.POST.get("from") == "review":
                    return redirect("annotation:review_item", slug=project.slug, pk=comparison.pk)
                return redirect("annotation:gold_list", slug=project.slug)
    return _gold_page(request, project, form, status=400)
