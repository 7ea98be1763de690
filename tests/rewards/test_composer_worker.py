""" "Try it" through a real Celery worker: a draft spec (fitted or not) and a saved version."""

from __future__ import annotations

import math

import pytest
from django.test import Client

from apps.rewards.services import score_draft_remote
from tests.rewards.factories import TEXT_SPEC, version_of

pytestmark = pytest.mark.integration

ITEM = {"prompt": "Cite a source.", "response": "See [1] now please", "reference": None}


def test_a_draft_is_scored_on_a_worker_with_or_without_fitted_transforms(  # type: ignore[no-untyped-def]
    celery_worker_process, project
):
    sigmoid = {**TEXT_SPEC, "transforms": {"words": [{"sigmoid": {"reference": -1, "tau": 2}}]}}
    zscore = {**TEXT_SPEC, "transforms": {"words": ["zscore"]}}

    fitted = score_draft_remote(project=project, spec=sigmoid, items=[ITEM])
    unfitted = score_draft_remote(project=project, spec=zscore, items=[ITEM])

    # 4 words against 3 ± 1: inside the band, so the length penalty is 0.
    words = 1 / (1 + math.exp(-(0 - -1) / 2))
    assert fitted == {
        "results": [{"reward": pytest.approx(2.0 + words), "components": {"cites": 1.0,
                                                                          "words": 0.0}}],
        "needs_fitting": False,
    }  # fmt: skip
    assert unfitted == {
        "results": [{"reward": None, "components": {"cites": 1.0, "words": 0.0}}],
        "needs_fitting": True,
    }


def test_the_version_page_tries_a_saved_version_through_the_scoring_path(  # type: ignore[no-untyped-def]
    celery_worker_process, project, designer
):
    version = version_of(project, TEXT_SPEC)
    client = Client()
    client.force_login(designer)

    response = client.post(
        f"/projects/{project.slug}/rewards/versions/{version.pk}/try/",
        {"try_prompt": "Cite a source.", "try_response": "Too many words here [1] friend"},
        HTTP_HX_REQUEST="true",
    )

    html = response.content.decode()
    assert '<tr data-component-value="cites"><td>cites</td><td class="num">1.0000</td></tr>' in html
    # 6 words: 2 past the band 3 ± 1 → −2; total 2·1 + 1·(−2).
    assert (
        '<tr data-component-value="words"><td>words</td><td class="num">-2.0000</td></tr>' in html
    )
    assert '<td class="num" data-total><strong>0.0000</strong></td>' in html
