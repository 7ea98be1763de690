"""Factories for the page tests, beside the shared ones in tests/factories.py."""

from __future__ import annotations

import factory

from apps.imports.models import ImportJob
from apps.rubrics.models import Rubric
from tests.factories import ProjectFactory


class RubricFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Rubric

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"Rubric {n}")


class ImportJobFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ImportJob

    project = factory.SubFactory(ProjectFactory)
    original_name = factory.Sequence(lambda n: f"batch-{n}.jsonl")
    file = factory.LazyAttribute(lambda job: f"imports/2025/01/{job.original_name}")
    file_format = ImportJob.Format.JSONL
    size_bytes = 2048
