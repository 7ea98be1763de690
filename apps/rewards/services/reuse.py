"""Raw values copied from earlier versions whose identical components already scored."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db.models import Exists, OuterRef

from apps.rewards.models import RewardFunctionVersion, Score
from workers.rewards.spec import RewardModel as RewardModelComponent
from workers.rewards.spec import RubricJudge

logger = logging.getLogger(__name__)

REUSE_CANDIDATES = 20


def _is_deterministic(component: Any) -> bool:
    """Gives the same raw value for the same item every time (a judge does not; nor does
    "the promoted model", which can change)."""
    if isinstance(component, RubricJudge):
        return False
    return not (isinstance(component, RewardModelComponent) and component.model is None)


def reuse_sources(*, version: RewardFunctionVersion) -> dict[str, int]:
    """Component name → an earlier version of the project whose identical component
    already scored the project's responses, so its raw values can be copied.

    This makes re-scoring after a change to weights, transforms or the combination cost
    no model calls at all; a changed component is computed (through the embedding cache).
    """
    ours = {
        c.name: c.model_dump(mode="json", by_alias=True)
        for c in version.parsed_spec.components
        if _is_deterministic(c)
    }
    if not ours:
        return {}
    scored = Score.objects.filter(version=OuterRef("pk"))
    candidates = (
        RewardFunctionVersion.objects.filter(function__project_id=version.function.project_id)
        .exclude(pk=version.pk)
        .filter(Exists(scored))
        .order_by("-created_at", "-pk")[:REUSE_CANDIDATES]
    )
    sources: dict[str, int] = {}
    for candidate in candidates:
        for component in candidate.parsed_spec.components:
            name = component.name
            if name in sources or name not in ours:
                continue
            if component.model_dump(mode="json", by_alias=True) == ours[name]:
                sources[name] = candidate.pk
    return sources


def known_values(sources: dict[str, int], ids: Sequence[int]) -> dict[str, dict[int, float | None]]:
    """Raw values the source versions hold for these responses, by item index."""
    index = {response_id: i for i, response_id in enumerate(ids)}
    known: dict[str, dict[int, float | None]] = {name: {} for name in sources}
    by_version: dict[int, list[str]] = {}
    for name, version_id in sources.items():
        by_version.setdefault(version_id, []).append(name)
    low, high = min(ids), max(ids)
    for version_id, names in by_version.items():
        # A range, not a list of ids: the batch is a run of ids in order.
        rows = Score.objects.filter(
            version_id=version_id, response_id__gte=low, response_id__lte=high
        ).values_list("response_id", "components")
        for response_id, components in rows:
            at = index.get(response_id)
            if at is None:
                continue
            for name in names:
                if name in components:
                    known[name][at] = components[name]
    return known
