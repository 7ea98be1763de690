"""What changed between two rubric versions: criteria, error categories, guidelines."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Any

from apps.rubrics.models import RubricVersion

_CRITERION_FIELDS = ("description", "scale", "weight")


@dataclass(frozen=True)
class FieldChange:
    field: str
    old: str
    new: str


@dataclass(frozen=True)
class ItemChange:
    name: str
    changes: list[FieldChange]


@dataclass(frozen=True)
class DiffLine:
    """One line of the guidelines diff: kind is "added", "removed", "same" or "gap"."""

    kind: str
    text: str


@dataclass(frozen=True)
class RubricDiff:
    old: RubricVersion
    new: RubricVersion
    criteria_added: list[str]
    criteria_removed: list[str]
    criteria_changed: list[ItemChange]
    categories_added: list[str]
    categories_removed: list[str]
    categories_changed: list[ItemChange]
    guidelines: list[DiffLine]

    @property
    def is_empty(self) -> bool:
        return not (
            self.criteria_added
            or self.criteria_removed
            or self.criteria_changed
            or self.categories_added
            or self.categories_removed
            or self.categories_changed
            or self.guidelines_changed
        )

    @property
    def guidelines_changed(self) -> bool:
        return any(line.kind in ("added", "removed") for line in self.guidelines)


def _scale_text(scale: dict[str, Any]) -> str:
    labels = scale.get("labels") or {}
    points = ", ".join(f"{point} = {labels[point]}" for point in sorted(labels, key=int))
    return f"{scale.get('min')}–{scale.get('max')}" + (f" ({points})" if points else "")


def _field_text(field: str, value: Any) -> str:
    if field == "scale":
        return _scale_text(value or {})
    if field == "weight":
        return f"{float(value):g}"
    return str(value or "")


def _compare(
    old: list[dict[str, Any]], new: list[dict[str, Any]], fields: tuple[str, ...]
) -> tuple[list[str], list[str], list[ItemChange]]:
    before = {item["name"]: item for item in old}
    after = {item["name"]: item for item in new}
    added = [name for name in after if name not in before]
    removed = [name for name in before if name not in after]
    changed = []
    for name, item in after.items():
        if name not in before:
            continue
        changes = [
            FieldChange(
                field,
                _field_text(field, before[name].get(field)),
                _field_text(field, item.get(field)),
            )
            for field in fields
            if before[name].get(field) != item.get(field)
        ]
        if changes:
            changed.append(ItemChange(name, changes))
    return added, removed, changed


def _text_diff(old: str, new: str) -> list[DiffLine]:
    """A line diff with three lines of context; the template escapes every line."""
    lines: list[DiffLine] = []
    for line in difflib.unified_diff(old.splitlines(), new.splitlines(), lineterm="", n=3):
        if line.startswith(("---", "+++")):
            continue
        if line.startswith("@@"):
            lines.append(DiffLine("gap", line))
        elif line.startswith("+"):
            lines.append(DiffLine("added", line[1:]))
        elif line.startswith("-"):
            lines.append(DiffLine("removed", line[1:]))
        else:
            lines.append(DiffLine("same", line[1:]))
    return lines


def rubric_diff(*, old: RubricVersion, new: RubricVersion) -> RubricDiff:
    """Criteria and categories added, removed and changed (by name), and a guidelines diff."""
    criteria = _compare(old.criteria, new.criteria, _CRITERION_FIELDS)
    categories = _compare(old.error_categories, new.error_categories, ("description",))
    return RubricDiff(
        old=old,
        new=new,
        criteria_added=criteria[0],
        criteria_removed=criteria[1],
        criteria_changed=criteria[2],
        categories_added=categories[0],
        categories_removed=categories[1],
        categories_changed=categories[2],
        guidelines=_text_diff(old.guidelines, new.guidelines),
    )
