"""The main journeys of the foundation, in headless Chromium, keyboard where it counts."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command

from apps.imports.models import ImportJob
from apps.prompts.models import Prompt
from tests.browser.conftest import PROJECT_LIST, log_in
from tests.factories import (
    PASSWORD,
    MembershipFactory,
    ProjectFactory,
    PromptFactory,
    ResponseFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser

DEMO_PASSWORD = "browser-demo-pass"


def test_it_imports_a_file_into_the_demo_project(page, celery_worker_process, settings, tmp_path):  # type: ignore[no-untyped-def]
    settings.DEMO_PASSWORD = DEMO_PASSWORD
    call_command("load_demo", "--fresh-only", stdout=io.StringIO())
    upload = tmp_path / "fresh.jsonl"
    upload.write_text(
        json.dumps(
            {
                "prompt": "Which planet has the shortest year?",
                "responses": [
                    {"text": "Mercury, at about 88 days.", "model": "qwen2.5-7b-instruct"},
                    {"text": "Venus.", "model": "llama-3.1-8b-instruct"},
                ],
                "metadata": {"kind": "factual"},
            }
        )
        + "\n"
    )

    log_in(page, "designer", DEMO_PASSWORD)
    page.get_by_role("link", name="Palate demo: assistant answers").click()
    page.get_by_role("link", name="Imports", exact=True).click()
    page.set_input_files("#upload-form input[type=file]", str(upload))
    page.get_by_role("button", name="Upload and import").click()

    page.wait_for_url("**/imports/*/")
    page.locator("#job .status-succeeded").wait_for(timeout=60_000)
    job = ImportJob.objects.get(original_name="fresh.jsonl")
    assert (job.status, job.prompts_created, job.responses_created) == ("succeeded", 1, 2)

    page.get_by_role("link", name="Prompts", exact=True).click()
    page.fill("input[name=q]", "shortest year")
    page.locator(".prompt-row").filter(has_text="Which planet has the shortest year?").wait_for()
    assert page.locator(".prompt-row").count() == 1
    page.locator(".prompt-row-link").first.click()
    page.get_by_text("Mercury, at about 88 days.").wait_for()
    assert page.get_by_text("qwen2.5-7b-instruct").count() >= 1


def test_it_shows_hostile_model_output_as_text(page):  # type: ignore[no-untyped-def]
    user = UserFactory(username="reader")
    project = ProjectFactory(slug="xss")
    MembershipFactory(project=project, user=user, role="viewer")
    prompt = PromptFactory(project=project, input="<b>bold?</b> Say something.")
    hostile = [
        "<script>window.__pwned = 'script'</script>",
        "<img src=x onerror=\"window.__pwned = 'img'\">",
    ]
    for text in hostile:
        ResponseFactory(prompt=prompt, text=text)

    log_in(page, "reader", PASSWORD)
    page.goto(f"/projects/xss/prompts/{prompt.pk}/")

    for text in hostile:
        page.get_by_text(text, exact=True).wait_for()
    assert page.evaluate("window.__pwned") is None
    assert page.locator("main img").count() == 0
    assert page.locator("main script").count() == 0
    assert page.get_by_text("<b>bold?</b> Say something.").count() == 1
    assert Prompt.objects.count() == 1


def test_it_signs_in_and_out_with_the_keyboard(page):  # type: ignore[no-untyped-def]
    user = UserFactory(username="keyboard")
    project = ProjectFactory(name="Keyboard project")
    MembershipFactory(project=project, user=user, role="annotator")

    page.goto("/")
    page.wait_for_url("**/accounts/login/**")
    page.keyboard.type("keyboard")
    page.keyboard.press("Tab")
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Enter")

    page.wait_for_url(PROJECT_LIST)
    assert page.get_by_role("link", name="Keyboard project").count() == 1
    page.locator("summary[aria-label='Account menu']").focus()
    page.keyboard.press("Enter")  # opens the menu
    page.get_by_role("button", name="Log out").focus()
    page.keyboard.press("Enter")
    page.wait_for_url("**/accounts/login/")
    page.goto("/projects/")
    assert "/accounts/login/" in page.url
