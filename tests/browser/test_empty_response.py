"""An empty response (HH-RLHF has some) in headless Chromium: the workbench and the prompt
page say "(empty response)" without putting it into the text, and it is judged as any other."""

from __future__ import annotations

import pytest

from apps.accounts.models import Membership
from apps.annotation.models import Label
from apps.annotation.services import comparisons_generate
from tests.browser.conftest import log_in
from tests.browser.test_workbench import EMPTY, ITEM, _annotator_project, _current, _press, _shown
from tests.factories import PASSWORD, PromptFactory, ResponseFactory

pytestmark = pytest.mark.browser

MARKER = """el => getComputedStyle(el, "::before").content"""


def test_an_empty_response_is_shown_as_such_and_judged(page) -> None:  # type: ignore[no-untyped-def]
    project, user, _ = _annotator_project("empty", rate_criteria=False)
    prompt = PromptFactory(project=project, input="\n\nHuman: Can you swear?\n\nAssistant:")
    empty = ResponseFactory(prompt=prompt, text="")
    ResponseFactory(prompt=prompt, text="I'd rather keep it clean.")
    assert comparisons_generate(project=project) == 1

    log_in(page, user.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/annotate/")
    _current(page)
    position = _shown(page).index(empty.pk)
    texts = page.locator(f"{ITEM} [data-response] [data-text]")
    assert texts.nth(position).inner_text() == ""
    assert texts.nth(position).evaluate(MARKER) == '"(empty response)"'
    assert texts.nth(1 - position).evaluate(MARKER) == "none"

    _press(page, str(position + 1), "Enter")  # the empty one is better
    page.wait_for_selector(EMPTY)
    label = Label.objects.get(annotator=user)
    winner = label.comparison.response_a if label.choice == "a" else label.comparison.response_b
    assert winner.text == ""

    Membership.objects.filter(project=project, user=user).update(role="admin")
    page.goto(f"/projects/{project.slug}/prompts/{prompt.pk}/")
    shown = page.locator(f"#response-{empty.pk} .response-text")
    assert shown.inner_text() == ""
    assert shown.evaluate(MARKER) == '"(empty response)"'
