"""Every page and endpoint × every role and a non-member.

Allowed requests succeed; a member whose role lacks the right gets 403, a non-member
gets 404 (other people's projects stay invisible), and a denied request changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.test import Client
from rest_framework.authtoken.models import Token

from apps.accounts.models import Invitation, Membership, Project, Role, User
from apps.accounts.services import invitation_create
from apps.annotation.models import Assignment, Comparison, Flag, Label, ReviewDecision
from apps.annotation.schema import Judgment
from apps.annotation.services import assignment_next, comparisons_generate, label_submit
from apps.exports.models import Export
from apps.imports.models import ImportJob
from apps.prompts.models import Prompt
from apps.reward_models.models import RetrainRule, RewardModel, TrainingRun
from apps.rewards.models import Inspection, RewardFunction, RewardFunctionVersion, ScoreRun
from apps.rewards.services import reward_function_create
from apps.rubrics.models import Rubric, RubricVersion
from apps.rubrics.services import rubric_create, rubric_version_create
from tests.factories import (
    MembershipFactory,
    ProjectFactory,
    PromptFactory,
    ResponseFactory,
    UserFactory,
)
from tests.imports.files import PROMPT_ROWS, jsonl_bytes, upload

pytestmark = pytest.mark.django_db

ALL = {"admin", "designer", "annotator", "viewer"}
DATA = {"admin", "designer", "viewer"}
IMPORTERS = {"admin", "designer"}
ADMINS = {"admin"}
ANNOTATORS = {"admin", "designer", "annotator"}
EVERYONE = ALL | {"outsider"}


@dataclass(frozen=True)
class World:
    project: Project
    users: dict[str, User]
    target: Membership  # a member whose role the members endpoints try to change
    prompt: Prompt
    job: ImportJob
    assignments: dict[str, int]  # each annotating role's open item (see _annotation_world)
    rubric: int = 0  # with two versions
    reward_version: int = 0
    version: int = 0  # a reward function version with an inspection (see _inspector_world)
    inspection: int = 0
    run: TrainingRun | None = None  # a queued training run
    model: RewardModel | None = None  # a reward model that is not promoted
    spare_prompt: int = 0  # nobody has judged it, so it may be deleted
    export: int = 0  # a finished export with a data file and a card in storage
    invitation: int = 0  # a pending invitation of an e-mail address

    def open_item(self, who: str) -> int:
        """The item `who` acts on; roles that cannot annotate try the annotator's."""
        return self.assignments.get(who, self.assignments["annotator"])


@dataclass(frozen=True)
class Case:
    name: str
    method: str
    path: str  # formatted with the World
    allowed: set[str]
    data: Any = None
    api: bool = False
    htmx: bool = False  # sent as an htmx request, so a refusal is an error status

    def __str__(self) -> str:
        return self.name


def _world() -> World:
    project = ProjectFactory(slug="matrix", name="Matrix")
    users = {}
    for role in Role:
        users[role.value] = UserFactory(username=f"m-{role.value}")
        MembershipFactory(project=project, user=users[role.value], role=role)
    users["outsider"] = UserFactory(username="m-outsider")
    target = MembershipFactory(
        project=project, user=UserFactory(username="m-target"), role="viewer"
    )
    prompt = PromptFactory(project=project)
    job = ImportJob.objects.create(
        project=project, original_name="old.jsonl", file_format="jsonl", status="succeeded"
    )
    assignments = _annotation_world(project, prompt, users)
    for number in range(4):  # imported judgments on more prompts: enough to train on
        other = PromptFactory(project=project, input=f"Matrix question {number}?")
        low, high = ResponseFactory(prompt=other), ResponseFactory(prompt=other)
        comparison = Comparison.objects.create(
            project=project, prompt=other, response_a=low, response_b=high
        )
        Label.objects.create(comparison=comparison, choice="a", source=Label.Source.IMPORT)
    run = TrainingRun.objects.create(project=project, settings={})
    model = RewardModel.objects.create(
        project=project, name="m", head_kind="linear", artifact_path="reward_models/none"
    )
    rubric = rubric_create(project=project, name="Matrix rubric", criteria=[],
                           error_categories=[])  # fmt: skip
    rubric_version_create(rubric=rubric, criteria=[], error_categories=[], guidelines="v2")
    reward = RewardFunctionVersion.objects.create(
        function=RewardFunction.objects.create(project=project, name="Matrix reward"),
        number=1, spec=REWARD_SPEC,
    )  # fmt: skip
    spare = PromptFactory(project=project, input="Nobody judged me.")
    version, inspection = _inspector_world(project)
    export = _finished_export(project)
    invitation = invitation_create(
        project=project, email="invited@example.org", role="viewer",
        invited_by=users["admin"], site_url="http://testserver/",
    ).invitation  # fmt: skip
    return World(
        project,
        users,
        target,
        prompt,
        job,
        assignments,
        rubric=rubric.pk,
        reward_version=reward.pk,
        version=version,
        inspection=inspection,
        run=run,
        model=model,
        spare_prompt=spare.pk,
        export=export,
        invitation=invitation.pk,
    )


