"""HTML input for projects and members. Validation of input only: the rules live in services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from pydantic import ValidationError as PydanticValidationError

from apps.accounts.models import Project, Role, User
from apps.accounts.settings_schema import (
    AnnotationMode,
    AnnotationSettings,
    ConsensusRule,
    Pairing,
)
from apps.rubrics.models import Rubric


class ProjectCreateForm(forms.Form):
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2}), help_text="Optional."
    )


def _schema_options(name: str) -> dict[str, Any]:
    """Bounds and help of one annotation setting, read from the schema so they live in one place."""
    field = AnnotationSettings.model_fields[name]
    options: dict[str, Any] = {}
    for constraint in field.metadata:
        if (minimum := getattr(constraint, "ge", None)) is not None:
            options["min_value"] = minimum
        if (maximum := getattr(constraint, "le", None)) is not None:
            options["max_value"] = maximum
    if field.description:
        options["help_text"] = field.description
    return options


def _strength_lines(text: str) -> list[str]:
    return [line.strip() for line in text.splitlines() if line.strip()]


KEEP_WHEN_BLANK = {
    "pairing", "pairs_per_prompt", "score_key", "undo_minutes", "consensus", "gold_min_items",
}  # fmt: skip


class ProjectSettingsForm(forms.Form):
    """A project's texts and its annotation settings, one input per AnnotationSettings field."""

    name = forms.CharField(max_length=200)
    description = forms.CharField(required=False, widget=forms.Textarea(attrs={"rows": 2}))
    guidelines = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 12, "class": "mono"}),
        help_text="Markdown, shown to annotators.",
    )

    # One form field per AnnotationSettings field, under the same name.
    mode = forms.ChoiceField(
        choices=[(mode.value, mode.value.capitalize()) for mode in AnnotationMode],
        help_text="Pairwise: pick the better of two. Ranking: order k responses.",
    )
    overlap = forms.IntegerField(**_schema_options("overlap"))
    pairing = forms.ChoiceField(
        required=False,
        choices=[
            (Pairing.ALL_PAIRS.value, "All pairs"),
            (Pairing.RANDOM_PAIRS.value, "k random pairs per prompt"),
            (Pairing.ADJACENT_BY_SCORE.value, "Adjacent pairs by score"),
        ],
        help_text="Pairwise mode: how comparisons are made from a prompt's responses.",
    )
    pairs_per_prompt = forms.IntegerField(
        required=False,
        **(_schema_options("pairs_per_prompt") | {"help_text": "k, for random pairs."}),
    )
    score_key = forms.CharField(
        required=False,
        max_length=100,
        help_text="Response metadata key that orders responses for adjacent pairs.",
    )
    strength_scale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text="One label per line, weakest first.",
    )
    gold_rate = forms.FloatField(
        widget=forms.NumberInput(attrs={"step": "0.01"}),
        **(_schema_options("gold_rate") | {"help_text": "Share of gold items, from 0 to 1."}),
    )
    lease_minutes = forms.IntegerField(
        **(_schema_options("lease_minutes") | {"help_text": "How long an annotator holds an item."})
    )
    rationale_required = forms.BooleanField(
        required=False, help_text="Annotators must write a short rationale."
    )
    show_reference_to_annotators = forms.BooleanField(
        required=False,
        label="Show reference answers to annotators",
        help_text=AnnotationSettings.model_fields["show_reference_to_annotators"].description or "",
    )
    rate_criteria = forms.BooleanField(
        required=False, help_text="Annotators rate each rubric criterion."
    )
    rubric_id = forms.ModelChoiceField(
        queryset=Rubric.objects.none(),
        required=False,
        empty_label="No rubric",
        label="Rubric",
        help_text=AnnotationSettings.model_fields["rubric_id"].description or "",
    )
    ranking_size = forms.IntegerField(
        **(_schema_options("ranking_size") | {"help_text": "Responses per item in ranking mode."})
    )
    undo_minutes = forms.IntegerField(required=False, **_schema_options("undo_minutes"))
    consensus = forms.ChoiceField(
        required=False,
        choices=[
            (ConsensusRule.MAJORITY.value, "Majority vote"),
            (ConsensusRule.DAWID_SKENE.value, "Reliability-weighted (Dawid–Skene)"),
        ],
        help_text="The label used downstream when no reviewer has decided.",
    )
    gold_pause_below = forms.FloatField(
        required=False,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
        **(
            _schema_options("gold_pause_below")
            | {"help_text": "Pause an annotator below this gold accuracy (0–1); empty: never."}
        ),
    )
    gold_min_items = forms.IntegerField(required=False, **_schema_options("gold_min_items"))

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        self.project = project
        stored = project.annotation_settings or {}
        scale = stored.get("strength_scale") or []
        kwargs.setdefault(
            "initial",
            {
                "name": project.name,
                "description": project.description,
                "guidelines": project.guidelines,
                **{name: stored.get(name) for name in AnnotationSettings.model_fields},
                "strength_scale": "\n".join(str(label) for label in scale),
            },
        )
        super().__init__(*args, **kwargs)
        self.fields["rubric_id"].queryset = project.rubrics.order_by("name")
        self.annotation_settings: dict[str, Any] = {}

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        stored = self.project.annotation_settings or {}
        raw = {name: stored[name] for name in AnnotationSettings.model_fields if name in stored}
        raw.update(
            {
                name: cleaned[name]
                for name in AnnotationSettings.model_fields
                # Settings added later are optional in the form: left out, they keep their value.
                if name not in KEEP_WHEN_BLANK or cleaned.get(name) not in (None, "")
            }
        )
        raw["strength_scale"] = _strength_lines(cleaned["strength_scale"])
        raw["rubric_id"] = cleaned["rubric_id"].pk if cleaned["rubric_id"] else None
        try:
            validated = AnnotationSettings.model_validate(raw)
        except PydanticValidationError as exc:
            for item in exc.errors():
                field = str(item["loc"][0]) if item["loc"] else None
                message = item["msg"].removeprefix("Value error, ")
                self.add_error(field if field in self.fields else None, message)
            return cleaned
        self.annotation_settings = validated.model_dump(mode="json")
        return cleaned


