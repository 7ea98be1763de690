"""Label quality in headless Chromium: the Quality page's charts and a designer's review.

Screenshots are saved under var/test-output/quality/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from apps.accounts.models import Project, Role, User
from apps.annotation.models import ReviewDecision
from apps.annotation.reports import agreement_refresh
from apps.annotation.review import review_queue
from apps.prompts.models import Prompt
from tests.annotation.test_reports import long_first_pairs, purge_jobs
from tests.annotation.test_review import judge, people
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.browser


def _output_dir() -> Path:
    folder = Path(settings.VAR_DIR) / "test-output" / "quality"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _judged_project(slug: str) -> tuple[Project, User, list[User], list[int]]:
    """A designer, and two annotators who split on the last two of four pairs."""
    project = ProjectFactory(slug=slug, name=f"Quality {slug}")
    designer = UserFactory(username=f"designer-{slug}")
    MembershipFactory(project=project, user=designer, role=Role.DESIGNER)
    annotators = people(project, 2)
    items = long_first_pairs(project, 4)
    for pk, group in zip(items, ["easy", "easy", "hard", "hard"], strict=True):
        Prompt.objects.filter(comparisons=pk).update(group=group)
    judge(project, annotators[0], dict.fromkeys(items, "a"),
          rationale="<img src=x onerror=alert(1)> fuller", seconds_spent=5)  # fmt: skip
    judge(project, annotators[1], dict.fromkeys(items[:2], "a") | dict.fromkeys(items[2:], "b"),
          rationale="B is shorter", seconds_spent=9)  # fmt: skip
    purge_jobs()  # the labels queued recomputes; no worker runs here
    return project, designer, annotators, items


def test_the_quality_page_draws_its_charts(page):  # type: ignore[no-untyped-def]
    project, designer, annotators, _ = _judged_project("charts")
    agreement_refresh(project_id=project.pk)
    log_in(page, designer.username, PASSWORD)

    page.goto(f"/projects/{project.slug}/quality/")
    page.wait_for_function("document.querySelectorAll('canvas[data-chart-drawn]').length === 3")
    page.wait_for_timeout(1500)  # let Chart.js finish its entry animation
    page.screenshot(path=str(_output_dir() / "agreement.png"), full_page=True)
    assert page.locator("nav.tabs a[aria-current=page]").inner_text() == "Quality"
    assert "Computed" in page.locator("#quality-freshness").inner_text()

    page.click("nav.subnav >> text=Annotators")
    page.wait_for_function("document.querySelectorAll('canvas[data-chart-drawn]').length === 1")
    # Each is compared with the other (their own label left out): 2 of 4 pairs agree.
    for person in annotators:
        cell = page.locator(f"tr[data-annotator='{person.username}'] [data-consensus]")
        assert cell.inner_text() == "50% (2/4; 0 skipped)"
    page.click(f"text={annotators[0].username}")
    page.wait_for_function("document.querySelectorAll('canvas[data-chart-drawn]').length === 1")
    assert "Labels per day" in page.content()
    page.wait_for_timeout(1500)
    page.screenshot(path=str(_output_dir() / "annotator.png"), full_page=True)
    # Every drawn canvas has pixels on it.
    drawn = page.evaluate(
        """() => [...document.querySelectorAll('canvas[data-chart-drawn]')].every(c => {
            const data = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
            return data.some(v => v !== 0);
        })"""
    )
    assert drawn is True


def test_a_designer_resolves_a_disagreement(page):  # type: ignore[no-untyped-def]
    project, designer, _, items = _judged_project("resolve")
    log_in(page, designer.username, PASSWORD)

    page.goto(f"/projects/{project.slug}/review/")
    assert page.locator("[data-review-item]").count() == 2
    page.click("text=Start reviewing")
    page.wait_for_url(f"**/review/{items[2]}/")
    assert page.locator("[data-label]").count() == 2
    # The rationale is shown as text, never as markup.
    assert page.locator("text=<img src=x onerror=alert(1)> fuller").count() == 1
    assert page.locator(".review-label img").count() == 0
    page.check("input[name=choice][value=b]")
    page.select_option("select[name=strength]", "2")
    page.fill("textarea[name=note]", "B answers the question; A pads it.")
    page.screenshot(path=str(_output_dir() / "review.png"), full_page=True)
    page.click("text=Record decision")

    page.wait_for_url(f"**/review/{items[3]}/")
    assert "decision recorded" in page.locator(".messages").inner_text()
    decision = ReviewDecision.objects.get()
    assert (decision.comparison_id, decision.choice, decision.strength, decision.reviewer) == (
        items[2], "b", 2, designer,
    )  # fmt: skip
    assert decision.note == "B answers the question; A pads it."
    assert list(review_queue(project=project).values_list("pk", flat=True)) == [items[3]]