def _finished_export(project: Project) -> int:
    """A succeeded export whose train file and data card are in storage."""
    export = Export.objects.create(
        project=project, format="labels-raw", file_format="jsonl", status="succeeded"
    )
    data = default_storage.save(f"exports/matrix/{export.pk}/train.jsonl", ContentFile(b"{}\n"))
    card = default_storage.save(f"exports/matrix/{export.pk}/README.md", ContentFile(b"# card"))
    export.files = [
        {"split": "train", "path": data, "rows": 1, "sha256": "0" * 64, "size_bytes": 3}
    ]
    export.card_path = card
    export.save(update_fields=["files", "card_path"])
    return export.pk


def _inspector_world(project: Project) -> tuple[int, int]:
    """A reward version with a finished inspection (its result recorded from the hand-worked
    project in tests/rewards/inspection_world.py), for the inspector's rows."""
    import json
    from pathlib import Path

    from tests.rewards.inspection_world import SPEC

    version = reward_function_create(project=project, name="matrix", spec=SPEC, created_by=None)
    result = json.loads((Path(__file__).parent / "rewards/inspection_result.json").read_text())
    inspection = Inspection.objects.create(
        version=version, project=project, status=Inspection.Status.SUCCEEDED, result=result
    )
    return version.pk, inspection.pk


def _annotation_world(project: Project, prompt: Prompt, users: dict[str, User]) -> dict[str, int]:
    """Each role that annotates has judged one item (to undo) and holds another (to judge)."""
    for _ in range(3):
        ResponseFactory(prompt=prompt)
    comparisons_generate(project=project)
    open_items = {}
    for role in sorted(ANNOTATORS):
        user = users[role]
        judged = assignment_next(project=project, user=user)
        assert judged is not None
        key = f"matrix-{role}-judged"
        label_submit(
            assignment=judged, user=user, judgment=Judgment(idempotency_key=key, choice="tie")
        )
        held = assignment_next(project=project, user=user)
        assert held is not None
        open_items[role] = held.pk
    return open_items


def _state(world: World) -> tuple[Any, ...]:
    project = Project.objects.get(pk=world.project.pk)
    return (
        project.name,
        project.guidelines,
        project.annotation_settings,
        sorted(Membership.objects.filter(project=project).values_list("user_id", "role")),
        sorted(Invitation.objects.filter(project=project).values_list("email", "revoked_at")),
        ImportJob.objects.filter(project=project).count(),
        Prompt.objects.filter(project=project).count(),
        sorted(Label.objects.filter(comparison__project=project).values_list("pk", "choice")),
        sorted(Assignment.objects.filter(project=project).values_list("pk", "status")),
        Flag.objects.filter(comparison__project=project).count(),
        ReviewDecision.objects.filter(comparison__project=project).count(),
        sorted(Comparison.objects.filter(project=project, is_gold=True).values_list("pk")),
        sorted(Rubric.objects.filter(project=project).values_list("pk", "name")),
        sorted(RubricVersion.objects.filter(rubric__project=project).values_list(
            "pk", "number", "guidelines")),
        sorted(RewardFunctionVersion.objects.filter(function__project=project).values_list(
            "pk", "function__name")),
        ScoreRun.objects.filter(project=project).count(),
        sorted(Comparison.objects.filter(project=project).values_list(
            "pk", "priority", "labels_wanted", "is_gold")),
        Export.objects.filter(project=project).count(),
        sorted(Inspection.objects.filter(project=project).values_list("pk", "status")),
        sorted(
            TrainingRun.objects.filter(project=project).values_list(
                "pk", "status", "cancel_requested"
            )
        ),
        sorted(RewardModel.objects.filter(project=project).values_list("pk", "is_promoted")),
        RetrainRule.objects.filter(project=project).count(),
    )  # fmt: skip


