"""Reward functions and their immutable versions."""

from __future__ import annotations

import logging
import os
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from apps.accounts.models import Project, User
from apps.core.errors import ApplicationError
from apps.reward_models.selectors import reward_model_for_scoring
from apps.rewards.models import RewardFunction, RewardFunctionVersion
from apps.rubrics.models import RubricVersion
from workers.contracts import HostAllowlist
from workers.rewards.endpoints import allowlist, endpoint_problem, host_of
from workers.rewards.fitting import (
    fitted_without_data,
    needs_statistics,
)
from workers.rewards.spec import RewardModel as RewardModelComponent
from workers.rewards.spec import RewardSpec, RubricJudge, spec_errors

logger = logging.getLogger(__name__)

JUDGE_KEY_PREFIX = "JUDGE_"
DEFAULT_JUDGE_KEY = "JUDGE_API_KEY"


def _endpoint(url: str) -> str:
    """An endpoint as the judge calls it: base URL and full chat URL are the same one."""
    url = url.strip().rstrip("/")
    return url.removesuffix("/chat/completions")


def judge_endpoint(component: RubricJudge) -> str:
    """Where the judge sends its requests: its own endpoint or the operator's."""
    return component.endpoint or settings.JUDGE_API_URL


def judge_allowlist() -> HostAllowlist:
    """The hosts judges may call: JUDGE_API_URL's, JUDGE_KEY_ENDPOINTS', JUDGE_ALLOWED_HOSTS."""
    urls = [settings.JUDGE_API_URL, *settings.JUDGE_KEY_ENDPOINTS.values()]
    return allowlist([*(host_of(url) for url in urls if url), *settings.JUDGE_ALLOWED_HOSTS])


def judge_endpoint_problem(component: RubricJudge) -> str | None:
    """Why the judge may not call its endpoint (see workers.rewards.endpoints); None: it may,
    or it has none yet (JUDGE_API_URL unset)."""
    url = judge_endpoint(component)
    return endpoint_problem(url, judge_allowlist()) if url else None


def judge_key_problem(component: RubricJudge) -> str | None:
    """Why the component's key may not go to its endpoint (None: it may, or it has none).

    JUDGE_API_KEY goes to JUDGE_API_URL only (elsewhere the judge sends no key, for
    endpoints that need none); another JUDGE_* key goes only to the endpoint the operator
    binds it to in JUDGE_KEY_ENDPOINTS. A designer writes specs, the operator holds the
    keys: a spec cannot send a key to a server of its choosing.
    """
    name = component.api_key_setting
    if name is None or name == DEFAULT_JUDGE_KEY:
        return None
    if not name.startswith(JUDGE_KEY_PREFIX):
        return (
            f"must name a setting that starts with {JUDGE_KEY_PREFIX} (keys for judges, "
            "nothing else)"
        )
    bound = settings.JUDGE_KEY_ENDPOINTS.get(name)
    if bound is None:
        return (
            f"{name} is bound to no endpoint; the operator binds each judge key to the one "
            "endpoint it may be sent to, in JUDGE_KEY_ENDPOINTS"
        )
    endpoint = judge_endpoint(component)
    if _endpoint(endpoint) != _endpoint(bound):
        return f"{name} may be sent only to {bound}, not to {endpoint or 'JUDGE_API_URL'}"
    return None


def judge_key(component: RubricJudge) -> str:
    """The key the judge sends (empty: none), once `judge_key_problem` found no problem."""
    name = component.api_key_setting or DEFAULT_JUDGE_KEY
    if name == DEFAULT_JUDGE_KEY and _endpoint(judge_endpoint(component)) != _endpoint(
        settings.JUDGE_API_URL
    ):
        return ""  # the operator's key goes only to the operator's endpoint
    return str(getattr(settings, name, None) or os.environ.get(name, ""))


def valid_spec(*, project: Project, spec: Any) -> RewardSpec:
    """The parsed spec, or an ApplicationError whose `spec` detail lists every problem."""
    errors = spec_errors(spec)
    if not errors:
        parsed = RewardSpec.model_validate(spec)
        errors = _project_errors(project=project, spec=parsed)
    if errors:
        raise ApplicationError("The reward spec is not valid.", extra={"spec": errors})
    return parsed


