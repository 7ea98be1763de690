"""Issue 16 (2, 4) in headless Chromium: the inspector and the reward-model pages say which
numbers are held out and which are in-sample. Screenshots go to
var/test-output/held_out/ (PALATE_VAR_DIR/test-output/held_out/ when set)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from apps.reward_models.models import RewardModel, TrainingRun
from apps.reward_models.services import (
    reward_model_promote,
    training_run_claim,
    training_run_create,
    training_run_execute,
)
from apps.rewards.inspection.services import inspection_claim, inspection_create, inspection_execute
from apps.rewards.services import scoring_resources
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory
from tests.reward_models.factories import preference_project
from tests.rewards.factories import version_of
from workers.ml.scoring import Scorer
from workers.ml.training import train_reward_model
from workers.training.settings import TrainingSettings

pytestmark = [pytest.mark.browser, pytest.mark.integration]

FAST = TrainingSettings(head_kind="linear", epochs=30, learning_rate=0.05, validation_fraction=0.3)
WEAK = FAST.model_copy(update={"epochs": 1, "learning_rate": 1e-6})  # the same split as FAST


@pytest.fixture
def page(browser, live_server):  # type: ignore[no-untyped-def]
    """tests.browser.conftest's page, except that the promotion page's answer 409 (the
    server refused to promote without confirmation, and says why) is expected; any other
    console error fails the test."""
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    expected = "the server responded with a status of 409 (Conflict)"
    page.on(
        "console",
        lambda message: (
            message.type == "error" and expected not in message.text and errors.append(message.text)
        ),
    )
    page.on("pageerror", lambda error: errors.append(str(error)))
    yield page
    context.close()
    assert errors == [], f"browser console errors: {errors}"


@pytest.fixture
def out(settings: Any) -> Path:
    folder = Path(settings.VAR_DIR) / "test-output" / "held_out"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _trained(project, settings: TrainingSettings) -> TrainingRun:  # type: ignore[no-untyped-def]
    run = training_run_create(project=project, user=None, settings=settings, enqueue=False)
    claimed = training_run_claim(run_id=run.pk, worker="w")
    assert claimed is not None
    return training_run_execute(run=claimed, train=train_reward_model)


def _designer_project(slug: str):  # type: ignore[no-untyped-def]
    designer = UserFactory(username=f"{slug}-designer")
    project = ProjectFactory(slug=slug, name=slug)
    MembershipFactory(project=project, user=designer, role="designer")
    preference_project(project, prompts=20)
    return designer, project


def test_the_inspector_shows_held_out_and_in_sample_agreement(page, transactional_db, out):  # type: ignore[no-untyped-def]
    designer, project = _designer_project("held-out-inspector")
    run = _trained(project, FAST)
    reward_model_promote(model=run.reward_model)
    spec = {"components": [{"name": "rm", "type": "reward_model"}],
            "combine": {"op": "weighted_sum", "weights": {"rm": 1.0}}}  # fmt: skip
    version = version_of(project, spec)
    claimed = inspection_claim(
        inspection_id=inspection_create(version=version, created_by=designer, enqueue=False).pk
    )
    assert claimed is not None
    scorer = Scorer(version.parsed_spec, scoring_resources(version=version))
    done = inspection_execute(inspection=claimed, compute=scorer.component_values)
    assert done.status == "succeeded", done.error

    log_in(page, designer.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/inspector/versions/{version.pk}/")

    # (The stat labels are upper-cased by CSS.)
    headline = page.locator("#headline-accuracy").inner_text().lower()
    assert "pairwise accuracy (held out)" in headline
    assert "of 6" in headline
    in_sample = page.locator("#in-sample-accuracy").inner_text().lower()
    assert "in-sample (trained on)" in in_sample
    assert "of 14 · not a held-out measure" in in_sample
    basis = page.locator("#agreement-basis").inner_text()
    assert basis == done.result["agreement_basis"]["text"]
    assert basis.startswith("Held out: computed on the 6 human choices on comparisons that")
    page.locator(
        '#agreement canvas[data-chart-drawn="true"]'
    ).wait_for()  # the chart with its held-out and in-sample bars
    page.screenshot(path=str(out / "inspector-held-out.png"), full_page=True)


def test_the_run_and_model_pages_compare_on_pairs_both_held_out(page, transactional_db, out):  # type: ignore[no-untyped-def]
    designer, project = _designer_project("held-out-models")
    good = _trained(project, FAST).reward_model
    reward_model_promote(model=good)
    other = _trained(project, FAST.model_copy(update={"seed": 3}))
    weak = _trained(project, WEAK)

    log_in(page, designer.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/training-runs/{other.pk}/")
    summary = page.locator("#run-live .alert-success").first.inner_text()
    assert "prompts this run did not train on" in summary
    assert "in-sample for it on 5 of them" in summary
    compared = page.locator("#held-out-comparison").inner_text()
    assert "Held out by both runs: On the 1 pair that both runs held out" in compared
    assert "Both models get the same held-out pair right, so this cannot tell them apart." in (
        compared
    )
    assert "reported apart as in-sample" in compared
    page.screenshot(path=str(out / "run-held-out.png"), full_page=True)

    page.goto(f"/projects/{project.slug}/reward-models/")
    row = page.locator(f"#model-{weak.reward_model_id} .versus").inner_text()
    assert "on 6 held-out pairs" in row
    assert "worse" in row
    page.locator(f"#model-{weak.reward_model_id}").get_by_role("button", name="Promote").click()
    warning = page.locator("#promotion-warning")
    assert "worse than the active model" in warning.inner_text()
    assert "on the pairs both runs held out" in warning.inner_text()
    page.screenshot(path=str(out / "promotion-warning.png"), full_page=True)
    assert RewardModel.objects.get(is_promoted=True).pk == good.pk

    warning.get_by_role("button", name="Promote anyway").click()
    page.wait_for_url(re.compile(r"/reward-models/$"))
    page.locator(f"#model-{weak.reward_model_id}").get_by_text("Active").wait_for()
    assert RewardModel.objects.get(is_promoted=True).pk == weak.reward_model_id


def test_the_retrain_form_offers_the_fine_tune_trainer(page, transactional_db):  # type: ignore[no-untyped-def]
    designer, project = _designer_project("held-out-finetune")
    log_in(page, designer.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/training-runs/")
    page.locator("#retrain-form summary").click()
    page.select_option("#id_trainer", "finetune")
    page.fill("#id_max_steps", "5")
    page.get_by_role("button", name="Retrain").click()
    page.wait_for_url(re.compile(r"/training-runs/\d+/$"))

    run = TrainingRun.objects.get(project=project)
    assert (run.settings["trainer"], run.settings["max_steps"]) == ("finetune", 5)
