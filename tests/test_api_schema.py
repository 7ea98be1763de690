"""Schemathesis against /api/schema/: requests generated from the OpenAPI document, sent to a
live server with a token, find no server error (5xx) in any operation.

Each operation gets a few generated requests (bounded so the test stays under a minute),
and about half of them name the seeded project's real objects in their path, so requests
get past the 404 of an unknown id into validation and the services. Each request is sent as
OPTIONS too: no schema lists it, but every path answers it (tests/test_api_options.py asks
every path of the URLconf, as a member and as a stranger). A real Celery worker
answers the synchronous scoring endpoint and runs the jobs the requests queue. The one
operation that would cut the test off from the server, rotating its own token, runs last.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import schemathesis
from hypothesis import HealthCheck, Phase, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from apps.accounts.models import Role
from apps.accounts.services import token_issue
from apps.exports.models import Export
from apps.exports.services import export_run
from apps.rewards.services import score_run_create
from tests.exports.factories import label, pair
from tests.factories import MembershipFactory, ProjectFactory, UserFactory
from tests.rewards.factories import TEXT_SPEC, version_of

EXAMPLES_PER_OPERATION = 4
LAST = ("POST", "/api/v1/tokens/me/")


def _seed() -> tuple[dict[str, int], str]:
    """A project with an admin and an annotator, a labelled pair, a finished export, a
    reward function with a score run; returns the ids path parameters may name and the
    admin's token."""
    project = ProjectFactory()
    admin = UserFactory(username="schema-admin")
    annotator = UserFactory(username="schema-annotator")
    MembershipFactory(project=project, user=admin, role=Role.ADMIN)
    MembershipFactory(project=project, user=annotator, role=Role.ANNOTATOR)
    comparison, _, _ = pair(project, "Q", "good", "bad")
    label(comparison, annotator, "a", strength=1)
    export = Export.objects.create(project=project, format="trl-preference", file_format="jsonl")
    export_run(export_id=export.pk)
    version = version_of(project, TEXT_SPEC)
    run = score_run_create(version=version, created_by=admin, enqueue=False)
    ids = {
        "project_id": project.pk,
        "comparison_id": comparison.pk,
        "prompt_id": comparison.prompt_id,
        "export_id": export.pk,
        "function_id": version.function_id,
        "version_id": version.pk,
        "run_id": run.pk,
        "user_id": annotator.pk,
    }
    return ids, token_issue(user=admin).key


def test_no_generated_request_gets_a_server_error(  # type: ignore[no-untyped-def]
    live_server, celery_worker_process, settings: Any, tmp_path: Path
):
    settings.MEDIA_ROOT = tmp_path / "media"
    ids, token = _seed()
    auth = {"Authorization": f"Token {token}"}
    schema = schemathesis.openapi.from_url(f"{live_server.url}/api/schema/", headers=auth)
    operations = [result.ok() for result in schema.get_all_operations()]
    operations.sort(key=lambda operation: (operation.method.upper(), operation.path) == LAST)
    assert len(operations) >= 25  # every app's operations are in the schema
    failures: list[str] = []
    seen: set[tuple[str, str]] = set()
    succeeded: set[tuple[str, str]] = set()
    optioned: set[tuple[str, bool]] = set()

    for operation in operations:

        @settings_for_hypothesis
        @given(case=operation.as_strategy(), real_ids=st.booleans())
        def check(case: Any, real_ids: bool) -> None:
            if real_ids and case.path_parameters:
                case.path_parameters = {
                    name: ids.get(name, value) for name, value in case.path_parameters.items()
                }
            response = case.call(headers=auth)
            seen.add((case.method.upper(), case.operation.path))
            if response.status_code < 300:
                succeeded.add((case.method.upper(), case.operation.path))
            answers = [(case.method.upper(), response)]
            # OPTIONS is in no schema but every path answers it: asked once per path, with
            # the real ids and with generated ones.
            if (case.operation.path, real_ids) not in optioned:
                optioned.add((case.operation.path, real_ids))
                answers.append(("OPTIONS", case.call(headers=auth, method="OPTIONS")))
            for method, answer in answers:
                if answer.status_code >= 500:
                    failures.append(
                        f"{method} {case.formatted_path} {case.query or ''} "
                        f"{str(case.body)[:200]} -> {answer.status_code} {answer.text[:300]}"
                    )

        check()

    assert failures == []
    assert len(seen) == len(operations)
    assert {path for path, _ in optioned} == {operation.path for operation in operations}
    # The token and the seeded ids work: most reads and several writes went through.
    print(f"{len(succeeded)} of {len(operations)} operations answered 2xx at least once")
    assert len(succeeded) >= len(operations) // 2, sorted(set(seen) - succeeded)


settings_for_hypothesis = hypothesis_settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    database=None,
    derandomize=True,
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)
