"""REST API for projects, their members and invitations, and the caller's API token.

Who may do what is decided by `project_for_user` and the role table in
`apps.accounts.permissions`: a non-member gets 404, a member whose role lacks the
capability 403, an anonymous caller 401.
"""

from __future__ import annotations

from typing import Any

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, extend_schema_field, extend_schema_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.generics import GenericAPIView
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.models import Invitation, Membership, Project, Role, User
from apps.accounts.permissions import Capability, may_create_projects
from apps.accounts.selectors import (
    invitation_list_pending,
    membership_list,
    project_for_user,
    project_list_for_user,
)
from apps.accounts.services import (
    invitation_create,
    invitation_revoke,
    membership_add,
    membership_change_role,
    membership_remove,
    project_create,
    project_update,
    token_issue,
)
from apps.accounts.settings_schema import AnnotationSettings
from apps.core.api import openapi_schema
from apps.core.api_permissions import error_responses
from apps.core.parsers import JSONParser


@extend_schema_field(openapi_schema(AnnotationSettings), component_name="AnnotationSettings")
class AnnotationSettingsField(serializers.DictField):
    """A project's annotation settings; validated as a whole by the service."""


@extend_schema_serializer(component_name="Project")
class ProjectOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    slug = serializers.SlugField()
    description = serializers.CharField()
    guidelines = serializers.CharField(help_text="Markdown shown to annotators.")
    annotation_settings = AnnotationSettingsField()
    role = serializers.ChoiceField(
        choices=Role.choices, source="user_role", help_text="The caller's role in this project."
    )
    created_at = serializers.DateTimeField()
    updated_at = serializers.DateTimeField()


@extend_schema_serializer(component_name="Member")
class MembershipOutputSerializer(serializers.Serializer):
    user_id = serializers.IntegerField()
    username = serializers.CharField(source="user.username")
    role = serializers.ChoiceField(choices=Role.choices)
    created_at = serializers.DateTimeField(help_text="When the user joined the project.")


