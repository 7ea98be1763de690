"""The scoring engine: raw component values for a batch, and rewards with fitted transforms.

`Scorer.component_values` is what tasks hand to apps.rewards services as `compute`;
`Scorer.score` goes all the way to rewards for scripts and benchmarks. Texts every
component needs are gathered first and encoded together, per backbone, through the
embedding cache.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass

from workers.contracts import ScoreItem, ScoringResources
from workers.ml.components import Component, ScoringContext, build_component
from workers.rewards.fitting import FittedTransforms, raw_values
from workers.rewards.formula import as_values
from workers.rewards.spec import RewardSpec

Values = list[float | None]


@dataclass(frozen=True)
class ScoredItem:
    """One item's reward and its components' raw values."""

    reward: float | None
    components: dict[str, float | None]


class Scorer:
    """The components of one spec, built once (heads loaded, encoders warm) for many batches."""

    def __init__(self, spec: RewardSpec, resources: ScoringResources | None = None) -> None:
        self.spec = spec
        self.context = ScoringContext(resources)
        self.components: list[Component] = [
            build_component(params, self.context) for params in spec.components
        ]

    def component_values(
        self, items: Sequence[ScoreItem], names: Collection[str] | None = None
    ) -> dict[str, Values]:
        """Raw values of the named components (all when None), one per item."""
        chosen = [c for c in self.components if names is None or c.name in names]
        self.context.clear()
        wanted: dict[str, list[str]] = {}
        for component in chosen:
            for backbone, texts in component.texts_to_embed(items).items():
                wanted.setdefault(backbone, []).extend(texts)
        for backbone, texts in wanted.items():
            self.context.embedder(backbone).prefetch(texts)
        return {c.name: as_values(c.score(items)) for c in chosen}

    def score(self, items: Sequence[ScoreItem], fitted: FittedTransforms) -> list[ScoredItem]:
        """Rewards for items with transforms fitted earlier (see workers.rewards.fitting)."""
        raw = raw_values(self.spec, items, self.component_values)
        totals = raw.rewards(self.spec, fitted).totals
        return [
            ScoredItem(total, {name: raw.values[name][i] for name in self.spec.names})
            for i, total in enumerate(totals)
        ]
