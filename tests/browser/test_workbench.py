"""The annotation workbench in headless Chromium, driven by the keyboard alone.

Screenshots of the compare page at desktop and phone widths are saved under
var/test-output/workbench/ (PALATE_VAR_DIR/test-output/workbench/ when that is set).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from apps.accounts.models import Project, User
from apps.annotation.models import Assignment, Comparison, Flag, Label
from apps.annotation.services import comparisons_generate
from apps.rubrics.models import Rubric, RubricVersion
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

SECRET_MODEL = "hidden-model-13b"
ITEM = "#workbench-item > [data-assignment]"
# The empty queue, once the server has answered (the page may show it before, from prefetch).
EMPTY = "#workbench:not([data-busy]) #workbench-item > [data-empty]"


def _output_dir() -> Path:
    folder = Path(settings.VAR_DIR) / "test-output" / "workbench"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _annotator_project(slug: str, **annotation: Any) -> tuple[Project, User, RubricVersion]:
    user = UserFactory(username=f"annotator-{slug}")
    project = ProjectFactory(slug=slug, name=f"Workbench {slug}")
    rubric = Rubric.objects.create(project=project, name="Quality")
    version = RubricVersion.objects.create(
        rubric=rubric,
        number=1,
        criteria=[
            {"name": "helpfulness", "description": "Does it help?", "scale": {"min": 1, "max": 5}},
            {"name": "honesty", "scale": {"min": 1, "max": 3}},
        ],
        error_categories=[{"name": "factual error"}, {"name": "unsafe"}],
    )
    project.annotation_settings = {
        **project.annotation_settings, "overlap": 1, "rubric_id": rubric.pk,
        "rate_criteria": True, **annotation,
    }  # fmt: skip
    project.guidelines = "Prefer the **more helpful** answer."
    project.save(update_fields=["annotation_settings", "guidelines"])
    MembershipFactory(project=project, user=user, role="annotator")
    return project, user, version


def _current(page) -> str:  # type: ignore[no-untyped-def]
    page.wait_for_selector(f"#workbench:not([data-busy]) {ITEM}")
    return page.locator(ITEM).get_attribute("data-assignment")


def _shown(page) -> list[int]:  # type: ignore[no-untyped-def]
    """Response ids in the order the page shows them."""
    ids = page.locator(f"{ITEM} [data-response]").evaluate_all(
        "nodes => nodes.map(n => n.dataset.response)"
    )
    return [int(pk) for pk in ids]


def _wait_for_change(page, previous: str) -> None:  # type: ignore[no-untyped-def]
    page.wait_for_function(
        """previous => {
            const root = document.getElementById("workbench");
            const node = document.querySelector(
                "#workbench-item > [data-assignment], #workbench-item > [data-empty]"
            );
            return !root.hasAttribute("data-busy") && node && node.dataset.assignment !== previous;
        }""",
        arg=previous,
    )


def _press(page, *keys: str) -> None:  # type: ignore[no-untyped-def]
    for key in keys:
        page.keyboard.press(key)


def test_an_annotator_labels_ten_items_with_the_keyboard_only(page) -> None:  # type: ignore[no-untyped-def]
    project, user, version = _annotator_project("keys")
    for number in range(11):
        prompt = PromptFactory(project=project, input=f"Question {number}: how do tides work?")
        for side in ("one", "two"):
            ResponseFactory(
                prompt=prompt,
                model=SECRET_MODEL,
                text=f"🙂 Answer {side} to {number}.\r\nThe Moon pulls the oceans; "
                f"<b>not bold</b> and a longer sentence so the text wraps a little.",
            )
    assert comparisons_generate(project=project) == 11

    log_in(page, user.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/annotate/")
    assert SECRET_MODEL not in page.content()
    assert page.locator(f"{ITEM} .wb-text b").count() == 0  # escaped, not markup

    judged: dict[int, dict[str, Any]] = {}

    def judge(*keys: str, **expected: Any) -> int:
        assignment = int(_current(page))
        left, right = _shown(page)
        judged[assignment] = {"left": left, "right": right, **expected}
        _press(page, *keys)
        return assignment

    # 1: response 1 better, "clearly" (Shift+3).
    first = judge("1", "Shift+Digit3", side="left", strength=2)
    _press(page, "Enter")
    _wait_for_change(page, str(first))

    # 2: response 2 better, strength by letter.
    item = judge("2", "b", side="right", strength=1)
    _press(page, "Enter")
    _wait_for_change(page, str(item))

    # 3: a tie.
    item = judge("t", side="tie")
    _press(page, "Enter")
    _wait_for_change(page, str(item))

    # 4: both bad, with a rationale, submitted from the text box with Ctrl+Enter.
    item = judge("x", side="both_bad", rationale="Both miss the Sun's part.")
    _press(page, "r")
    page.keyboard.type("Both miss the Sun's part.")
    _press(page, "Control+Enter")
    _wait_for_change(page, str(item))

    # 5: skipped with a reason (no label).
    skipped = int(_current(page))
    _press(page, "s")
    page.keyboard.type("I cannot judge tides")
    _press(page, "Enter")
    _wait_for_change(page, str(skipped))

    # 6: criterion ratings typed as digits; focus walks through the four rows.
    item = judge("1", side="left", ratings=((4, 2), (5, 3)))
    _press(page, "g", "4", "2", "5", "3", "Escape", "Enter")
    _wait_for_change(page, str(item))

    # 7: a span chosen with the keyboard: "🙂 Answ" is 6 code points (7 UTF-16 units).
    item = judge("2", side="right", span=(0, 6, "unsafe", "made up"))
    _press(page, "m", *["Shift+ArrowRight"] * 6, "Enter")
    page.wait_for_selector(f"{ITEM} dialog[data-dialog=span][open]")
    _press(page, "ArrowDown", "Tab")
    page.keyboard.type("made up")
    _press(page, "Enter")
    page.wait_for_selector(f"{ITEM} mark.wb-mark")
    assert page.locator(f"{ITEM} [data-response] mark.wb-mark").first.inner_text() == "🙂 Answ"
    # and a flag, which keeps the item open
    _press(page, "f")
    page.keyboard.type("The prompt has a typo")
    _press(page, "Enter")
    page.get_by_text("Flagged for a reviewer").wait_for()
    # Screenshots at desktop and phone widths; responses sit side by side, then stacked.
    out = _output_dir()
    page.set_viewport_size({"width": 1280, "height": 800})
    boxes = [page.locator(f"{ITEM} [data-response]").nth(n).bounding_box() for n in (0, 1)]
    assert boxes[1]["x"] > boxes[0]["x"] + boxes[0]["width"] - 1
    page.screenshot(path=str(out / "compare-desktop.png"), full_page=True)
    page.set_viewport_size({"width": 390, "height": 844})
    boxes = [page.locator(f"{ITEM} [data-response]").nth(n).bounding_box() for n in (0, 1)]
    assert boxes[1]["y"] >= boxes[0]["y"] + boxes[0]["height"]
    assert abs(boxes[1]["x"] - boxes[0]["x"]) < 1
    page.screenshot(path=str(out / "compare-phone.png"), full_page=True)
    page.set_viewport_size({"width": 1280, "height": 800})
    _press(page, "Enter")
    _wait_for_change(page, str(item))

    # 8-11: a rationale, a strength by letter, arrows for the side, a last tie.
    item = judge("2", side="right", rationale="More complete.")
    _press(page, "r")
    page.keyboard.type("More complete.")
    _press(page, "Escape", "Enter")
    _wait_for_change(page, str(item))
    item = judge("1", "a", side="left", strength=0)
    _press(page, "Enter")
    _wait_for_change(page, str(item))
    item = judge("ArrowRight", "Shift+Digit4", side="right", strength=3)
    _press(page, "Enter")
    _wait_for_change(page, str(item))
    last = judge("t", side="tie")
    _press(page, "Enter")
    page.wait_for_selector(EMPTY)
    assert page.locator("[data-done]").inner_text() == "10"
    assert page.locator("[data-left]").inner_text() == "0"

    # Undo the tie: the item comes back filled in; judge it again.
    _press(page, "?")
    page.wait_for_selector("#keymap[open]")
    page.screenshot(path=str(out / "keymap-desktop.png"))
    _press(page, "Escape")
    _press(page, "u")
    page.wait_for_selector(f"{ITEM}[data-assignment='{last}']")
    assert page.locator(f"{ITEM} input[name=choice][value=tie]").is_checked()
    tie = {**judged[last]}
    judged[last] = {**tie, "side": "left", "strength": 1}
    _press(page, "1", "Shift+Digit2", "Enter")
    page.wait_for_selector(EMPTY)
    assert page.locator("[data-done]").inner_text() == "10"

    # The database holds exactly the judgments made.
    labels = Label.objects.filter(annotator=user).select_related("comparison")
    current = {
        label.assignment_id: label for label in labels if not hasattr(label, "superseded_by")
    }
    superseded = [label for label in labels if hasattr(label, "superseded_by")]
    assert labels.count() == 11
    assert set(current) == set(judged)
    assert len(superseded) == 1
    assert (superseded[0].assignment_id, superseded[0].choice) == (last, "tie")
    assert current[last].supersedes_id == superseded[0].pk
    for assignment_id, expected in judged.items():
        label = current[assignment_id]
        comparison: Comparison = label.comparison
        if expected["side"] in ("left", "right"):
            better = expected[expected["side"]]
            assert label.choice == ("a" if better == comparison.response_a_id else "b")
        else:
            assert label.choice == expected["side"]
        assert label.strength == expected.get("strength")
        assert label.rationale == expected.get("rationale", "")
        assert label.seconds_spent is not None
        assert 0 < label.seconds_spent < 600
        assert label.rubric_version_id == version.pk
        assert label.shown_order == ("ab" if expected["left"] == comparison.response_a_id else "ba")
        if "ratings" in expected:
            (left_help, left_honesty), (right_help, right_honesty) = expected["ratings"]
            assert label.ratings == {
                str(expected["left"]): {"helpfulness": left_help, "honesty": left_honesty},
                str(expected["right"]): {"helpfulness": right_help, "honesty": right_honesty},
            }
        else:
            assert label.ratings == {}
        if "span" in expected:
            start, end, category, note = expected["span"]
            assert label.spans == [
                {"response": expected["left"], "start": start, "end": end,
                 "category": category, "note": note},
            ]  # fmt: skip
            text = comparison.prompt.responses.get(pk=expected["left"]).text
            assert text[start:end] == "🙂 Answ"
        else:
            assert label.spans == []
    skip = Assignment.objects.get(pk=skipped)
    assert (skip.status, skip.skip_reason) == ("skipped", "I cannot judge tides")
    assert list(Flag.objects.values_list("user_id", "reason")) == [
        (user.pk, "The prompt has a typo")
    ]


def test_an_annotator_ranks_responses_with_the_keyboard(page) -> None:  # type: ignore[no-untyped-def]
    project, user, _ = _annotator_project(
        "rank", mode="ranking", ranking_size=3, rate_criteria=False
    )
    prompt = PromptFactory(project=project, input=[
        {"role": "system", "content": "Be brief."},
        {"role": "user", "content": "Name a prime number."},
    ])  # fmt: skip
    for text in ("Two.", "Nine.", "Seven, which is prime."):
        ResponseFactory(prompt=prompt, text=text, model=SECRET_MODEL)
    assert comparisons_generate(project=project) == 1

    log_in(page, user.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/annotate/")
    assignment = int(_current(page))
    page.get_by_text("Name a prime number.").wait_for()
    assert page.locator(f"{ITEM} .turn").count() == 2
    first, second, third = _shown(page)

    _press(page, "j", "Shift+ArrowDown")  # the first goes down one place
    assert _shown(page) == [second, first, third]
    _press(page, "j", "Shift+ArrowUp")  # focus the third, move it up
    assert _shown(page) == [second, third, first]
    assert page.locator(f"{ITEM} [data-rank]").all_inner_texts() == ["1", "2", "3"]
    page.screenshot(path=str(_output_dir() / "ranking-desktop.png"), full_page=True)
    _press(page, "Enter")
    page.wait_for_selector(EMPTY)

    label = Label.objects.get(annotator=user)
    assert (label.assignment_id, label.ranking, label.choice) == (
        assignment, [second, third, first], "",
    )  # fmt: skip
    assert SECRET_MODEL not in page.content()

    page.locator(".topbar-link", has_text="My work").click()
    page.get_by_text("Ranked 3 responses").wait_for()
    assert page.locator("[data-total-today]").inner_text() == "1"
    assert SECRET_MODEL not in page.content()
    page.screenshot(path=str(_output_dir() / "my-work-desktop.png"), full_page=True)


def test_a_lost_answer_puts_the_item_back_and_the_retry_records_one_label(  # type: ignore[no-untyped-def]
    browser, live_server
) -> None:
    project, user, _ = _annotator_project("retry", rate_criteria=False)
    for number in range(2):
        prompt = PromptFactory(project=project, input=f"Question {number}?")
        ResponseFactory(prompt=prompt, text=f"Yes to {number}.")
        ResponseFactory(prompt=prompt, text=f"No to {number}.")
    comparisons_generate(project=project)
    # Not the `page` fixture: the lost answer is a network error in the console, on purpose.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))

    def lose_the_answer(route) -> None:  # type: ignore[no-untyped-def]
        route.fetch()  # the server records the judgment…
        route.abort()  # …but its answer never reaches the page

    try:
        log_in(page, user.username, PASSWORD)
        page.goto(f"/projects/{project.slug}/annotate/")
        first = _current(page)
        page.route("**/submit/", lose_the_answer, times=1)

        _press(page, "t", "Enter")

        page.wait_for_selector(f"#workbench:not([data-busy]) {ITEM}[data-assignment='{first}']")
        assert "not saved yet" in page.locator("#workbench-alert").inner_text()
        assert page.locator(f"{ITEM} input[name=choice][value=tie]").is_checked()
        assert Label.objects.filter(annotator=user).count() == 1  # saved, answer lost

        _press(page, "Enter")  # the retry sends the same idempotency key

        _wait_for_change(page, first)
        assert page.locator("#workbench-alert").inner_text() == ""
        label = Label.objects.get(annotator=user)
        assert (label.assignment_id, label.choice) == (int(first), "tie")
        assert page.locator("[data-done]").inner_text() == "1"
    finally:
        context.close()
    assert [error for error in errors if "Failed to load resource" not in error] == []


def _three_pairs(slug: str) -> tuple[Project, User]:
    project, user, _ = _annotator_project(slug, rate_criteria=False)
    for number in range(3):
        prompt = PromptFactory(project=project, input=f"Question {number}?")
        ResponseFactory(prompt=prompt, text=f"Yes to {number}.")
        ResponseFactory(prompt=prompt, text=f"No to {number}.")
    comparisons_generate(project=project)
    return project, user


def _open_with_next_item_fetched(page, project: Project) -> str:  # type: ignore[no-untyped-def]
    """The workbench, once the item after the first is prefetched (shown at once on submit)."""
    with page.expect_response(lambda response: "/annotate/next/" in response.url):
        page.goto(f"/projects/{project.slug}/annotate/")
    return _current(page)


def _chosen_side(label: Label) -> str:
    """Which side of the screen the label's choice was on: left or right."""
    return "left" if label.choice == label.shown_order[0] else "right"


