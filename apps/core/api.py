"""Shared DRF pieces: pagination and the one error shape.

Every error answers `{"error": {"code", "message", "details"}}`; validation
errors keep DRF's per-field details so a client can show them next to inputs.
"""

from __future__ import annotations

import sys
from typing import Any

from django.core.exceptions import PermissionDenied
from django.db import InterfaceError, OperationalError
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.template import loader
from django.views import defaults
from pydantic import BaseModel
from rest_framework import exceptions, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from apps.core.errors import ApplicationError


def openapi_schema(model: type[BaseModel]) -> dict[str, Any]:
    """A Pydantic model's JSON schema in OpenAPI 3.0 terms, for `extend_schema_field`:
    `$defs` inlined, `X | None` as `nullable` (3.0 has no null type), exclusive bounds as
    flags beside `maximum`/`minimum`, no generated titles."""
    schema = model.model_json_schema()
    definitions = schema.pop("$defs", {})

    def convert(node: Any) -> Any:
        if isinstance(node, list):
            return [convert(item) for item in node]
        if not isinstance(node, dict):
            return node
        node = {key: value for key, value in node.items() if key != "title"}
        if "$ref" in node:
            target = definitions[node.pop("$ref").rsplit("/", 1)[-1]]
            node = {**{k: v for k, v in target.items() if k != "title"}, **node}
        options = node.get("anyOf", [])
        if {"type": "null"} in options:
            rest = [option for option in options if option != {"type": "null"}]
            node = {key: value for key, value in node.items() if key != "anyOf"}
            node.update(rest[0] if len(rest) == 1 else {"anyOf": rest})
            node["nullable"] = True
        for bound, limit in (("exclusiveMaximum", "maximum"), ("exclusiveMinimum", "minimum")):
            value = node.get(bound)
            if isinstance(value, int | float) and not isinstance(value, bool):
                node[limit], node[bound] = value, True
        converted = {key: convert(value) for key, value in node.items() if key != "properties"}
        if "properties" in node:
            # Property names are data, not keywords: a field called `title` must stay.
            converted["properties"] = {
                name: convert(sub) for name, sub in node["properties"].items()
            }
        return converted

    return convert(schema)


class Pagination(PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = 500


def _code_for(exc: Exception) -> str:
    if isinstance(exc, exceptions.ValidationError):
        return "invalid"
    if isinstance(exc, exceptions.APIException):
        codes = exc.get_codes()
        return codes if isinstance(codes, str) else exc.default_code
    return "error"


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, ApplicationError):
        return Response(
            {"error": {"code": "invalid", "message": exc.message, "details": exc.extra}},
            status=status.HTTP_400_BAD_REQUEST,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied(str(exc) or None)
    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    if isinstance(exc, exceptions.ValidationError):
        message = "Invalid input."
        details: Any = response.data
    else:
        message = str(response.data.get("detail", "")) if isinstance(response.data, dict) else ""
        details = {}
    response.data = {"error": {"code": _code_for(exc), "message": message, "details": details}}
    return response


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def _error(status_code: int, code: str, message: str) -> JsonResponse:
    body = {"error": {"code": code, "message": message, "details": {}}}
    return JsonResponse(body, status=status_code)


def not_found(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Django's 404 for a path no view answers: under /api/ in the one error shape too."""
    if _is_api(request):
        return _error(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


DATABASE_UNAVAILABLE = "The database is not answering at the moment; try again in a few seconds."
QUEUE_UNAVAILABLE = (
    "The job queue is not answering at the moment (CELERY_BROKER_URL cannot be reached); "
    "try again in a few seconds."
)
CACHE_UNAVAILABLE = (
    "The cache is not answering at the moment (CACHE_URL cannot be reached); "
    "try again in a few seconds."
)


def _unavailable(exc: BaseException | None) -> tuple[str, str] | None:
    """The code and message of a 503 for a service that is down (restarting, failing over),
    or None: the same request works again once it is back."""
    from kombu.exceptions import OperationalError as BrokerError
    from redis.exceptions import ConnectionError as RedisConnectionError
    from redis.exceptions import TimeoutError as RedisTimeout

    if isinstance(exc, OperationalError | InterfaceError):
        return "database_unavailable", DATABASE_UNAVAILABLE
    if isinstance(exc, BrokerError):
        return "queue_unavailable", QUEUE_UNAVAILABLE
    if isinstance(exc, RedisConnectionError | RedisTimeout):
        # The broker's own Redis errors arrive as kombu's; a bare redis-py one is the cache.
        return "cache_unavailable", CACHE_UNAVAILABLE
    return None


def server_error(request: HttpRequest) -> HttpResponse:
    """Django's 500: under /api/ in the one error shape, so clients can parse every answer.

    A database, job queue or cache that cannot be reached (a restart, a failover, a full
    connection pool) is a 503 instead, on pages a plain one that needs none of them: the
    same request works again in a moment. Django calls this while handling the exception,
    so `sys.exception()` is it, wherever it was raised (a middleware, DRF's authentication,
    a view, an enqueue after a commit)."""
    if unavailable := _unavailable(sys.exception()):
        code, message = unavailable
        if _is_api(request):
            return _error(503, code, message)
        page = loader.get_template("503.html").render({"message": message})
        return HttpResponse(page, status=503)
    if _is_api(request):
        return _error(500, "server_error", "Internal server error; see the server's logs.")
    return defaults.server_error(request)
