"""Pages for exports: the form and the list, each running export followed live."""

from __future__ import annotations

import os

from django.contrib.auth.decorators import login_required
from django.core.files.storage import default_storage
from django.http import FileResponse, Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.views.decorators.http import require_GET, require_POST
from django_htmx.http import HttpResponseStopPolling

from apps.accounts.models import Project, Role
from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user, project_page_context
from apps.core.errors import ApplicationError
from apps.core.htmx import HtmxHttpRequest
from apps.exports import selectors, services
from apps.exports.forms import ExportForm
from apps.exports.models import Export


def _form(project: Project, data: object = None) -> ExportForm:
    is_admin = project.user_role == Role.ADMIN  # type: ignore[attr-defined]
    return ExportForm(data, project=project, is_admin=is_admin)  # type: ignore[arg-type]


def _list_page(
    request: HtmxHttpRequest, project: Project, form: ExportForm, status: int = 200
) -> HttpResponse:
    context = project_page_context(
        project=project, tab="exports", exports=selectors.export_list(project=project), form=form
    )
    return render(request, "exports/export_list.html", context, status=status)


def _export_or_404(project: Project, pk: int) -> Export:
    export = selectors.export_get(project=project, pk=pk)
    if export is None:
        raise Http404("No such export.")
    return export


@require_GET
@login_required
def export_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.EXPORT_DATA, slug=slug)
    return _list_page(request, project, _form(project))


@require_POST
@login_required
def export_create(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.EXPORT_DATA, slug=slug)
    form = _form(project, request.POST)
    if form.is_valid() and (options := form.options()) is not None:
        try:
            services.export_create(
                project=project,
                user=request.user,
                export_format=form.cleaned_data["format"],
                file_format=form.cleaned_data["file_format"],
                options=options,
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            return redirect("exports:export_list", slug=project.slug)
    return _list_page(request, project, form, status=400)


@require_GET
@login_required
def export_progress(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """One export's row, polled every second; 286 stops the polling once it is done."""
    project = project_for_user(user=request.user, capability=Capability.EXPORT_DATA, slug=slug)
    export = _export_or_404(project, pk)
    context = project_page_context(project=project, tab="exports", export=export)
    html = render_to_string("exports/export_list.html#export_row", context, request)
    if export.is_finished:
        return HttpResponseStopPolling(html)
    return HttpResponse(html)


@require_GET
@login_required
def export_download(request: HtmxHttpRequest, slug: str, pk: int, key: str) -> FileResponse:
    """A finished export's data file (`train`, `test`) or its data card (`card`), streamed."""
    project = project_for_user(user=request.user, capability=Capability.EXPORT_DATA, slug=slug)
    export = _export_or_404(project, pk)
    if export.status != Export.Status.SUCCEEDED:
        raise Http404("This export has no files (yet).")
    entry = export.file_for(key)
    path = export.card_path if key == "card" else (entry["path"] if entry else None)
    if not path:
        raise Http404("No such file in this export.")
    # Its name in storage: the one the data card lists (services.export_file_names).
    name = os.path.basename(path)
    return FileResponse(default_storage.open(path, "rb"), as_attachment=True, filename=name)
