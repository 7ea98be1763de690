"""Rubrics made through the real services, and a label that puts a version in use."""

from __future__ import annotations

from typing import Any

from apps.accounts.models import Project, User
from apps.annotation.models import Label
from apps.annotation.schema import Judgment
from apps.annotation.services import assignment_next, comparisons_generate, label_submit
from apps.rubrics.models import Rubric
from apps.rubrics.services import rubric_create
from tests.factories import PromptFactory, ResponseFactory

CRITERIA: list[dict[str, Any]] = [
    {"name": "helpful", "description": "Answers the question.",
     "scale": {"min": 1, "max": 5, "labels": {"1": "useless", "5": "complete"}}, "weight": 2.0},
    {"name": "concise", "description": "No padding.", "scale": {"min": 1, "max": 3, "labels": {}},
     "weight": 1.0},
]  # fmt: skip
CATEGORIES: list[dict[str, Any]] = [{"name": "factual error", "description": "Wrong fact."}]


def rubric_of(project: Project, name: str = "Quality", guidelines: str = "Be fair.") -> Rubric:
    return rubric_create(
        project=project,
        name=name,
        criteria=CRITERIA,
        error_categories=CATEGORIES,
        guidelines=guidelines,
    )


def label_under_rubric(
    project: Project, rubric: Rubric, annotator: User, key: str = "first"
) -> Label:
    """Make `rubric` the project's rubric and have `annotator` judge one pair under it."""
    project.annotation_settings = {**project.annotation_settings, "rubric_id": rubric.pk}
    project.save(update_fields=["annotation_settings"])
    prompt = PromptFactory(project=project)
    ResponseFactory(prompt=prompt)
    ResponseFactory(prompt=prompt)
    comparisons_generate(project=project)
    assignment = assignment_next(project=project, user=annotator)
    assert assignment is not None
    judgment = Judgment.model_validate(
        {"idempotency_key": f"rubric-{rubric.pk}-{key}", "choice": "a"}
    )
    return label_submit(assignment=assignment, user=annotator, judgment=judgment).label
