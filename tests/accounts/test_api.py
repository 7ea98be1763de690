from __future__ import annotations

from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from apps.accounts.models import Membership, Project, Role, User, default_annotation_settings
from apps.accounts.services import token_issue
from tests.api import FORBIDDEN, NOT_AUTHENTICATED, NOT_FOUND, iso, token_client
from tests.conftest import PASSWORD, membership_of
from tests.factories import MembershipFactory, ProjectFactory, UserFactory


def _project_json(project: Project, role: str) -> dict[str, Any]:
    project.refresh_from_db()
    return {
        "id": project.pk,
        "name": project.name,
        "slug": project.slug,
        "description": project.description,
        "guidelines": project.guidelines,
        "annotation_settings": project.annotation_settings,
        "role": role,
        "created_at": iso(project.created_at),
        "updated_at": iso(project.updated_at),
    }


def _snapshot(project: Project) -> tuple[Any, ...]:
    project.refresh_from_db()
    return (
        project.name,
        project.description,
        project.guidelines,
        project.annotation_settings,
        project.updated_at,
    )


def _roles(project: Project) -> dict[str, str]:
    return dict(project.memberships.values_list("user__username", "role"))


# Authentication


def test_it_authenticates_with_a_token_in_the_header(project: Project, admin_user: User) -> None:
    key = token_issue(user=admin_user).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")

    response = client.get(f"/api/v1/projects/{project.pk}/")

    assert response.status_code == 200
    assert response.json() == _project_json(project, "admin")


def test_it_authenticates_with_a_session(project: Project, admin_user: User) -> None:
    client = APIClient()
    assert client.login(username=admin_user.username, password=PASSWORD)

    response = client.get("/api/v1/projects/")

    assert response.status_code == 200
    assert [item["id"] for item in response.json()["results"]] == [project.pk]


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("get", "/api/v1/projects/"),
        ("post", "/api/v1/projects/"),
        ("get", "/api/v1/projects/{project}/"),
        ("patch", "/api/v1/projects/{project}/"),
        ("get", "/api/v1/projects/{project}/members/"),
        ("post", "/api/v1/projects/{project}/members/"),
        ("patch", "/api/v1/projects/{project}/members/{user}/"),
        ("delete", "/api/v1/projects/{project}/members/{user}/"),
        ("get", "/api/v1/tokens/me/"),
        ("post", "/api/v1/tokens/me/"),
    ],
)
def test_it_answers_401_without_credentials(
    api_client: APIClient, project: Project, admin_user: User, method: str, path: str
) -> None:
    before = (Project.objects.count(), _roles(project), _snapshot(project), Token.objects.count())

    response = getattr(api_client, method)(
        path.format(project=project.pk, user=admin_user.pk),
        {"name": "Mine now", "role": "viewer", "username": "outsider"},
        format="json",
    )

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json() == NOT_AUTHENTICATED
    after = (Project.objects.count(), _roles(project), _snapshot(project), Token.objects.count())
    assert after == before


def test_it_answers_401_for_an_unknown_token(api_client: APIClient, project: Project) -> None:
    api_client.credentials(HTTP_AUTHORIZATION="Token 0123456789abcdef")

    response = api_client.get("/api/v1/projects/")

    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "authentication_failed", "message": "Invalid token.", "details": {}}
    }


# Projects


def test_it_lists_only_the_callers_projects_with_their_role(
    project: Project, admin_user: User
) -> None:
    other = ProjectFactory(name="Another project")
    MembershipFactory(project=other, user=admin_user, role=Role.VIEWER)
    ProjectFactory(name="Someone else's project")

    response = token_client(admin_user).get("/api/v1/projects/")

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [_project_json(other, "viewer"), _project_json(project, "admin")],
    }


def test_it_paginates_the_project_list(db: None) -> None:
    user = UserFactory()
    for n in range(3):
        MembershipFactory(project=ProjectFactory(name=f"P{n}"), user=user, role=Role.VIEWER)

    response = token_client(user).get("/api/v1/projects/?page_size=2&page=2")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 3
    assert body["next"] is None
    assert body["previous"] == "http://testserver/api/v1/projects/?page_size=2"
    assert [item["name"] for item in body["results"]] == ["P2"]