class MemberAddForm(forms.Form):
    identifier = forms.CharField(
        max_length=254,
        label="Username or e-mail",
        help_text="Someone with an account joins at once; a new e-mail address gets an invitation.",
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "placeholder": "jane or jane@example.org"}
        ),
    )
    role = forms.ChoiceField(choices=Role.choices, initial=Role.ANNOTATOR)


class InvitationAcceptForm(forms.Form):
    """A new account for an invited e-mail address: a username and a password, twice."""

    username = forms.CharField(
        max_length=150,
        help_text="Letters, digits and @ . + - _ only.",
        widget=forms.TextInput(attrs={"autocomplete": "username", "autofocus": True}),
    )
    password1 = forms.CharField(
        label="Password",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
        help_text=password_validation.password_validators_help_text_html(),
    )
    password2 = forms.CharField(
        label="Password again",
        strip=False,
        widget=forms.PasswordInput(attrs={"autocomplete": "new-password"}),
    )

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean_username(self) -> str:
        username = self.cleaned_data["username"].strip()
        for validator in User._meta.get_field("username").validators:
            validator(username)
        if User.objects.filter(username__iexact=username).exists():
            raise forms.ValidationError("This username is taken; choose another.")
        return username

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first and "username" in cleaned:
            candidate = User(username=cleaned["username"], email=self.email)
            try:
                password_validation.validate_password(first, candidate)
            except forms.ValidationError as error:
                self.add_error("password1", error)
        return cleaned


class MemberRoleForm(forms.Form):
    role = forms.ChoiceField(choices=Role.choices)
