from __future__ import annotations

import pytest

from apps.accounts.models import Membership, Project, Role
from apps.accounts.services import (
    membership_add,
    membership_change_role,
    membership_remove,
    project_create,
    project_update,
    token_issue,
)
from apps.core.errors import ApplicationError
from tests.factories import MembershipFactory, UserFactory

pytestmark = pytest.mark.django_db


def test_it_makes_the_creator_the_first_admin():
    user = UserFactory()

    project = project_create(name="  Helpful answers ", created_by=user)

    assert (project.name, project.slug) == ("Helpful answers", "helpful-answers")
    assert Membership.objects.get(project=project).role == Role.ADMIN
    assert project.settings.overlap == 3
    assert project.settings.strength_scale == [
        "negligibly better", "slightly better", "clearly better", "much better",
    ]  # fmt: skip


def test_it_gives_each_project_a_unique_slug():
    user = UserFactory()

    first = project_create(name="Chat", created_by=user)
    second = project_create(name="Chat", created_by=user)

    assert (first.slug, second.slug) == ("chat", "chat-2")


def test_it_refuses_a_taken_slug_and_creates_nothing():
    user = UserFactory()
    project_create(name="Chat", slug="chat", created_by=user)

    with pytest.raises(ApplicationError, match="The slug 'chat' is taken."):
        project_create(name="Other", slug="chat", created_by=user)

    assert Project.objects.count() == 1


def test_it_validates_annotation_settings_and_names_the_field(project):
    with pytest.raises(ApplicationError) as refused:
        project_update(project=project, annotation_settings={"overlap": 0, "colour": "red"})

    assert refused.value.extra == {
        "annotation_settings": [
            "overlap: Input should be greater than or equal to 1",
            "colour: Extra inputs are not permitted",
        ]
    }
    project.refresh_from_db()
    assert project.settings.overlap == 3


def test_it_saves_valid_annotation_settings(project):
    project_update(project=project, annotation_settings={"overlap": 5, "gold_rate": 0.1})

    project.refresh_from_db()
    assert (project.settings.overlap, project.settings.gold_rate) == (5, 0.1)
    assert project.annotation_settings["lease_minutes"] == 10


def test_it_adds_members_once(project):
    user = UserFactory()
    membership_add(project=project, user=user, role="designer")

    with pytest.raises(ApplicationError, match="already a member"):
        membership_add(project=project, user=user, role="viewer")

    assert Membership.objects.get(project=project, user=user).role == Role.DESIGNER


def test_it_keeps_at_least_one_admin(project, admin_user):
    membership = Membership.objects.get(project=project, user=admin_user)

    with pytest.raises(ApplicationError, match="at least one admin"):
        membership_change_role(membership=membership, role=Role.VIEWER)
    with pytest.raises(ApplicationError, match="at least one admin"):
        membership_remove(membership=membership)

    membership.refresh_from_db()
    assert membership.role == Role.ADMIN


def test_it_lets_an_admin_step_down_when_another_admin_remains(project, admin_user):
    MembershipFactory(project=project, role=Role.ADMIN)
    membership = Membership.objects.get(project=project, user=admin_user)

    membership_change_role(membership=membership, role=Role.VIEWER)

    membership.refresh_from_db()
    assert membership.role == Role.VIEWER


def test_it_issues_one_token_per_user_and_rotates_it():
    user = UserFactory()

    first = token_issue(user=user)
    again = token_issue(user=user)
    rotated = token_issue(user=user, rotate=True)

    assert first.key == again.key
    assert rotated.key != first.key
    assert len(rotated.key) == 40


def test_it_never_gives_a_project_the_slug_of_a_page():
    user = UserFactory()

    project = project_create(name="New", created_by=user)
    with pytest.raises(ApplicationError, match="The slug 'new' is reserved."):
        project_create(name="Other", slug="new", created_by=user)

    assert project.slug == "new-2"
    assert Project.objects.count() == 1
