"""Hand-made comparisons and labels for export tests."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from apps.accounts.models import Project, User
from apps.annotation.models import Comparison, Label
from apps.prompts.hashing import prompt_hash
from apps.prompts.models import Prompt, Response
from tests.factories import PromptFactory, ResponseFactory


def prompt(project: Project, text: str | list[dict[str, str]], **fields: Any) -> Prompt:
    return PromptFactory(project=project, input=text, content_hash=prompt_hash(text), **fields)


def pair(
    project: Project,
    question: str | list[dict[str, str]],
    first: str,
    second: str,
    **prompt_fields: Any,
) -> tuple[Comparison, Response, Response]:
    """A pairwise comparison; returns it with its responses in id order (a, b)."""
    item = prompt(project, question, **prompt_fields)
    a = ResponseFactory(prompt=item, text=first)
    b = ResponseFactory(prompt=item, text=second)
    comparison = Comparison.objects.create(project=project, prompt=item, response_a=a, response_b=b)
    return comparison, a, b


def ranking(project: Project, question: str, texts: list[str]) -> tuple[Comparison, list[Response]]:
    item = prompt(project, question)
    responses = [ResponseFactory(prompt=item, text=text) for text in texts]
    comparison = Comparison.objects.create(project=project, prompt=item, kind="ranking")
    comparison.ranked_responses.set(responses)
    return comparison, responses


def label(
    comparison: Comparison,
    annotator: User | None,
    choice: str = "",
    *,
    created_at: datetime | None = None,
    **fields: Any,
) -> Label:
    made = Label.objects.create(
        comparison=comparison,
        annotator=annotator,
        source="import" if annotator is None else "annotator",
        choice=choice,
        **fields,
    )
    if created_at is not None:
        Label.objects.filter(pk=made.pk).update(created_at=created_at)
        made.refresh_from_db()
    return made


def read_rows(path: str | Path) -> list[dict[str, Any]]:
    """Rows of a JSONL or Parquet file, as Python values."""
    path = Path(path)
    if path.suffix == ".parquet":
        return pq.read_table(path).to_pylist()
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
