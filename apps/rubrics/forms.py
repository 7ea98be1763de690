"""The rubric editor's input: rows of criteria and error categories read from a POST.

The page sends every row on each request (add, remove, save), so the state lives in
the form itself; `RubricDraft.content()` turns it into the lists the service validates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.http import QueryDict

from apps.rubrics.models import Rubric, RubricVersion

MAX_ROWS = 50


@dataclass
class CriterionRow:
    name: str = ""
    description: str = ""
    min: str = "1"
    max: str = "5"
    labels: str = ""  # one "point = meaning" per line
    weight: str = "1"


@dataclass
class CategoryRow:
    name: str = ""
    description: str = ""


@dataclass
class RubricDraft:
    name: str = ""
    description: str = ""
    guidelines: str = ""
    message: str = ""
    criteria: list[CriterionRow] = field(default_factory=list)
    categories: list[CategoryRow] = field(default_factory=list)

    @classmethod
    def of(cls, rubric: Rubric | None, version: RubricVersion | None) -> RubricDraft:
        """The draft a page starts from: the version in force, or one blank criterion."""
        draft = cls(
            name=rubric.name if rubric else "",
            description=rubric.description if rubric else "",
        )
        if version is None:
            draft.criteria = [CriterionRow()]
            return draft
        draft.guidelines = version.guidelines
        for item in version.criteria:
            scale = item.get("scale", {})
            labels = scale.get("labels", {})
            draft.criteria.append(
                CriterionRow(
                    name=item["name"],
                    description=item.get("description", ""),
                    min=str(scale.get("min", 1)),
                    max=str(scale.get("max", 5)),
                    labels="\n".join(f"{p} = {labels[p]}" for p in sorted(labels, key=int)),
                    weight=f"{float(item.get('weight', 1.0)):g}",
                )
            )
        draft.categories = [
            CategoryRow(item["name"], item.get("description", ""))
            for item in version.error_categories
        ]
        return draft

    @classmethod
    def from_post(cls, data: QueryDict) -> RubricDraft:
        def rows(prefix: str) -> list[int]:
            found = set()
            for key in data:
                head, _, rest = key.partition("-")
                index = rest.partition("-")[0]
                if head == prefix and index.isdigit():
                    found.add(int(index))
            return sorted(found)[:MAX_ROWS]

        def get(key: str) -> str:
            return data.get(key, "").replace("\r\n", "\n")

        return cls(
            name=get("name").strip(),
            description=get("description").strip(),
            guidelines=get("guidelines"),
            message=get("message").strip()[:300],
            criteria=[
                CriterionRow(
                    name=get(f"criterion-{i}-name").strip(),
                    description=get(f"criterion-{i}-description").strip(),
                    min=get(f"criterion-{i}-min").strip(),
                    max=get(f"criterion-{i}-max").strip(),
                    labels=get(f"criterion-{i}-labels"),
                    weight=get(f"criterion-{i}-weight").strip(),
                )
                for i in rows("criterion")
            ],
            categories=[
                CategoryRow(
                    name=get(f"category-{i}-name").strip(),
                    description=get(f"category-{i}-description").strip(),
                )
                for i in rows("category")
            ],
        )

    def apply(self, action: str) -> bool:
        """Add or remove a row; False when `action` is not one of those."""
        verb, _, index = action.partition(":")
        if verb == "add_criterion" and len(self.criteria) < MAX_ROWS:
            self.criteria.append(CriterionRow())
        elif verb == "add_category" and len(self.categories) < MAX_ROWS:
            self.categories.append(CategoryRow())
        elif verb == "remove_criterion" and index.isdigit() and int(index) < len(self.criteria):
            del self.criteria[int(index)]
        elif verb == "remove_category" and index.isdigit() and int(index) < len(self.categories):
            del self.categories[int(index)]
        else:
            return False
        return True

    def content(self) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[str]]:
        """Criteria and categories as the service takes them, and the input problems found
        before validation (numbers that are not numbers, label lines without "=")."""
        errors: list[str] = []
        criteria = []
        for i, row in enumerate(self.criteria):
            where = f"criteria[{i}]" + (f" ({row.name})" if row.name else "")
            item: dict[str, Any] = {"name": row.name, "description": row.description}
            scale: dict[str, Any] = {}
            for key in ("min", "max"):
                value = getattr(row, key)
                try:
                    scale[key] = int(value)
                except ValueError:
                    errors.append(f"{where}.scale.{key}: {value!r} is not a whole number")
            labels = {}
            for number, line in enumerate(row.labels.splitlines(), start=1):
                if not line.strip():
                    continue
                point, sep, meaning = line.partition("=")
                if not sep:
                    errors.append(f"{where}.scale.labels: line {number}: write point = meaning")
                    continue
                labels[point.strip()] = meaning.strip()
            scale["labels"] = labels
            item["scale"] = scale
            try:
                item["weight"] = float(row.weight or "1")
            except ValueError:
                errors.append(f"{where}.weight: {row.weight!r} is not a number")
            criteria.append(item)
        categories = [{"name": row.name, "description": row.description} for row in self.categories]
        return criteria, categories, errors
