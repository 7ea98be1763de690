"""The workbench's HTML form, parsed into a `Judgment`.

The page shows responses by position, never as `a` and `b`: the form says which side
won ("left", "right", "tie", "both_bad") and `judgment()` turns that into the
comparison's real choice using the order this annotator was shown. Ratings arrive as
fields named `rating:<response id>:<criterion>`; spans as a JSON list.
"""

from __future__ import annotations

import json
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.utils import timezone
from pydantic import ValidationError

from apps.accounts.settings_schema import format_validation_error
from apps.annotation import selectors
from apps.annotation.models import Assignment, Comparison, Label
from apps.annotation.schema import Judgment
from apps.core.errors import ApplicationError
from apps.core.json_limits import json_problem

RATING_PREFIX = "rating:"
SIDES = ("left", "right")


def side_to_choice(side: str, *, display_order: list[int], response_a_id: int | None) -> str:
    """'left'/'right' as shown → the comparison's 'a'/'b'; tie and both_bad pass through."""
    if side not in SIDES:
        return side
    shown = display_order[SIDES.index(side)]
    return "a" if int(shown) == response_a_id else "b"


def choice_to_side(choice: str, *, display_order: list[int], response_a_id: int | None) -> str:
    """The inverse of `side_to_choice`: where the response a label preferred was shown."""
    if choice not in ("a", "b"):
        return choice
    left_is_a = int(display_order[0]) == response_a_id
    return "left" if (choice == "a") == left_is_a else "right"


class JudgmentForm(forms.Form):
    """One submitted judgment of a pair or a ranking, as the workbench sends it."""

    idempotency_key = forms.CharField(max_length=100)
    choice = forms.ChoiceField(
        required=False,
        choices=[("", "—"), ("left", "Left"), ("right", "Right"), ("tie", "Tie"),
                 ("both_bad", "Both bad")],
    )  # fmt: skip
    strength = forms.IntegerField(required=False, min_value=0)
    ranking = forms.CharField(required=False, max_length=200)
    spans = forms.CharField(required=False, max_length=200_000)
    rationale = forms.CharField(required=False, max_length=5000, strip=True)
    seconds_spent = forms.FloatField(required=False, min_value=0)

    def __init__(self, data: Any, *, assignment: Assignment) -> None:
        super().__init__(data)
        self.assignment = assignment

    def _error_text(self) -> str:
        parts = []
        for field, errors in self.errors.items():
            for error in errors:
                parts.append(error if field == "__all__" else f"{field}: {error}")
        return " ".join(parts)

    def _ratings(self) -> dict[str, dict[str, str]]:
        ratings: dict[str, dict[str, str]] = {}
        for key in self.data:
            if not key.startswith(RATING_PREFIX):
                continue
            response_id, _, criterion = key[len(RATING_PREFIX) :].partition(":")
            value = self.data.get(key, "")
            if value != "":
                ratings.setdefault(response_id, {})[criterion] = value
        return ratings

    def _spans(self) -> list[Any]:
        raw = self.cleaned_data.get("spans") or ""
        if not raw.strip():
            return []
        try:
            spans = json.loads(raw)
        except (ValueError, RecursionError):
            raise ApplicationError("spans: could not read the marked spans.") from None
        if not isinstance(spans, list):
            raise ApplicationError("spans: could not read the marked spans.")
        if problem := json_problem(spans):  # as the API's parser refuses it
            raise ApplicationError(f"spans: {problem}.")
        return spans

    def _ranking(self) -> list[str]:
        raw = self.cleaned_data.get("ranking") or ""
        return [part for part in raw.replace(" ", "").split(",") if part]

    def judgment(self) -> Judgment:
        """The validated judgment; ApplicationError with a readable message otherwise."""
        if not self.is_valid():
            raise ApplicationError(self._error_text())
        data = self.cleaned_data
        comparison: Comparison = self.assignment.comparison
        display_order = [int(pk) for pk in self.assignment.display_order]
        payload: dict[str, Any] = {
            "idempotency_key": data["idempotency_key"],
            "ratings": self._ratings(),
            "spans": self._spans(),
            "rationale": data["rationale"],
            "seconds_spent": data["seconds_spent"],
        }
        if comparison.kind == Comparison.Kind.RANKING:
            payload["ranking"] = self._ranking()
        else:
            if not data["choice"]:
                raise ApplicationError("choice: pick which response is better, a tie, or both bad.")
            payload["choice"] = side_to_choice(
                data["choice"], display_order=display_order, response_a_id=comparison.response_a_id
            )
            payload["strength"] = data["strength"]
        try:
            return Judgment.model_validate(payload)
        except ValidationError as error:
            raise ApplicationError(" ".join(format_validation_error(error))) from None


CHOICES = [
    ("a", "A is better"),
    ("b", "B is better"),
    ("tie", "Tie"),
    ("both_bad", "Both bad"),
]


