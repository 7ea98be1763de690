from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import Membership, Project, Role, User
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

__all__ = ["PASSWORD"]


@pytest.fixture
def project(db) -> Project:  # type: ignore[no-untyped-def]
    return ProjectFactory()


def _member(project: Project, role: Role) -> User:
    user = UserFactory(username=f"{role}-{project.slug}")
    MembershipFactory(project=project, user=user, role=role)
    return user


@pytest.fixture
def admin_user(project: Project) -> User:
    return _member(project, Role.ADMIN)


@pytest.fixture
def designer(project: Project) -> User:
    return _member(project, Role.DESIGNER)


@pytest.fixture
def annotator(project: Project) -> User:
    return _member(project, Role.ANNOTATOR)


@pytest.fixture
def viewer(project: Project) -> User:
    return _member(project, Role.VIEWER)


@pytest.fixture
def outsider(db) -> User:  # type: ignore[no-untyped-def]
    """A signed-up user who is not a member of `project`."""
    return UserFactory(username="outsider")


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def membership_of(user: User, project: Project) -> Membership | None:
    return Membership.objects.filter(user=user, project=project).first()
