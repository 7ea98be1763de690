"""Fixtures shared by the label-quality tests."""

from __future__ import annotations

import pytest

from apps.accounts.models import Project, User
from apps.prompts.models import Prompt
from tests.annotation.test_reports import long_first_pairs
from tests.annotation.test_review import judge, people


@pytest.fixture
def judged(project: Project) -> tuple[list[User], list[int]]:
    """Two annotators who agree on the first two pairs and split on the last two."""
    annotators = people(project, 2)
    items = long_first_pairs(project, 4)
    for pk, group in zip(items, ["easy", "easy", "hard", "hard"], strict=True):
        Prompt.objects.filter(comparisons=pk).update(group=group)
    judge(project, annotators[0], dict.fromkeys(items, "a"),
          rationale="<script>alert('x')</script> A is fuller")  # fmt: skip
    judge(project, annotators[1], dict.fromkeys(items[:2], "a") | dict.fromkeys(items[2:], "b"))
    return annotators, items