def test_it_creates_a_project_and_makes_the_caller_admin(staff: User) -> None:
    response = token_client(staff).post(
        "/api/v1/projects/",
        {
            "name": "Helpfulness",
            "description": "Which answer helps more?",
            "annotation_settings": {"overlap": 5},
        },
        format="json",
    )

    assert response.status_code == 201
    project = Project.objects.get()
    assert response.json() == _project_json(project, "admin")
    assert project.name == "Helpfulness"
    assert project.slug == "helpfulness"
    assert project.description == "Which answer helps more?"
    assert project.created_by == staff
    assert project.annotation_settings == {**default_annotation_settings(), "overlap": 5}
    assert _roles(project) == {"staff": "admin"}


def test_it_refuses_a_project_whose_slug_is_taken(project: Project, staff: User) -> None:
    response = token_client(staff).post(
        "/api/v1/projects/", {"name": "Copy", "slug": project.slug}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": f"The slug '{project.slug}' is taken.",
            "details": {"slug": project.slug},
        }
    }
    assert Project.objects.count() == 1
    assert Membership.objects.filter(user=staff).count() == 0


def test_it_refuses_a_project_without_a_name(staff: User) -> None:
    response = token_client(staff).post("/api/v1/projects/", {"description": "x"}, format="json")

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "Invalid input.",
            "details": {"name": ["This field is required."]},
        }
    }
    assert Project.objects.count() == 0


def test_it_refuses_a_project_with_invalid_settings(staff: User) -> None:
    response = token_client(staff).post(
        "/api/v1/projects/",
        {"name": "Bad", "annotation_settings": {"gold_rate": 2}},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "Invalid annotation settings: gold_rate: Input should be less than or"
            " equal to 1",
            "details": {
                "annotation_settings": ["gold_rate: Input should be less than or equal to 1"]
            },
        }
    }
    assert Project.objects.count() == 0


def test_it_shows_a_project_to_any_member(project: Project, annotator: User) -> None:
    response = token_client(annotator).get(f"/api/v1/projects/{project.pk}/")

    assert response.status_code == 200
    assert response.json() == _project_json(project, "annotator")


def test_it_updates_texts_and_merges_settings(project: Project, admin_user: User) -> None:
    project.annotation_settings = {**default_annotation_settings(), "rubric_id": 7}
    project.save()

    response = token_client(admin_user).patch(
        f"/api/v1/projects/{project.pk}/",
        {
            "name": "Renamed",
            "guidelines": "Be *kind*.",
            "annotation_settings": {"overlap": 5, "mode": "ranking"},
        },
        format="json",
    )

    assert response.status_code == 200
    project.refresh_from_db()
    assert response.json() == _project_json(project, "admin")
    assert project.name == "Renamed"
    assert project.guidelines == "Be *kind*."
    assert project.description == ""
    assert project.annotation_settings == {
        **default_annotation_settings(),
        "rubric_id": 7,
        "overlap": 5,
        "mode": "ranking",
    }


def test_it_clears_a_setting_sent_as_null(project: Project, admin_user: User) -> None:
    project.annotation_settings = {**default_annotation_settings(), "rubric_id": 7}
    project.save()

    response = token_client(admin_user).patch(
        f"/api/v1/projects/{project.pk}/",
        {"annotation_settings": {"rubric_id": None}},
        format="json",
    )

    assert response.status_code == 200
    project.refresh_from_db()
    assert project.annotation_settings == default_annotation_settings()


def test_it_refuses_invalid_settings_with_the_field_message(
    project: Project, admin_user: User
) -> None:
    before = _snapshot(project)

    response = token_client(admin_user).patch(
        f"/api/v1/projects/{project.pk}/",
        {"name": "Renamed", "annotation_settings": {"overlap": 51, "colour": "red"}},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "Invalid annotation settings: overlap: Input should be less than or"
            " equal to 50; colour: Extra inputs are not permitted",
            "details": {
                "annotation_settings": [
                    "overlap: Input should be less than or equal to 50",
                    "colour: Extra inputs are not permitted",
                ]
            },
        }
    }
    assert _snapshot(project) == before


