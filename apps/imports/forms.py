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
    skip_invalid = forms.BooleanField(
        required=False,
        label="Skip invalid rows",
        help_text="Import the valid rows and keep a report of the invalid ones, to fix and "
        "import again. Left unticked, a file with any invalid row imports nothing. A file "
        "whose rows cannot be told apart (a quote never closed, say) fails either way.",
    )
