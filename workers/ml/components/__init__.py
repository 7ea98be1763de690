"""Reward components, one small class per kind of the spec, found by `build_component`."""

from __future__ import annotations

from workers.contracts import ScoringError
from workers.ml.components.base import Component, ScoringContext
from workers.ml.components.embedding import (
    EmbeddingSimilarityComponent,
    RewardModelComponent,
)
from workers.ml.components.judge import RubricJudgeComponent
from workers.ml.components.text import (
    ContainsComponent,
    JsonValidComponent,
    LengthPenaltyComponent,
    RegexComponent,
    TextMetricComponent,
)
from workers.rewards.spec import COMPONENT_TYPES

KINDS: dict[str, type[Component]] = {
    cls.kind: cls
    for cls in (
        RewardModelComponent,
        EmbeddingSimilarityComponent,
        TextMetricComponent,
        RegexComponent,
        ContainsComponent,
        JsonValidComponent,
        LengthPenaltyComponent,
        RubricJudgeComponent,
    )
}
assert set(KINDS) == set(COMPONENT_TYPES), "every spec kind needs a component class"


def build_component(params: object, context: ScoringContext) -> Component:
    """The component for one validated spec entry."""
    kind = getattr(params, "type", None)
    if kind not in KINDS:
        raise ScoringError(f"no component for type {kind!r}")
    return KINDS[kind](params, context)


__all__ = ["KINDS", "Component", "ScoringContext", "build_component"]
