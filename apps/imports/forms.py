"""HTML input for imports."""

from __future__ import annotations

from django import forms


class ImportUploadForm(forms.Form):
    file = forms.FileField(
        label="File",
        help_text="JSON Lines, CSV or Parquet: one prompt with its responses per row, "
        "or chosen/rejected pairs.",
        widget=forms.FileInput(attrs={"accept": ".jsonl,.ndjson,.json,.csv,.parquet,.pq"}),
    )
