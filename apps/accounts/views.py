"""Pages for projects, their members and invitations, and the user's own account."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.formats import date_format
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.timezone import localtime
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseClientRedirect, HttpResponseClientRefresh

from apps.accounts import selectors, services
from apps.accounts.forms import (
    InvitationAcceptForm,
    MemberAddForm,
    MemberRoleForm,
    ProjectCreateForm,
    ProjectSettingsForm,
)
from apps.accounts.models import Membership, Project, Role
from apps.accounts.permissions import Capability, may_create_projects
from apps.core.errors import ApplicationError
from apps.core.htmx import HtmxHttpRequest


@require_GET
@login_required
def project_list(request: HtmxHttpRequest) -> HttpResponse:
    projects = selectors.project_list_with_counts(user=request.user)
    rows = [(project, Role(project.user_role)) for project in projects]
    may_create = may_create_projects(request.user)
    return render(
        request,
        "accounts/project_list.html",
        {"rows": rows, "form": ProjectCreateForm() if may_create else None},
    )


PROJECT_CREATORS_ONLY = "Only staff may create projects here; ask an administrator."


@require_http_methods(["GET", "POST"])
@login_required
def project_create(request: HtmxHttpRequest) -> HttpResponse:
    if not may_create_projects(request.user):
        raise PermissionDenied(PROJECT_CREATORS_ONLY)
    form = ProjectCreateForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and form.is_valid():
        try:
            project = services.project_create(
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                created_by=request.user,
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, f"Project “{project.name}” created.")
            return redirect("accounts:project_detail", slug=project.slug)
    return render(request, "accounts/project_create.html", {"form": form})


@require_GET
@login_required
def project_detail(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for_user(
        user=request.user, capability=Capability.VIEW_PROJECT, slug=slug
    )
    context = selectors.project_page_context(
        project=project, tab="overview", counts=selectors.project_stats(project=project)
    )
    if context["can"][Capability.VIEW_DATA]:
        context["imports"] = project.imports.select_related("created_by")[:5]
    return render(request, "accounts/project_detail.html", context)


@require_http_methods(["GET", "POST"])
@login_required
def project_settings(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for_user(
        user=request.user, capability=Capability.MANAGE_PROJECT, slug=slug
    )
    form = ProjectSettingsForm(request.POST if request.method == "POST" else None, project=project)
    if request.method == "POST" and form.is_valid():
        try:
            services.project_update(
                project=project,
                name=form.cleaned_data["name"],
                description=form.cleaned_data["description"],
                guidelines=form.cleaned_data["guidelines"],
                annotation_settings=form.annotation_settings,
            )
        except ApplicationError as error:
            form.add_error(None, error.message)
        else:
            messages.success(request, "Settings saved.")
            return redirect("accounts:project_settings", slug=project.slug)
    return render(
        request,
        "accounts/project_settings.html",
        selectors.project_page_context(project=project, tab="settings", form=form),
    )


def _members_page(
    request: HtmxHttpRequest,
    project: Project,
    *,
    form: MemberAddForm | None = None,
    error: str = "",
    notice: str = "",
    invite_link: str = "",
) -> HttpResponse:
    """The members page, or only its table when htmx asked; 422 when something was refused."""
    context = selectors.project_page_context(
        project=project,
        tab="members",
        memberships=selectors.membership_list(project=project),
        roles=Role.choices,
        form=form or MemberAddForm(),
        error=error,
        notice=notice,
        invite_link=invite_link,
    )
    if context["can"][Capability.MANAGE_MEMBERS]:
        context["invitations"] = selectors.invitation_list_pending(project=project)
    status = 422 if error or (form is not None and form.errors) else 200
    if request.htmx and not request.htmx.history_restore_request:
        return render(request, "accounts/members.html#members", context, status=status)
    return render(request, "accounts/members.html", context, status=status)


def _after_member_change(
    request: HtmxHttpRequest, slug: str, *, error: str = "", notice: str = ""
) -> HttpResponse:
    """Answer a role change or removal: the fresh table for htmx, a redirect otherwise.

    The project is loaded again because the user may just have changed their own role.
    """
    project = selectors.project_list_for_user(user=request.user).filter(slug=slug).first()
    if project is None:  # they removed themselves
        if notice:
            messages.success(request, notice)
        if request.htmx:
            return HttpResponseClientRedirect(reverse("accounts:project_list"))
        return redirect("accounts:project_list")
    if request.htmx:
        return _members_page(request, project, error=error, notice=notice)
    if error:
        messages.error(request, error)
    elif notice:
        messages.success(request, notice)
    return redirect("accounts:members", slug=slug)


@require_GET
@login_required
@vary_on_headers("HX-Request")
def members(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for_user(
        user=request.user, capability=Capability.VIEW_PROJECT, slug=slug
    )
    return _members_page(request, project)


@require_POST
@login_required
def member_add(request: HtmxHttpRequest, slug: str) -> HttpResponse:
    project = selectors.project_for_user(
        user=request.user, capability=Capability.MANAGE_MEMBERS, slug=slug
    )
    form = MemberAddForm(request.POST)
    if not form.is_valid():
        return _members_page(request, project, form=form)
    try:
        invited = services.member_invite(
            project=project,
            identifier=form.cleaned_data["identifier"],
            role=form.cleaned_data["role"],
            invited_by=request.user,
            site_url=request.build_absolute_uri("/"),
        )
    except ApplicationError as error:
        form.add_error("identifier", error.message)
        return _members_page(request, project, form=form)
    if invited.sent is not None:
        # The link is shown once, on this answer: it is not kept anywhere in full.
        invitation = invited.sent.invitation
        notice = (
            f"Invitation e-mailed to {invitation.email} as {invitation.get_role_display().lower()}."
            " You can also send them this link yourself; it works once, until"
            f" {date_format(localtime(invitation.expires_at), 'Y-m-d H:i T')}."
        )
        return _members_page(request, project, notice=notice, invite_link=invited.sent.link)
    membership = invited.membership
    assert membership is not None
    notice = f"{membership.user.username} added as {membership.get_role_display().lower()}."
    if request.htmx:
        return _members_page(request, project, notice=notice)
    messages.success(request, notice)
    return redirect("accounts:members", slug=project.slug)


def _membership(request: HtmxHttpRequest, slug: str, membership_id: int) -> Membership:
    project = selectors.project_for_user(
        user=request.user, capability=Capability.MANAGE_MEMBERS, slug=slug
    )
    return get_object_or_404(selectors.membership_list(project=project), pk=membership_id)


@require_POST
@login_required
def member_role(request: HtmxHttpRequest, slug: str, membership_id: int) -> HttpResponse:
    membership = _membership(request, slug, membership_id)
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        return _after_member_change(request, slug, error="Choose one of the roles.")
    try:
        membership = services.membership_change_role(
            membership=membership, role=form.cleaned_data["role"]
        )
    except ApplicationError as error:
        return _after_member_change(request, slug, error=error.message)
    notice = f"{membership.user.username} is now {membership.get_role_display().lower()}."
    if request.htmx and membership.user_id == request.user.pk:
        # Your own role changed: the tabs and controls of the whole page change with it.
        messages.success(request, notice)
        return HttpResponseClientRefresh()
    return _after_member_change(request, slug, notice=notice)


@require_POST
@login_required
def member_remove(request: HtmxHttpRequest, slug: str, membership_id: int) -> HttpResponse:
    membership = _membership(request, slug, membership_id)
    username = membership.user.username
    try:
        services.membership_remove(membership=membership)
    except ApplicationError as error:
        return _after_member_change(request, slug, error=error.message)
    return _after_member_change(request, slug, notice=f"{username} removed from the project.")


@require_POST
@login_required
def invitation_revoke(request: HtmxHttpRequest, slug: str, invitation_id: int) -> HttpResponse:
    project = selectors.project_for_user(
        user=request.user, capability=Capability.MANAGE_MEMBERS, slug=slug
    )
    invitation = get_object_or_404(project.invitations, pk=invitation_id)
    try:
        services.invitation_revoke(invitation=invitation)
    except ApplicationError as error:
        return _after_member_change(request, slug, error=error.message)
    return _after_member_change(
        request, slug, notice=f"The invitation of {invitation.email} was revoked."
    )


INVALID_LINK = (
    "This invitation link is not valid. Check that you copied all of it, or ask the project"
    " admin for a new one."
)


@require_http_methods(["GET", "POST"])
def invitation_accept(request: HtmxHttpRequest, invitation_id: int, key: str) -> HttpResponse:
    """The page an invitation link opens: a new account (username and password) or, when
    signed in, joining as yourself; then the project."""
    invitation = selectors.invitation_by_link(invitation_id=invitation_id, key=key)
    if invitation is None:
        return render(
            request, "accounts/invitation_closed.html", {"reason": INVALID_LINK}, status=404
        )
    if reason := services.invitation_closed_reason(invitation=invitation):
        context = {"reason": reason, "invitation": invitation}
        return render(request, "accounts/invitation_closed.html", context, status=410)
    signed_in = request.user.is_authenticated
    form = (
        None
        if signed_in
        else InvitationAcceptForm(
            request.POST if request.method == "POST" else None, email=invitation.email
        )
    )
    error = ""
    if request.method == "POST" and (form is None or form.is_valid()):
        try:
            if form is None:
                membership = services.invitation_accept(invitation=invitation, user=request.user)
            else:
                membership = services.invitation_accept(
                    invitation=invitation,
                    username=form.cleaned_data["username"],
                    password=form.cleaned_data["password1"],
                )
                login(request, membership.user, backend="django.contrib.auth.backends.ModelBackend")
        except ApplicationError as exc:
            error = exc.message
        else:
            role = membership.get_role_display().lower()
            messages.success(request, f"Welcome to {invitation.project.name}: you are {role}.")
            return redirect("accounts:project_detail", slug=invitation.project.slug)
    context = {"invitation": invitation, "form": form, "error": error}
    return render(request, "accounts/invitation_accept.html", context)


@require_GET
@login_required
@never_cache  # it shows the API token
def account(request: HtmxHttpRequest) -> HttpResponse:
    """The user's own account: e-mail, password, API token."""
    token = selectors.token_for_user(user=request.user)
    return render(request, "accounts/account.html", {"token": token})


@require_POST
@login_required
def token_rotate(request: HtmxHttpRequest) -> HttpResponse:
    """Create the user's API token, or replace it: the old key stops working at once."""
    rotate = selectors.token_for_user(user=request.user) is not None
    services.token_issue(user=request.user, rotate=rotate)
    messages.success(
        request,
        "New API token created; the old one no longer works." if rotate else "API token created.",
    )
    return redirect("accounts:account")


@require_POST
@login_required
def text_view(request: HtmxHttpRequest) -> HttpResponse:
    """Switch between raw text and rendered Markdown for model output, then go back."""
    services.user_set_raw_text(user=request.user, show_raw_text=request.POST.get("raw") == "1")
    back = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        back, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        back = reverse("accounts:project_list")
    return redirect(back)
