"""What every Chart.js config builder shares: the theme's colours by name, and values that
carry their intervals.

Colours are CSS custom properties (`static/css/palate.css` declares a light and a dark
value for each): `static/js/charts.js` resolves a `var(--name)` string when it draws, so a
chart follows the page's colour scheme and the palette is declared once, in the stylesheet.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

ACCENT = "var(--chart-accent)"
ACCENT_SOFT = "var(--chart-accent-soft)"
INFO = "var(--chart-info)"
INFO_SOFT = "var(--chart-info-soft)"
ERROR = "var(--chart-error)"
MUTED = "var(--chart-muted)"
# The lines between heat-map cells: the card the chart sits on.
CELL_BORDER = "var(--surface)"

INTERVAL_LEVEL = "95% CI"

# A heat map's cells are translucent fills that charts.js reads back as numbers (to pick a
# readable ink), so they are rgb() values: --chart-info, --chart-error and --chart-muted
# of the light scheme.
_POSITIVE, _NEGATIVE, _UNDEFINED = "36, 94, 158", "180, 35, 24", "154, 147, 166"


def diverging_colour(value: float | None) -> str:
    """A heat-map cell's fill for a value in [-1, 1]: blue above 0, red below, stronger the
    further from 0; grey where the value is undefined."""
    if value is None:
        return f"rgba({_UNDEFINED}, 0.4)"
    alpha = 0.15 + 0.85 * min(abs(value), 1.0)
    return f"rgba({_POSITIVE if value >= 0 else _NEGATIVE}, {alpha:.3f})"


def interval_dataset(
    *,
    label: str,
    values: Sequence[float | None],
    intervals: Sequence[Sequence[float] | None],
    counts: Sequence[int | None],
    **style: Any,
) -> dict[str, Any]:
    """A dataset whose values carry their 95% intervals and the number each is computed on.

    `static/js/charts.js` draws each interval as an error bar on its value and the tooltip
    reads "0.72 (95% CI 0.65–0.79), n=140"; a value without an interval has no bar."""
    return {
        "label": label,
        "data": list(values),
        "errorBars": {
            "level": INTERVAL_LEVEL,
            "bounds": [list(bounds) if bounds else None for bounds in intervals],
            "counts": list(counts),
        },
        **style,
    }


def cell_values(decimals: int = 2) -> dict[str, Any]:
    """Plugin options that print each heat-map cell's value in it (`static/js/charts.js`)."""
    return {"cellValues": {"display": True, "decimals": decimals}}
