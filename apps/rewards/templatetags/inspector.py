"""Filters for the inspector's numbers: shares as percentages, intervals, signed changes."""

from __future__ import annotations

from typing import Any

from django import template

register = template.Library()


@register.filter
def percent(value: Any, digits: int = 1) -> str:
    """0.7142 → "71.4%"; missing → "—"."""
    if value is None or value == "":
        return "—"
    return f"{float(value) * 100:.{int(digits)}f}%"


@register.filter
def interval(value: Any) -> str:
    """[0.6, 0.8] → "60.0–80.0%"; missing → "no interval"."""
    if not value:
        return "no interval"
    low, high = value
    return f"{low * 100:.1f}–{high * 100:.1f}%"


@register.filter
def signed(value: Any, digits: int = 3) -> str:
    """A change with its sign: +0.125, −0.5; missing → "—"."""
    if value is None or value == "":
        return "—"
    number = float(value)
    text = f"{abs(number):.{int(digits)}g}"
    if abs(number) < 10 ** -(int(digits) + 3):
        return "0"
    return f"+{text}" if number > 0 else f"−{text}"


@register.filter
def number(value: Any, digits: int = 3) -> str:
    """A float to `digits` significant digits; missing → "—"."""
    if value is None or value == "":
        return "—"
    return f"{float(value):.{int(digits)}g}"
