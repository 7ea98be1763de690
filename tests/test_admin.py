from __future__ import annotations

import pytest
from django.apps import apps
from django.contrib import admin

from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

OUR_APPS = [
    "accounts", "prompts", "rubrics", "annotation", "imports", "rewards", "reward_models",
    "exports",
]  # fmt: skip


def test_it_registers_every_model_in_the_admin():
    missing = [
        model.__name__
        for label in OUR_APPS
        for model in apps.get_app_config(label).get_models()
        if not admin.site.is_registered(model)
    ]

    assert missing == []


@pytest.mark.parametrize("label", OUR_APPS)
def test_it_opens_each_admin_changelist(client, label):  # type: ignore[no-untyped-def]
    client.force_login(UserFactory(is_staff=True, is_superuser=True))

    for model in apps.get_app_config(label).get_models():
        meta = model._meta
        response = client.get(f"/admin/{meta.app_label}/{meta.model_name}/")
        assert response.status_code == 200, meta.label
