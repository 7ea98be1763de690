"""The comparisons and labels pages: the API's lists (`selectors.comparison_list`,
`selectors.label_list`), browsable and filterable, with the same filters and access rules.

Prompts and responses are untrusted model output: templates escape them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.accounts.permissions import Capability, role_can
from apps.accounts.selectors import membership_list, project_for_user, project_page_context
from apps.annotation import selectors
from apps.annotation.forms import ComparisonFilterForm, LabelFilterForm
from apps.annotation.models import Comparison, Label
from apps.core.htmx import HtmxHttpRequest

PAGE_SIZE = 50


def _render(
    request: HtmxHttpRequest, name: str, context: dict[str, Any], *, noun: str, empty: str
) -> HttpResponse:
    """The page (`annotation/<name>_list.html`), or for htmx (filters, pages) its results
    alone, with the table `annotation/partials/<name>_rows.html`."""
    context.update(
        list_url=reverse(f"annotation:{name}_list", args=[context["project"].slug]),
        table_template=f"annotation/partials/{name}_rows.html",
        noun=noun,
        empty=empty,
    )
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "components/list_results.html", context)
    return render(request, f"annotation/{name}_list.html", context)


@require_GET
@login_required
@vary_on_headers("HX-Request")
def comparison_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """A project's comparisons with their sources, labels so far, agreement and status."""
    # Who may list comparisons is the API's rule: roles that see the data.
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    form = ComparisonFilterForm(request.GET, models=selectors.response_models(project=project))
    ids = selectors.comparison_list(project=project, **form.filters()).values_list("pk", flat=True)
    page = Paginator(ids, PAGE_SIZE).get_page(request.GET.get("page"))
    comparisons = selectors.comparison_rows(ids=list(page.object_list))
    agreement = selectors.comparison_agreement(comparisons=comparisons)
    rows = [
        {
            "comparison": comparison,
            "models": _models(comparison),
            "agreement": agreement.get(comparison.pk),
        }
        for comparison in comparisons
    ]
    context = project_page_context(
        project=project,
        tab="prompts",
        section="comparisons",
        form=form,
        page=page,
        rows=rows,
        is_filtered=form.is_filtered(),
    )
    return _render(request, "comparison", context, noun="comparison", empty="No comparisons yet.")


def _models(comparison: Comparison) -> list[str]:
    """The responses' sources: a pair's a and b, or a ranking's responses by id."""
    if comparison.response_a_id is not None:
        return [comparison.response_a.model, comparison.response_b.model]
    return [response.model for response in comparison.ranked_responses.all()]


@require_GET
@login_required
@vary_on_headers("HX-Request")
def label_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """A project's labels, as the API lists them to this person: annotators see their own."""
    project = project_for_user(user=request.user, capability=Capability.VIEW_PROJECT, slug=slug)
    role = project.user_role
    sees_data = role_can(role, Capability.VIEW_DATA)
    sees_others = selectors.labels_of_others_visible(role=role)
    annotators = None
    if sees_others:
        annotators = [
            (membership.user_id, membership.user.get_username())
            for membership in membership_list(project=project)
            if role_can(membership.role, Capability.ANNOTATE)
        ]
    form = LabelFilterForm(
        request.GET,
        models=selectors.response_models(project=project) if sees_data else [],
        annotators=annotators,
        blind=not sees_data,
    )
    # The form offers blind roles no gold or source filter, which the selector would refuse.
    labels = selectors.label_list(project=project, user=request.user, role=role, **form.filters())
    page = Paginator(labels.values_list("pk", flat=True), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    strength_scale = project.settings.strength_scale
    rows = [
        {
            "label": label,
            "strength": _strength(strength_scale, label.strength),
            "side": _side(label),
        }
        for label in selectors.label_rows(ids=list(page.object_list))
    ]
    context = project_page_context(
        project=project,
        # Annotators have no Prompts tab: their labels sit beside their report.
        tab="prompts" if sees_data else "quality",
        section="labels",
        form=form,
        page=page,
        rows=rows,
        sees_data=sees_data,
        sees_others=sees_others,
        is_filtered=form.is_filtered(),
    )
    return _render(request, "label", context, noun="label", empty="No labels yet.")


def _strength(scale: list[str], strength: int | None) -> str:
    if strength is None:
        return ""
    return scale[strength] if 0 <= strength < len(scale) else str(strength)


def _side(label: Label) -> str:
    """Where the response the label preferred was shown ('left' or 'right'), if known:
    `shown_order` names the left response first."""
    if label.choice not in (Label.Choice.A, Label.Choice.B) or label.shown_order not in (
        "ab",
        "ba",
    ):
        return ""
    return "left" if label.choice == label.shown_order[0] else "right"
