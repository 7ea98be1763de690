"""The project navigation shows every tab an admin has, at phone and desktop widths.

Screenshots of the top of the page at each width are saved under
var/test-output/navigation/ (PALATE_VAR_DIR/test-output/navigation/ when that is set).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from django.conf import settings

from tests.browser.conftest import log_in
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

pytestmark = pytest.mark.browser

ADMIN_TABS = [
    "Overview",
    "Prompts",
    "Imports",
    "Annotate",
    "Quality",
    "Rubrics",
    "Rewards",
    "Inspector",
    "Reward models",
    "Exports",
    "Members",
    "Settings",
]

# For each link: its box, the nav's box, whether the nav scrolls sideways, and whether the
# element drawn at the link's centre is the link (or inside it): a tab scrolled or clipped
# out of view fails at least one of these.
MEASURE = """nav => {
  const outer = nav.getBoundingClientRect();
  return {
    nav: {left: outer.left, right: outer.right, top: outer.top, bottom: outer.bottom},
    overflows: nav.scrollWidth > nav.clientWidth || nav.scrollHeight > nav.clientHeight,
    links: [...nav.querySelectorAll("a")].map(link => {
      const box = link.getBoundingClientRect();
      const x = box.left + box.width / 2, y = box.top + box.height / 2;
      const hit = document.elementFromPoint(x, y);
      return {
        name: link.textContent.trim(),
        left: box.left, right: box.right, top: box.top, bottom: box.bottom,
        hit: hit !== null && link.contains(hit),
      };
    }),
  };
}"""


def _output_dir() -> Path:
    folder = Path(settings.VAR_DIR) / "test-output" / "navigation"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.mark.parametrize("width", [390, 1280, 1400, 1920])
def test_it_shows_every_tab_of_a_project_admin(page, width) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory(username=f"nav-admin-{width}")
    project = ProjectFactory(slug=f"nav-{width}", name="Navigation at every width")
    MembershipFactory(project=project, user=user, role="admin")

    page.set_viewport_size({"width": width, "height": 900})
    log_in(page, user.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/settings/")
    nav = page.get_by_role("navigation", name="Project")

    measured = nav.evaluate(MEASURE)
    page.screenshot(path=str(_output_dir() / f"admin-tabs-{width}.png"))

    assert [link["name"] for link in measured["links"]] == ADMIN_TABS
    outer = measured["nav"]
    assert outer["left"] >= 0
    assert outer["right"] <= width
    for link in measured["links"]:
        # Inside the viewport, inside the nav's box, and not covered at its centre.
        assert link["left"] >= max(0, outer["left"]), link
        assert link["right"] <= min(width, outer["right"]), link
        assert link["top"] >= outer["top"], link
        assert link["bottom"] <= outer["bottom"], link
        assert link["hit"], link
    assert measured["overflows"] is False

    # Every tab answers a click, the last one (the admin's) included.
    page.get_by_role("navigation", name="Project").get_by_role("link", name="Members").click()
    page.wait_for_url(f"**/projects/{project.slug}/members/")
    settings_tab = page.get_by_role("navigation", name="Project").get_by_role(
        "link", name="Settings"
    )
    settings_tab.click()
    page.wait_for_url(f"**/projects/{project.slug}/settings/")
    assert settings_tab.get_attribute("aria-current") == "page"


def test_a_tab_reached_with_the_keyboard_shows_its_focus(page) -> None:  # type: ignore[no-untyped-def]
    user = UserFactory(username="nav-keyboard")
    project = ProjectFactory(slug="nav-keyboard", name="Navigation by keyboard")
    MembershipFactory(project=project, user=user, role="admin")

    log_in(page, user.username, PASSWORD)
    page.goto(f"/projects/{project.slug}/")
    settings_tab = page.get_by_role("navigation", name="Project").get_by_role(
        "link", name="Settings"
    )
    settings_tab.focus()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    outline = settings_tab.evaluate(
        "link => { const s = getComputedStyle(link); return [s.outlineStyle, s.outlineWidth]; }"
    )
    page.screenshot(path=str(_output_dir() / "admin-tabs-focus.png"))
    assert outline[0] != "none", outline
    assert outline[1] != "0px", outline
