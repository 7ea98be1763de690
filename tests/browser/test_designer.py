"""The designer's journey in headless Chromium: compose a reward function with three
components, check a formula live, try the draft on a pasted response (scored by a real
worker), save it as a version; write a rubric and read the diff of its versions.

Screenshots go to var/test-output/designer/ (PALATE_VAR_DIR/test-output/designer/).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from apps.rewards.models import RewardFunctionVersion
from apps.rubrics.models import Rubric
from tests.browser.conftest import log_in
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory
from tests.rubrics.factories import label_under_rubric, rubric_of

pytestmark = pytest.mark.browser


def _output_dir() -> Path:
    folder = Path(settings.VAR_DIR) / "test-output" / "designer"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _designer(slug: str):  # type: ignore[no-untyped-def]
    project = ProjectFactory(slug=slug, name=f"Design {slug}")
    user = UserFactory(username=f"designer-{slug}")
    MembershipFactory(project=project, user=user, role="designer")
    return project, user


def _add(page, kind: str, field: str) -> None:  # type: ignore[no-untyped-def]
    count = page.locator("fieldset.component").count()
    page.select_option("#new-component", kind)
    page.get_by_role("button", name="Add component").click()
    page.locator(f"[name=c-{count}-f-{field}]").wait_for()


def test_a_designer_composes_tries_and_saves_a_reward_function(page, celery_worker_process):  # type: ignore[no-untyped-def]
    project, _ = _designer("compose")
    log_in(page, "designer-compose", PASSWORD)
    page.goto(f"/projects/{project.slug}/")
    page.get_by_role("link", name="Rewards", exact=True).click()
    page.get_by_role("link", name="New reward function").click()
    page.fill("#function-name", "helpful and honest")

    _add(page, "contains", "substrings")
    assert page.locator("#c-0-name").input_value() == "contains"  # a name to start from
    page.fill("#c-0-name", "cites")
    page.fill("[name=c-0-f-substrings]", "[1]")
    _add(page, "length_penalty", "target")
    page.fill("#c-1-name", "words")
    page.fill("[name=c-1-f-target]", "3")
    page.fill("[name=c-1-f-tolerance]", "1")
    _add(page, "regex", "pattern")
    page.fill("[name=c-2-f-pattern]", "(?i)as an ai")
    page.fill("[name=c-2-f-match]", "-1")
    assert page.locator("[name=c-0-f-substrings]").input_value() == "[1]"  # kept across swaps

    # Weights: a box, or its slider (static/js/composer.js keeps the two together).
    page.fill("#c-0-weight", "3")
    page.locator('[data-weight-slider="c-1-weight"]').fill("0.5")
    assert page.locator("#c-1-weight").input_value() == "0.5"

    # A formula is checked by the server as it is typed; then back to weights.
    page.select_option("#combine-op", "formula")
    # Typed as a person types: the box arrives with the swap that picked "formula" and htmx
    # binds its input trigger just after; a single fill on a busy machine can come first.
    page.locator("#combine-expression").press_sequentially("cites + words + apology.real", delay=20)
    page.locator("#formula-message.error-text").filter(
        has_text="`apology.real`: attribute access is not allowed"
    ).wait_for()
    page.locator("#combine-expression").fill("cites + words + regex")
    page.locator("#formula-message.ok-text").filter(
        has_text="Valid: uses cites, words, regex."
    ).wait_for()
    page.locator("#combine-expression").fill("cites + words + nope")
    page.locator("#formula-message.error-text").filter(has_text="`nope`: unknown name").wait_for()
    page.select_option("#combine-op", "weighted_sum")
    page.locator("#c-0-weight").wait_for()
    assert page.locator("#c-1-weight").input_value() == "0.5"

    # Try the draft on a pasted response: a worker computes each component.
    page.fill("#try_prompt", "What is the capital of France?")
    page.fill("#try_response", "As an AI, I think Paris [1].")
    page.get_by_role("button", name="Try it").click()
    result = page.locator("#try-result [data-try-result]")
    result.wait_for(timeout=90_000)
    values = {
        row.get_attribute("data-component-value"): row.locator("td.num").inner_text()
        for row in result.locator("[data-component-value]").all()
    }
    # cites: "[1]" found → 1; words: 7 words, 3 past the band 3 ± 1 → −3; regex: matched → −1.
    assert values == {"cites": "1.0000", "words": "-3.0000", "regex": "-1.0000"}
    assert result.locator("[data-total]").inner_text() == "0.5000"  # 3·1 + 0.5·(−3) + 1·(−1)
    result.locator("canvas[data-chart-drawn]").wait_for()  # the values, as a bar chart
    page.screenshot(path=str(_output_dir() / "composer-try.png"), full_page=True)

    page.fill("#version-message", "Three components")
    page.get_by_role("button", name="Save as a new version").click()
    page.wait_for_url("**/rewards/versions/*/")
    page.get_by_text("Saved helpful and honest v1.").wait_for()
    version = RewardFunctionVersion.objects.get()
    assert version.spec == {
        "components": [
            {"name": "cites", "type": "contains", "substrings": ["[1]"]},
            {"name": "words", "type": "length_penalty", "target": 3, "tolerance": 1},
            {"name": "regex", "type": "regex", "pattern": "(?i)as an ai", "match": -1},
        ],
        "combine": {"op": "weighted_sum", "weights": {"cites": 3, "words": 0.5, "regex": 1}},
    }
    assert (version.message, version.number) == ("Three components", 1)
    assert page.locator("#components tbody tr").count() == 3
    page.locator("canvas[data-chart-drawn]").wait_for()  # the weights, as a bar chart
    page.screenshot(path=str(_output_dir() / "version.png"), full_page=True)


def test_a_designer_edits_a_rubric_in_use_and_reads_the_diff(page):  # type: ignore[no-untyped-def]
    project, _ = _designer("rubric")
    annotator = UserFactory(username="annotator-rubric")
    MembershipFactory(project=project, user=annotator, role="annotator")
    rubric = rubric_of(project, guidelines="Read both answers.")
    label_under_rubric(project, rubric, annotator)

    log_in(page, "designer-rubric", PASSWORD)
    page.goto(f"/projects/{project.slug}/")
    page.get_by_role("link", name="Rubrics", exact=True).click()
    page.get_by_role("table").get_by_role("link", name="Quality").click()
    page.get_by_role("link", name="Edit").click()
    page.get_by_text("saving makes version 2").wait_for()
    page.get_by_role("button", name="Add criterion").click()
    page.locator("#criterion-2-name").fill("clarity")
    page.locator("#criterion-2-labels").fill("1 = muddled\n5 = crisp")
    page.get_by_role("button", name="Remove criterion 2").click()
    page.locator("#criterion-2-name").wait_for(state="detached")
    assert page.locator("#criterion-1-name").input_value() == "clarity"
    page.locator("#rubric-guidelines").fill("Read both answers.\nThen <b>decide</b>.")
    page.fill("#rubric-message", "Clarity instead of concision")
    page.get_by_role("button", name="Save", exact=True).click()

    page.get_by_text("your changes are version 2").wait_for()
    page.get_by_role("link", name="What changed from v1").click()
    page.locator("#diff-criteria").get_by_text("Added clarity").wait_for()
    assert page.locator("#diff-criteria").get_by_text("Removed concise").count() == 1
    assert page.locator(".diff-line.diff-added").inner_text() == "+ Then <b>decide</b>."
    page.screenshot(path=str(_output_dir() / "rubric-diff.png"), full_page=True)
    assert Rubric.objects.get().versions.count() == 2