SETTINGS_FORM = {
    "name": "Renamed",
    "description": "",
    "guidelines": "New guidelines",
    "mode": "pairwise",
    "overlap": "2",
    "strength_scale": "a bit better\nmuch better",
    "gold_rate": "0",
    "lease_minutes": "10",
    "ranking_size": "4",
}

REWARD_SPEC = {
    "components": [{"name": "cites", "type": "contains", "substrings": ["[1]"]}],
    "combine": {"op": "weighted_sum", "weights": {"cites": 1.0}},
}
RUBRIC_FORM = {"name": "Matrix rubric", "guidelines": "Mine", "criterion-0-name": "c",
               "criterion-0-min": "1", "criterion-0-max": "3", "criterion-0-weight": "1",
               "action": "save"}  # fmt: skip
COMPOSER_FORM = {"c-0-type": "contains", "c-0-name": "cites", "c-0-f-substrings": "[2]",
                 "c-0-weight": "1", "combine-op": "weighted_sum", "function-name": "New reward",
                 "action": "save"}  # fmt: skip
DESIGNERS = {"admin", "designer"}

CASES = [
    # Pages
    Case("page overview", "get", "/projects/matrix/", ALL),
    Case("page settings", "get", "/projects/matrix/settings/", ADMINS),
    Case("page settings save", "post", "/projects/matrix/settings/", ADMINS, SETTINGS_FORM),
    Case("page members", "get", "/projects/matrix/members/", ALL),
    Case("page member add", "post", "/projects/matrix/members/add/", ADMINS,
         {"identifier": "m-outsider", "role": "viewer"}),
    Case("page member role", "post", "/projects/matrix/members/{target}/role/", ADMINS,
         {"role": "designer"}),
    Case("page member remove", "post", "/projects/matrix/members/{target}/remove/", ADMINS, {}),
    Case("page member invite", "post", "/projects/matrix/members/add/", ADMINS,
         {"identifier": "new@example.org", "role": "viewer"}),
    Case("page invitation revoke", "post", "/projects/matrix/invitations/{invitation}/revoke/",
         ADMINS, {}),
    Case("page prompts", "get", "/projects/matrix/prompts/", DATA),
    Case("page prompt", "get", "/projects/matrix/prompts/{prompt}/", DATA),
    Case("page comparisons", "get", "/projects/matrix/comparisons/?is_gold=false", DATA),
    Case("page labels", "get", "/projects/matrix/labels/?current=true", ALL),
    Case("page imports", "get", "/projects/matrix/imports/", DATA),
    Case("page import upload", "post", "/projects/matrix/imports/upload/", IMPORTERS, "upload"),
    Case("page import", "get", "/projects/matrix/imports/{job}/", DATA),
    Case("page import progress", "get", "/projects/matrix/imports/{job}/progress/", DATA),
    Case("page my work", "get", "/annotate/", EVERYONE),
    Case("page workbench", "get", "/projects/matrix/annotate/", ANNOTATORS),
    Case("page workbench next", "get", "/projects/matrix/annotate/next/?exclude={assignment}",
         ANNOTATORS, htmx=True),
    Case("page workbench submit", "post", "/projects/matrix/annotate/{assignment}/submit/",
         ANNOTATORS, {"idempotency_key": "matrix-submit", "choice": "left"}, htmx=True),
    Case("page workbench skip", "post", "/projects/matrix/annotate/{assignment}/skip/",
         ANNOTATORS, {"reason": "Cannot judge"}, htmx=True),
    Case("page workbench flag", "post", "/projects/matrix/annotate/{assignment}/flag/",
         ANNOTATORS, {"reason": "Broken"}, htmx=True),
    Case("page workbench undo", "post", "/projects/matrix/annotate/undo/", ANNOTATORS, {},
         htmx=True),
    Case("page quality", "get", "/projects/matrix/quality/", DATA),
    Case("page quality status", "get", "/projects/matrix/quality/status/", DATA),
    Case("page quality recompute", "post", "/projects/matrix/quality/recompute/", IMPORTERS, {}),
    Case("page annotators", "get", "/projects/matrix/quality/annotators/", IMPORTERS),
    Case("page annotator report", "get", "/projects/matrix/quality/annotators/{annotator}/",
         IMPORTERS | {"annotator"}),
    Case("page annotator resume", "post",
         "/projects/matrix/quality/annotators/{annotator}/resume/", ADMINS, {}),
    Case("page review", "get", "/projects/matrix/review/", IMPORTERS),
    Case("page review item", "get", "/projects/matrix/review/{comparison}/", IMPORTERS),
    Case("page review decide", "post", "/projects/matrix/review/{comparison}/decide/",
         IMPORTERS, {"choice": "a"}),
    Case("page gold", "get", "/projects/matrix/gold/", IMPORTERS),
    Case("page gold mark", "post", "/projects/matrix/gold/mark/", IMPORTERS,
         {"comparison": "{comparison}", "gold_choice": "a"}),
    Case("page rubrics", "get", "/projects/matrix/rubrics/", ALL),
    Case("page rubric", "get", "/projects/matrix/rubrics/{rubric}/", ALL),
    Case("page rubric diff", "get", "/projects/matrix/rubrics/{rubric}/diff/", ALL),
    Case("page rubric new", "get", "/projects/matrix/rubrics/new/", DESIGNERS),
    Case("page rubric create", "post", "/projects/matrix/rubrics/new/", DESIGNERS,
         {**RUBRIC_FORM, "name": "Another"}),
    Case("page rubric edit", "get", "/projects/matrix/rubrics/{rubric}/edit/", DESIGNERS),
    Case("page rubric save", "post", "/projects/matrix/rubrics/{rubric}/edit/", DESIGNERS,
         RUBRIC_FORM),
    Case("page rewards", "get", "/projects/matrix/rewards/", DATA),
    Case("page reward function", "get", "/projects/matrix/rewards/{reward_function}/", DATA),
    Case("page reward version", "get", "/projects/matrix/rewards/versions/{reward_version}/",
         DATA),
    Case("page reward new", "get", "/projects/matrix/rewards/new/", DESIGNERS),
    Case("page reward create", "post", "/projects/matrix/rewards/new/", DESIGNERS,
         COMPOSER_FORM),
    Case("page reward compose", "get", "/projects/matrix/rewards/{reward_function}/compose/",
         DESIGNERS),
    Case("page reward compose save", "post",
         "/projects/matrix/rewards/{reward_function}/compose/", DESIGNERS, COMPOSER_FORM),
    Case("page reward formula", "post", "/projects/matrix/rewards/formula/", DESIGNERS,
         {**COMPOSER_FORM, "combine-expression": "cites"}, htmx=True),
    Case("page reward try", "post", "/projects/matrix/rewards/try/", DESIGNERS,
         {**COMPOSER_FORM, "try_prompt": ""}, htmx=True),
    Case("page version try", "post", "/projects/matrix/rewards/versions/{reward_version}/try/",
         DESIGNERS, {"try_prompt": ""}, htmx=True),
    Case("page inspector", "get", "/projects/matrix/inspector/", DATA),
    Case("page inspector version", "get", "/projects/matrix/inspector/versions/{version}/", DATA),
    Case("page inspector start", "post",
         "/projects/matrix/inspector/versions/{version}/inspect/", IMPORTERS, {}),
    Case("page inspector progress", "get",
         "/projects/matrix/inspector/inspections/{inspection}/progress/", DATA),
    Case("page inspector accept", "post",
         "/projects/matrix/inspector/inspections/{inspection}/accept-weights/", IMPORTERS, {}),
    Case("page inspector compare", "get",
         "/projects/matrix/inspector/compare/?first={version}&second={version}", DATA),
    Case("page reward models", "get", "/projects/matrix/reward-models/", DATA),
    Case("page reward model promote", "post", "/projects/matrix/reward-models/{model}/promote/",
         IMPORTERS, {}),
    Case("page training runs", "get", "/projects/matrix/training-runs/", DATA),
    Case("page training run create", "post", "/projects/matrix/training-runs/new/", IMPORTERS,
         {"ties": "half", "validation_fraction": "0.5"}),
    Case("page retrain rule", "post", "/projects/matrix/training-runs/rule/", IMPORTERS,
         {"after_labels": "10"}),
    Case("page training run", "get", "/projects/matrix/training-runs/{run}/", DATA),
    Case("page training run progress", "get", "/projects/matrix/training-runs/{run}/progress/",
         DATA, htmx=True),
    Case("page exports", "get", "/projects/matrix/exports/", DESIGNERS),
    Case("page export create", "post", "/projects/matrix/exports/new/", DESIGNERS,
         {"format": "trl-preference", "file_format": "jsonl", "prompt_form": "auto",
          "test_share": "0", "seed": "0", "ties": "exclude", "both_bad": "exclude",
          "metadata": ""}),
    Case("page export progress", "get", "/projects/matrix/exports/{export}/progress/",
         DESIGNERS),
    Case("page export download", "get", "/projects/matrix/exports/{export}/download/train/",
         DESIGNERS),
    Case("page export card", "get", "/projects/matrix/exports/{export}/download/card/",
         DESIGNERS),
    Case("page training run cancel", "post", "/projects/matrix/training-runs/{run}/cancel/",
         IMPORTERS, {}),
    # API
    Case("api project", "get", "/api/v1/projects/{project}/", ALL, api=True),
    Case("api project patch", "patch", "/api/v1/projects/{project}/", ADMINS,
         {"name": "Renamed", "annotation_settings": {"overlap": 2}}, api=True),
    Case("api members", "get", "/api/v1/projects/{project}/members/", ALL, api=True),
    Case("api member add", "post", "/api/v1/projects/{project}/members/", ADMINS,
         {"username": "m-outsider", "role": "viewer"}, api=True),
    Case("api member role", "patch", "/api/v1/projects/{project}/members/{target_user}/", ADMINS,
         {"role": "designer"}, api=True),
    Case("api member remove", "delete", "/api/v1/projects/{project}/members/{target_user}/",
         ADMINS, api=True),
    Case("api invitations", "get", "/api/v1/projects/{project}/invitations/", ADMINS, api=True),
    Case("api invitation create", "post", "/api/v1/projects/{project}/invitations/", ADMINS,
         {"email": "new@example.org", "role": "viewer"}, api=True),
    Case("api invitation revoke", "delete",
         "/api/v1/projects/{project}/invitations/{invitation}/", ADMINS, api=True),
    Case("api prompts", "get", "/api/v1/projects/{project}/prompts/", DATA, api=True),
    Case("api prompt create", "post", "/api/v1/projects/{project}/prompts/", IMPORTERS,
         {"prompt": "Matrix new", "responses": [{"text": "A"}, {"text": "B"}]}, api=True),
    Case("api prompt", "get", "/api/v1/prompts/{prompt}/", DATA, api=True),
    Case("api prompt delete", "delete", "/api/v1/prompts/{spare_prompt}/", IMPORTERS, api=True),
    Case("api imports", "get", "/api/v1/projects/{project}/imports/", DATA, api=True),
    Case("api import upload", "post", "/api/v1/projects/{project}/imports/", IMPORTERS, "upload",
         api=True),
    Case("api import", "get", "/api/v1/imports/{job}/", DATA, api=True),
    Case("api comparisons", "get", "/api/v1/projects/{project}/comparisons/", DATA, api=True),
    Case("api comparison", "get", "/api/v1/comparisons/{comparison}/", ALL, api=True),
    Case("api comparison patch", "patch", "/api/v1/comparisons/{comparison}/", IMPORTERS,
         {"priority": 3, "labels_wanted": 1}, api=True),
    Case("api comparison next", "post", "/api/v1/projects/{project}/comparisons/next/",
         ANNOTATORS, {}, api=True),
    Case("api label", "post", "/api/v1/comparisons/{comparison}/labels/", ANNOTATORS,
         {"idempotency_key": "matrix-api-label", "choice": "a"}, api=True),
    Case("api skip", "post", "/api/v1/comparisons/{comparison}/skip/", ANNOTATORS,
         {"reason": "Not my language"}, api=True),
    Case("api labels", "get", "/api/v1/projects/{project}/labels/", ALL, api=True),
    Case("api agreement", "get", "/api/v1/projects/{project}/agreement/", DATA, api=True),
    Case("api agreement refresh", "post", "/api/v1/projects/{project}/agreement/refresh/",
         IMPORTERS, {}, api=True),
    Case("api annotator reports", "get", "/api/v1/projects/{project}/annotator-reports/",
         ANNOTATORS, api=True),
    Case("api review queue", "get", "/api/v1/projects/{project}/review-queue/", IMPORTERS,
         api=True),
    Case("api review decide", "post", "/api/v1/comparisons/{comparison}/review/", IMPORTERS,
         {"choice": "a"}, api=True),
    Case("api gold", "put", "/api/v1/comparisons/{comparison}/gold/", IMPORTERS,
         {"gold_choice": "a"}, api=True),
    Case("api rubrics", "get", "/api/v1/projects/{project}/rubrics/", ALL, api=True),
    Case("api rubric create", "post", "/api/v1/projects/{project}/rubrics/", DESIGNERS,
         {"name": "Another"}, api=True),
    Case("api rubric", "get", "/api/v1/rubrics/{rubric}/", ALL, api=True),
    Case("api rubric patch", "patch", "/api/v1/rubrics/{rubric}/", DESIGNERS,
         {"guidelines": "Mine"}, api=True),
    Case("api rubric versions", "get", "/api/v1/rubrics/{rubric}/versions/", ALL, api=True),
    Case("api rubric version create", "post", "/api/v1/rubrics/{rubric}/versions/", DESIGNERS,
         {"criteria": []}, api=True),
    Case("api reward functions", "get", "/api/v1/projects/{project}/reward-functions/", DATA,
         api=True),
    Case("api reward function create", "post", "/api/v1/projects/{project}/reward-functions/",
         DESIGNERS, {"name": "New reward", "spec": REWARD_SPEC}, api=True),
    Case("api reward function", "get", "/api/v1/reward-functions/{reward_function}/", DATA,
         api=True),
    Case("api reward function patch", "patch", "/api/v1/reward-functions/{reward_function}/",
         DESIGNERS, {"name": "Renamed reward", "description": "New"}, api=True),
    Case("api reward versions", "get", "/api/v1/reward-functions/{reward_function}/versions/",
         DATA, api=True),
    Case("api reward version create", "post",
         "/api/v1/reward-functions/{reward_function}/versions/", DESIGNERS,
         {"spec": REWARD_SPEC}, api=True),
    Case("api reward version", "get", "/api/v1/reward-function-versions/{reward_version}/",
         DATA, api=True),
    Case("api scores", "get", "/api/v1/reward-function-versions/{reward_version}/scores/", DATA,
         api=True),
    Case("api score runs", "get",
         "/api/v1/reward-function-versions/{reward_version}/score-runs/", DATA, api=True),
    Case("api exports", "get", "/api/v1/projects/{project}/exports/", DESIGNERS, api=True),
    Case("api export", "get", "/api/v1/exports/{export}/", DESIGNERS, api=True),
    Case("api export download", "get", "/api/v1/exports/{export}/download/", DESIGNERS,
         api=True),
    Case("api export card", "get", "/api/v1/exports/{export}/download/?file=card", DESIGNERS,
         api=True),
    Case("api export create", "post", "/api/v1/projects/{project}/exports/", DESIGNERS,
         {"format": "trl-preference", "file_format": "jsonl"}, api=True),
    Case("api score run create", "post",
         "/api/v1/reward-function-versions/{reward_version}/score-runs/", DESIGNERS, {},
         api=True),
    Case("api inspections", "get", "/api/v1/reward-function-versions/{version}/inspections/",
         DATA, api=True),
    Case("api inspection start", "post",
         "/api/v1/reward-function-versions/{version}/inspections/", IMPORTERS, {}, api=True),
    Case("api inspection", "get", "/api/v1/inspections/{inspection}/", DATA, api=True),
    Case("api inspection accept", "post", "/api/v1/inspections/{inspection}/accept-weights/",
         IMPORTERS, {}, api=True),
    Case("api version compare", "get",
         "/api/v1/reward-function-versions/{version}/compare/{version}/", DATA, api=True),
    Case("api training runs", "get", "/api/v1/projects/{project}/training-runs/", DATA, api=True),
    Case("api training run create", "post", "/api/v1/projects/{project}/training-runs/",
         IMPORTERS, {"settings": {"ties": "half", "validation_fraction": 0.5}}, api=True),
    Case("api training run", "get", "/api/v1/training-runs/{run}/", DATA, api=True),
    Case("api training run cancel", "post", "/api/v1/training-runs/{run}/cancel/", IMPORTERS,
         {}, api=True),
    Case("api reward models", "get", "/api/v1/projects/{project}/reward-models/", DATA,
         api=True),
    Case("api reward model promote", "post", "/api/v1/reward-models/{model}/promote/",
         IMPORTERS, {}, api=True),
]  # fmt: skip