def _wait_until(page, done) -> None:  # type: ignore[no-untyped-def]
    for _ in range(200):
        if done():
            return
        page.wait_for_timeout(50)
    raise AssertionError("timed out")


def test_enter_while_a_save_is_in_flight_is_queued_never_dropped(page) -> None:  # type: ignore[no-untyped-def]
    project, user = _three_pairs("queue")
    log_in(page, user.username, PASSWORD)
    first = _open_with_next_item_fetched(page, project)
    held: list[Any] = []  # submits held back: the server has not seen them yet
    page.route("**/submit/", lambda route: held.append(route))

    _press(page, "1", "Enter")  # the save is in flight; the next item shows at once
    page.wait_for_selector(f"{ITEM}:not([data-assignment='{first}'])")
    second = page.locator(ITEM).get_attribute("data-assignment")
    _press(page, "2", "Enter")  # before the first save is answered

    page.wait_for_selector(f"{ITEM}[data-assignment='{second}'][data-queued]")
    assert "Queued" in page.locator(f"{ITEM} [data-queued-notice]").inner_text()
    _press(page, "t")  # the queued judgment is locked as it was sent, visibly
    assert "Not applied" in page.locator("#workbench-alert").inner_text()
    assert page.locator(f"{ITEM} input[name=choice][value=right]").is_checked()
    assert len(held) == 1
    assert Label.objects.count() == 0

    held[0].continue_()  # the first save reaches the server; then the queued one is sent
    _wait_until(page, lambda: len(held) == 2)
    # Nothing on screen until the server answers: a key now is refused, not kept for an
    # item the annotator has not seen.
    page.wait_for_selector("#workbench-item > [data-loading]")
    _press(page, "1", "Enter")
    assert "still loading" in page.locator("#workbench-alert").inner_text()
    held[1].continue_()

    _wait_for_change(page, second)
    third = _current(page)
    assert third not in (first, second)
    assert not page.locator(f"{ITEM} input[name=choice]:checked").count()
    labels = {str(label.assignment_id): label for label in Label.objects.filter(annotator=user)}
    assert sorted(labels) == sorted([first, second])
    assert (_chosen_side(labels[first]), _chosen_side(labels[second])) == ("left", "right")
    assert page.locator("[data-done]").inner_text() == "2"


