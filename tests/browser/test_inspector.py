"""A designer inspects a reward version on a real worker and compares two versions."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from apps.rewards.models import Inspection, RewardFunctionVersion
from tests.browser.conftest import log_in
from tests.factories import PASSWORD
from tests.rewards.factories import version_of
from tests.rewards.inspection_world import POLITE_SPEC, build, build_flattery

pytestmark = pytest.mark.browser

DRAWN = "canvas[data-chart-drawn=true]"
# A canvas Chart.js has drawn on has some pixel that is not fully transparent.
PAINTED = """canvas => {
  const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  for (let i = 3; i < data.length; i += 4) { if (data[i] !== 0) return true; }
  return false;
}"""


def _output_dir() -> Path:
    folder = Path(settings.VAR_DIR) / "test-output" / "inspector"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_a_designer_inspects_a_version_and_compares_two(
    page, celery_worker_process, project, designer
):  # type: ignore[no-untyped-def]
    world = build(project, designer)
    polite = version_of(project, POLITE_SPEC, name="manners only")
    log_in(page, designer.username, PASSWORD)

    page.goto(f"/projects/{project.slug}/")
    page.get_by_role("link", name="Inspector", exact=True).click()
    page.locator("section").filter(has_text="cites and manners").get_by_role(
        "link", name="Open inspector →"
    ).click()
    page.get_by_role("button", name="Inspect this version").click()
    # Followed live on the page until the worker is done; the panels swap in by htmx.
    page.locator("#agreement").wait_for(timeout=120_000)

    inspection = Inspection.objects.get(version=world.version)
    assert inspection.status == Inspection.Status.SUCCEEDED
    charts = page.locator(".inspector-panels canvas[data-chart]")
    page.wait_for_function(
        "n => document.querySelectorAll('canvas[data-chart-drawn=true]').length === n",
        arg=charts.count(),
    )
    # Agreement, total, heat map, two components, ablation, length, probes, consistency,
    # weights: every one drawn, and painted.
    assert charts.count() == 10
    for n in range(charts.count()):
        assert charts.nth(n).evaluate(PAINTED), charts.nth(n).get_attribute("aria-label")
    heat_map = page.locator(f'{DRAWN}[aria-label^="Heat map"]')
    assert heat_map.count() == 1
    stats = page.locator(".stat-grid").inner_text()
    assert "71.4%" in stats
    assert "50.0%" in stats
    assert "Lyon." in page.locator("#worst").inner_text()
    out = _output_dir()
    page.screenshot(path=str(out / "inspector-desktop.png"), full_page=True)
    for panel in ("agreement", "correlation", "ablation", "probes", "fit"):
        page.locator(f"#{panel}").screenshot(path=str(out / f"panel-{panel}.png"))

    # The second version, from the compare page: inspect it there, then compare.
    page.goto(
        f"/projects/{project.slug}/inspector/compare/?first={world.version.pk}&second={polite.pk}"
    )
    page.get_by_role("button", name="Inspect manners only v1").click()
    page.locator("#agreement").wait_for(timeout=120_000)
    page.goto(
        f"/projects/{project.slug}/inspector/compare/?first={world.version.pk}&second={polite.pk}"
    )

    assert page.locator("#starc-distance").inner_text() == "1.56"
    assert page.locator("#flipped-count").inner_text() == "2"
    assert page.locator("#flips tbody tr").count() == 2
    assert page.locator(".inspector-side").count() == 2
    page.wait_for_function(
        "n => document.querySelectorAll('canvas[data-chart-drawn=true]').length === n",
        arg=page.locator("canvas[data-chart]").count(),
    )
    page.screenshot(path=str(_output_dir() / "compare-desktop.png"), full_page=True)


def test_a_designer_frees_a_sign_sees_the_probe_it_opens_and_confirms(
    page, celery_worker_process, project, designer
):  # type: ignore[no-untyped-def]
    world = build_flattery(project, designer)
    log_in(page, designer.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/inspector/versions/{world.version.pk}/")

    # By default every weight keeps its sign; the designer frees the anti-flattery penalty's.
    page.locator("#fit-signs summary").click()
    assert "kept ≥ 0" in page.locator("#fit-signs").inner_text()
    page.get_by_label("free the sign of flattery").check()
    page.locator(".inspector-start").screenshot(path=str(_output_dir() / "start-free-signs.png"))
    page.get_by_role("button", name="Inspect this version").click()
    page.locator("#fit").wait_for(timeout=120_000)

    assert Inspection.objects.get(version=world.version).free_signs == ["flattery"]
    # Next to the held-out accuracy: the probe the fitted version is gamed by and v1 is not.
    stats = page.locator("#fit .mini-stats").inner_text().lower()  # the CSS capitalises
    assert "held-out accuracy, fitted\n100.0%" in stats
    assert "gamed by, fitted only\n1 of 7 probes" in stats
    warning = page.locator("#fit-newly-gamed")
    assert warning.locator("li").all_inner_texts() == [
        'Prefixing "Great question!": raises 67% of rewards with the fitted weights, 0% now'
        " (robust)."
    ]
    page.locator("#fit").screenshot(path=str(_output_dir() / "panel-fit-newly-gamed.png"))

    # Saving needs the box ticked: the browser does not send the form without it.
    save = page.get_by_role("button", name="Save as a new version with these weights")
    save.click()
    assert page.locator("#fit-confirm input:invalid").count() == 1
    assert RewardFunctionVersion.objects.filter(function=world.version.function).count() == 1
    page.locator("#fit-confirm input").check()
    save.click()
    page.get_by_text("Saved the fitted weights as no flattery v2").wait_for()

    new = RewardFunctionVersion.objects.get(function=world.version.function, number=2)
    assert new.spec["combine"]["weights"]["flattery"] < 0
    assert new.message.endswith("; confirmed although gamed by flattery")
