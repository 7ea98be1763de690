"""Rubric pages: the list, one rubric with its versions, the editor, and a diff of versions.

Every member reads rubrics; admins and designers edit them (Capability.DESIGN_RUBRICS).
The editor posts the whole form on each action (add or remove a row, save); htmx swaps
the form back in, and a browser without JavaScript gets the same page.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts.models import Project
from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user, project_page_context
from apps.core.errors import ApplicationError
from apps.core.htmx import HtmxHttpRequest
from apps.rubrics import selectors, services
from apps.rubrics.diff import rubric_diff
from apps.rubrics.forms import RubricDraft
from apps.rubrics.models import Rubric


def _rubric_or_404(project: Project, pk: int) -> Rubric:
    rubric = selectors.rubric_get(project=project, pk=pk)
    if rubric is None:
        raise Http404("No such rubric.")
    return rubric


@require_GET
@login_required
def rubric_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.VIEW_PROJECT, slug=slug)
    rubrics = selectors.rubric_list(project=project)
    in_force = project.settings.rubric_id
    context = project_page_context(
        project=project, tab="rubrics", rubrics=rubrics, rubric_in_force=in_force
    )
    return render(request, "rubrics/rubric_list.html", context)


@require_GET
@login_required
def rubric_detail(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """The version in force (or `?version=N`), and the history with links to diffs."""
    project = project_for_user(user=request.user, capability=Capability.VIEW_PROJECT, slug=slug)
    rubric = _rubric_or_404(project, pk)
    versions = list(selectors.rubric_version_list(rubric=rubric))
    if not versions:
        raise Http404("This rubric has no versions.")
    wanted = request.GET.get("version", "")
    version = next((v for v in versions if str(v.number) == wanted), versions[0])
    context = project_page_context(
        project=project,
        tab="rubrics",
        rubric=rubric,
        version=version,
        spec=version.spec,
        versions=versions,
        is_latest=version.pk == versions[0].pk,
        is_used=selectors.rubric_version_is_used(version=version),
        is_project_rubric=project.settings.rubric_id == rubric.pk,
    )
    return render(request, "rubrics/rubric_detail.html", context)


def _editor(
    request: HtmxHttpRequest,
    project: Project,
    rubric: Rubric | None,
    draft: RubricDraft,
    errors: list[str],
    status: int = 200,
) -> HttpResponse:
    latest = selectors.rubric_version_latest(rubric=rubric) if rubric else None
    context = project_page_context(
        project=project,
        tab="rubrics",
        rubric=rubric,
        draft=draft,
        errors=errors,
        latest=latest,
        latest_is_used=bool(latest and selectors.rubric_version_is_used(version=latest)),
    )
    template = "rubrics/rubric_edit.html"
    if request.htmx:
        template += "#editor"
    return render(request, template, context, status=status)


def _save(
    request: HtmxHttpRequest, project: Project, rubric: Rubric | None, draft: RubricDraft
) -> tuple[Rubric | None, list[str], str]:
    """Validate and save; returns the rubric, the problems (nothing saved), and a notice."""
    criteria, categories, errors = draft.content()
    if not draft.name:
        errors.insert(0, "name: give the rubric a name")
    if errors:
        return None, errors, ""
    try:
        if rubric is None:
            rubric = services.rubric_create(
                project=project,
                name=draft.name,
                description=draft.description,
                criteria=criteria,
                error_categories=categories,
                guidelines=draft.guidelines,
                message=draft.message,
                created_by=request.user,
            )
            return rubric, [], f"Rubric “{rubric.name}” created as version 1."
        before = selectors.rubric_version_latest(rubric=rubric)
        rubric = services.rubric_update(
            rubric=rubric,
            changes={
                "name": draft.name,
                "description": draft.description,
                "criteria": criteria,
                "error_categories": categories,
                "guidelines": draft.guidelines,
                "message": draft.message,
            },
            created_by=request.user,
        )
    except ApplicationError as error:
        return None, error.extra.get("rubric") or [error.message], ""
    latest = selectors.rubric_version_latest(rubric=rubric)
    assert latest is not None
    if before is not None and latest.pk != before.pk:
        notice = (
            f"Version {before.number} is in use, so it stays as it was: "
            f"your changes are version {latest.number}."
        )
    else:
        notice = f"Version {latest.number} saved."
    return rubric, [], notice


@require_http_methods(["GET", "POST"])
@login_required
@vary_on_headers("HX-Request")
def rubric_edit(request: HtmxHttpRequest, slug: str, pk: int | None = None) -> HttpResponse:
    """Create (no `pk`) or edit a rubric. A version in use is never changed: saving then
    adds the next version; an unused latest version is edited in place."""
    project = project_for_user(user=request.user, capability=Capability.DESIGN_RUBRICS, slug=slug)
    rubric = _rubric_or_404(project, pk) if pk is not None else None
    if request.method == "GET":
        latest = selectors.rubric_version_latest(rubric=rubric) if rubric else None
        return _editor(request, project, rubric, RubricDraft.of(rubric, latest), [])
    draft = RubricDraft.from_post(request.POST)
    action = request.POST.get("action", "save")
    if action != "save":
        draft.apply(action)
        return _editor(request, project, rubric, draft, [])
    saved, errors, notice = _save(request, project, rubric, draft)
    if saved is None:
        return _editor(request, project, rubric, draft, errors, status=422)
    messages.success(request, notice)
    url = reverse("rubrics:rubric_detail", args=[project.slug, saved.pk])
    return HttpResponseClientRedirect(url) if request.htmx else redirect(url)


@require_GET
@login_required
def rubric_version_diff(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """What changed from `?from=N` to `?to=M` (default: the two newest versions)."""
    project = project_for_user(user=request.user, capability=Capability.VIEW_PROJECT, slug=slug)
    rubric = _rubric_or_404(project, pk)
    versions = list(selectors.rubric_version_list(rubric=rubric))
    by_number = {str(v.number): v for v in versions}
    new = by_number.get(request.GET.get("to", ""), versions[0] if versions else None)
    old = by_number.get(request.GET.get("from", ""))
    if old is None and new is not None:
        old = next((v for v in versions if v.number < new.number), None)
    if old is None or new is None:
        raise Http404("Pick two versions to compare.")
    context = project_page_context(
        project=project,
        tab="rubrics",
        rubric=rubric,
        versions=versions,
        diff=rubric_diff(old=old, new=new),
    )
    return render(request, "rubrics/rubric_diff.html", context)