def test_it_refuses_settings_that_are_not_an_object(project: Project, admin_user: User) -> None:
    before = _snapshot(project)

    response = token_client(admin_user).patch(
        f"/api/v1/projects/{project.pk}/", {"annotation_settings": [1, 2]}, format="json"
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "Invalid input.",
            "details": {
                "annotation_settings": ['Expected a dictionary of items but got type "list".']
            },
        }
    }
    assert _snapshot(project) == before


@pytest.mark.parametrize("role", [Role.DESIGNER, Role.ANNOTATOR, Role.VIEWER])
def test_it_lets_only_admins_update_a_project(project: Project, role: Role) -> None:
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=role)
    before = _snapshot(project)

    response = token_client(user).patch(
        f"/api/v1/projects/{project.pk}/",
        {"name": "Mine now", "annotation_settings": {"overlap": 9}},
        format="json",
    )

    assert response.status_code == 403
    assert response.json() == FORBIDDEN
    assert _snapshot(project) == before


# Members


def test_it_lists_members_to_any_member(
    project: Project, admin_user: User, annotator: User, viewer: User
) -> None:
    response = token_client(annotator).get(f"/api/v1/projects/{project.pk}/members/")

    assert response.status_code == 200
    memberships = {m.user_id: m for m in project.memberships.all()}
    assert response.json() == {
        "count": 3,
        "next": None,
        "previous": None,
        "results": [
            {
                "user_id": user.pk,
                "username": user.username,
                "role": role,
                "created_at": iso(memberships[user.pk].created_at),
            }
            for user, role in [
                (admin_user, "admin"),
                (annotator, "annotator"),
                (viewer, "viewer"),
            ]
        ],
    }


def test_it_adds_a_member(project: Project, admin_user: User, outsider: User) -> None:
    response = token_client(admin_user).post(
        f"/api/v1/projects/{project.pk}/members/",
        {"username": "outsider", "role": "designer"},
        format="json",
    )

    assert response.status_code == 201
    membership = membership_of(outsider, project)
    assert membership is not None
    assert response.json() == {
        "user_id": outsider.pk,
        "username": "outsider",
        "role": "designer",
        "created_at": iso(membership.created_at),
    }
    assert _roles(project) == {admin_user.username: "admin", "outsider": "designer"}


def test_it_refuses_to_add_an_existing_member(
    project: Project, admin_user: User, viewer: User
) -> None:
    before = _roles(project)

    response = token_client(admin_user).post(
        f"/api/v1/projects/{project.pk}/members/",
        {"username": viewer.username, "role": "admin"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": f"{viewer.username} is already a member of this project.",
            "details": {},
        }
    }
    assert _roles(project) == before


def test_it_refuses_an_unknown_username_or_role(project: Project, admin_user: User) -> None:
    before = _roles(project)

    response = token_client(admin_user).post(
        f"/api/v1/projects/{project.pk}/members/",
        {"username": "nobody", "role": "owner"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "Invalid input.",
            "details": {
                "username": ["No user named nobody."],
                "role": ['"owner" is not a valid choice.'],
            },
        }
    }
    assert _roles(project) == before


def test_it_changes_a_members_role(project: Project, admin_user: User, viewer: User) -> None:
    response = token_client(admin_user).patch(
        f"/api/v1/projects/{project.pk}/members/{viewer.pk}/", {"role": "designer"}, format="json"
    )

    assert response.status_code == 200
    membership = membership_of(viewer, project)
    assert membership is not None
    assert response.json() == {
        "user_id": viewer.pk,
        "username": viewer.username,
        "role": "designer",
        "created_at": iso(membership.created_at),
    }
    assert membership.role == Role.DESIGNER


def test_it_removes_a_member(project: Project, admin_user: User, viewer: User) -> None:
    response = token_client(admin_user).delete(
        f"/api/v1/projects/{project.pk}/members/{viewer.pk}/"
    )

    assert response.status_code == 204
    assert response.content == b""
    assert _roles(project) == {admin_user.username: "admin"}


def test_it_keeps_the_last_admin_on_demotion(project: Project, admin_user: User) -> None:
    response = token_client(admin_user).patch(
        f"/api/v1/projects/{project.pk}/members/{admin_user.pk}/",
        {"role": "viewer"},
        format="json",
    )

    assert response.status_code == 400
    assert response.json() == {
        "error": {
            "code": "invalid",
            "message": "A project must keep at least one admin.",
            "details": {},
        }
    }
    assert _roles(project) == {admin_user.username: "admin"}


