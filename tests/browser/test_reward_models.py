"""A designer retrains from the run page, a real worker trains, the page shows the finished
loss curve, and the designer promotes the new model. Screenshots go to
var/test-output/reward_models/ (PALATE_VAR_DIR/test-output/reward_models/ when set)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from apps.reward_models.models import RewardModel, TrainingRun
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory
from tests.reward_models.factories import preference_project

pytestmark = [pytest.mark.browser, pytest.mark.integration]


@pytest.fixture
def out(settings) -> Path:  # type: ignore[no-untyped-def]
    folder = Path(settings.VAR_DIR) / "test-output" / "reward_models"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _media(settings, tmp_path) -> None:  # type: ignore[no-untyped-def]
    settings.MEDIA_ROOT = tmp_path / "media"


def _wait_until_done(page) -> None:  # type: ignore[no-untyped-def]
    # The polled part stops polling when the run ends; the curve is drawn by then.
    page.locator("#run-live .status-succeeded").wait_for(timeout=180_000)
    page.locator(
        '#run-live canvas[aria-label="Train and validation loss per epoch"]'
        '[data-chart-drawn="true"]'
    ).wait_for()


def test_a_designer_retrains_follows_the_run_and_promotes(page, celery_worker_process, out):  # type: ignore[no-untyped-def]
    designer = UserFactory(username="rm-designer")
    project = ProjectFactory(slug="rm-journey", name="Reward journey")
    MembershipFactory(project=project, user=designer, role="designer")
    preference_project(project, prompts=20)

    log_in(page, "rm-designer", PASSWORD)
    page.goto(f"/projects/{project.slug}/")
    page.get_by_role("link", name="Reward models", exact=True).click()
    page.get_by_role("link", name="Training runs").click()
    page.locator("#retrain-form summary").click()
    page.select_option("#id_head_kind", "linear")
    page.fill("#id_epochs", "30")
    page.fill("#id_learning_rate", "0.05")
    page.fill("#id_validation_fraction", "0.3")
    page.get_by_role("button", name="Retrain").click()
    page.wait_for_url(re.compile(r"/training-runs/\d+/$"))
    _wait_until_done(page)
    first = TrainingRun.objects.get()

    # Retrain on the run page: the same settings, a new run followed live.
    page.locator("#retrain-again").get_by_role("button", name="Retrain").click()
    page.wait_for_url(re.compile(rf"/training-runs/(?!{first.pk}/)\d+/$"))
    page.locator("#run-live progress, #run-live .status-succeeded").first.wait_for()
    _wait_until_done(page)
    second = TrainingRun.objects.exclude(pk=first.pk).get()
    assert second.status == "succeeded"
    assert second.settings == first.settings
    assert page.locator("#run-live").get_attribute("hx-trigger") is None  # polling stopped
    page.locator("#run-metrics").wait_for()
    assert page.locator("#run-metrics canvas[data-chart]").count() >= 3
    page.screenshot(path=str(out / "run-finished.png"), full_page=True)

    page.get_by_role("link", name="Compare and promote →").click()
    page.locator(f"#model-{second.reward_model_id}").get_by_role("button", name="Promote").click()
    page.locator(f"#model-{second.reward_model_id}").get_by_text("Active").wait_for()
    page.wait_for_timeout(1200)  # let the chart's entry animation finish for the picture
    page.screenshot(path=str(out / "models-promoted.png"), full_page=True)

    promoted = RewardModel.objects.get(is_promoted=True)
    assert promoted.pk == second.reward_model_id
