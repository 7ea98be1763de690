"""Transforms fitted on a project's values and stored in the version.

A z-score or a "p50" reference depends on the values it was fitted on. Scoring a
new item for an RL trainer tomorrow must give the value a batch job gave today, so
`fit_chain` computes the statistics once and returns a `FittedChain` that
serialises to JSON; `FittedChain.apply` only reads those numbers.

Rules:
- missing values (None) stay missing and are left out of every statistic;
- a z-score with zero spread (one value, or all equal) gives 0.0;
- `zscore_per_prompt` needs a prompt key per value; a prompt unseen when fitting
  falls back to the global mean and spread;
- min-max does not clip values outside the fitted range (add a clip for that);
- quantiles interpolate linearly between sorted values (numpy's default);
- statistics over no values at all are neutral (mean 0, spread 0, range 0–0,
  quantile 0) and `count` records that there was nothing to fit;
- `log_sigmoid` against "reference_answer" takes, per item, the score of the
  prompt's reference answer, passed through the same earlier steps.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

from workers.rewards.formula import as_values
from workers.rewards.spec import Clip, LogSigmoid, Sigmoid, Transform

Values = list[float | None]


class TransformError(ValueError):
    """A transform cannot be fitted or applied with what it was given."""


def sigmoid(x: float) -> float:
    """σ(x) without overflow for large |x|."""
    if x >= 0:
        return 1.0 / (1.0 + math.exp(-x))
    e = math.exp(x)
    return e / (1.0 + e)


def log_sigmoid(x: float) -> float:
    """log σ(x) = −log(1 + e^−x), stable at both ends (≈ x for very negative x)."""
    if x >= 0:
        return -math.log1p(math.exp(-x))
    return x - math.log1p(math.exp(x))


def quantile(values: Sequence[float], q: float) -> float:
    """The q-th quantile (0–1) with linear interpolation; 0.0 for no values."""
    ordered = sorted(values)
    if not ordered:
        return 0.0
    position = q * (len(ordered) - 1)
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    if not values:
        return 0.0, 0.0
    mean = math.fsum(values) / len(values)
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / len(values))


class _Fitted(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FittedZScore(_Fitted):
    kind: Literal["zscore"] = "zscore"
    mean: float
    std: float
    count: int

    def apply(self, values: Values, prompts: Sequence[str] | None) -> Values:
        mean, std = self.mean, self.std
        if std > 0:  # zero spread gives 0.0
            return [None if v is None else (v - mean) / std for v in values]
        return [None if v is None else 0.0 for v in values]


class FittedZScorePerPrompt(_Fitted):
    kind: Literal["zscore_per_prompt"] = "zscore_per_prompt"
    mean: float
    std: float
    count: int
    per_prompt: dict[str, tuple[float, float]]

    def apply(self, values: Values, prompts: Sequence[str] | None) -> Values:
        keys = _prompt_keys(prompts, len(values))
        get, overall = self.per_prompt.get, (self.mean, self.std)
        out: Values = []
        for v, key in zip(values, keys, strict=True):
            if v is None:
                out.append(None)
                continue
            mean, std = get(key, overall)
            out.append((v - mean) / std if std > 0 else 0.0)
        return out


class FittedMinMax(_Fitted):
    kind: Literal["minmax"] = "minmax"
    low: float
    high: float
    count: int

    def apply(self, values: Values, prompts: Sequence[str] | None) -> Values:
        span = self.high - self.low
        return [None if v is None else (v - self.low) / span if span > 0 else 0.0 for v in values]


class FittedClip(_Fitted):
    kind: Literal["clip"] = "clip"
    low: float | None
    high: float | None

    def apply(self, values: Values, prompts: Sequence[str] | None) -> Values:
        low = -math.inf if self.low is None else self.low
        high = math.inf if self.high is None else self.high
        return [None if v is None else min(max(v, low), high) for v in values]


class FittedSigmoid(_Fitted):
    kind: Literal["sigmoid"] = "sigmoid"
    reference: float
    tau: float

    def apply(self, values: Values, prompts: Sequence[str] | None) -> Values:
        return [None if v is None else sigmoid((v - self.reference) / self.tau) for v in values]


class FittedLogSigmoid(_Fitted):
    """`reference` None means: per item, the reference answer's score."""

    kind: Literal["log_sigmoid"] = "log_sigmoid"
    reference: float | None

    def apply(
        self, values: Values, prompts: Sequence[str] | None, references: Values | None = None
    ) -> Values:
        if self.reference is not None:
            refs: Values = [self.reference] * len(values)
        elif not values:  # nothing to compare (a spec fitted without data)
            return []
        elif references is None:
            raise TransformError(
                "log_sigmoid against reference_answer needs the reference answers' scores"
            )
        else:
            refs = references
        return [
            None if v is None or r is None else log_sigmoid(v - r)
            for v, r in zip(values, refs, strict=True)
        ]