def _request(case: Case, world: World, who: str) -> Any:
    path = case.path.format(
        project=world.project.pk,
        target=world.target.pk,
        target_user=world.target.user_id,
        prompt=world.prompt.pk,
        job=world.job.pk,
        assignment=world.open_item(who),
        comparison=Assignment.objects.get(pk=world.open_item(who)).comparison_id,
        annotator=world.users["annotator"].pk,
        rubric=world.rubric,
        reward_version=world.reward_version,
        reward_function=RewardFunctionVersion.objects.get(pk=world.reward_version).function_id,
        spare_prompt=world.spare_prompt,
        version=world.version,
        inspection=world.inspection,
        run=world.run.pk if world.run else None,
        model=world.model.pk if world.model else None,
        export=world.export,
        invitation=world.invitation,
    )
    client = Client()
    if case.api:
        token = Token.objects.create(user=world.users[who])
        headers = {"HTTP_AUTHORIZATION": f"Token {token.key}"}
    else:
        client.force_login(world.users[who])
        headers = {"HTTP_HX_REQUEST": "true"} if case.htmx else {}
    data = case.data
    if isinstance(data, dict):  # ids in bodies, like "{comparison}", as in paths
        comparison = Assignment.objects.get(pk=world.open_item(who)).comparison_id
        data = {
            key: value.format(comparison=comparison) if value == "{comparison}" else value
            for key, value in data.items()
        }
    if case.data == "upload":
        file = upload("rows.jsonl", jsonl_bytes(PROMPT_ROWS))
        return client.post(path, {"file": file}, **headers)
    if case.method == "get":
        return client.get(path, **headers)
    if case.api:
        call = getattr(client, case.method)
        return call(path, data, content_type="application/json", **headers)
    return client.post(path, data, **headers)


