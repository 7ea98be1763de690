"""Pages for reward models: the registry, the runs with a Retrain button, and one run
followed live (progress bar and loss curve polled every second until it ends)."""

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
from apps.reward_models import charts, selectors, services
from apps.reward_models.api import snapshot_summary
from apps.reward_models.forms import RetrainRuleForm, TrainingSettingsForm
from apps.reward_models.models import TrainingRun


def _run_or_404(project: Project, pk: int, *, with_snapshot: bool = False) -> TrainingRun:
    run = selectors.training_run_get(project=project, pk=pk, with_snapshot=with_snapshot)
    if run is None:
        raise Http404("No such training run.")
    return selectors.training_run_live(run)


def _models_context(project: Project, **extra: Any) -> dict[str, Any]:
    models = list(selectors.reward_model_list(project=project))
    active = next((m for m in models if m.is_promoted), None)
    versus = selectors.reward_model_comparisons(candidates=models, active=active)
    rows = [{"model": m, "versus": versus[m.pk]} for m in models]
    chart = charts.accuracy_with_intervals([(m.name, m.metrics) for m in reversed(models)])
    return project_page_context(
        project=project, tab="reward_models", rows=rows, active=active, chart=chart, **extra
    )


@require_GET
@login_required
def model_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    return render(request, "reward_models/model_list.html", _models_context(project))


@require_POST
@login_required
def model_promote(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.DESIGN_REWARDS, slug=slug)
    model = selectors.reward_model_get(project=project, pk=pk)
    if model is None:
        raise Http404("No such reward model.")
    try:
        services.reward_model_promote_checked(
            model=model, confirm=request.POST.get("confirm") == "1"
        )
    except services.PromotionNeedsConfirmation as warning:
        context = _models_context(project, warning=warning.message, candidate=model)
        return render(request, "reward_models/model_list.html", context, status=409)
    messages.success(request, f"{model.name} is now the active reward model.")
    return redirect("reward_models:model_list", slug=project.slug)


def _runs_page(
    request: HtmxHttpRequest, project: Project, form: TrainingSettingsForm | None = None,
    rule_form: RetrainRuleForm | None = None, status: int = 200,
) -> HttpResponse:  # fmt: skip
    rule = selectors.retrain_rule_get(project=project)
    context = project_page_context(
        project=project,
        tab="reward_models",
        runs=selectors.training_run_list(project=project),
        form=form or TrainingSettingsForm(),
        rule=rule,
        rule_form=rule_form
        or RetrainRuleForm(initial={"after_labels": rule.after_labels if rule else None}),
        labels_since=services.labels_since_last_run(project=project),
    )
    return render(request, "reward_models/run_list.html", context, status=status)


@require_GET
@login_required
def run_list(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    return _runs_page(request, project)


@require_POST
@login_required
def run_create(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    """Retrain: from the runs page (with settings) or a run page (with that run's settings)."""
    project = project_for_user(user=request.user, capability=Capability.DESIGN_REWARDS, slug=slug)
    form = TrainingSettingsForm(request.POST)
    if form.is_valid() and form.settings is not None:
        try:
            run = services.training_run_create(
                project=project, user=request.user, settings=form.settings
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            return redirect("reward_models:run_detail", slug=project.slug, pk=run.pk)
    return _runs_page(request, project, form=form, status=400)


@require_POST
@login_required
def rule_update(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.DESIGN_REWARDS, slug=slug)
    form = RetrainRuleForm(request.POST)
    if not form.is_valid():
        return _runs_page(request, project, rule_form=form, status=400)
    rule = selectors.retrain_rule_get(project=project)
    settings = services.training_settings_parse(rule.settings if rule else {})
    services.retrain_rule_set(
        project=project, after_labels=form.cleaned_data["after_labels"], settings=settings
    )
    messages.success(request, "Retrain rule saved.")
    return redirect("reward_models:run_list", slug=project.slug)


def _run_context(project: Project, run: TrainingRun) -> dict[str, Any]:
    metrics, baseline = run.metrics or {}, run.baseline_metrics or {}
    scale = project.settings.strength_scale
    accuracy_rows = [(f"Run {run.pk}", metrics)]
    versus, baseline_in_sample = None, 0
    if run.baseline_model is not None:
        accuracy_rows.append((f"Active: {run.baseline_model.name}", baseline))
        if run.status == TrainingRun.Status.SUCCEEDED and run.reward_model is not None:
            versus = selectors.reward_model_comparison(
                candidate=run.reward_model, active=run.baseline_model
            )
            baseline_in_sample = selectors.training_run_baseline_in_sample(run=run)
    return project_page_context(
        project=project,
        tab="reward_models",
        run=run,
        snapshot=None
        if "snapshot" in run.get_deferred_fields()
        else snapshot_summary(run.snapshot),
        loss_chart=charts.loss_curve(run.history) if run.history else None,
        reliability_chart=charts.reliability_diagram(metrics),
        strength_chart=charts.accuracy_by_strength(metrics, baseline, scale),
        agreement_chart=charts.accuracy_by_agreement(metrics, baseline),
        accuracy_chart=charts.accuracy_with_intervals(accuracy_rows),
        baseline=baseline,
        versus=versus,
        baseline_in_sample=baseline_in_sample,
        percent=round(run.progress * 100),
    )


@require_GET
@login_required
@vary_on_headers("HX-Request")
def run_detail(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    run = _run_or_404(project, pk, with_snapshot=True)
    return render(request, "reward_models/run_detail.html", _run_context(project, run))


@require_GET
@login_required
def run_progress(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    """The run's live part, polled every second; 286 stops the polling once it has ended."""
    project = project_for_user(user=request.user, capability=Capability.VIEW_DATA, slug=slug)
    run = _run_or_404(project, pk)
    html = render_to_string(
        "reward_models/run_detail.html#live", _run_context(project, run), request
    )
    if run.is_finished:
        return HttpResponseStopPolling(html)
    return HttpResponse(html)


@require_POST
@login_required
def run_cancel(request: HtmxHttpRequest, slug: str, pk: int) -> HttpResponse:
    project = project_for_user(user=request.user, capability=Capability.DESIGN_REWARDS, slug=slug)
    run = _run_or_404(project, pk)
    try:
        services.training_run_cancel(run=run)
    except ApplicationError as error:
        messages.error(request, error.message)
    else:
        messages.success(request, f"Run {run.pk}: cancel requested.")
    return redirect("reward_models:run_detail", slug=project.slug, pk=run.pk)
