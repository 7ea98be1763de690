"""What a worker needs to score with a version: heads, judges, the embedding cache."""

from __future__ import annotations

import logging

from django.conf import settings

from apps.core.errors import ApplicationError
from apps.reward_models.selectors import reward_model_for_scoring
from apps.reward_models.services import reward_model_local_directory
from apps.rewards.embedding_store import DatabaseEmbeddingStore
from apps.rewards.models import RewardFunctionVersion
from apps.rewards.services.functions import (
    judge_allowlist,
    judge_endpoint,
    judge_endpoint_problem,
    judge_key,
    judge_key_problem,
)
from apps.rubrics.models import RubricVersion
from workers.contracts import (
    HeadArtifact,
    JudgeCriterion,
    JudgeTarget,
    ScoringResources,
)
from workers.rewards.spec import RewardModel as RewardModelComponent
from workers.rewards.spec import RubricJudge, spec_errors

logger = logging.getLogger(__name__)


def _judge_key(component: RubricJudge) -> str:
    """Checked again here: the operator may have changed the bindings since the version
    was made."""
    problem = judge_key_problem(component)
    if problem is not None:
        raise ApplicationError(f"{component.name}: api_key_setting: {problem}.")
    return judge_key(component)


def _judge_target(*, project_id: int, component: RubricJudge) -> JudgeTarget:
    url = judge_endpoint(component)
    model = component.model or settings.JUDGE_MODEL
    if not url or not model:
        raise ApplicationError(
            f"{component.name}: no judge endpoint or model; set JUDGE_API_URL and JUDGE_MODEL "
            "or give endpoint and model in the component."
        )
    if problem := judge_endpoint_problem(component):  # checked again: settings and DNS change
        raise ApplicationError(f"{component.name}: endpoint: {problem}.")
    version = (
        RubricVersion.objects.filter(pk=component.rubric_version, rubric__project_id=project_id)
        .select_related("rubric")
        .first()
    )
    if version is None:
        raise ApplicationError(
            f"{component.name}: rubric version {component.rubric_version} is gone."
        )
    criteria = tuple(
        JudgeCriterion(
            name=c.name,
            description=c.description,
            low=c.scale.min,
            high=c.scale.max,
            weight=c.weight,
        )
        for c in version.spec.criteria
    )
    if not criteria:
        raise ApplicationError(f"{component.name}: rubric {version} has no criteria.")
    return JudgeTarget(
        url=url,
        model=model,
        api_key=_judge_key(component),
        criteria=criteria,
        allowed=judge_allowlist(),
        guidelines=version.guidelines,
        timeout=component.timeout,
    )


def scoring_resources(*, version: RewardFunctionVersion) -> ScoringResources:
    """Resolve what the version's components refer to, for the ML engine on this worker.

    Raises ApplicationError when something is missing (no promoted model, no judge URL),
    or when the version breaks a rule made after it was saved (a pattern RE2 cannot run).
    """
    if problems := spec_errors(version.spec):
        raise ApplicationError(
            f"This version breaks rules made since it was saved: {'; '.join(problems)}. "
            "Save a new version that follows them."
        )
    spec = version.parsed_spec
    project_id = version.function.project_id
    heads: dict[str, HeadArtifact] = {}
    judges: dict[str, JudgeTarget] = {}
    for component in spec.components:
        if isinstance(component, RewardModelComponent):
            model = reward_model_for_scoring(project_id=project_id, model_id=component.model)
            if model is None:
                which = (
                    f"reward model {component.model}"
                    if component.model
                    else "promoted reward model"
                )
                raise ApplicationError(f"{component.name}: the project has no {which}.")
            directory = reward_model_local_directory(model=model)
            heads[component.name] = HeadArtifact(
                model_id=model.pk, directory=str(directory), backbone=model.backbone
            )
        elif isinstance(component, RubricJudge):
            judges[component.name] = _judge_target(project_id=project_id, component=component)
    return ScoringResources(
        heads=heads,
        judges=judges,
        embedding_store=DatabaseEmbeddingStore(),
        batch_size=settings.SCORE_BATCH_SIZE,
        item_seconds=settings.SCORE_ITEM_SECONDS,
    )
