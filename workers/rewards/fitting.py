"""A whole spec's transforms: which need fitting, fitting them, and turning raw values into rewards.

`workers.rewards.transforms` fits one component's chain; this module does it for
every component of a spec and keeps the result as JSON (`FittedTransforms`), which a
reward function version stores once, so tomorrow's score of a new item matches
today's batch job. Torch-free: the web process uses it too.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel, ConfigDict

from workers.contracts import ScoreItem
from workers.rewards.combine import combine
from workers.rewards.spec import LogSigmoid, RewardSpec, Sigmoid, Transform
from workers.rewards.transforms import FittedChain, fit_chain

Values = list[float | None]
# `compute(items, names)`: raw values of the named components (all when None), per item.
ComputeRaw = Callable[[Sequence[ScoreItem], Collection[str] | None], dict[str, Values]]


class FittedTransforms(BaseModel):
    """Every component's fitted chain by name, and how many items they were fitted on."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chains: dict[str, FittedChain] = {}
    fitted_on: int = 0


def _step_needs_statistics(step: Transform) -> bool:
    if step in ("zscore", "zscore_per_prompt", "minmax"):
        return True
    if isinstance(step, Sigmoid):
        return isinstance(step.sigmoid.reference, str)
    if isinstance(step, LogSigmoid):
        reference = step.log_sigmoid.reference
        return isinstance(reference, str) and reference != "reference_answer"
    return False


def needs_statistics(spec: RewardSpec) -> bool:
    """Whether some transform depends on values it must be fitted on (z-score, quantiles …)."""
    return any(_step_needs_statistics(s) for steps in spec.transforms.values() for s in steps)


def needs_reference_scores(spec: RewardSpec) -> set[str]:
    """Components whose chain compares with the reference answer's own score."""
    return {
        name
        for name, steps in spec.transforms.items()
        if any(
            isinstance(s, LogSigmoid) and s.log_sigmoid.reference == "reference_answer"
            for s in steps
        )
    }


def fit_transforms(
    spec: RewardSpec,
    raw: Mapping[str, Sequence[object]],
    *,
    prompt_keys: Sequence[str],
    reference_raw: Mapping[str, Sequence[object]] | None = None,
) -> FittedTransforms:
    """Fit every component's chain on its raw values over the same items."""
    reference_raw = reference_raw or {}
    chains = {
        name: fit_chain(steps, raw[name], prompts=prompt_keys, references=reference_raw.get(name))
        for name, steps in spec.transforms.items()
    }
    return FittedTransforms(chains=chains, fitted_on=len(prompt_keys))


def fitted_without_data(spec: RewardSpec) -> FittedTransforms:
    """The chains of a spec that needs no statistics (clip, sigmoid with a number, …)."""
    if needs_statistics(spec):
        raise ValueError("this spec's transforms must be fitted on data")
    empty = {name: [] for name in spec.names}
    return fit_transforms(spec, empty, prompt_keys=[])


@dataclass(frozen=True)
class Rewards:
    """Per item: the reward, and each component's value after its transforms."""

    totals: Values
    transformed: dict[str, Values]


def rewards(
    spec: RewardSpec,
    fitted: FittedTransforms,
    raw: Mapping[str, Sequence[object]],
    *,
    prompt_keys: Sequence[str],
    reference_raw: Mapping[str, Sequence[object]] | None = None,
) -> Rewards:
    """Apply the fitted transforms to raw component values, then combine them."""
    reference_raw = reference_raw or {}
    transformed: dict[str, Values] = {}
    for name in spec.names:
        chain = fitted.chains.get(name)
        values = list(raw[name])
        if chain is None:
            transformed[name] = chain_identity(values)
        else:
            transformed[name] = chain.apply(
                values, prompts=prompt_keys, references=reference_raw.get(name)
            )
    return Rewards(totals=combine(spec, transformed), transformed=transformed)


def chain_identity(values: Sequence[Any]) -> Values:
    """Raw values as they are (None for missing or non-finite): a component without transforms."""
    return FittedChain().apply(values)


@dataclass
class RawValues:
    """Raw component values over items, with reference answers' scores where a chain needs them."""

    names: list[str]
    prompt_keys: list[str] = field(default_factory=list)
    values: dict[str, Values] = field(default_factory=dict)
    references: dict[str, Values] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.prompt_keys)

    def extend(self, other: RawValues) -> None:
        self.prompt_keys += other.prompt_keys
        for name in self.names:
            self.values.setdefault(name, []).extend(other.values.get(name, []))
        for name, column in other.references.items():
            self.references.setdefault(name, []).extend(column)

    def rewards(self, spec: RewardSpec, fitted: FittedTransforms) -> Rewards:
        return rewards(
            spec, fitted, self.values, prompt_keys=self.prompt_keys, reference_raw=self.references
        )

    def fit(self, spec: RewardSpec) -> FittedTransforms:
        return fit_transforms(
            spec, self.values, prompt_keys=self.prompt_keys, reference_raw=self.references
        )


def raw_values(
    spec: RewardSpec,
    items: Sequence[ScoreItem],
    compute: ComputeRaw,
    *,
    known: Mapping[str, Mapping[int, float | None]] | None = None,
) -> RawValues:
    """Every component's raw value per item, plus (for chains that compare with it) the
    prompt's reference answer scored as if it were a response, once per prompt.

    `known` holds values already computed elsewhere (component name → item index →
    value); only the items a known component lacks are computed for it."""
    known = known or {}
    raw = RawValues(names=spec.names, prompt_keys=[item.prompt_key for item in items])
    fresh = [name for name in spec.names if name not in known]
    values = compute(items, fresh) if fresh and items else {name: [] for name in fresh}
    for name, by_index in known.items():
        column = [by_index.get(i) for i in range(len(items))]
        missing = [i for i in range(len(items)) if i not in by_index]
        if missing:
            computed = compute([items[i] for i in missing], [name])[name]
            for i, value in zip(missing, computed, strict=True):
                column[i] = value
        values[name] = column
    raw.values = {name: values[name] for name in spec.names}
    wanted = needs_reference_scores(spec)
    if wanted:
        by_prompt = {
            item.prompt_key: ScoreItem(item.prompt, item.reference, item.reference)
            for item in items
            if item.reference is not None
        }
        keys = list(by_prompt)
        values = compute([by_prompt[k] for k in keys], wanted) if keys else {}
        for name in wanted:
            per_prompt = dict(zip(keys, values.get(name, []), strict=True))
            raw.references[name] = [per_prompt.get(k) for k in raw.prompt_keys]
    return raw
