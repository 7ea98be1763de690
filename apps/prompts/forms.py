"""HTML input for the prompt browser."""

from __future__ import annotations

from typing import Any

from django import forms


class PromptFilterForm(forms.Form):
    """The prompt browser's query string. Invalid parts are ignored, valid ones still filter."""

    q = forms.CharField(
        required=False,
        max_length=500,
        label="Search",
        widget=forms.SearchInput(attrs={"placeholder": "Search prompts and responses"}),
    )
    group = forms.ChoiceField(required=False)
    key = forms.ChoiceField(required=False, label="Metadata")
    value = forms.CharField(
        required=False,
        max_length=500,
        label="Value",
        widget=forms.TextInput(attrs={"placeholder": "value"}),
    )

    def __init__(self, data: Any, *, groups: list[str], metadata_keys: list[str]) -> None:
        super().__init__(data)
        self.fields["group"].choices = [("", "All groups"), *((g, g) for g in groups)]
        self.fields["key"].choices = [("", "Any metadata"), *((k, k) for k in metadata_keys)]

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for `prompts.selectors.prompt_list`."""
        self.is_valid()
        data = self.cleaned_data
        key, value = data.get("key", ""), data.get("value", "").strip()
        return {
            "search": data.get("q", "").strip(),
            "group": data.get("group", ""),
            "metadata": {key: value} if key and value else None,
        }
