from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify
from pydantic import ValidationError as PydanticValidationError
from rest_framework.authtoken.models import Token

from apps.accounts.authentication import token_forget
from apps.accounts.models import Membership, Project, Role, User
from apps.accounts.settings_schema import AnnotationSettings, format_validation_error
from apps.core.errors import ApplicationError


def _validated_settings(raw: dict[str, Any] | None) -> dict[str, Any]:
    try:
        return AnnotationSettings.model_validate(raw or {}).model_dump(mode="json")
    except PydanticValidationError as exc:
        lines = format_validation_error(exc)
        raise ApplicationError(
            "Invalid annotation settings: " + "; ".join(lines),
            extra={"annotation_settings": lines},
        ) from None


# Slugs that are page names under /projects/.
RESERVED_SLUGS = {"new"}


def _unique_slug(name: str) -> str:
    base = slugify(name)[:70] or "project"
    slug, n = base, 2
    while slug in RESERVED_SLUGS or Project.objects.filter(slug=slug).exists():
        slug, n = f"{base}-{n}", n + 1
    return slug


@transaction.atomic
def project_create(
    *,
    name: str,
    created_by: User,
    slug: str | None = None,
    description: str = "",
    guidelines: str = "",
    annotation_settings: dict[str, Any] | None = None,
) -> Project:
    """Create a project; its creator becomes its first admin."""
    name = name.strip()
    if not name:
        raise ApplicationError("A project needs a name.")
    if slug:
        slug = slugify(slug)
        if slug in RESERVED_SLUGS:
            raise ApplicationError(f"The slug {slug!r} is reserved.", extra={"slug": slug})
        if Project.objects.filter(slug=slug).exists():
            raise ApplicationError(f"The slug {slug!r} is taken.", extra={"slug": slug})
    project = Project.objects.create(
        name=name,
        slug=slug or _unique_slug(name),
        description=description,
        guidelines=guidelines,
        annotation_settings=_validated_settings(annotation_settings),
        created_by=created_by,
    )
    Membership.objects.create(project=project, user=created_by, role=Role.ADMIN)
    return project


@transaction.atomic
def project_update(
    *,
    project: Project,
    name: str | None = None,
    description: str | None = None,
    guidelines: str | None = None,
    annotation_settings: dict[str, Any] | None = None,
) -> Project:
    """Change a project's texts or settings; settings are validated as a whole."""
    changed = []
    if name is not None:
        if not name.strip():
            raise ApplicationError("A project needs a name.")
        project.name = name.strip()
        changed.append("name")
    if description is not None:
        project.description = description
        changed.append("description")
    if guidelines is not None:
        project.guidelines = guidelines
        changed.append("guidelines")
    if annotation_settings is not None:
        project.annotation_settings = _validated_settings(annotation_settings)
        changed.append("annotation_settings")
    if changed:
        project.save(update_fields=[*changed, "updated_at"])
    return project


def _ensure_admin_remains(*, project: Project, leaving: Membership) -> None:
    if leaving.role != Role.ADMIN:
        return
    others = (
        Membership.objects.select_for_update()
        .filter(project=project, role=Role.ADMIN)
        .exclude(pk=leaving.pk)
    )
    if not others.exists():
        raise ApplicationError("A project must keep at least one admin.")


@transaction.atomic
def membership_add(*, project: Project, user: User, role: Role | str) -> Membership:
    """Make a user a member. Adding an existing member is an error, not a role change."""
    role = Role(role)
    if Membership.objects.filter(project=project, user=user).exists():
        raise ApplicationError(f"{user.username} is already a member of this project.")
    return Membership.objects.create(project=project, user=user, role=role)


@transaction.atomic
def membership_change_role(*, membership: Membership, role: Role | str) -> Membership:
    """Change a member's role; the last admin cannot step down."""
    role = Role(role)
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    if membership.role == role:
        return membership
    if role != Role.ADMIN:
        _ensure_admin_remains(project=membership.project, leaving=membership)
    membership.role = role
    membership.save(update_fields=["role", "updated_at"])
    return membership


@transaction.atomic
def membership_remove(*, membership: Membership) -> None:
    """Remove a member; the last admin cannot be removed."""
    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _ensure_admin_remains(project=membership.project, leaving=membership)
    membership.delete()


@transaction.atomic
def token_issue(*, user: User, rotate: bool = False) -> Token:
    """The user's API token, created if missing; `rotate` replaces it with a new key."""
    if rotate:
        old = list(Token.objects.filter(user=user).values_list("key", flat=True))
        Token.objects.filter(user=user).delete()
        for key in old:
            token_forget(key)
            # Again once the deletion is visible, in case a request cached it meanwhile.
            transaction.on_commit(lambda key=key: token_forget(key))  # type: ignore[misc]
    token, _ = Token.objects.get_or_create(user=user)
    return token


def user_set_raw_text(*, user: User, show_raw_text: bool) -> User:
    """Remember whether this person reads model output as raw text or rendered Markdown."""
    user.show_raw_text = show_raw_text
    user.save(update_fields=["show_raw_text"])
    return user
