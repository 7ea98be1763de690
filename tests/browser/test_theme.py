"""Issue 18 (6) in headless Chromium: light and dark themes that follow the browser's
`prefers-color-scheme`, with readable text and charts in both; intervals drawn as error
bars on their values; the κ heat map's numbers in its cells.

Screenshots go to var/test-output/theme/ (PALATE_VAR_DIR/test-output/theme/ when set).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings

from apps.accounts.models import Project, Role, User
from apps.annotation.models import AgreementReport
from apps.annotation.reports import agreement_refresh
from apps.reward_models.models import RewardModel
from apps.rewards.models import Inspection
from tests.browser.conftest import log_in
from tests.browser.test_quality import _judged_project
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory
from tests.rewards.inspection_world import build, inspect_now

pytestmark = pytest.mark.browser

SCHEMES = ("light", "dark")
DRAWN = "canvas[data-chart-drawn=true]"

# WCAG 2 relative luminance and contrast of CSS colours, and the colour an element's text
# sits on (the first ancestor with an opaque background).
COLOUR_JS = """
window.themeTest = (() => {
  const probe = document.createElement("canvas").getContext("2d");
  const rgba = (css) => {
    probe.fillStyle = "#000"; probe.fillStyle = css;
    const text = probe.fillStyle;
    if (text[0] === "#") return [1, 3, 5].map(i => parseInt(text.substr(i, 2), 16)).concat(1);
    const p = text.match(/[\\d.]+/g).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map(v => {
      v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const contrast = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)];
    return (Math.max(x, y) + 0.05) / (Math.min(x, y) + 0.05);
  };
  const backdrop = (el) => {
    for (let n = el; n && n.nodeType === 1; n = n.parentElement) {
      const c = rgba(getComputedStyle(n).backgroundColor);
      if (c[3] === 1) return c;
    }
    return [255, 255, 255, 1];
  };
  // Visible elements with their own text whose colour contrasts less than `minimum`
  // with what it sits on (text over a gradient or an image is left out).
  const lowContrast = (minimum) => {
    const found = [];
    for (const el of document.querySelectorAll("body *")) {
      const own = [...el.childNodes].some(n => n.nodeType === 3 && n.textContent.trim());
      if (!own || !el.checkVisibility()) continue;
      const style = getComputedStyle(el);
      if (style.backgroundImage !== "none" || parseFloat(style.opacity) < 1) continue;
      const ratio = contrast(rgba(style.color), backdrop(el));
      if (ratio < minimum) {
        found.push(`${el.tagName.toLowerCase()}.${el.className} "${el.textContent.trim()
          .slice(0, 30)}" ${ratio.toFixed(2)}`);
      }
    }
    return found;
  };
  return {rgba, luminance, contrast, backdrop, lowContrast};
})();
"""


@dataclass
class World:
    designer: User
    quality: Project
    inspector: Project
    inspection: Inspection
    disputed: int  # a comparison the annotators split on
    annotator: int

    @property
    def inspector_path(self) -> str:
        return f"/projects/{self.inspector.slug}/inspector/versions/{self.inspection.version_id}/"


@pytest.fixture
def world(transactional_db) -> World:  # type: ignore[no-untyped-def]
    quality, designer, annotators, items = _judged_project("theme")
    agreement_refresh(project_id=quality.pk)
    metrics = [("small head", 0.66, [0.52, 0.8], 50), ("wide head", 0.74, [0.61, 0.86], 50)]
    for name, accuracy, interval, pairs in metrics:
        RewardModel.objects.create(
            project=quality, name=name, head_kind="linear", artifact_path=f"rm/{name}",
            metrics={"accuracy": accuracy, "accuracy_ci": interval, "validation_pairs": pairs},
        )  # fmt: skip
    inspector = ProjectFactory(slug="theme-inspector", name="Theme inspector")
    MembershipFactory(project=inspector, user=designer, role=Role.ADMIN)
    version = build(inspector, designer).version
    return World(designer, quality, inspector, inspect_now(version, designer), items[2],
                 annotators[0].pk)  # fmt: skip


@pytest.fixture
def pages(browser, live_server) -> Iterator[Any]:  # type: ignore[no-untyped-def]
    """A page in a new browser context per colour scheme; console errors fail the test."""
    contexts, errors = [], []

    def open_page(scheme: str, user: User) -> Any:
        context = browser.new_context(
            base_url=live_server.url, viewport={"width": 1280, "height": 900},
            color_scheme=scheme,
        )  # fmt: skip
        contexts.append(context)
        page = context.new_page()
        page.set_default_timeout(15_000)
        page.on("console", lambda m: m.type == "error" and errors.append(m.text))
        page.on("pageerror", lambda error: errors.append(str(error)))
        log_in(page, user.username, PASSWORD)
        return page

    yield open_page
    for context in contexts:
        context.close()
    assert errors == [], f"browser console errors: {errors}"


def _out() -> Path:
    folder = Path(settings.VAR_DIR) / "test-output" / "theme"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _visit(page: Any, path: str) -> None:
    """Open `path`, wait until each of its charts is drawn and has finished animating."""
    assert page.goto(path).status == 200, path
    page.evaluate(COLOUR_JS)
    page.wait_for_function(
        """() => [...document.querySelectorAll('canvas[data-chart]')].every(c => {
            const chart = window.Chart && Chart.getChart(c);
            return chart && !chart.animating;
        })"""
    )
    page.wait_for_timeout(300)


def _chart(page: Any, label_start: str) -> Any:
    canvas = page.locator(f'{DRAWN}[aria-label^="{label_start}"]')
    assert canvas.count() == 1, label_start
    return canvas


def test_pages_follow_the_colour_scheme_with_readable_text(world, pages):  # type: ignore[no-untyped-def]
    slug, other = world.quality.slug, world.inspector.slug
    version = world.inspection.version
    prompt = world.inspector.prompts.first()
    paths = {
        "projects": "/projects/",
        "overview": f"/projects/{slug}/",
        "prompts": f"/projects/{slug}/prompts/",
        "prompt": f"/projects/{other}/prompts/{prompt.pk}/",
        "imports": f"/projects/{slug}/imports/",
        "workbench": f"/projects/{other}/annotate/",
        "quality": f"/projects/{slug}/quality/",
        "annotators": f"/projects/{slug}/quality/annotators/",
        "annotator": f"/projects/{slug}/quality/annotators/{world.annotator}/",
        "review": f"/projects/{slug}/review/",
        "review-item": f"/projects/{slug}/review/{world.disputed}/",
        "gold": f"/projects/{slug}/gold/",
        "rubrics": f"/projects/{slug}/rubrics/",
        "rewards": f"/projects/{other}/rewards/",
        "version": f"/projects/{other}/rewards/versions/{version.pk}/",
        "composer": f"/projects/{other}/rewards/{version.function_id}/compose/",
        "inspector-index": f"/projects/{other}/inspector/",
        "inspector": world.inspector_path,
        "reward-models": f"/projects/{slug}/reward-models/",
        "training-runs": f"/projects/{slug}/training-runs/",
        "exports": f"/projects/{slug}/exports/",
        "members": f"/projects/{other}/members/",
        "settings": f"/projects/{other}/settings/",
        "comparisons": f"/projects/{slug}/comparisons/",
        "labels": f"/projects/{slug}/labels/",
        "account": "/accounts/account/",
        "password-change": "/accounts/password/change/",
    }
    seen: dict[str, dict[str, Any]] = {}
    for scheme in SCHEMES:
        page = pages(scheme, world.designer)
        for name, path in paths.items():
            _visit(page, path)
            page.screenshot(path=str(_out() / f"{name}-{scheme}.png"), full_page=True)
            assert page.evaluate("themeTest.lowContrast(4.5)") == [], (scheme, name)
        page.context.clear_cookies()
        _visit(page, "/accounts/login/")
        page.screenshot(path=str(_out() / f"login-{scheme}.png"))
        assert page.evaluate("themeTest.lowContrast(4.5)") == [], (scheme, "login")
        body = page.evaluate(
            """() => {
                const style = getComputedStyle(document.body);
                const bg = themeTest.rgba(style.backgroundColor);
                const fg = themeTest.rgba(style.color);
                const muted = getComputedStyle(document.documentElement)
                    .getPropertyValue("--muted").trim();
                return {bg: themeTest.luminance(bg), contrast: themeTest.contrast(fg, bg),
                        muted, chartText: Chart.defaults.color,
                        grid: Chart.defaults.borderColor};
            }"""
        )
        seen[scheme] = body
        assert body["contrast"] >= 7, scheme
        # Chart.js's text and grid colours are the theme's.
        assert body["chartText"] == body["muted"]
    assert seen["light"]["bg"] > 0.85
    assert seen["dark"]["bg"] < 0.02
    assert seen["light"]["grid"] != seen["dark"]["grid"]


def test_charts_are_drawn_again_in_the_new_colours_when_the_scheme_changes(world, pages):  # type: ignore[no-untyped-def]
    page = pages("light", world.designer)
    _visit(page, f"/projects/{world.quality.slug}/quality/")
    canvas = _chart(page, "Agreement statistics")
    colours = """c => {
        const chart = Chart.getChart(c);
        return [chart.scales.x.options.ticks.color, chart.data.datasets[0].backgroundColor];
    }"""
    assert canvas.evaluate(colours) == ["#6b6578", "#7a2e5c"]

    page.emulate_media(color_scheme="dark")
    page.wait_for_function(
        "c => Chart.getChart(c).scales.x.options.ticks.color === '#a9a1b7'",
        arg=canvas.element_handle(),
    )
    assert canvas.evaluate(colours) == ["#a9a1b7", "#e07fb8"]


# Where a value's whisker is drawn: the pixels at the middle of the interval's upper half,
# on the value's element, and the colour the theme gives whiskers.
WHISKER_JS = """(c, [datasetIndex, index]) => {
    const chart = Chart.getChart(c);
    const dataset = chart.data.datasets[datasetIndex];
    const meta = chart.getDatasetMeta(datasetIndex);
    const scale = meta.vScale, element = meta.data[index];
    const [low, high] = dataset.errorBars.bounds[index];
    const value = dataset.data[index];
    const at = scale.getPixelForValue((value + high) / 2);
    const [x, y] = scale.isHorizontal() ? [at, element.y] : [element.x, at];
    const ratio = chart.currentDevicePixelRatio;
    // The most opaque pixel across the line (it may fall between two device pixels).
    const [across, along] = scale.isHorizontal() ? [1, 5] : [5, 1];
    const data = c.getContext("2d").getImageData(Math.round(x * ratio) - (across >> 1),
                                                 Math.round(y * ratio) - (along >> 1),
                                                 across, along).data;
    let pixel = [0, 0, 0, 0];
    for (let i = 0; i < data.length; i += 4) {
        if (data[i + 3] > pixel[3]) pixel = [...data.slice(i, i + 4)];
    }
    const css = getComputedStyle(document.documentElement)
        .getPropertyValue("--chart-whisker").trim();
    return {pixel, whisker: themeTest.rgba(css)};
}"""


def _tooltip(page: Any, canvas: Any, index: int) -> list[str]:
    """The tooltip's lines for the first dataset's `index`th value (as a hover shows it)."""
    return canvas.evaluate(
        """(c, index) => {
            const chart = Chart.getChart(c);
            const element = chart.getDatasetMeta(0).data[index];
            chart.tooltip.setActiveElements([{datasetIndex: 0, index}],
                                            {x: element.x, y: element.y});
            chart.update();
            return chart.tooltip.body.flatMap(b => b.lines);
        }""",
        index,
    )


def _whisker_drawn(canvas: Any, index: int) -> bool:
    found = canvas.evaluate(WHISKER_JS, [0, index])
    return found["pixel"][3] >= 200 and all(
        abs(a - b) <= 40 for a, b in zip(found["pixel"][:3], found["whisker"][:3], strict=True)
    )


@pytest.mark.parametrize("scheme", SCHEMES)
def test_intervals_are_error_bars_on_their_values(world, pages, scheme):  # type: ignore[no-untyped-def]
    page = pages(scheme, world.designer)
    figures = AgreementReport.objects.get(project=world.quality).figures
    raw = figures["choice"]["raw"]
    assert raw["interval"] is not None
    assert raw["interval"][1] > raw["value"]

    _visit(page, f"/projects/{world.quality.slug}/quality/")
    assert page.evaluate("!!Chart.registry.plugins.get('errorBars')")
    summary = _chart(page, "Agreement statistics")
    datasets = summary.evaluate("c => Chart.getChart(c).data.datasets")
    # One dataset: the values, each carrying its interval (no floating interval bars).
    assert len(datasets) == 1
    assert datasets[0]["data"][0] == raw["value"]
    assert datasets[0]["errorBars"]["bounds"][0] == raw["interval"]
    assert datasets[0]["errorBars"]["counts"][0] == raw["n_items"]
    assert _whisker_drawn(summary, 0)
    low, high = raw["interval"]
    assert _tooltip(page, summary, 0) == [
        f"Value: {raw['value']:.2f} (95% CI {low:.2f}–{high:.2f}), n={raw['n_items']}"
    ]
    groups = _chart(page, "Raw agreement per prompt group")
    assert groups.evaluate("c => Chart.getChart(c).options.indexAxis") == "y"
    page.locator("#quality-summary, main").first.screenshot(
        path=str(_out() / f"quality-intervals-{scheme}.png")
    )

    _visit(page, f"/projects/{world.quality.slug}/reward-models/")
    models = _chart(page, "Validation accuracy of each model")
    assert models.evaluate("c => Chart.getChart(c).data.datasets.length") == 1
    assert _whisker_drawn(models, 0)
    assert _tooltip(page, models, 0) == ["Validation accuracy: 0.66 (95% CI 0.52–0.80), n=50"]

    result = world.inspection.result
    overall = result["accuracy"]["overall"]
    _visit(page, world.inspector_path)
    agreement = _chart(page, "Pairwise accuracy with 95% intervals")
    bounds = agreement.evaluate("c => Chart.getChart(c).data.datasets[0].errorBars.bounds")
    assert bounds[0] == overall["interval"]
    assert _tooltip(page, agreement, 0) == [
        f"pairwise accuracy: {overall['value']:.2f} (95% CI {overall['interval'][0]:.2f}–"
        f"{overall['interval'][1]:.2f}), n={overall['n']}"
    ]
    ablation = _chart(page, "Pairwise accuracy with each component dropped")
    assert ablation.evaluate("c => Chart.getChart(c).data.datasets[0].errorBars.bounds") == [
        overall["interval"]
    ] + [row["accuracy"]["interval"] for row in result["ablation"]]
    page.locator("#agreement").screenshot(path=str(_out() / f"inspector-agreement-{scheme}.png"))


# Each heat-map cell: its fill (the most common colour at its centre) and the colour of
# the pixel in its middle box that contrasts most with that fill (the printed number).
CELLS_JS = """c => {
    const chart = Chart.getChart(c);
    const ratio = chart.currentDevicePixelRatio;
    const ctx = c.getContext("2d");
    const behind = themeTest.backdrop(c);
    return chart.getDatasetMeta(0).data.map(cell => {
        const {x, y, width, height} = cell.getProps(["x", "y", "width", "height"], true);
        const [w, h] = [Math.round(width * ratio / 2), Math.round(height * ratio / 3)];
        const left = Math.round((x + width / 2) * ratio - w / 2);
        const top = Math.round((y + height / 2) * ratio - h / 2);
        const data = ctx.getImageData(left, top, w, h).data;
        const counts = new Map();
        const colours = [];
        for (let i = 0; i < data.length; i += 4) {
            const a = data[i + 3] / 255;
            const rgb = [0, 1, 2].map(k => Math.round(a * data[i + k] + (1 - a) * behind[k]));
            colours.push(rgb);
            counts.set(rgb.join(), (counts.get(rgb.join()) || 0) + 1);
        }
        const fill = [...counts].sort((p, q) => q[1] - p[1])[0][0].split(",").map(Number);
        const ink = Math.max(...colours.map(rgb => themeTest.contrast(rgb, fill)));
        return {distinct: counts.size, ink};
    });
}"""


@pytest.mark.parametrize("scheme", SCHEMES)
def test_the_kappa_heat_map_prints_its_numbers(world, pages, scheme):  # type: ignore[no-untyped-def]
    page = pages(scheme, world.designer)
    _visit(page, f"/projects/{world.quality.slug}/quality/")
    heat_map = _chart(page, "Heat map of Cohen's kappa")
    options = heat_map.evaluate("c => Chart.getChart(c).options.plugins.cellValues")
    assert (options["display"], options["decimals"]) == (True, 2)
    cells = heat_map.evaluate(CELLS_JS)
    assert len(cells) == 4  # two annotators: each with themself and with the other
    for cell in cells:
        # A number is printed (more than a flat fill), readable on its cell.
        assert cell["distinct"] > 2
        assert cell["ink"] >= 4.5
    heat_map.screenshot(path=str(_out() / f"kappa-{scheme}.png"))
