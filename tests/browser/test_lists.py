"""The comparisons and labels pages in headless Chromium: filtering through the form
updates the table in place and the address, which opens the same view when shared.

Screenshots are saved under var/test-output/lists/.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings
from playwright.sync_api import expect

from apps.accounts.models import Role
from apps.annotation.models import Comparison
from tests.annotation.test_list_views import _label, _pair
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.browser


def _output_dir() -> Path:
    folder = Path(settings.VAR_DIR) / "test-output" / "lists"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_designer_filters_the_labels_and_shares_the_address(page) -> None:  # type: ignore[no-untyped-def]
    project = ProjectFactory(slug="lists", name="Lists")
    designer = UserFactory(username="designer-lists")
    MembershipFactory(project=project, user=designer, role=Role.DESIGNER)
    ada, bo = UserFactory(username="ada"), UserFactory(username="bo")
    for user in (ada, bo):
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    questions = [
        "What is the capital of France?",
        "Write a haiku about rain",
        "Explain recursion to a child",
        '<img src=x onerror="window.__pwned = 1"> Summarise this email',
    ]
    for i, question in enumerate(questions):
        comparison = _pair(project, question, ("llama-3-8b", "gpt-4o"), labels_wanted=2)
        _label(comparison, ada, "a", shown_order="ab", seconds_spent=10.0 + i)
        if i % 2 == 0:
            _label(comparison, bo, "b", shown_order="ba", seconds_spent=30.0)
            Comparison.objects.filter(pk=comparison.pk).update(labels_done=2)

    log_in(page, designer.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/labels/")
    rows = page.locator("tr[data-label]")
    assert rows.count() == 6
    # Prompts are untrusted text: shown as written, never run.
    assert page.get_by_text('<img src=x onerror="window.__pwned = 1"> Summarise').count() == 1
    assert page.evaluate("() => window.__pwned") is None
    assert page.locator("nav.tabs a[aria-current=page]").inner_text() == "Prompts"

    page.select_option("#id_annotator", label="bo")
    page.wait_for_url(f"**/labels/?*annotator={bo.pk}*")
    expect(page.locator("tr[data-label]")).to_have_count(2)
    assert set(page.locator("tr[data-label] td:nth-child(3)").all_inner_texts()) == {"bo"}

    page.fill("#id_search", "haiku")
    page.wait_for_url("**search=haiku*")
    expect(page.locator("tr[data-label]")).to_have_count(0)
    assert "No label matches these filters." in page.locator("#results").inner_text()
    page.fill("#id_search", "capital")
    expect(page.locator("tr[data-label]")).to_have_count(1)
    page.screenshot(path=str(_output_dir() / "labels-filtered.png"), full_page=True)

    # The address holds the filters: opened afresh, it shows the same rows and form.
    shared = page.url
    page.goto(shared)
    assert rows.count() == 1
    assert page.locator("#id_search").input_value() == "capital"
    assert page.locator("#id_annotator").input_value() == str(bo.pk)

    # The comparisons page: complete ones only, and each row leads to its prompt.
    page.get_by_role("navigation", name="Data").get_by_role("link", name="Comparisons").click()
    page.wait_for_url("**/comparisons/")
    assert page.locator("tr[data-comparison]").count() == 4
    page.select_option("#id_needs_labels", label="Complete")
    page.wait_for_url("**needs_labels=false*")
    expect(page.locator("tr[data-comparison]")).to_have_count(2)
    page.screenshot(path=str(_output_dir() / "comparisons-complete.png"), full_page=True)
    page.locator("tr[data-comparison]").first.get_by_role("link").first.click()
    page.wait_for_url("**/prompts/*/")
    assert page.locator("h1").count() == 1


def test_an_annotator_sees_only_their_own_labels(page) -> None:  # type: ignore[no-untyped-def]
    project = ProjectFactory(slug="lists-own", name="Own labels")
    ada, bo = UserFactory(username="ada-own"), UserFactory(username="bo-own")
    for user in (ada, bo):
        MembershipFactory(project=project, user=user, role=Role.ANNOTATOR)
    for i in range(3):
        comparison = _pair(project, f"Question {i}?", ("llama-3-8b", "gpt-4o"))
        _label(comparison, ada, "tie", seconds_spent=8.0)
        _label(comparison, bo, "a", shown_order="ab")

    log_in(page, ada.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/quality/annotators/{ada.pk}/")
    page.get_by_role("navigation", name="Quality").get_by_role("link", name="My labels").click()
    page.wait_for_url("**/labels/")
    assert page.locator("tr[data-label]").count() == 3
    page.select_option("#id_choice", label="A is better")
    expect(page.locator("tr[data-label]")).to_have_count(0)
    page.select_option("#id_choice", label="Tie")
    expect(page.locator("tr[data-label]")).to_have_count(3)
    page.screenshot(path=str(_output_dir() / "labels-own.png"), full_page=True)
    text = page.content()
    assert "gpt-4o" not in text
    assert "bo-own" not in text
