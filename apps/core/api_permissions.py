"""How the API says no, shared by every app's API views.

The rule itself lives with the domain: `apps.accounts.selectors.project_for_user`
resolves a project against the role table in `apps.accounts.permissions`, raising
Http404 for a non-member and PermissionDenied for a role that lacks the capability.
`apps.core.api.exception_handler` turns those (and DRF's own 401 and validation
errors) into the one error shape. This module describes that shape in the OpenAPI
schema, so every operation lists its 400/401/403/404 answers the same way. It
imports nothing from the domain apps, as `core` must not.
"""

from __future__ import annotations

from drf_spectacular.utils import OpenApiResponse, extend_schema_serializer
from rest_framework import serializers


@extend_schema_serializer(component_name="ErrorBody")
class ErrorBodySerializer(serializers.Serializer):
    code = serializers.CharField(help_text="`invalid`, `not_authenticated`, `permission_denied`, …")
    message = serializers.CharField(help_text="What went wrong, in words a person can act on.")
    details = serializers.DictField(
        help_text="Per-field messages for invalid input; empty otherwise.",
    )


@extend_schema_serializer(component_name="Error")
class ErrorSerializer(serializers.Serializer):
    error = ErrorBodySerializer()


_DESCRIPTIONS = {
    400: "Invalid input, or a rule of the domain was broken.",
    401: "No valid credentials: send `Authorization: Token <key>` or a session cookie.",
    403: "A member of the project whose role does not allow this.",
    404: "No such object, or the caller is not a member of its project.",
    409: "The object is in use and is kept: the message says why.",
    503: "No worker answered in time, or the database was unreachable: try again shortly.",
}


def error_responses(*statuses: int) -> dict[int, OpenApiResponse]:
    """`@extend_schema(responses=...)` entries for the given error statuses."""
    return {
        code: OpenApiResponse(response=ErrorSerializer, description=_DESCRIPTIONS[code])
        for code in statuses
    }
