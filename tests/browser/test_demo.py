"""The lived-in demo project in headless Chromium: every tab, as its admin and as an
annotator, with charts drawn. Full-page screenshots are saved under
var/test-output/demo/ (PALATE_VAR_DIR/test-output/demo/ when that is set)."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from apps.reward_models.models import TrainingRun
from apps.rewards.models import RewardFunctionVersion
from tests.browser.conftest import log_in

pytestmark = [pytest.mark.browser, pytest.mark.slow]

PASSWORD = "browser-lived-in"
SLUG = "demo-lived-in"
# Tab name -> the charts it draws once the project has been worked in.
ADMIN_TABS = {
    "Overview": 0, "Prompts": 0, "Imports": 0, "Annotate": 0, "Quality": 2, "Rubrics": 0,
    "Rewards": 0, "Inspector": 0, "Reward models": 1, "Exports": 0, "Members": 0,
    "Settings": 0,
}  # fmt: skip


def _output_dir() -> Path:
    folder = Path(settings.VAR_DIR) / "test-output" / "demo"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _drawn_charts(page) -> int:  # type: ignore[no-untyped-def]
    """Canvases that Chart.js has drawn on."""
    return page.evaluate(
        "() => [...document.querySelectorAll('canvas[data-chart]')]"
        ".filter(c => Chart.getChart(c) !== undefined && c.width > 0).length"
    )


def test_every_tab_of_the_lived_in_demo_renders_with_its_charts(page, settings) -> None:  # type: ignore[no-untyped-def]
    settings.DEMO_PASSWORD = PASSWORD
    call_command("load_demo", stdout=io.StringIO())
    version = RewardFunctionVersion.objects.get(function__project__slug=SLUG, number=2)
    run = TrainingRun.objects.get(project__slug=SLUG)
    page.set_viewport_size({"width": 1400, "height": 900})

    log_in(page, "admin", PASSWORD)
    page.goto(f"/projects/{SLUG}/")
    nav = page.get_by_role("navigation", name="Project")
    assert [link.inner_text().strip() for link in nav.get_by_role("link").all()] == list(ADMIN_TABS)
    for number, (tab, charts) in enumerate(ADMIN_TABS.items()):
        page.get_by_role("navigation", name="Project").get_by_role("link", name=tab).click()
        page.wait_for_load_state("networkidle")
        assert page.locator("main").inner_text().strip(), tab
        assert _drawn_charts(page) >= charts, tab
        page.screenshot(path=str(_output_dir() / f"admin-{number:02d}-{tab}.png"), full_page=True)

    # Behind the tabs: the inspection's panels and the training run's curves.
    page.goto(f"/projects/{SLUG}/inspector/versions/{version.pk}/")
    page.wait_for_load_state("networkidle")
    assert _drawn_charts(page) >= 3
    page.screenshot(path=str(_output_dir() / "admin-inspection.png"), full_page=True)
    page.goto(f"/projects/{SLUG}/training-runs/{run.pk}/")
    page.wait_for_load_state("networkidle")
    assert _drawn_charts(page) >= 1
    page.screenshot(path=str(_output_dir() / "admin-training-run.png"), full_page=True)

    page.context.clear_cookies()
    log_in(page, "annotator", PASSWORD)
    page.goto(f"/projects/{SLUG}/annotate/")
    page.locator(".wb-response").first.wait_for()
    assert page.locator(".wb-response").count() == 2
    page.screenshot(path=str(_output_dir() / "annotator-workbench.png"), full_page=True)
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Quality").click()
    page.wait_for_load_state("networkidle")
    assert _drawn_charts(page) >= 1
    page.screenshot(path=str(_output_dir() / "annotator-report.png"), full_page=True)
