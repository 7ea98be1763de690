from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
import yaml
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.test import Client
from drf_spectacular.drainage import GENERATOR_STATS
from drf_spectacular.generators import SchemaGenerator

# Every operation of the API, as (path, method, operationId).
OPERATIONS = {
    ("/api/v1/projects/", "get", "project_list"),
    ("/api/v1/projects/", "post", "project_create"),
    ("/api/v1/projects/{project_id}/", "get", "project_retrieve"),
    ("/api/v1/projects/{project_id}/", "patch", "project_update"),
    ("/api/v1/projects/{project_id}/members/", "get", "member_list"),
    ("/api/v1/projects/{project_id}/members/", "post", "member_create"),
    ("/api/v1/projects/{project_id}/members/{user_id}/", "patch", "member_update"),
    ("/api/v1/projects/{project_id}/members/{user_id}/", "delete", "member_delete"),
    ("/api/v1/projects/{project_id}/invitations/", "get", "invitation_list"),
    ("/api/v1/projects/{project_id}/invitations/", "post", "invitation_create"),
    ("/api/v1/projects/{project_id}/invitations/{invitation_id}/", "delete", "invitation_revoke"),
    ("/api/v1/projects/{project_id}/prompts/", "get", "prompt_list"),
    ("/api/v1/projects/{project_id}/prompts/", "post", "prompt_create"),
    ("/api/v1/prompts/{prompt_id}/", "get", "prompt_retrieve"),
    ("/api/v1/prompts/{prompt_id}/", "delete", "prompt_destroy"),
    ("/api/v1/comparisons/{comparison_id}/", "get", "comparison_retrieve"),
    ("/api/v1/comparisons/{comparison_id}/", "patch", "comparison_update"),
    ("/api/v1/reward-functions/{function_id}/", "get", "reward_function_retrieve"),
    ("/api/v1/reward-functions/{function_id}/", "patch", "reward_function_update"),
    ("/api/v1/projects/{project_id}/imports/", "get", "import_list"),
    ("/api/v1/projects/{project_id}/imports/", "post", "import_create"),
    ("/api/v1/imports/{import_id}/", "get", "import_retrieve"),
    ("/api/v1/tokens/me/", "get", "token_retrieve"),
    ("/api/v1/tokens/me/", "post", "token_rotate"),
    ("/api/v1/projects/{project_id}/training-runs/", "get", "training_run_list"),
    ("/api/v1/projects/{project_id}/training-runs/", "post", "training_run_create"),
    ("/api/v1/training-runs/{run_id}/", "get", "training_run_retrieve"),
    ("/api/v1/training-runs/{run_id}/cancel/", "post", "training_run_cancel"),
    ("/api/v1/projects/{project_id}/reward-models/", "get", "reward_model_list"),
    ("/api/v1/reward-models/{model_id}/promote/", "post", "reward_model_promote"),
}
ERROR_REF = {"$ref": "#/components/schemas/Error"}


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    return SchemaGenerator().get_schema(request=None, public=True)


def _operation(schema: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    return schema["paths"][path][method]


class _Scripts(HTMLParser):
    """Collects each `<script>`'s attributes and body."""

    def __init__(self) -> None:
        super().__init__()
        self.scripts: list[tuple[dict[str, str | None], str]] = []
        self._inside = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "script":
            self.scripts.append((dict(attrs), ""))
            self._inside = True

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._inside = False

    def handle_data(self, data: str) -> None:
        if self._inside:
            attrs, body = self.scripts[-1]
            self.scripts[-1] = (attrs, body + data)


def _scripts(html: str) -> list[tuple[dict[str, str | None], str]]:
    parser = _Scripts()
    parser.feed(html)
    return parser.scripts


def _script_src(response: Any) -> list[str]:
    return response["Content-Security-Policy"].split("script-src ")[1].split(";")[0].split()


def test_it_generates_the_schema_without_warnings_or_errors(tmp_path: Path) -> None:
    GENERATOR_STATS.reset()
    out = tmp_path / "schema.yaml"

    # Raises on any warning or error, and on a schema that is not valid OpenAPI.
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))

    written = yaml.safe_load(out.read_text())
    assert written["openapi"] == "3.0.3"
    assert written["info"]["title"] == "Palate API"


