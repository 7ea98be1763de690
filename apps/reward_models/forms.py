"""HTML input for Retrain and the retrain rule: blank fields keep TrainingSettings' defaults."""

from __future__ import annotations

from typing import Any

from django import forms

from apps.core.errors import ApplicationError
from apps.reward_models.services import training_settings_parse
from workers.training.settings import TrainingSettings

_FIELDS = TrainingSettings.model_fields


def _choices(name: str) -> list[tuple[str, str]]:
    values = _FIELDS[name].annotation.__args__  # type: ignore[union-attr]
    return [("", f"Default ({_FIELDS[name].default})")] + [(v, v) for v in values]


_YES_NO = [("", "Default"), ("true", "Yes"), ("false", "No")]


class TrainingSettingsForm(forms.Form):
    """The settings people change most; everything else keeps its default."""

    trainer = forms.ChoiceField(
        required=False, choices=_choices("trainer"),
        help_text="head: a small head on frozen embeddings (seconds, any worker); finetune: "
        "fine-tune the whole backbone (TRL RewardTrainer's loss; GPU workers).",
    )  # fmt: skip
    head_kind = forms.ChoiceField(required=False, choices=_choices("head_kind"))
    features = forms.ChoiceField(required=False, choices=_choices("features"))
    ensemble_size = forms.IntegerField(
        required=False, min_value=1, max_value=16, help_text="Heads on bootstrap samples (1–16)."
    )
    epochs = forms.IntegerField(required=False, min_value=1, max_value=500)
    learning_rate = forms.FloatField(
        required=False, widget=forms.NumberInput(attrs={"step": "any"})
    )
    validation_fraction = forms.FloatField(
        required=False, widget=forms.NumberInput(attrs={"step": "0.05"}),
        help_text="Share of prompts held out for validation.",
    )  # fmt: skip
    seed = forms.IntegerField(
        required=False, min_value=0, help_text="Seeds the split and training."
    )
    ties = forms.ChoiceField(required=False, choices=_choices("ties"),
                             help_text="half: ties and both-bad kept as 0.5 targets.")  # fmt: skip
    use_margin = forms.ChoiceField(required=False, choices=_YES_NO,
                                   help_text="Use the label's strength as a margin.")  # fmt: skip
    include_imported = forms.ChoiceField(required=False, choices=_YES_NO,
                                         help_text="Train on imported labels too.")  # fmt: skip
    # Fine-tuning only (trainer: finetune).
    finetune_epochs = forms.IntegerField(
        required=False, min_value=1, max_value=50, help_text="Fine-tuning: passes over the data."
    )
    finetune_learning_rate = forms.FloatField(
        required=False, widget=forms.NumberInput(attrs={"step": "any"}),
        help_text="Fine-tuning: the backbone's learning rate.",
    )  # fmt: skip
    max_steps = forms.IntegerField(
        required=False, min_value=1, help_text="Fine-tuning: stop after this many steps."
    )
    max_length = forms.IntegerField(
        required=False, min_value=16, max_value=512, help_text="Fine-tuning: tokens per text."
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.settings: TrainingSettings | None = None

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if self.errors:
            return cleaned
        raw: dict[str, Any] = {}
        for name, value in cleaned.items():
            if value in (None, ""):
                continue
            raw[name] = (
                {"true": True, "false": False}.get(value, value)
                if isinstance(value, str)
                else value
            )
        try:
            self.settings = training_settings_parse(raw)
        except ApplicationError as error:
            for line in error.extra.get("settings", [error.message]):
                field, _, message = line.partition(": ")
                self.add_error(field if field in self.fields else None, message or line)
        return cleaned


class RetrainRuleForm(forms.Form):
    after_labels = forms.IntegerField(
        required=False, min_value=1, max_value=1_000_000, label="Retrain after new labels",
        help_text="Start a run with default settings once this many new labels arrived "
        "since the last run; empty: never.",
    )  # fmt: skip
