"""Reward function pages: the list, one function, one version, and the composer.

Reading needs Capability.VIEW_DATA; composing, saving and the formula check
Capability.DESIGN_REWARDS; "try it" Capability.SCORE_REWARDS. The composer posts
the whole form on each action and htmx swaps it back in (see apps.rewards.composer);
"try it" goes to a scoring worker and waits, as the scoring endpoint does.
"""

from __future__ import annotations

import json
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, QueryDict
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect

from apps.accounts.models import Project
from apps.accounts.permissions import Capability, role_can
from apps.accounts.selectors import project_for_user, project_page_context
from apps.core.errors import ApplicationError
from apps.core.htmx import HtmxHttpRequest
from apps.core.json_limits import TOO_DEEP, json_problem
from apps.prompts.models import Prompt
from apps.reward_models.selectors import reward_model_list
from apps.rewards import selectors, services
from apps.rewards.composer import (
    OPS,
    TRANSFORM_KINDS,
    ComposerDraft,
    component_help,
)
from apps.rewards.models import RewardFunction, RewardFunctionVersion
from apps.rubrics.selectors import rubric_version_choices
from workers.rewards.formula import FormulaError, parse_formula
from workers.rewards.spec import COMPONENT_TYPES, spec_errors

TRY_TEXT_LIMIT = 20_000


def _function_or_404(project: Project, pk: int) -> RewardFunction:
    function = selectors.reward_function_get(project=project, pk=pk)
    if function is None:
        raise Http404("No such reward function.")
    return function


def _version_or_404(project: Project, pk: int) -> RewardFunctionVersion:
    version = selectors.reward_function_version_get(project=project, pk=pk)
    if version is None:
        raise Http404("No such reward function version.")
    return version


# --- reading ----------------------------------------------------------------------------


@require_GET
@login_required
def reward_function_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    functions = selectors.reward_function_list(project=project)
    context = project_page_context(project=project, tab="rewards", functions=functions)
    return render(request, "rewards/function_list.html", context)


