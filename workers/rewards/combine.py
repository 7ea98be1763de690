"""Turn transformed component values into one reward per item.

Missing values (a judge that timed out, an item without a reference answer) are
common, and a zero in their place would read as a real score. The spec's
`combine.missing` says what happens instead:

- "skip_renormalise": a weighted sum uses the present components and scales their
  weights so their absolute total equals the absolute total of all nonzero weights
  (so the reward stays on the same scale); min and product use the present values;
  a formula is missing only where it needs a missing value. An item with no
  counted component present is missing.
- "missing_total": the reward is missing as soon as a counted component is
  missing (for a weighted sum, components with weight 0 are not counted; for a
  formula, every component it names is).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping, Sequence

from workers.rewards.formula import FormulaError, as_values
from workers.rewards.spec import RewardSpec

Values = list[float | None]


def combine(spec: RewardSpec, values: Mapping[str, Sequence[object]]) -> Values:
    """One reward per item from `values`: component name → transformed values."""
    rule = spec.combine
    names = spec.names
    if rule.op == "weighted_sum":
        assert rule.weights is not None
        names = [n for n in names if rule.weights[n] != 0]
    if not names:  # every weight is 0: nothing is counted
        return [None] * len(next(iter(values.values()), []))
    columns = _columns(names, values)
    skip = rule.missing == "skip_renormalise"
    rows = list(zip(*columns.values(), strict=True))
    if rule.op == "formula":
        results = spec.formula().evaluate(columns)
        if skip:
            return results
        return [None if None in row else r for row, r in zip(rows, results, strict=True)]
    if rule.op == "weighted_sum":
        assert rule.weights is not None
        weights = [rule.weights[n] for n in names]
        total = math.fsum(abs(w) for w in weights)
        return [_weighted_sum(row, weights, total, skip=skip) for row in rows]
    reduce = min if rule.op == "min" else math.prod
    out: Values = []
    for row in rows:
        present = [v for v in row if v is not None]
        missing = not present or (not skip and len(present) < len(row))
        out.append(None if missing else float(reduce(present)))
    return out


def _columns(names: Sequence[str], values: Mapping[str, Sequence[object]]) -> dict[str, Values]:
    columns = {}
    for name in names:
        if name not in values:
            raise FormulaError(f"no values for component `{name}`")
        columns[name] = as_values(values[name])
    if len({len(c) for c in columns.values()}) > 1:
        raise FormulaError("component columns have different lengths")
    return columns


def _weighted_sum(
    row: Sequence[float | None], weights: Sequence[float], total: float, *, skip: bool
) -> float | None:
    """`total` is the sum of the absolute weights (computed once per column set)."""
    if None not in row and 0 < total < math.inf:
        # Every value present: the scale below is total / total, exactly 1.
        return math.fsum(map(operator.mul, row, weights))  # type: ignore[arg-type]
    present = [(v, w) for v, w in zip(row, weights, strict=True) if v is not None]
    if not present or (not skip and len(present) < len(row)):
        return None
    scale = total / math.fsum(abs(w) for _, w in present)
    return scale * math.fsum(v * w for v, w in present)