class ProjectListApi(GenericAPIView):
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="ProjectCreate")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200)
        slug = serializers.SlugField(
            max_length=80, required=False, help_text="Derived from the name when left out."
        )
        description = serializers.CharField(required=False, allow_blank=True, default="")
        guidelines = serializers.CharField(required=False, allow_blank=True, default="")
        annotation_settings = AnnotationSettingsField(
            required=False, help_text="Left-out keys take their defaults."
        )

    @extend_schema(
        operation_id="project_list",
        tags=["projects"],
        summary="The caller's projects, each with the caller's role",
        responses={200: ProjectOutputSerializer(many=True), **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        page = self.paginate_queryset(project_list_for_user(user=request.user))
        return self.get_paginated_response(ProjectOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="project_create",
        tags=["projects"],
        summary="Create a project; the caller becomes its admin (staff, or anyone when"
        " PROJECT_CREATORS=all)",
        request=InputSerializer,
        responses={201: ProjectOutputSerializer, **error_responses(400, 401, 403)},
    )
    def post(self, request: Request) -> Response:
        if not may_create_projects(request.user):
            raise PermissionDenied("Only staff may create projects here; ask an administrator.")
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        user = request.user
        project = project_create(created_by=user, **serializer.validated_data)
        # Read it back through the selector so the answer carries the caller's role.
        project = project_for_user(user=user, capability=Capability.VIEW_PROJECT, pk=project.pk)
        return Response(ProjectOutputSerializer(project).data, status=status.HTTP_201_CREATED)


class ProjectDetailApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="ProjectUpdate")
    class InputSerializer(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        description = serializers.CharField(required=False, allow_blank=True)
        guidelines = serializers.CharField(required=False, allow_blank=True)
        annotation_settings = AnnotationSettingsField(
            required=False,
            help_text=(
                "Merged key by key into the current settings (send `null` to clear a key such"
                " as `rubric_id`); the result is validated as a whole."
            ),
        )

    @extend_schema(
        operation_id="project_retrieve",
        tags=["projects"],
        summary="One project (any member)",
        responses={200: ProjectOutputSerializer, **error_responses(401, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_PROJECT, pk=project_id
        )
        return Response(ProjectOutputSerializer(project).data)

    @extend_schema(
        operation_id="project_update",
        tags=["projects"],
        summary="Change a project's texts or annotation settings (admin)",
        request=InputSerializer,
        responses={200: ProjectOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.MANAGE_PROJECT, pk=project_id
        )
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changes: dict[str, Any] = dict(serializer.validated_data)
        if "annotation_settings" in changes:
            changes["annotation_settings"] = {
                **project.annotation_settings,
                **changes["annotation_settings"],
            }
        project = project_update(project=project, **changes)
        return Response(ProjectOutputSerializer(project).data)


class MembershipListApi(GenericAPIView):
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="MemberCreate")
    class InputSerializer(serializers.Serializer):
        username = serializers.SlugRelatedField(
            slug_field="username",
            queryset=User.objects.filter(is_active=True),
            error_messages={"does_not_exist": "No user named {value}."},
        )
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(
        operation_id="member_list",
        tags=["members"],
        summary="A project's members and their roles (any member)",
        responses={200: MembershipOutputSerializer(many=True), **error_responses(401, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.VIEW_PROJECT, pk=project_id
        )
        page = self.paginate_queryset(membership_list(project=project))
        return self.get_paginated_response(MembershipOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="member_create",
        tags=["members"],
        summary="Add a user to a project with a role (admin)",
        request=InputSerializer,
        responses={201: MembershipOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.MANAGE_MEMBERS, pk=project_id
        )
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = membership_add(
            project=project,
            user=serializer.validated_data["username"],
            role=serializer.validated_data["role"],
        )
        return Response(MembershipOutputSerializer(membership).data, status=status.HTTP_201_CREATED)


class MembershipDetailApi(APIView):
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="MemberUpdate")
    class InputSerializer(serializers.Serializer):
        role = serializers.ChoiceField(choices=Role.choices)

    @staticmethod
    def _membership(project: Project, user_id: int) -> Membership:
        return get_object_or_404(membership_list(project=project), user_id=user_id)

    @extend_schema(
        operation_id="member_update",
        tags=["members"],
        summary="Change a member's role (admin); the last admin cannot step down",
        request=InputSerializer,
        responses={200: MembershipOutputSerializer, **error_responses(400, 401, 403, 404)},
    )
    def patch(self, request: Request, project_id: int, user_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.MANAGE_MEMBERS, pk=project_id
        )
        membership = self._membership(project, user_id)
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        membership = membership_change_role(
            membership=membership, role=serializer.validated_data["role"]
        )
        return Response(MembershipOutputSerializer(membership).data)

    @extend_schema(
        operation_id="member_delete",
        tags=["members"],
        summary="Remove a member (admin); the last admin cannot be removed",
        request=None,
        responses={204: None, **error_responses(400, 401, 403, 404)},
    )
    def delete(self, request: Request, project_id: int, user_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.MANAGE_MEMBERS, pk=project_id
        )
        membership_remove(membership=self._membership(project, user_id))
        return Response(status=status.HTTP_204_NO_CONTENT)


@extend_schema_serializer(component_name="Invitation")
class InvitationOutputSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    email = serializers.EmailField()
    role = serializers.ChoiceField(choices=Role.choices)
    invited_by = serializers.CharField(source="invited_by.username", allow_null=True)
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField(help_text="The link stops working then.")


@extend_schema_serializer(component_name="InvitationCreated")
class InvitationCreatedSerializer(InvitationOutputSerializer):
    link = serializers.URLField(
        help_text="The invitation link, also e-mailed; shown only in this answer. It works once."
    )


class InvitationListApi(GenericAPIView):
    parser_classes = [JSONParser]

    @extend_schema_serializer(component_name="InvitationCreate")
    class InputSerializer(serializers.Serializer):
        email = serializers.EmailField(max_length=254)
        role = serializers.ChoiceField(choices=Role.choices)

    @extend_schema(
        operation_id="invitation_list",
        tags=["members"],
        summary="A project's pending invitations (admin)",
        responses={200: InvitationOutputSerializer(many=True), **error_responses(401, 403, 404)},
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.MANAGE_MEMBERS, pk=project_id
        )
        page = self.paginate_queryset(invitation_list_pending(project=project))
        return self.get_paginated_response(InvitationOutputSerializer(page, many=True).data)

    @extend_schema(
        operation_id="invitation_create",
        tags=["members"],
        summary="Invite an e-mail address that has no account yet, with a role (admin)",
        description="E-mails the invitation link and returns it once, in `link`. An address"
        " that already has an account is refused: add that user through `members/`.",
        request=InputSerializer,
        responses={201: InvitationCreatedSerializer, **error_responses(400, 401, 403, 404)},
    )
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.MANAGE_MEMBERS, pk=project_id
        )
        serializer = self.InputSerializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        sent = invitation_create(
            project=project,
            email=serializer.validated_data["email"],
            role=serializer.validated_data["role"],
            invited_by=request.user,
            site_url=request.build_absolute_uri("/"),
        )
        data = {**InvitationOutputSerializer(sent.invitation).data, "link": sent.link}
        return Response(data, status=status.HTTP_201_CREATED)


class InvitationDetailApi(APIView):
    @extend_schema(
        operation_id="invitation_revoke",
        tags=["members"],
        summary="Revoke a pending invitation (admin); its link stops working",
        request=None,
        responses={204: None, **error_responses(400, 401, 403, 404)},
    )
    def delete(self, request: Request, project_id: int, invitation_id: int) -> Response:
        project = project_for_user(
            user=request.user, capability=Capability.MANAGE_MEMBERS, pk=project_id
        )
        invitation: Invitation = get_object_or_404(project.invitations, pk=invitation_id)
        invitation_revoke(invitation=invitation)
        return Response(status=status.HTTP_204_NO_CONTENT)


class TokenApi(APIView):
    @extend_schema_serializer(component_name="Token")
    class OutputSerializer(serializers.Serializer):
        key = serializers.CharField(help_text="Send as `Authorization: Token <key>`.")
        created = serializers.DateTimeField()

    @extend_schema(
        operation_id="token_retrieve",
        tags=["tokens"],
        summary="The caller's API token, created on first use",
        responses={200: OutputSerializer, **error_responses(401)},
    )
    def get(self, request: Request) -> Response:
        return Response(self.OutputSerializer(token_issue(user=request.user)).data)

    @extend_schema(
        operation_id="token_rotate",
        tags=["tokens"],
        summary="Replace the caller's API token with a new one; the old key stops working",
        request=None,
        responses={200: OutputSerializer, **error_responses(401)},
    )
    def post(self, request: Request) -> Response:
        token = token_issue(user=request.user, rotate=True)
        return Response(self.OutputSerializer(token).data)
