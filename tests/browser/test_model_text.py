"""Model output rendered as Markdown in headless Chromium: tables, highlighted code, a
script payload that must not run, the raw text toggle, the reference panel, and span
marking on rendered text that records offsets into the raw text.

Screenshots go to var/test-output/model-text/ (PALATE_VAR_DIR/test-output/model-text/).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from apps.accounts.models import Project, Role, User
from apps.annotation.models import Comparison, Label
from apps.annotation.services import comparisons_generate
from tests.annotation.test_review import judge
from tests.browser.conftest import log_in
from tests.factories import (
    PASSWORD,
    MembershipFactory,
    ProjectFactory,
    PromptFactory,
    ResponseFactory,
    UserFactory,
)

pytestmark = pytest.mark.browser

ITEM = "#workbench:not([data-busy]) #workbench-item > [data-assignment]"
EMPTY = "#workbench:not([data-busy]) #workbench-item > [data-empty]"

RICH = (
    "Here is **the answer**, with a list:\n\n"
    "- first *point*\n"
    "- second point\n\n"
    "| model | score |\n|---|---|\n| small | 0.61 |\n| large | 0.74 |\n\n"
    "```python\ndef best(scores):\n    return max(scores)\n```\n"
)
HOSTILE = (
    "<script>window.__pwned = 1</script>\n\n"
    '<img src=x onerror="window.__pwned = 2">\n\n'
    "[click me](javascript:window.__pwned=3) and "
    "[data](data:text/html,<script>alert(4)</script>)\n\n"
    "```html\n</code><script>window.__pwned = 5</script>\n```\n"
)


def _output_dir() -> Path:
    folder = Path(settings.VAR_DIR) / "test-output" / "model-text"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _project(
    slug: str, texts: tuple[str, str], role: Role = Role.ANNOTATOR, **annotation: object
) -> tuple[Project, User]:
    user = UserFactory(username=f"annotator-{slug}")
    project = ProjectFactory(slug=slug, name=f"Model text {slug}")
    project.annotation_settings = {**project.annotation_settings, "overlap": 1, **annotation}
    project.save(update_fields=["annotation_settings"])
    MembershipFactory(project=project, user=user, role=role)
    prompt = PromptFactory(
        project=project,
        input="Compare the *models*.",
        references=["The **large** model scores `0.74`."],
    )
    for text in texts:
        ResponseFactory(prompt=prompt, text=text)
    comparisons_generate(project=project)
    return project, user


def _open_workbench(page, project: Project, user: User) -> None:  # type: ignore[no-untyped-def]
    log_in(page, user.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/annotate/")
    page.wait_for_selector(ITEM)


def _response(page, text: str) -> str:  # type: ignore[no-untyped-def]
    """The selector of the shown response whose text is `text`."""
    response_id = Comparison.objects.get().prompt.responses.get(text=text).pk
    return f'{ITEM} [data-response="{response_id}"] [data-text]'


def _select(page, selector: str, word: str, occurrence: int = 0) -> None:  # type: ignore[no-untyped-def]
    """What a mouse drag over `word` in the shown text leaves: a DOM selection."""
    page.evaluate(
        """([selector, word, occurrence]) => {
            const root = document.querySelector(selector);
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            let seen = 0;
            for (let node = walker.nextNode(); node; node = walker.nextNode()) {
                const at = node.data.indexOf(word);
                if (at !== -1 && seen++ === occurrence) {
                    window.getSelection().setBaseAndExtent(node, at, node, at + word.length);
                    return;
                }
            }
            throw new Error("not shown: " + word);
        }""",
        [selector, word, occurrence],
    )


def test_the_workbench_renders_tables_lists_and_highlighted_code(page) -> None:  # type: ignore[no-untyped-def]
    project, user = _project("rich", (RICH, "Plain answer."))
    _open_workbench(page, project, user)
    text = _response(page, RICH)

    assert page.locator(f"{text} table tbody tr").count() == 2
    assert page.locator(f"{text} table td").all_inner_texts() == ["small", "0.61", "large", "0.74"]
    assert page.locator(f"{text} ul > li").all_inner_texts() == ["first point", "second point"]
    assert page.locator(f"{text} strong").inner_text() == "the answer"
    code = page.locator(f"{text} pre code.hljs.language-python")
    assert code.inner_text() == "def best(scores):\n    return max(scores)\n"
    assert page.locator(f"{text} pre code .hljs-keyword").all_inner_texts() == ["def", "return"]
    assert page.locator(f"{ITEM} .wb-prompt em").inner_text() == "models"
    page.screenshot(path=str(_output_dir() / "workbench-rendered.png"), full_page=True)

    # Dark: the code block takes the dark theme's ground and its colours.
    keyword = page.locator(f"{text} pre code .hljs-keyword").first
    light = keyword.evaluate("node => getComputedStyle(node).color")
    page.emulate_media(color_scheme="dark")
    pre = page.locator(f"{text} pre")
    assert pre.evaluate("node => getComputedStyle(node).backgroundColor") == "rgb(13, 17, 23)"
    assert keyword.evaluate("node => getComputedStyle(node).color") != light
    page.screenshot(path=str(_output_dir() / "workbench-rendered-dark.png"), full_page=True)


def test_a_script_payload_in_a_response_does_not_run(page) -> None:  # type: ignore[no-untyped-def]
    project, user = _project("hostile", (HOSTILE, "Plain answer."))
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    _open_workbench(page, project, user)
    text = _response(page, HOSTILE)

    page.locator(f"{text}").hover()
    page.wait_for_timeout(300)
    assert page.evaluate("() => window.__pwned") is None
    assert dialogs == []
    assert page.locator(f"{text} script, {text} img, {text} a").count() == 0
    assert "<script>window.__pwned = 1</script>" in page.locator(text).inner_text()
    assert page.locator(f"{text} pre code").inner_text() == (
        "</code><script>window.__pwned = 5</script>\n"
    )
    page.screenshot(path=str(_output_dir() / "workbench-hostile.png"), full_page=True)


def test_the_raw_text_toggle_follows_the_user(page) -> None:  # type: ignore[no-untyped-def]
    project, user = _project("toggle", (RICH, "Plain answer."), role=Role.DESIGNER)
    _open_workbench(page, project, user)
    text = _response(page, RICH)
    assert page.locator(text).get_attribute("data-format") == "markdown"

    page.click("[data-text-view-toggle]")
    page.wait_for_selector(f'{ITEM} [data-text][data-format="raw"]')

    assert page.locator(text).text_content() == RICH
    assert page.locator(f"{text} table").count() == 0
    user.refresh_from_db()
    assert user.show_raw_text is True
    page.screenshot(path=str(_output_dir() / "workbench-raw.png"), full_page=True)

    # It follows the user to other pages, and back.
    page.goto(f"/projects/{project.slug}/prompts/{Comparison.objects.get().prompt_id}/")
    assert page.locator('.response-text[data-format="raw"]').count() == 2
    page.click("[data-text-view-toggle]")
    page.wait_for_selector('.response-text[data-format="markdown"]')
    user.refresh_from_db()
    assert user.show_raw_text is False


def test_the_reference_panel_shows_when_the_project_allows_it(page) -> None:  # type: ignore[no-untyped-def]
    project, user = _project(
        "reference", (RICH, "Plain answer."), show_reference_to_annotators=True
    )
    _open_workbench(page, project, user)

    panel = page.locator(f"{ITEM} details[data-reference]")
    assert panel.get_attribute("open") is None
    panel.locator("summary").click()
    assert panel.locator(".reference strong").inner_text() == "large"
    assert panel.locator(".reference code").inner_text() == "0.74"
    page.screenshot(path=str(_output_dir() / "workbench-reference.png"), full_page=True)

    project.annotation_settings = {
        **project.annotation_settings,
        "show_reference_to_annotators": False,
    }
    project.save(update_fields=["annotation_settings"])
    page.reload()
    page.wait_for_selector(ITEM)
    assert page.locator(f"{ITEM} details[data-reference]").count() == 0


def test_a_span_marked_on_rendered_text_records_raw_offsets(page) -> None:  # type: ignore[no-untyped-def]
    raw = "Intro **bold word** here.\r\n\r\n```python\r\nprint('x')\r\n```\n\n- item `one`\n"
    project, user = _project("spans", (raw, "Other."))
    _open_workbench(page, project, user)
    text = _response(page, raw)
    response_id = Comparison.objects.get().prompt.responses.get(text=raw).pk

    for word in ("word", "print", "one"):
        _select(page, text, word)
        page.keyboard.press("m")
        page.wait_for_selector(f"{ITEM} dialog[data-dialog=span][open]")
        assert page.locator(f"{ITEM} [data-span-quote]").inner_text() == word
        page.keyboard.press("Enter")
        page.wait_for_selector(f"{ITEM} dialog[data-dialog=span]", state="hidden")

    # The marks show on the rendered text, inside the bold run and the highlighted code.
    assert page.locator(f"{text} mark.wb-mark").all_inner_texts() == ["word", "print", "one"]
    assert page.locator(f"{text} strong mark").inner_text() == "word"
    page.screenshot(path=str(_output_dir() / "workbench-spans.png"), full_page=True)
    page.keyboard.press("t")
    page.keyboard.press("Enter")
    page.wait_for_selector(EMPTY)

    label = Label.objects.get(annotator=user)
    assert [(span["start"], span["end"]) for span in label.spans] == [
        (raw.index("word"), raw.index("word") + 4),
        (raw.index("print"), raw.index("print") + 5),
        (raw.index("one"), raw.index("one") + 3),
    ]
    assert {span["response"] for span in label.spans} == {response_id}


def test_the_review_page_marks_stored_spans_on_rendered_text(page) -> None:  # type: ignore[no-untyped-def]
    raw = "The **answer** is `42`.\n\n- because *reasons*\n"
    project, annotator = _project("review", (raw, "An **other** answer."))
    comparison = Comparison.objects.get()
    a_text = comparison.response_a.text
    word = "answer" if a_text == raw else "other"
    start = a_text.index(word)
    spans = [
        {"response": comparison.response_a_id, "start": start, "end": start + len(word),
         "category": "factual error", "note": "wrong"},
    ]  # fmt: skip
    judge(project, annotator, {comparison.pk: "a"}, spans=spans)
    admin = UserFactory(username="reviewer-review")
    MembershipFactory(project=project, user=admin, role=Role.ADMIN)

    log_in(page, admin.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/review/{comparison.pk}/")
    marks = page.locator('[data-response="a"] [data-text] mark.wb-mark')
    marks.first.wait_for()

    assert marks.all_inner_texts() == [word]
    assert marks.first.get_attribute("title") == f"{annotator.username}: factual error — wrong"
    page.screenshot(path=str(_output_dir() / "review-spans.png"), full_page=True)
