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
    skip_invalid = forms.BooleanField(
        required=False,
        label="Skip invalid rows",
        help_text="Import the valid rows and keep a report of the invalid ones, to fix and "
        "import again. Left unticked, a file with any invalid row imports nothing. A file "
        "whose rows cannot be told apart (a quote never closed, say) fails either way.",
    )
