from __future__ import annotations

import datetime
import uuid
from typing import Any, Literal

from django import template
from django.utils.html import escape, format_html, json_script
from django.utils.safestring import SafeString

from apps.core.humanize import relative_time
from apps.core.rendering import (
    MARKDOWN_MAX_CHARS,
    render_markdown,
    render_model_text,
    render_raw_text,
)

register = template.Library()


@register.filter(name="markdown")
def markdown_filter(text: str) -> SafeString:
    """Untrusted Markdown → sanitised HTML (see apps.core.rendering)."""
    return render_markdown(text)


@register.simple_tag(takes_context=True)
def model_text(
    context: template.Context, text: str, *, classes: str = "", selectable: bool = False
) -> SafeString:
    """Untrusted model output (a response, a prompt) in a `<div>`: rendered Markdown, or the
    raw text for people who chose it (User.show_raw_text) and for very long texts. Either way
    its text runs carry raw-text offsets (see apps.core.rendering); `selectable` marks the
    div for span marking (`data-text`)."""
    request = context.get("request")
    raw = bool(request and getattr(request.user, "show_raw_text", False))
    raw = raw or len(text or "") > MARKDOWN_MAX_CHARS
    return format_html(
        '<div class="{}{}" data-format="{}"{}>{}</div>',
        "text" if raw else "prose model-text",
        f" {classes}" if classes else "",
        "raw" if raw else "markdown",
        SafeString(" data-text") if selectable else "",
        render_raw_text(text) if raw else render_model_text(text),
    )


@register.filter(name="ago")
def ago_filter(value: datetime.datetime | None) -> str:
    """How long ago, for people: "just now", "3 minutes ago" (see apps.core.humanize)."""
    return relative_time(value) if value else ""


@register.simple_tag(takes_context=True)
def query_replace(context: template.Context, **kwargs: object) -> str:
    """The current query string with some parameters replaced (for pagination links)."""
    query = context["request"].GET.copy()
    for key, value in kwargs.items():
        if value in (None, ""):
            query.pop(key, None)
        else:
            query[key] = str(value)
    return query.urlencode()


@register.simple_tag
def chart(
    config: dict[str, Any],
    *,
    label: str,
    size: Literal["sm", "md", "lg"] = "md",
    static: bool = False,
) -> SafeString:
    """A Chart.js chart: `config` ({"type", "data", "options"}, plain data) as escaped JSON
    beside a canvas that static/js/charts.js draws. `label` is the canvas's accessible
    name; `static` turns animation off (for partials that poll)."""
    element_id = f"chart-{uuid.uuid4().hex[:12]}"
    return format_html(
        '<div class="chart chart-{}">{}<canvas data-chart="{}" role="img" aria-label="{}"{}>'
        "</canvas></div>",
        size,
        json_script(config, element_id),
        element_id,
        escape(label),  # always: a literal in a template arrives marked safe
        SafeString(" data-chart-static") if static else "",
    )
