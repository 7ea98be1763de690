from __future__ import annotations

import hashlib
import hmac
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, OuterRef, Q, QuerySet, Subquery
from django.http import Http404
from django.utils import timezone
from rest_framework.authtoken.models import Token

from apps.accounts.models import Invitation, Membership, Project, Role, User
from apps.accounts.permissions import Capability, role_can
from apps.core import rawsql
from apps.core.rawsql import Columns


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    """Projects the user is a member of, each annotated with `user_role`."""
    if not user.is_authenticated:
        return Project.objects.none()
    # No ordering: Membership's default one would join users for nothing.
    role = (
        Membership.objects.filter(project=OuterRef("pk"), user=user).order_by().values("role")[:1]
    )
    return Project.objects.filter(memberships__user=user).annotate(user_role=Subquery(role))


def project_for_user(
    *, user: User, capability: Capability, slug: str | None = None, pk: int | None = None
) -> Project:
    """The project if the user may do `capability` there.

    Not a member: Http404, so other people's projects stay invisible.
    A member whose role lacks the capability: PermissionDenied.
    """
    lookup = {"slug": slug} if slug is not None else {"pk": pk}
    project = project_list_for_user(user=user).filter(**lookup).first()
    if project is None:
        raise Http404("No such project.")
    if not role_can(project.user_role, capability):
        raise PermissionDenied("Your role in this project does not allow this.")
    return project


def project_for_member(*, user: User, capability: Capability, pk: int) -> Project:
    """`project_for_user` by id in one statement written out, for the annotation hot path:
    the same project (with `user_role`), the same 404 and 403."""
    if not user.is_authenticated:
        raise Http404("No such project.")
    sql = (
        f"SELECT {_PROJECT.select('p')}, m.role FROM {Project._meta.db_table} p "  # noqa: S608 - our tables
        f"JOIN {Membership._meta.db_table} m ON m.project_id = p.id AND m.user_id = %s "
        "WHERE p.id = %s"
    )
    with rawsql.cursor() as cursor:
        cursor.execute(sql, [user.pk, pk])
        row = cursor.fetchone()
    if row is None:
        raise Http404("No such project.")
    project = _PROJECT.load(row[:-1])
    project.user_role = row[-1]
    if not role_can(project.user_role, capability):
        raise PermissionDenied("Your role in this project does not allow this.")
    return project


_PROJECT = Columns(Project)


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")


def project_list_with_counts(*, user: User) -> QuerySet[Project]:
    """The user's projects with `prompt_count` and `response_count`, by name."""
    return (
        project_list_for_user(user=user)
        .annotate(
            prompt_count=Count("prompts", distinct=True),
            response_count=Count("prompts__responses", distinct=True),
        )
        .order_by("name")
    )


def project_stats(*, project: Project) -> dict[str, int]:
    """Counts for the overview; superseded labels are history, not counted."""
    current_labels = Q(labels__superseded_by__isnull=True)
    return {
        "prompts": project.prompts.count(),
        "responses": project.prompts.aggregate(n=Count("responses"))["n"],
        "comparisons": project.comparisons.count(),
        "labels": project.comparisons.aggregate(n=Count("labels", filter=current_labels))["n"],
    }


def project_page_context(*, project: Project, tab: str, **extra: Any) -> dict[str, Any]:
    """What every page inside a project renders: the project, the user's role, its tabs."""
    can = {capability.value: role_can(project.user_role, capability) for capability in Capability}
    return {"project": project, "role": Role(project.user_role), "can": can, "tab": tab, **extra}


def user_find(*, identifier: str) -> User | None:
    """The active user with this exact username, else the one whose username or e-mail
    matches ignoring case; None when nobody or several people match."""
    identifier = identifier.strip()
    user = User.objects.filter(username=identifier, is_active=True).first()
    if user is not None:
        return user
    matches = list(
        User.objects.filter(
            Q(username__iexact=identifier) | Q(email__iexact=identifier), is_active=True
        )[:2]
    )
    return matches[0] if len(matches) == 1 else None


def invitation_list_pending(*, project: Project) -> QuerySet[Invitation]:
    """The project's invitations nobody has accepted or revoked and that have not expired."""
    return (
        project.invitations.filter(
            accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
        )
        .select_related("invited_by")
        .order_by("email")
    )


def invitation_key_hash(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def invitation_by_link(*, invitation_id: int, key: str) -> Invitation | None:
    """The invitation a link names, if its secret is right (compared in constant time),
    with its project; None otherwise. Its state (accepted, expired…) is the caller's to check."""
    invitation = (
        Invitation.objects.select_related("project", "invited_by").filter(pk=invitation_id).first()
    )
    if invitation is None or not hmac.compare_digest(invitation.key_hash, invitation_key_hash(key)):
        return None
    return invitation


def token_for_user(*, user: User) -> Token | None:
    """The user's API token, if they have one."""
    return Token.objects.filter(user=user).first()