def _project_errors(*, project: Project, spec: RewardSpec) -> list[str]:
    """What the spec refers to must exist in the project: reward models, rubric versions."""
    errors = []
    for i, component in enumerate(spec.components):
        where = f"components[{i}] ({component.name})"
        if (
            isinstance(component, RewardModelComponent)
            and component.model is not None
            and reward_model_for_scoring(project_id=project.pk, model_id=component.model) is None
        ):
            errors.append(f"{where}.model: no reward model {component.model} in this project")
        if isinstance(component, RubricJudge):
            if not RubricVersion.objects.filter(
                pk=component.rubric_version, rubric__project=project
            ).exists():
                errors.append(
                    f"{where}.rubric_version: no rubric version {component.rubric_version} "
                    "in this project"
                )
            problem = judge_endpoint_problem(component)
            if problem is not None:
                errors.append(f"{where}.endpoint: {problem}")
            problem = judge_key_problem(component)
            if problem is not None:
                errors.append(f"{where}.api_key_setting: {problem}")
    return errors


def _version_add(
    *, function: RewardFunction, spec: Any, message: str, created_by: User | None
) -> RewardFunctionVersion:
    """Store the spec as it was sent (it is valid); fit it now if it needs no statistics."""
    parsed = RewardSpec.model_validate(spec)
    number = (function.versions.aggregate(n=Max("number"))["n"] or 0) + 1
    fitted = None if needs_statistics(parsed) else fitted_without_data(parsed)
    return RewardFunctionVersion.objects.create(
        function=function,
        number=number,
        spec=spec,
        message=message,
        fitted=None if fitted is None else fitted.model_dump(mode="json"),
        fitted_at=None if fitted is None else timezone.now(),
        created_by=created_by,
    )


@transaction.atomic
def reward_function_create(
    *,
    project: Project,
    name: str,
    spec: Any,
    created_by: User | None,
    description: str = "",
    message: str = "",
) -> RewardFunctionVersion:
    """Create a reward function with its first version; returns that version.

    Writes nothing for a bad spec or a name the project already uses. A version whose
    transforms need no statistics is fitted at once; otherwise the first score run fits it.
    """
    valid_spec(project=project, spec=spec)
    if RewardFunction.objects.filter(project=project, name=name).exists():
        raise ApplicationError(
            f"This project already has a reward function named {name!r}.",
            extra={"name": ["A reward function with this name exists."]},
        )
    try:
        with transaction.atomic():
            function = RewardFunction.objects.create(
                project=project, name=name, description=description, created_by=created_by
            )
    except IntegrityError:  # created at the same moment by someone else
        raise ApplicationError(
            f"This project already has a reward function named {name!r}.",
            extra={"name": ["A reward function with this name exists."]},
        ) from None
    return _version_add(function=function, spec=spec, message=message, created_by=created_by)


@transaction.atomic
def reward_function_update(
    *, function: RewardFunction, name: str | None = None, description: str | None = None
) -> RewardFunction:
    """Rename a reward function or change its description; its versions stay as they are.

    Writes nothing for a blank name or one another function of the project already uses.
    """
    fields = []
    if name is not None:
        name = name.strip()
        if not name:
            raise ApplicationError("A reward function needs a name.", extra={"name": ["Required."]})
        taken = RewardFunction.objects.filter(project_id=function.project_id, name=name)
        if taken.exclude(pk=function.pk).exists():
            raise ApplicationError(
                f"This project already has a reward function named {name!r}.",
                extra={"name": ["A reward function with this name exists."]},
            )
        function.name = name
        fields.append("name")
    if description is not None:
        function.description = description
        fields.append("description")
    if fields:
        try:
            with transaction.atomic():
                function.save(update_fields=[*fields, "updated_at"])
        except IntegrityError:  # the name was taken at the same moment
            raise ApplicationError(
                f"This project already has a reward function named {name!r}.",
                extra={"name": ["A reward function with this name exists."]},
            ) from None
    return function


@transaction.atomic
def reward_function_version_create(
    *, function: RewardFunction, spec: Any, created_by: User | None, message: str = ""
) -> RewardFunctionVersion:
    """Add the next version to a reward function; earlier versions stay as they are."""
    valid_spec(project=function.project, spec=spec)
    RewardFunction.objects.select_for_update().filter(pk=function.pk).exists()  # numbering
    return _version_add(function=function, spec=spec, message=message, created_by=created_by)