@require_GET
@login_required
def reward_function_detail(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    function = _function_or_404(project, pk)
    versions = selectors.reward_function_version_list(function=function)
    context = project_page_context(
        project=project, tab="rewards", function=function, versions=versions
    )
    return render(request, "rewards/function_detail.html", context)


def _spec_rows(version: RewardFunctionVersion) -> list[dict[str, Any]]:
    """Each component with its settings, transforms and weight, for the version page."""
    spec = version.spec
    weights = spec["combine"].get("weights") or {}
    transforms = spec.get("transforms", {})
    rows = []
    for component in spec["components"]:
        name = component["name"]
        settings = {k: v for k, v in component.items() if k not in ("name", "type")}
        rows.append(
            {
                "name": name,
                "type": component["type"],
                "settings": json.dumps(settings) if settings else "",
                "transforms": json.dumps(transforms[name]) if name in transforms else "",
                "weight": weights.get(name),
            }
        )
    return rows


def _weights_chart(version: RewardFunctionVersion) -> dict[str, Any] | None:
    weights = version.spec["combine"].get("weights")
    if not weights:
        return None
    names = [c["name"] for c in version.spec["components"]]
    return _bar_chart(names, [weights[name] for name in names], "Weight")


@require_GET
@login_required
def version_detail(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """One version: its components, combination and JSON; "try it" for those who may score."""
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    version = _version_or_404(project, pk)
    context = project_page_context(
        project=project,
        tab="rewards",
        function=version.function,
        version=version,
        rows=_spec_rows(version),
        spec_json=json.dumps(version.spec, indent=2),
        try_input={},
        weights_chart=_weights_chart(version),
    )
    return render(request, "rewards/version_detail.html", context)


# --- trying -----------------------------------------------------------------------------


def _try_items(data: QueryDict) -> tuple[list[dict[str, Any]], str]:
    """The pasted item as the scoring path takes it, or a message saying what is missing."""
    prompt = data.get("try_prompt", "").replace("\r\n", "\n")
    response = data.get("try_response", "").replace("\r\n", "\n")
    reference = data.get("try_reference", "").replace("\r\n", "\n")
    if not prompt.strip() or not response.strip():
        return [], "Paste a prompt and a response to try."
    if max(len(prompt), len(response), len(reference)) > TRY_TEXT_LIMIT:
        return [], f"Keep each text under {TRY_TEXT_LIMIT} characters."
    item = {"prompt": Prompt(input=prompt).text, "response": response}
    item["reference"] = reference if reference.strip() else None
    return [item], ""


def _try_result(
    *, names: list[str], answer: dict[str, Any] | None, errors: list[str]
) -> dict[str, Any]:
    if answer is None:
        return {"errors": errors}
    result = answer["results"][0]
    components = [(name, result["components"].get(name)) for name in names]
    return {
        "errors": [],
        "total": result["reward"],
        "needs_fitting": answer.get("needs_fitting", False),
        "components": components,
        "chart": _bar_chart(
            [name for name, value in components if value is not None],
            [value for _, value in components if value is not None],
            "Raw value",
        ),
    }


def _bar_chart(labels: list[str], values: list[float], title: str) -> dict[str, Any]:
    """A horizontal Chart.js bar chart, one bar per component (negative bars point left)."""
    return {
        "type": "bar",
        "data": {"labels": labels, "datasets": [{"label": title, "data": values}]},
        "options": {"indexAxis": "y", "plugins": {"legend": {"display": False}}},
    }


def _score(score: Any, names: list[str]) -> dict[str, Any]:
    try:
        answer = score()
    except ApplicationError as exc:
        return _try_result(names=names, answer=None, errors=exc.extra.get("spec") or [exc.message])
    except services.WorkerTimeout as exc:
        return _try_result(names=names, answer=None, errors=[str(exc)])
    return _try_result(names=names, answer=answer, errors=[])


def _draft_try(project: Project, draft: ComposerDraft, data: QueryDict) -> dict[str, Any]:
    spec, errors = draft.spec()
    items, problem = _try_items(data)
    if errors or problem:
        return _try_result(names=[], answer=None, errors=errors or [problem])
    names = [row.name for row in draft.components]
    return _score(
        lambda: services.score_draft_remote(project=project, spec=spec, items=items), names
    )


@require_POST
@login_required
def composer_try(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Score the pasted item with the composer's current draft, on a worker, now."""
    project = project_for_user(user=request.user, capability=Capability.SCORE_REWARDS, slug=slug)
    draft = ComposerDraft.from_post(request.POST)
    context = {"result": _draft_try(project, draft, request.POST)}
    return render(request, "rewards/partials/try_result.html", context)


@require_POST
@login_required
def version_try(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """Score the pasted item with a saved version through the scoring endpoint's path."""
    project = project_for_user(user=request.user, capability=Capability.SCORE_REWARDS, slug=slug)
    version = _version_or_404(project, pk)
    items, problem = _try_items(request.POST)
    names = version.parsed_spec.names
    if problem:
        result = _try_result(names=names, answer=None, errors=[problem])
    else:
        result = _score(lambda: services.score_items_remote(version=version, items=items), names)
    if request.htmx:
        return render(request, "rewards/partials/try_result.html", {"result": result})
    context = project_page_context(
        project=project,
        tab="rewards",
        function=version.function,
        version=version,
        rows=_spec_rows(version),
        spec_json=json.dumps(version.spec, indent=2),
        weights_chart=_weights_chart(version),
        result=result,
        try_input=request.POST,
    )
    return render(request, "rewards/version_detail.html", context)


# --- composing --------------------------------------------------------------------------


def formula_message(expression: str, names: list[str]) -> tuple[bool, str]:
    """Whether the formula is valid over these components, and what to tell the designer."""
    try:
        used = parse_formula(expression, names).names
    except FormulaError as exc:
        return False, str(exc)
    unused = [name for name in names if name not in used]
    if unused:
        listed = ", ".join(unused)
        return False, f"every component must be used; not used: {listed} (or remove them)"
    return True, f"Valid: uses {', '.join(used)}."


@require_POST
@login_required
def formula_check(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Live validation of the combination formula as the designer types (htmx)."""
    project_for_user(user=request.user, capability=Capability.DESIGN_REWARDS, slug=slug)
    draft = ComposerDraft.from_post(request.POST)
    names = [row.name for row in draft.components]
    ok, message = formula_message(request.POST.get("combine-expression", ""), names)
    return render(
        request, "rewards/composer.html#formula_message", {"formula_ok": ok, "formula": message}
    )


def _composer(
    request: HtmxHttpRequest,
    project: Project,
    function: RewardFunction | None,
    draft: ComposerDraft,
    *,
    errors: list[str] | None = None,
    json_text: str | None = None,
    result: dict[str, Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    data = request.POST if request.method == "POST" else QueryDict()
    spec, _ = draft.spec()
    names = [row.name for row in draft.components]
    formula_ok, formula = formula_message(draft.expression, names)
    context = project_page_context(
        project=project,
        tab="rewards",
        function=function,
        draft=draft,
        errors=errors or [],
        spec_json=json_text if json_text is not None else json.dumps(spec, indent=2),
        kinds=[(kind, component_help(kind)) for kind in COMPONENT_TYPES],
        transform_kinds=TRANSFORM_KINDS,
        ops=OPS,
        formula_ok=formula_ok,
        formula=formula,
        result=result,
        function_name=data.get("function-name", ""),
        function_description=data.get("function-description", ""),
        version_message=data.get("version-message", ""),
        try_input=data,
        can_try=role_can(project.user_role, Capability.SCORE_REWARDS),  # type: ignore[attr-defined]
        rubric_versions=rubric_version_choices(project=project),
        reward_models=reward_model_list(project=project),
    )
    template = "rewards/composer.html"
    if request.htmx:
        template += "#composer"
    return render(request, template, context, status=status)


def _save(
    request: HtmxHttpRequest, project: Project, function: RewardFunction | None, spec: Any
) -> RewardFunctionVersion:
    message = request.POST.get("version-message", "").strip()[:300]
    if function is None:
        name = request.POST.get("function-name", "").strip()
        if not name:
            raise ApplicationError("Give the reward function a name.")
        return services.reward_function_create(
            project=project,
            name=name[:200],
            description=request.POST.get("function-description", "").strip(),
            spec=spec,
            message=message,
            created_by=request.user,
        )
    return services.reward_function_version_create(
        function=function, spec=spec, message=message, created_by=request.user
    )


@require_http_methods(["GET", "POST"])
@login_required
@vary_on_headers("HX-Request")
def composer(request: HtmxHttpRequest, slug: str, pk: int | None = None) -> HttpResponse:
    """Compose a new reward function (no `pk`) or the next version of one.

    GET starts from `?from=<version id>` or the newest version. POST's `action` adds,
    removes or moves a component or transform, loads the JSON spec, tries the draft, or
    saves it as a new version (which never changes afterwards)."""
    project = project_for_user(user=request.user, capability=Capability.DESIGN_REWARDS, slug=slug)
    function = _function_or_404(project, pk) if pk is not None else None
    if request.method == "GET":
        start = None
        if function is not None:
            wanted = request.GET.get("from", "")
            versions = list(function.versions.all())
            start = next(
                (v for v in versions if str(v.pk) == wanted), versions[0] if versions else None
            )
        return _composer(
            request, project, function, ComposerDraft.from_spec(start.spec if start else {})
        )
    draft = ComposerDraft.from_post(request.POST)
    action = request.POST.get("action", "refresh")
    if action == "load_json":
        text = request.POST.get("spec-json", "")
        try:
            data = json.loads(text)
            found = json_problem(data)  # as the API's parser refuses it
            problem = f"spec JSON: {found}" if found else ""
        except json.JSONDecodeError as exc:
            problem = f"spec JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        except RecursionError:
            problem = f"spec JSON: {TOO_DEEP}"
        if problem:
            return _composer(
                request, project, function, draft, errors=[problem], json_text=text, status=422
            )
        if not isinstance(data, dict):
            return _composer(
                request,
                project,
                function,
                draft,
                errors=["spec JSON: give an object"],
                json_text=text,
                status=422,
            )
        errors = spec_errors(data) or services.reward_spec_check(project=project, spec=data)
        draft = ComposerDraft.from_spec(data)
        return _composer(
            request, project, function, draft, errors=errors,
            json_text=text if errors else None, status=422 if errors else 200,
        )  # fmt: skip
    if action == "try":
        if not role_can(project.user_role, Capability.SCORE_REWARDS):  # type: ignore[attr-defined]
            raise PermissionDenied("Your role in this project does not allow this.")
        return _composer(
            request, project, function, draft, result=_draft_try(project, draft, request.POST)
        )
    if action != "save":
        draft.apply(action, request.POST)
        return _composer(request, project, function, draft)
    spec, errors = draft.spec()
    if not errors:
        try:
            version = _save(request, project, function, spec)
        except ApplicationError as exc:
            errors = list(exc.extra.get("spec") or []) or [exc.message]
        else:
            messages.success(request, f"Saved {version.function.name} v{version.number}.")
            url = reverse("rewards:version_detail", args=[project.slug, version.pk])
            return HttpResponseClientRedirect(url) if request.htmx else redirect(url)
    return _composer(request, project, function, draft, errors=errors, status=422)
