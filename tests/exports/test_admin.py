from __future__ import annotations

import pytest
from django.contrib import admin

from apps.exports.models import Export
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_it_registers_and_lists_exports_in_the_admin(client, project):
    Export.objects.create(project=project, format="labels-raw", file_format="csv")
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    response = client.get("/admin/exports/export/")

    assert admin.site.is_registered(Export)
    assert response.status_code == 200
    assert b"labels-raw" in response.content
