"""Drafts: the composer's "try it", scoring a few items with an unsaved spec."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings

from apps.accounts.models import Project
from apps.core.errors import ApplicationError
from apps.rewards.models import RewardFunction, RewardFunctionVersion
from apps.rewards.services.functions import valid_spec
from apps.rewards.services.sync import answer_of, score_items_compute
from workers.contracts import ScoreItem
from workers.rewards.fitting import ComputeRaw, fitted_without_data, needs_statistics, raw_values
from workers.rewards.spec import RewardSpec


def reward_spec_check(*, project: Project, spec: Any) -> list[str]:
    """Every problem with `spec` for this project, as sentences; [] when it can be saved."""
    try:
        valid_spec(project=project, spec=spec)
    except ApplicationError as exc:
        return list(exc.extra.get("spec", [exc.message]))
    return []


def draft_version(*, project_id: int, spec: Any) -> RewardFunctionVersion:
    """An unsaved version holding a valid spec, fitted when its transforms need no data."""
    parsed = RewardSpec.model_validate(spec)
    version = RewardFunctionVersion(
        function=RewardFunction(project_id=project_id), number=0, spec=spec
    )
    if not needs_statistics(parsed):
        version.fitted = fitted_without_data(parsed).model_dump(mode="json")
    return version


def score_draft_compute(
    *, project_id: int, spec: Any, items: Sequence[ScoreItem], compute: ComputeRaw
) -> dict[str, Any]:
    """Score items with an unsaved spec, as `score_items_compute` does for a version.

    A spec whose transforms need statistics from the project (z-score, quantiles) has
    no total until it is saved and a score run fits them: `reward` is None and
    `needs_fitting` is true, while each component's raw value is still given."""
    version = draft_version(project_id=project_id, spec=spec)
    if version.is_fitted:
        return {**score_items_compute(version=version, items=items, compute=compute),
                "needs_fitting": False}  # fmt: skip
    parsed = version.parsed_spec
    raw = raw_values(parsed, items, compute)
    return {
        "results": [
            {"reward": None, "components": {n: raw.values[n][i] for n in parsed.names}}
            for i in range(len(items))
        ],
        "needs_fitting": True,
    }


def score_draft_remote(*, project: Project, spec: Any, items: list[dict[str, Any]]) -> dict:
    """Hand a draft spec and a few items to a worker on the `scoring` queue and wait (web side).

    Raises ApplicationError for a spec that is not valid (every problem under
    `extra["spec"]`) or too many items, and WorkerTimeout when no worker answers."""
    from workers.tasks.rewards import score_draft_items

    valid_spec(project=project, spec=spec)
    limit = settings.SCORE_MAX_ITEMS
    if len(items) > limit:
        raise ApplicationError(f"{len(items)} items is more than {limit} per request.")
    return answer_of(score_draft_items, project_id=project.pk, spec=spec, items=items)