def test_a_queued_judgment_comes_back_unsent_when_the_save_before_it_fails(  # type: ignore[no-untyped-def]
    browser, live_server
) -> None:
    project, user = _three_pairs("queue-fail")
    # Not the `page` fixture: the failed save is a network error in the console, on purpose.
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.set_default_timeout(15_000)
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    page.on("pageerror", lambda error: errors.append(str(error)))
    held: list[Any] = []
    try:
        log_in(page, user.username, PASSWORD)
        first = _open_with_next_item_fetched(page, project)
        page.route("**/submit/", lambda route: held.append(route), times=1)
        _press(page, "t", "Enter")
        page.wait_for_selector(f"{ITEM}:not([data-assignment='{first}'])")
        second = page.locator(ITEM).get_attribute("data-assignment")
        _press(page, "2", "Enter")
        page.wait_for_selector(f"{ITEM}[data-queued]")

        held[0].abort()  # the first save never reaches the server

        page.wait_for_selector(f"#workbench:not([data-busy]) {ITEM}[data-assignment='{first}']")
        alert = page.locator("#workbench-alert").inner_text()
        assert "not saved yet" in alert
        assert "The next judgment you queued was not sent" in alert
        assert Label.objects.count() == 0
        _press(page, "Enter")  # send the first again; the queued one comes back after it
        page.wait_for_selector(
            f"#workbench:not([data-busy]) {ITEM}[data-assignment='{second}']:not([data-queued])"
        )
        assert page.locator(f"{ITEM} input[name=choice][value=right]").is_checked()
        _press(page, "Enter")
        _wait_for_change(page, second)
        labels = {str(label.assignment_id): label for label in Label.objects.filter(annotator=user)}
        assert sorted(labels) == sorted([first, second])
        assert (labels[first].choice, _chosen_side(labels[second])) == ("tie", "right")
    finally:
        context.close()
    assert [error for error in errors if "Failed to load resource" not in error] == []


