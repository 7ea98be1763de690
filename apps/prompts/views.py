"""The prompt browser. Prompts and responses are untrusted model output: templates escape them."""

from __future__ import annotations

import json
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from apps.accounts.permissions import Capability
from apps.accounts.selectors import project_for_user, project_page_context
from apps.core.htmx import HtmxHttpRequest
from apps.prompts import selectors
from apps.prompts.forms import PromptFilterForm

PAGE_SIZE = 50


def _as_text(value: Any) -> str:
    """A JSON value as one line of text: strings as they are, anything else as JSON."""
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


def _items(mapping: Any) -> list[tuple[str, str]]:
    if not isinstance(mapping, dict):
        return [("value", _as_text(mapping))] if mapping else []
    return [(str(key), _as_text(value)) for key, value in mapping.items()]


@require_GET
@login_required
@vary_on_headers("HX-Request")
def prompt_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    form = PromptFilterForm(
        request.GET,
        groups=selectors.prompt_groups(project=project),
        metadata_keys=selectors.prompt_metadata_keys(project=project),
    )
    filters = form.filters()
    prompts = selectors.prompt_list(project=project, **filters)
    page = Paginator(prompts, PAGE_SIZE).get_page(request.GET.get("page"))
    context = project_page_context(
        project=project, tab="prompts", form=form, page=page, is_filtered=any(filters.values())
    )
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "prompts/prompt_list.html#results", context)
    return render(request, "prompts/prompt_list.html", context)


@require_GET
@login_required
def prompt_detail(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    prompt = selectors.prompt_get(project=project, pk=pk)
    if prompt is None:
        raise Http404("No such prompt.")
    responses = [
        {
            "response": response,
            "sampling_params": _items(response.sampling_params),
            "metadata": _items(response.metadata),
        }
        for response in prompt.responses.all()
    ]
    context = project_page_context(
        project=project,
        tab="prompts",
        prompt=prompt,
        references=[_as_text(reference) for reference in prompt.references or []],
        metadata=_items(prompt.metadata),
        responses=responses,
    )
    return render(request, "prompts/prompt_detail.html", context)
