"""Inspector pages: the index of versions, one version's inspection (followed live while it
runs), two versions side by side, and accepting fitted weights.

Reading needs Capability.VIEW_DATA (admins, designers, viewers); starting a job or
accepting weights Capability.DESIGN_REWARDS.
"""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from apps.accounts.models import Project
from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user, project_page_context
from apps.core.errors import ApplicationError
from apps.core.htmx import HtmxHttpRequest
from apps.rewards.inspection import selectors, services
from apps.rewards.inspection.charts import inspection_charts
from apps.rewards.models import Inspection, RewardFunctionVersion
from apps.rewards.selectors import reward_function_version_get

TAB = "inspector"


def _version_or_404(project: Project, version_id: int) -> RewardFunctionVersion:
    version = reward_function_version_get(project=project, pk=version_id)
    if version is None:
        raise Http404("No such reward function version.")
    return version


def _inspection_or_404(project: Project, pk: int) -> Inspection:
    inspection = selectors.inspection_get(project=project, pk=pk)
    if inspection is None:
        raise Http404("No such inspection.")
    return inspection


def _panels(version: RewardFunctionVersion) -> dict[str, Any]:
    """What the inspection partial shows: the newest job, and the newest result."""
    current = selectors.inspection_latest(version=version)
    shown = (
        current
        if current is not None and current.status == Inspection.Status.SUCCEEDED
        else selectors.inspection_latest_succeeded(version=version)
    )
    result = shown.result if shown else None
    return {
        "version": version,
        "polling": current is not None and not current.is_finished,
        "current": current,
        "shown": shown,
        "result": result,
        "charts": inspection_charts(result),
        "gamed": [p for p in (result or {}).get("probes", []) if p["verdict"] == "gamed"],
        "sign_rules": services.fit_sign_rules(version=version),
        "free_signs": shown.free_signs if shown else [],
    }


@require_GET
@login_required
def inspector_index(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    context = project_page_context(
        project=project,
        tab=TAB,
        functions=selectors.inspector_index(project=project),
        versions=selectors.version_choices(project=project),
    )
    return render(request, "rewards/inspector_index.html", context)


@require_GET
@login_required
@vary_on_headers("HX-Request")
def inspector_version(request: HtmxHttpRequest, slug: str, version_id: int) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    version = _version_or_404(project, version_id)
    context = project_page_context(
        project=project,
        tab=TAB,
        versions=selectors.version_choices(project=project),
        **_panels(version),
    )
    if request.htmx:
        return render(request, "rewards/inspector.html#inspection", context)
    return render(request, "rewards/inspector.html", context)


@require_POST
@login_required
def inspection_start(request: HtmxHttpRequest, slug: str, version_id: int) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.DESIGN_REWARDS, slug=slug)
    version = _version_or_404(project, version_id)
    try:
        services.inspection_create(
            version=version,
            created_by=request.user,
            free_signs=request.POST.getlist("free_sign"),
        )
    except ApplicationError as error:
        messages.error(request, error.message)
    return redirect("inspector:version", slug=project.slug, version_id=version.pk)


@require_GET
@login_required
def inspection_progress(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """The inspection partial, polled every second; 286 stops polling once the job is done
    (and carries the result's panels)."""
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    inspection = _inspection_or_404(project, pk)
    context = project_page_context(project=project, tab=TAB, **_panels(inspection.version))
    html = render_to_string("rewards/inspector.html#inspection", context, request)
    if inspection.is_finished:
        return HttpResponseStopPolling(html)
    return HttpResponse(html)


@require_POST
@login_required
def inspection_accept_weights(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.DESIGN_REWARDS, slug=slug)
    inspection = _inspection_or_404(project, pk)
    try:
        version = services.inspection_accept_weights(
            inspection=inspection, user=request.user, confirm=request.POST.get("confirm") == "1"
        )
    except ApplicationError as error:
        messages.error(request, error.message)
        return redirect("inspector:version", slug=project.slug, version_id=inspection.version_id)
    messages.success(
        request,
        f"Saved the fitted weights as {version}. Inspect it to see how it does.",
    )
    return redirect("inspector:version", slug=project.slug, version_id=version.pk)


def _chosen(project: Project, value: str | None) -> RewardFunctionVersion | None:
    if not value:
        return None
    if not value.isdigit():
        raise Http404("No such reward function version.")
    return _version_or_404(project, int(value))


@require_GET
@login_required
def inspector_compare(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Two versions side by side: each one's newest result, their distance and the pairs
    whose preferred response flips."""
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    first = _chosen(project, request.GET.get("first"))
    second = _chosen(project, request.GET.get("second"))
    sides = [_panels(v) for v in (first, second) if v is not None]
    comparison = None
    if first is not None and second is not None:
        comparison = services.version_comparison(first=first, second=second)
    context = project_page_context(
        project=project,
        tab=TAB,
        versions=selectors.version_choices(project=project),
        first=first,
        second=second,
        sides=sides,
        comparison=comparison,
    )
    return render(request, "rewards/inspector_compare.html", context)
