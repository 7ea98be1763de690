"""HTML input for exports: the form's fields become one `ExportOptions`."""

from __future__ import annotations

from typing import Any

from django import forms
from pydantic import ValidationError as PydanticValidationError

from apps.accounts.models import Project
from apps.exports import selectors
from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.rewards.models import RewardFunctionVersion

_HANDLING = [("exclude", "Leave out"), ("write", "Write")]


def _help(name: str) -> str:
    return ExportOptions.model_fields[name].description or ""


class ExportForm(forms.Form):
    format = forms.ChoiceField(choices=Export.Format.choices)
    file_format = forms.ChoiceField(choices=Export.FileFormat.choices, label="File format")
    prompt_form = forms.ChoiceField(
        choices=[("auto", "Auto"), ("standard", "Standard"), ("conversational", "Conversational")],
        initial="auto",
        label="Prompt form",
        help_text=_help("prompt_form"),
    )
    test_share = forms.FloatField(
        min_value=0, max_value=0.99, initial=0, label="Test share", help_text=_help("test_share")
    )
    seed = forms.IntegerField(min_value=0, initial=0, help_text=_help("seed"))
    min_agreement = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Minimum agreement",
        help_text=_help("min_agreement"),
    )
    min_gold_accuracy = forms.FloatField(
        required=False,
        min_value=0,
        max_value=1,
        label="Minimum gold accuracy",
        help_text=_help("min_gold_accuracy"),
    )
    labelled_from = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Labelled from"
    )
    labelled_to = forms.DateField(
        required=False, widget=forms.DateInput(attrs={"type": "date"}), label="Labelled to"
    )
    prompt_group = forms.CharField(required=False, max_length=200, label="Prompt group")
    metadata = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "class": "mono"}),
        label="Prompt metadata",
        help_text="One key=value per line; every pair must match.",
    )
    ties = forms.ChoiceField(choices=_HANDLING, initial="exclude", help_text=_help("ties"))
    both_bad = forms.ChoiceField(
        choices=_HANDLING, initial="exclude", label="Both bad", help_text=_help("both_bad")
    )
    margin = forms.BooleanField(required=False, help_text=_help("margin"))
    soft_label = forms.BooleanField(
        required=False, label="Soft label (p_chosen)", help_text=_help("soft_label")
    )
    pseudonymise_annotators = forms.BooleanField(
        required=False,
        initial=True,
        label="Pseudonymise annotators",
        help_text=_help("pseudonymise_annotators"),
    )
    reward_version_id = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=None,
        label="Reward function version",
        help_text=_help("reward_version_id"),
    )

    def __init__(self, *args: Any, project: Project, is_admin: bool, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        versions = RewardFunctionVersion.objects.filter(function__project=project).select_related(
            "function"
        )
        self.fields["reward_version_id"].choices = [("", "—")] + [
            (version.pk, str(version)) for version in versions
        ]
        if selectors.project_has_chat_prompts(project=project):
            # TRL's standard form holds text prompts only (services.export_check refuses it).
            field = self.fields["prompt_form"]
            field.choices = [c for c in field.choices if c[0] != "standard"]
            field.help_text += (
                " Standard is not offered: this project has chat prompts (HH-style transcripts "
                "are stored as chats)."
            )
        if not is_admin:
            # Only an admin may export names: the others always get pseudonyms.
            del self.fields["pseudonymise_annotators"]

    def clean_metadata(self) -> dict[str, str]:
        pairs = {}
        for number, line in enumerate(self.cleaned_data["metadata"].splitlines(), start=1):
            if not line.strip():
                continue
            key, sep, value = line.partition("=")
            if not sep or not key.strip():
                raise forms.ValidationError(f"Line {number}: write key=value.")
            pairs[key.strip()] = value.strip()
        return pairs

    def options(self) -> ExportOptions | None:
        """The validated options, or None with the problems added to the form."""
        data = {
            name: value
            for name, value in self.cleaned_data.items()
            if name not in ("format", "file_format") and value not in (None, "")
        }
        data.setdefault("pseudonymise_annotators", True)
        try:
            return ExportOptions.model_validate(data)
        except PydanticValidationError as exc:
            for error in exc.errors():
                field = str(error["loc"][0]) if error["loc"] else None
                self.add_error(field if field in self.fields else None, error["msg"])
            return None