class ReviewForm(forms.Form):
    """A reviewer's final judgment of a pair (a/b as stored, not as any annotator saw it)."""

    choice = forms.ChoiceField(choices=CHOICES, widget=forms.RadioSelect)
    strength = forms.TypedChoiceField(
        choices=[], coerce=int, required=False, empty_value=None, label="Strength (a or b)"
    )
    note = forms.CharField(
        required=False, max_length=5000, widget=forms.Textarea(attrs={"rows": 3}),
        help_text="Why; annotators' labels stay as they are.",
    )  # fmt: skip

    def __init__(self, *args: Any, strength_scale: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["strength"].choices = [("", "—")] + [
            (str(index), name) for index, name in enumerate(strength_scale)
        ]


class GoldForm(forms.Form):
    """Mark a pair as a gold item with its known answer, or (empty answer) unmark it."""

    comparison = forms.IntegerField(min_value=1, label="Comparison id")
    gold_choice = forms.ChoiceField(
        choices=[("", "Not gold"), *CHOICES], required=False, label="Known answer"
    )


# --- the comparison and label lists --------------------------------------------------------

_ANY = ""
_YES_NO = {"true": True, "false": False}
_DATE = forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")


def _start_of(day: date | None) -> datetime | None:
    """Midnight at the start of `day`, in the site's time zone."""
    if day is None:
        return None
    return timezone.make_aware(datetime.combine(day, time.min))


class _ListFilterForm(forms.Form):
    """The query string of a list page, parsed into keyword arguments for its selector (the
    same ones the API's filters give). Parameters are named as in the API. Invalid parts
    are ignored, valid ones still filter."""

    sorts: dict[str, tuple[str, tuple[Any, ...]]]
    default_sort: str  # the page's, first in its menu (the API's may differ)
    search = forms.CharField(
        required=False, max_length=500, label="Search prompts", widget=forms.SearchInput
    )
    model = forms.ChoiceField(required=False, label="Source")
    since = forms.DateField(required=False, label="From", widget=_DATE)
    until = forms.DateField(required=False, label="To", help_text="Inclusive.", widget=_DATE)
    sort = forms.ChoiceField(required=False, label="Sort")

    def __init__(self, data: Any, *, models: list[str]) -> None:
        super().__init__(data)
        self.fields["model"].choices = [(_ANY, "Any source"), *((m, m) for m in models)]
        names = [self.default_sort, *(name for name in self.sorts if name != self.default_sort)]
        self.fields["sort"].choices = [(name, self.sorts[name][0]) for name in names]

    def filters(self) -> dict[str, Any]:
        """Keyword arguments for the list's selector; an invalid field filters nothing."""
        self.is_valid()
        data = self.cleaned_data
        until = data.get("until")
        return {
            **{name: data.get(name) for name in self.fields},
            "search": data.get("search", "").strip(),
            "model": data.get("model", ""),  # no field for blind roles
            "since": _start_of(data.get("since")),
            "until": _start_of(until + timedelta(days=1)) if until else None,
            "sort": data.get("sort") or self.default_sort,
        }

    def is_filtered(self) -> bool:
        """Whether any filter (not the order) narrows the list."""
        return any(
            value not in (None, "") for name, value in self.filters().items() if name != "sort"
        )


def _yes_no(label: str, yes: str, no: str) -> forms.TypedChoiceField:
    return forms.TypedChoiceField(
        required=False,
        label=label,
        choices=[(_ANY, label), ("true", yes), ("false", no)],
        coerce=_YES_NO.get,
        empty_value=None,
    )


class ComparisonFilterForm(_ListFilterForm):
    """Filters of the comparisons page (`selectors.comparison_list`)."""

    sorts = selectors.COMPARISON_SORTS
    default_sort = "priority"
    field_order = ["search", "needs_labels", "is_gold", "model", "since", "until", "sort"]
    needs_labels = _yes_no("Any status", "Open", "Complete")
    is_gold = _yes_no("Gold or not", "Gold", "Not gold")


class LabelFilterForm(_ListFilterForm):
    """Filters of the labels page (`selectors.label_list`). Roles that see only their own
    labels get no annotator filter, and blind roles no gold or source filter."""

    sorts = selectors.LABEL_SORTS
    default_sort = "newest"
    field_order = ["search", "comparison", "annotator", "choice", "current", "is_gold", "model"]
    comparison = forms.IntegerField(
        required=False,
        min_value=1,
        label="Comparison",
        widget=forms.NumberInput(attrs={"placeholder": "Comparison #", "class": "filter-number"}),
    )
    annotator = forms.TypedChoiceField(
        required=False, label="Annotator", coerce=int, empty_value=None
    )
    choice = forms.ChoiceField(
        required=False, label="Choice", choices=[(_ANY, "Any choice"), *Label.Choice.choices]
    )
    current = _yes_no("Current or superseded", "Current", "Superseded")
    is_gold = _yes_no("Gold or not", "Gold", "Not gold")

    def __init__(
        self,
        data: Any,
        *,
        models: list[str],
        annotators: list[tuple[int, str]] | None,
        blind: bool,
    ) -> None:
        super().__init__(data, models=models)
        if annotators is None:
            del self.fields["annotator"]
        else:
            self.fields["annotator"].choices = [(_ANY, "Any annotator"), *annotators]
        if blind:
            del self.fields["is_gold"], self.fields["model"]
