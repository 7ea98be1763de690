from __future__ import annotations

import logging
import secrets
import smtplib
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import send_mail
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.utils.text import slugify
from pydantic import ValidationError as PydanticValidationError
from rest_framework.authtoken.models import Token

from apps.accounts.authentication import token_forget
from apps.accounts.models import Invitation, Membership, Project, Role, User
from apps.accounts.selectors import invitation_key_hash, user_find
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
    """Remove a member: their access ends, the items they hold go back to the queue, and
    their labels stay. The last admin cannot be removed."""
    # Leases live in `annotation`, an app above this one: imported here, where they end.
    from apps.annotation.models import Assignment

    membership = Membership.objects.select_for_update().get(pk=membership.pk)
    _ensure_admin_remains(project=membership.project, leaving=membership)
    now = timezone.now()
    Assignment.objects.filter(
        project=membership.project_id,
        annotator=membership.user_id,
        status=Assignment.Status.LEASED,
        expires_at__gt=now,
    ).update(expires_at=now, updated_at=now)
    membership.delete()


logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class InvitationSent:
    """A new invitation and its link: the only time the link's secret exists in full."""

    invitation: Invitation
    link: str


@dataclass(frozen=True)
class MemberInvited:
    """What inviting someone did: added an existing user, or invited an e-mail address."""

    membership: Membership | None = None
    sent: InvitationSent | None = None


def member_invite(
    *, project: Project, identifier: str, role: Role | str, invited_by: User, site_url: str
) -> MemberInvited:
    """Add the user this username or e-mail names; invite an e-mail nobody has yet.

    An existing account joins at once (as in Label Studio and Argilla); a new person gets
    a link by e-mail (see `invitation_create`)."""
    identifier = identifier.strip()
    user = user_find(identifier=identifier)
    if user is not None:
        return MemberInvited(membership=membership_add(project=project, user=user, role=role))
    if "@" not in identifier:
        raise ApplicationError(
            f"No user is named {identifier!r}. To invite someone new, enter their e-mail address."
        )
    return MemberInvited(
        sent=invitation_create(
            project=project, email=identifier, role=role, invited_by=invited_by, site_url=site_url
        )
    )


_CLOSED = {
    Invitation.State.ACCEPTED: "This invitation has already been accepted.",
    Invitation.State.REVOKED: "This invitation was revoked by a project admin.",
    Invitation.State.EXPIRED: "This invitation has expired.",
}


def invitation_closed_reason(*, invitation: Invitation) -> str:
    """Why the invitation's link no longer works; empty while it is pending."""
    return _CLOSED.get(invitation.state(timezone.now()), "")


@transaction.atomic
def invitation_create(
    *, project: Project, email: str, role: Role | str, invited_by: User, site_url: str
) -> InvitationSent:
    """Invite an e-mail address that has no account yet, and e-mail it the link.

    `site_url` (scheme and host) starts the link. The e-mail goes through Django's e-mail
    backend once the invitation is saved; if sending fails, the admin still has the link."""
    role = Role(role)
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise ApplicationError(f"{email!r} is not a valid e-mail address.") from None
    if User.objects.filter(email__iexact=email, is_active=True).exists():
        raise ApplicationError(
            f"{email} already has an account: add them by their username instead."
        )
    Project.objects.select_for_update().filter(pk=project.pk).first()  # one invite at a time
    now = timezone.now()
    pending = project.invitations.filter(
        email__iexact=email, accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=now
    )
    if pending.exists():
        raise ApplicationError(
            f"{email} is already invited. Revoke that invitation to send a new one."
        )
    key = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        project=project,
        email=email,
        role=role,
        invited_by=invited_by,
        key_hash=invitation_key_hash(key),
        expires_at=now + timedelta(days=settings.INVITATION_EXPIRY_DAYS),
    )
    path = reverse("accounts:invitation_accept", args=[invitation.pk, key])
    sent = InvitationSent(invitation=invitation, link=site_url.rstrip("/") + path)
    transaction.on_commit(lambda: _invitation_mail(sent))
    return sent


def _invitation_mail(sent: InvitationSent) -> None:
    context = {"invitation": sent.invitation, "link": sent.link}
    subject = render_to_string("accounts/email/invitation_subject.txt", context)
    body = render_to_string("accounts/email/invitation_body.txt", context)
    try:
        send_mail(" ".join(subject.split()), body, None, [sent.invitation.email])
    except (smtplib.SMTPException, OSError):
        logger.exception("Could not e-mail invitation %s", sent.invitation.pk)


@transaction.atomic
def invitation_revoke(*, invitation: Invitation) -> Invitation:
    """Make a pending invitation's link stop working."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if reason := invitation_closed_reason(invitation=invitation):
        raise ApplicationError(reason)
    invitation.revoked_at = timezone.now()
    invitation.save(update_fields=["revoked_at", "updated_at"])
    return invitation


@transaction.atomic
def invitation_accept(
    *, invitation: Invitation, user: User | None = None, username: str = "", password: str = ""
) -> Membership:
    """Accept an invitation: as the signed-in `user`, or as a new account with `username`
    and `password` (validated by the form) and the invited e-mail. Works once."""
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if reason := invitation_closed_reason(invitation=invitation):
        raise ApplicationError(reason)
    if user is None:
        username = username.strip()
        if User.objects.filter(username__iexact=username).exists():
            raise ApplicationError(f"The username {username!r} is taken; choose another.")
        user = User.objects.create_user(
            username=username, email=invitation.email, password=password
        )
    membership = membership_add(project=invitation.project, user=user, role=invitation.role)
    invitation.accepted_at = timezone.now()
    invitation.accepted_by = user
    invitation.save(update_fields=["accepted_at", "accepted_by", "updated_at"])
    return membership


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