def test_it_lists_every_operation(schema: dict[str, Any]) -> None:
    listed = {
        (path, method, operation["operationId"])
        for path, operations in schema["paths"].items()
        for method, operation in operations.items()
    }

    assert listed >= OPERATIONS
    api_paths = {path for path, _, _ in OPERATIONS}
    assert {(p, m, o) for p, m, o in listed if p in api_paths} == OPERATIONS


def test_it_describes_error_answers_in_the_one_error_shape(schema: dict[str, Any]) -> None:
    for path, method, _ in OPERATIONS:
        responses = _operation(schema, path, method)["responses"]
        errors = {code for code in responses if code.startswith(("4", "5"))}
        assert "401" in errors, (path, method)
        for code in errors:
            assert responses[code]["content"]["application/json"]["schema"] == ERROR_REF

    assert set(
        _operation(schema, "/api/v1/projects/{project_id}/prompts/", "get")["responses"]
    ) == {
        "200",
        "400",
        "401",
        "403",
        "404",
    }
    assert schema["components"]["schemas"]["ErrorBody"]["required"] == [
        "code",
        "details",
        "message",
    ]


def test_it_types_the_prompt_writes(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    create = _operation(schema, "/api/v1/projects/{project_id}/prompts/", "post")
    delete = _operation(schema, "/api/v1/prompts/{prompt_id}/", "delete")

    assert list(create["requestBody"]["content"]) == ["application/json"]
    row = {"$ref": "#/components/schemas/PromptRowRequest"}
    assert components["PromptWriteRequest"]["oneOf"] == [row, {"type": "array", "items": row}]
    assert components["PromptRowRequest"]["required"] == ["prompt", "responses"]
    assert set(create["responses"]) == {"200", "201", "400", "401", "403", "404"}
    assert set(delete["responses"]) == {"204", "401", "403", "404", "409"}
    assert delete["responses"]["409"]["content"]["application/json"]["schema"] == ERROR_REF


def test_it_types_request_and_response_bodies(schema: dict[str, Any]) -> None:
    components = schema["components"]["schemas"]
    upload = _operation(schema, "/api/v1/projects/{project_id}/imports/", "post")

    assert list(upload["requestBody"]["content"]) == ["multipart/form-data"]
    assert components["ImportCreateRequest"]["properties"]["file"]["format"] == "binary"
    assert set(upload["responses"]) == {"202", "400", "401", "403", "404"}
    assert upload["responses"]["202"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/ImportJob"
    }
    assert components["ImportJob"]["properties"]["progress"]["allOf"] == [
        {"$ref": "#/components/schemas/ImportProgress"}
    ]
    assert set(components["ImportProgress"]["properties"]) == {
        "rows_processed",
        "fraction",
        "phase",
    }
    assert components["Project"]["properties"]["annotation_settings"] == {
        "$ref": "#/components/schemas/AnnotationSettings"
    }
    assert components["AnnotationSettings"]["properties"]["overlap"]["maximum"] == 50
    assert components["Prompt"]["properties"]["responses"]["items"] == {
        "$ref": "#/components/schemas/Response"
    }
    prompts = _operation(schema, "/api/v1/projects/{project_id}/prompts/", "get")
    assert {p["name"] for p in prompts["parameters"]} == {
        "project_id",
        "search",
        "group",
        "page",
        "page_size",
    }
    assert prompts["responses"]["200"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/PaginatedPromptList"
    }


def test_it_serves_the_schema() -> None:
    response = Client().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")

    assert response.status_code == 200
    assert response.json()["openapi"] == "3.0.3"
    assert "/api/v1/projects/" in response.json()["paths"]


def test_it_serves_swagger_ui_with_no_inline_script() -> None:
    client = Client()

    page = client.get("/api/docs/")

    assert page.status_code == 200
    scripts = _scripts(page.content.decode())
    assert [attrs["src"] for attrs, _ in scripts] == [
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js",
        "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-standalone-preset.js",
        "/api/docs/?script=",
    ]
    assert [body.strip() for _, body in scripts] == ["", "", ""]
    assert _script_src(page) == ["'self'"]
    start = client.get("/api/docs/?script=")
    assert start.status_code == 200
    assert start["Content-Type"] == "application/javascript"
    assert 'url: "/api/schema/"' in start.content.decode()
    assert finders.find("drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js")
