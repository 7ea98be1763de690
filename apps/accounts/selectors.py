from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import OuterRef, QuerySet, Subquery
from django.http import Http404

from apps.accounts.models import Membership, Project, User
from apps.accounts.permissions import Capability, role_can


def project_list_for_user(*, user: User) -> QuerySet[Project]:
    """Projects the user is a member of, each annotated with `user_role`."""
    if not user.is_authenticated:
        return Project.objects.none()
    role = Membership.objects.filter(project=OuterRef("pk"), user=user).values("role")[:1]
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


def membership_list(*, project: Project) -> QuerySet[Membership]:
    return project.memberships.select_related("user").order_by("user__username")
