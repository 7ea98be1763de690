"""DRF content negotiation (its own module: DRF's views read the setting naming it at import)."""

from __future__ import annotations

from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request


class ContentNegotiation(DefaultContentNegotiation):
    """DRF's negotiation, with the usual request answered without parsing its Accept
    header: no header or `*/*`, and no format asked for, gets the first renderer, as DRF
    itself would choose."""

    def select_renderer(
        self, request: Request, renderers: list[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        override = self.settings.URL_FORMAT_OVERRIDE
        if (
            request.META.get("HTTP_ACCEPT", "*/*") == "*/*"
            and not format_suffix
            and not (override and override in request.query_params)
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)  # type: ignore[no-any-return]