def test_a_span_selected_with_the_mouse_is_counted_in_raw_characters(page) -> None:  # type: ignore[no-untyped-def]
    project, user, _ = _annotator_project("spans", rate_criteria=False)
    prompt = PromptFactory(project=project, input="Say three.")
    text = "🙂 one\r\ntwo 🙂 three"
    for _ in range(2):
        ResponseFactory(prompt=prompt, text=text if _ == 0 else text + ".")
    comparisons_generate(project=project)

    log_in(page, user.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/annotate/")
    _current(page)
    left = _shown(page)[0]
    # What a mouse drag over "three" in Response 1 leaves behind: a DOM selection.
    page.evaluate(
        """() => {
            const root = document.querySelector("[data-response] [data-text]");
            const walker = document.createTreeWalker(root, NodeFilter.SHOW_TEXT);
            let node = walker.nextNode();
            while (!node.data.includes("three")) node = walker.nextNode();
            const start = node.data.indexOf("three");
            window.getSelection().setBaseAndExtent(node, start, node, start + 5);
        }"""
    )
    _press(page, "m")
    page.wait_for_selector(f"{ITEM} dialog[data-dialog=span][open]")
    assert page.locator(f"{ITEM} [data-span-quote]").inner_text() == "three"
    _press(page, "Enter", "t", "Enter")
    page.wait_for_selector(EMPTY)

    label = Label.objects.get(annotator=user)
    start = text.index("three")  # code points, as Python counts: the emoji is one, CR too
    assert label.spans == [
        {"response": left, "start": start, "end": start + 5, "category": "factual error",
         "note": ""},
    ]  # fmt: skip
    shown = Comparison.objects.get().prompt.responses.get(pk=left).text
    assert shown[start : start + 5] == "three"