FittedTransform = Annotated[
    FittedZScore
    | FittedZScorePerPrompt
    | FittedMinMax
    | FittedClip
    | FittedSigmoid
    | FittedLogSigmoid,
    Field(discriminator="kind"),
]


class FittedChain(_Fitted):
    """One component's ordered transforms with their statistics; JSON in, JSON out."""

    steps: list[FittedTransform] = []

    def apply(
        self,
        values: Sequence[object],
        *,
        prompts: Sequence[str] | None = None,
        references: Sequence[object] | None = None,
    ) -> Values:
        """Transform `values`; `references` are reference answers' raw scores, per item."""
        current = as_values(values)
        refs = None if references is None else as_values(references)
        for step in self.steps:
            current, refs = _step(step, current, prompts, refs)
        return current


def _step(
    step: FittedTransform, values: Values, prompts: Sequence[str] | None, refs: Values | None
) -> tuple[Values, Values | None]:
    """Apply one step to the values and, alongside, to the reference scores."""
    if isinstance(step, FittedLogSigmoid):
        out = step.apply(values, prompts, refs)
        # After log_sigmoid the reference itself sits at log σ(0).
        return out, None if refs is None else step.apply(refs, prompts, refs)
    return step.apply(values, prompts), None if refs is None else step.apply(refs, prompts)


def _prompt_keys(prompts: Sequence[object] | None, n: int) -> list[str]:
    if prompts is None:
        raise TransformError("zscore_per_prompt needs a prompt key for every value")
    if len(prompts) != n:
        raise TransformError(f"{len(prompts)} prompt keys for {n} values")
    return [str(p) for p in prompts]


def _reference_value(reference: float | str, present: list[float]) -> float:
    if isinstance(reference, str):
        return quantile(present, int(reference[1:]) / 100)
    return reference


def fit(step: Transform, values: Values, prompts: Sequence[str] | None = None) -> FittedTransform:
    """Fit one spec transform on `values` (missing ones are ignored)."""
    present = [v for v in values if v is not None]
    if step in ("zscore", "zscore_per_prompt"):
        mean, std = _mean_std(present)
        if step == "zscore":
            return FittedZScore(mean=mean, std=std, count=len(present))
        groups: dict[str, list[float]] = {}
        for v, key in zip(values, _prompt_keys(prompts, len(values)), strict=True):
            if v is not None:
                groups.setdefault(key, []).append(v)
        per_prompt = {key: _mean_std(group) for key, group in groups.items()}
        return FittedZScorePerPrompt(mean=mean, std=std, count=len(present), per_prompt=per_prompt)
    if step == "minmax":
        low, high = (min(present), max(present)) if present else (0.0, 0.0)
        return FittedMinMax(low=low, high=high, count=len(present))
    if isinstance(step, Clip):
        return FittedClip(low=step.clip.low, high=step.clip.high)
    if isinstance(step, Sigmoid):
        reference = _reference_value(step.sigmoid.reference, present)
        return FittedSigmoid(reference=reference, tau=step.sigmoid.tau)
    if isinstance(step, LogSigmoid):
        ref = step.log_sigmoid.reference
        if ref == "reference_answer":
            return FittedLogSigmoid(reference=None)
        return FittedLogSigmoid(reference=_reference_value(ref, present))
    raise TransformError(f"unknown transform {step!r}")


def fit_chain(
    steps: Sequence[Transform],
    values: Sequence[object],
    *,
    prompts: Sequence[str] | None = None,
    references: Sequence[object] | None = None,
) -> FittedChain:
    """Fit each step on the output of the steps before it, as `apply` will run them."""
    current = as_values(values)
    refs = None if references is None else as_values(references)
    fitted: list[FittedTransform] = []
    for step in steps:
        one = fit(step, current, prompts)
        fitted.append(one)
        current, refs = _step(one, current, prompts, refs)
    return FittedChain(steps=fitted)