@pytest.mark.parametrize("who", [*sorted(ALL), "outsider"])
@pytest.mark.parametrize("case", CASES, ids=str)
def test_it_allows_exactly_the_roles_that_may(
    case: Case, who: str, django_capture_on_commit_callbacks
) -> None:  # type: ignore[no-untyped-def]
    world = _world()
    before = _state(world)

    with django_capture_on_commit_callbacks(execute=False):
        response = _request(case, world, who)

    if who in case.allowed:
        assert response.status_code < 400, response.content[:500]
    else:
        assert response.status_code == (404 if who == "outsider" else 403)
        assert _state(world) == before
        if case.api:
            assert set(response.json()) == {"error"}


@pytest.mark.parametrize("case", CASES, ids=str)
def test_it_sends_anonymous_visitors_away_and_changes_nothing(case: Case) -> None:
    world = _world()
    before = _state(world)
    path = case.path.format(
        project=world.project.pk, target=world.target.pk, target_user=world.target.user_id,
        prompt=world.prompt.pk, job=world.job.pk, assignment=world.open_item("annotator"),
        comparison=Assignment.objects.get(pk=world.open_item("annotator")).comparison_id,
        annotator=world.users["annotator"].pk,
        rubric=world.rubric, reward_version=world.reward_version,
        reward_function=RewardFunctionVersion.objects.get(pk=world.reward_version).function_id,
        spare_prompt=world.spare_prompt,
        version=world.version, inspection=world.inspection,
        run=world.run.pk if world.run else None, model=world.model.pk if world.model else None,
        export=world.export, invitation=world.invitation,
    )  # fmt: skip

    response = getattr(Client(), case.method)(path)

    if case.api:
        assert response.status_code == 401
    else:
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/")
    assert _state(world) == before
