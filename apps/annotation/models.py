from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from apps.accounts.models import Project, User
from apps.core.models import TimeStampedModel
from apps.prompts.models import Prompt, Response
from apps.rubrics.models import RubricVersion


class Comparison(TimeStampedModel):
    """The unit of annotation: one prompt and two of its responses.

    `response_a` is always the response with the lower id, so a pair exists once;
    which one an annotator sees on the left is decided per assignment.
    """

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="comparisons")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="comparisons")
    response_a = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    response_b = models.ForeignKey(Response, on_delete=models.CASCADE, related_name="+")
    priority = models.IntegerField(default=0)
    labels_wanted = models.PositiveSmallIntegerField(
        default=0, help_text="How many annotator labels this comparison should get."
    )
    is_gold = models.BooleanField(default=False)
    gold_choice = models.CharField(max_length=16, blank=True, default="")

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["response_a", "response_b"], name="comparison_unique_pair"
            ),
            models.CheckConstraint(
                condition=Q(response_a__lt=F("response_b")), name="comparison_ordered_pair"
            ),
        ]
        indexes = [models.Index(fields=["project", "-priority"], name="comparison_queue")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Comparison {self.pk}: {self.response_a_id} vs {self.response_b_id}"


class Label(models.Model):
    """One judgment of a comparison. Append-only: an edit is a new label that supersedes."""

    class Choice(models.TextChoices):
        A = "a", "A is better"
        B = "b", "B is better"
        TIE = "tie", "Tie"
        BOTH_BAD = "both_bad", "Both bad"

    class Source(models.TextChoices):
        ANNOTATOR = "annotator", "Annotator"
        IMPORT = "import", "Imported"

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="labels")
    annotator = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.PROTECT, related_name="labels"
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ANNOTATOR)
    choice = models.CharField(max_length=16, choices=Choice.choices)
    strength = models.PositiveSmallIntegerField(null=True, blank=True)
    ratings = models.JSONField(default=dict, blank=True)
    spans = models.JSONField(default=list, blank=True)
    rationale = models.TextField(blank=True)
    shown_order = models.CharField(
        max_length=8, blank=True, default="", help_text="'ab' or 'ba': which side was left."
    )
    seconds_spent = models.FloatField(null=True, blank=True)
    rubric_version = models.ForeignKey(
        RubricVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="labels"
    )
    metadata = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=100, null=True, blank=True, unique=True)
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["comparison", "created_at"], name="label_by_comparison")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Label {self.pk}: {self.choice} on comparison {self.comparison_id}"
