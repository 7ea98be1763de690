"""HTML input for imports."""

from __future__ import annotations

from django import forms

from apps.imports.rows import shapes_read


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text=f"JSON Lines, CSV or Parquet, with rows of: {shapes_read()}.",
        widget=forms.FileInput(attrs={"accept": ".jsonl,.ndjson,.json,.csv,.parquet,.pq"}),
    )
