"""Pages for imports: the list with the upload form, and one job followed live."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from apps.accounts.models import Project
from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user, project_page_context
from apps.core.errors import ApplicationError
from apps.core.htmx import HtmxHttpRequest
from apps.imports import selectors, services
from apps.imports.forms import ImportUploadForm
from apps.imports.models import ImportJob


def _list_page(
    request: HtmxHttpRequest, project: Project, form: ImportUploadForm, status: int = 200
) -> HttpResponse:
    context = project_page_context(
        project=project, tab="imports", jobs=selectors.import_list(project=project), form=form
    )
    return render(request, "imports/import_list.html", context, status=status)


def _job_context(project: Project, job: ImportJob) -> dict[str, Any]:
    return project_page_context(
        project=project, tab="imports", job=job, progress=selectors.import_progress(job=job)
    )


def _job_or_404(project: Project, pk: int) -> ImportJob:
    job = selectors.import_get(project=project, pk=pk)
    if job is None:
        raise Http404("No such import.")
    return job


@require_GET
@login_required
def import_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    return _list_page(request, project, ImportUploadForm())


@require_POST
@login_required
def import_upload(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """A plain multipart POST, so it works without JavaScript; upload.js only adds progress."""
    project = project_for_user(user=request.user, capability=Capability.IMPORT_DATA, slug=slug)
    form = ImportUploadForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            job = services.import_create(
                project=project,
                created_by=request.user,
                upload=form.cleaned_data["file"],
                skip_invalid=form.cleaned_data["skip_invalid"],
            )
        except ApplicationError as error:
            form.add_error("file", error.message)
        else:
            return redirect("imports:import_detail", slug=project.slug, pk=job.pk)
    return _list_page(request, project, form, status=400)


@require_GET
@login_required
def import_detail(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    job = _job_or_404(project, pk)
    return render(request, "imports/import_detail.html", _job_context(project, job))


@require_GET
@login_required
def import_progress(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """The job's status block, polled every second; 286 stops the polling once it is done."""
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    job = _job_or_404(project, pk)
    html = render_to_string("imports/import_detail.html#job", _job_context(project, job), request)
    if job.is_finished:
        return HttpResponseStopPolling(html)
    return HttpResponse(html)


@require_GET
@login_required
def import_skipped(request: HtmxHttpRequest, slug: str, pk: int) -> FileResponse:
    """The import's report of skipped rows (JSON Lines), as an attachment."""
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    report = selectors.import_skipped_report(job=_job_or_404(project, pk))
    if report is None:
        raise Http404("This import skipped no rows.")
    return FileResponse(
        report.file, as_attachment=True, filename=report.name, content_type=report.content_type
    )
