"""What the API tests share: a token-authenticated client and the error bodies."""

from __future__ import annotations

from rest_framework.fields import DateTimeField
from rest_framework.test import APIClient

from apps.accounts.models import User
from apps.accounts.services import token_issue

iso = DateTimeField().to_representation

NOT_FOUND = {"error": {"code": "not_found", "message": "Not found.", "details": {}}}
FORBIDDEN = {
    "error": {
        "code": "permission_denied",
        "message": "Your role in this project does not allow this.",
        "details": {},
    }
}
NOT_AUTHENTICATED = {
    "error": {
        "code": "not_authenticated",
        "message": "Authentication credentials were not provided.",
        "details": {},
    }
}


def token_client(user: User) -> APIClient:
    """A client that authenticates the way scripts do: `Authorization: Token <key>`."""
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token_issue(user=user).key}")
    return client