def test_it_keeps_the_last_admin_on_removal(
    project: Project, admin_user: User, designer: User
) -> None:
    response = token_client(admin_user).delete(
        f"/api/v1/projects/{project.pk}/members/{admin_user.pk}/"
    )

    assert response.status_code == 400
    assert response.json()["error"]["message"] == "A project must keep at least one admin."
    assert _roles(project) == {admin_user.username: "admin", designer.username: "designer"}


def test_it_lets_an_admin_step_down_when_another_admin_remains(
    project: Project, admin_user: User
) -> None:
    second = UserFactory(username="second-admin")
    MembershipFactory(project=project, user=second, role=Role.ADMIN)

    response = token_client(admin_user).delete(
        f"/api/v1/projects/{project.pk}/members/{admin_user.pk}/"
    )

    assert response.status_code == 204
    assert _roles(project) == {"second-admin": "admin"}


def test_it_answers_404_for_a_user_who_is_not_a_member(
    project: Project, admin_user: User, outsider: User
) -> None:
    response = token_client(admin_user).patch(
        f"/api/v1/projects/{project.pk}/members/{outsider.pk}/", {"role": "viewer"}, format="json"
    )

    assert response.status_code == 404
    assert response.json() == NOT_FOUND
    assert membership_of(outsider, project) is None


@pytest.mark.parametrize("role", [Role.DESIGNER, Role.ANNOTATOR, Role.VIEWER])
def test_it_lets_only_admins_manage_members(
    project: Project, admin_user: User, outsider: User, role: Role
) -> None:
    user = UserFactory()
    MembershipFactory(project=project, user=user, role=role)
    client = token_client(user)
    before = _roles(project)
    base = f"/api/v1/projects/{project.pk}/members/"

    answers = [
        client.post(base, {"username": "outsider", "role": "admin"}, format="json"),
        client.patch(f"{base}{user.pk}/", {"role": "admin"}, format="json"),
        client.patch(f"{base}{admin_user.pk}/", {"role": "viewer"}, format="json"),
        client.delete(f"{base}{admin_user.pk}/"),
    ]

    assert [(a.status_code, a.json()) for a in answers] == [(403, FORBIDDEN)] * 4
    assert _roles(project) == before


def test_it_hides_a_project_from_non_members(
    project: Project, admin_user: User, outsider: User
) -> None:
    client = token_client(outsider)
    before = (_snapshot(project), _roles(project))
    members = f"/api/v1/projects/{project.pk}/members/"

    answers = [
        client.get(f"/api/v1/projects/{project.pk}/"),
        client.patch(f"/api/v1/projects/{project.pk}/", {"name": "Mine now"}, format="json"),
        client.get(members),
        client.post(members, {"username": "outsider", "role": "admin"}, format="json"),
        client.patch(f"{members}{admin_user.pk}/", {"role": "viewer"}, format="json"),
        client.delete(f"{members}{admin_user.pk}/"),
        client.get("/api/v1/projects/999999/"),
    ]

    assert [(a.status_code, a.json()) for a in answers] == [(404, NOT_FOUND)] * 7
    assert (_snapshot(project), _roles(project)) == before
    assert client.get("/api/v1/projects/").json()["count"] == 0


# Tokens


def test_it_returns_the_callers_token_creating_it_once(outsider: User) -> None:
    client = APIClient()
    client.force_authenticate(outsider)

    first = client.get("/api/v1/tokens/me/")
    second = client.get("/api/v1/tokens/me/")

    token = Token.objects.get(user=outsider)
    assert first.status_code == 200
    assert first.json() == {"key": token.key, "created": iso(token.created)}
    assert second.json() == first.json()


def test_it_rotates_the_callers_token(outsider: User) -> None:
    old_key = token_issue(user=outsider).key
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {old_key}")

    response = client.post("/api/v1/tokens/me/")

    token = Token.objects.get(user=outsider)
    assert response.status_code == 200
    assert response.json() == {"key": token.key, "created": iso(token.created)}
    assert token.key != old_key
    assert client.get("/api/v1/tokens/me/").status_code == 401
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get("/api/v1/tokens/me/").json()["key"] == token.key
