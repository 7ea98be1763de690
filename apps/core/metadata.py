"""DRF's answer to OPTIONS (its own module: DRF's views read the setting naming it at import)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rest_framework.metadata import SimpleMetadata

if TYPE_CHECKING:  # rest_framework.views imports this module while it defines APIView
    from rest_framework.request import Request
    from rest_framework.views import APIView


class Metadata(SimpleMetadata):
    """DRF's OPTIONS answer: name, description, the media types rendered and parsed, and
    `actions` (the fields PUT and POST take) only for a view with a `serializer_class`.

    Palate's views declare a nested input serializer per method instead, and /api/schema/
    describes every input; DRF would ask such a GenericAPIView for its serializer class
    anyway and fail (a 500 on every list endpoint that paginates).
    """

    def determine_actions(self, request: Request, view: APIView) -> dict[str, Any]:
        if getattr(view, "serializer_class", None) is None:
            return {}
        return super().determine_actions(request, view)  # type: ignore[no-any-return]
