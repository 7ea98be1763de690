from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import F, Q
from django.utils import timezone

from apps.accounts.models import Project, User
from apps.core.models import TimeStampedModel
from apps.prompts.models import Prompt, Response
from apps.rubrics.models import RubricVersion


class Comparison(TimeStampedModel):
    """The unit of annotation: one prompt and two of its responses, or k to rank.

    A pair keeps `response_a` as the response with the lower id, so a pair exists once;
    which one an annotator sees on the left is decided per assignment. A ranking item
    lists its responses in `ranked_responses` (one ranking item per prompt).
    """

    class Kind(models.TextChoices):
        PAIR = "pair", "Pair"
        RANKING = "ranking", "Ranking"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="comparisons")
    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="comparisons")
    kind = models.CharField(max_length=8, choices=Kind.choices, default=Kind.PAIR)
    # Not indexed alone: the unique pair leads with it.
    response_a = models.ForeignKey(
        Response,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        db_index=False,
    )
    response_b = models.ForeignKey(
        Response, null=True, blank=True, on_delete=models.CASCADE, related_name="+"
    )
    ranked_responses = models.ManyToManyField(
        Response, blank=True, related_name="ranking_comparisons"
    )
    priority = models.IntegerField(default=0)
    labels_wanted = models.PositiveSmallIntegerField(
        default=0, help_text="How many annotator labels this comparison should get."
    )
    labels_done = models.PositiveSmallIntegerField(
        default=0, help_text="Current annotator labels (a superseded label is not counted)."
    )
    is_gold = models.BooleanField(default=False)
    gold_choice = models.CharField(max_length=16, blank=True, default="")
    # Kept by the database. The queue's index holds only open comparisons, and counting a
    # label changes this column only on the last label a comparison wants, so the other
    # counts stay heap-only updates (an index on labels_done itself would rewrite every
    # index of the row on each label).
    is_open = models.GeneratedField(
        expression=Q(labels_done__lt=F("labels_wanted")),
        output_field=models.BooleanField(),
        db_persist=True,
        help_text="Still wants labels: labels_done < labels_wanted.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["response_a", "response_b"], name="comparison_unique_pair"
            ),
            models.UniqueConstraint(
                fields=["prompt"], condition=Q(kind="ranking"), name="comparison_one_ranking"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind="pair", response_a__lt=F("response_b"))
                    | Q(kind="ranking", response_a__isnull=True, response_b__isnull=True)
                ),
                name="comparison_ordered_pair",
            ),
        ]
        # The queue's two walks, in its order. Ordinary items: only those that still want
        # labels, so a finished comparison leaves the index and a long-running project's
        # done items are never read again. Gold items: all of them (handed out whether or
        # not they want more labels), few. No index of all a project's comparisons in
        # that order, which Postgres took for the queue instead when its statistics said
        # every comparison was still open.
        indexes = [
            models.Index(
                fields=["project", "-priority", "id"],
                condition=Q(is_open=True, is_gold=False),
                name="comparison_open",
            ),
            models.Index(
                fields=["project", "-priority", "id"],
                condition=Q(is_gold=True),
                name="comparison_gold",
            ),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        if self.kind == self.Kind.RANKING:
            return f"Comparison {self.pk}: ranking"
        return f"Comparison {self.pk}: {self.response_a_id} vs {self.response_b_id}"


class Assignment(TimeStampedModel):
    """A lease of one comparison to one annotator, until `expires_at`.

    One row per (comparison, annotator): an expired lease is renewed in place, so nobody
    is handed the same comparison twice. `display_order` holds the response ids in the
    order they are shown (left first), drawn at random when the lease is made.
    """

    class Status(models.TextChoices):
        LEASED = "leased", "Leased"
        DONE = "done", "Labelled"
        SKIPPED = "skipped", "Skipped"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="assignments")
    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="assignments")
    # Not indexed alone: `assignment_by_annotator` leads with it.
    annotator = models.ForeignKey(
        User, on_delete=models.CASCADE, related_name="assignments", db_index=False
    )
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.LEASED)
    display_order = models.JSONField(default=list)
    leased_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=300, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["comparison", "annotator"], name="assignment_once_per_annotator"
            ),
        ]
        indexes = [
            models.Index(fields=["comparison", "status", "expires_at"], name="assignment_active"),
            # With the project last, it also finds a person's leases in one project (the
            # lease `next` hands back) without walking the project's other rows.
            models.Index(fields=["annotator", "status", "project"], name="assignment_by_annotator"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Assignment {self.pk}: comparison {self.comparison_id} to {self.annotator_id}"


class Flag(models.Model):
    """An annotator's note that a comparison needs a reviewer's eye (broken, harmful, unclear)."""

    comparison = models.ForeignKey(Comparison, on_delete=models.CASCADE, related_name="flags")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="flags")
    reason = models.CharField(max_length=500)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [models.Index(fields=["comparison", "resolved_at"], name="flag_open")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Flag {self.pk} on comparison {self.comparison_id}"


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

    # Not indexed alone: `label_by_comparison` and `label_by_annotator` lead with them.
    comparison = models.ForeignKey(
        Comparison, on_delete=models.CASCADE, related_name="labels", db_index=False
    )
    annotator = models.ForeignKey(
        User,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="labels",
        db_index=False,
    )
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.ANNOTATOR)
    choice = models.CharField(
        max_length=16, choices=Choice.choices, blank=True, help_text="Empty for a ranking."
    )
    strength = models.PositiveSmallIntegerField(null=True, blank=True)
    ratings = models.JSONField(default=dict, blank=True)
    spans = models.JSONField(default=list, blank=True)
    ranking = models.JSONField(
        default=list, blank=True, help_text="Response ids, best first (ranking items only)."
    )
    rationale = models.TextField(blank=True)
    shown_order = models.CharField(
        max_length=8, blank=True, default="", help_text="'ab' or 'ba': which side was left."
    )
    assignment = models.ForeignKey(
        Assignment, null=True, blank=True, on_delete=models.SET_NULL, related_name="labels"
    )
    seconds_spent = models.FloatField(null=True, blank=True)
    rubric_version = models.ForeignKey(
        RubricVersion, null=True, blank=True, on_delete=models.PROTECT, related_name="labels"
    )
    metadata = models.JSONField(default=dict, blank=True)
    # Unique by a constraint rather than `unique=True`, which would add a second index for
    # LIKE searches on Postgres that nothing makes, written on every submit. Null, not
    # empty, for labels without one (imported), which the constraint lets repeat.
    idempotency_key = models.CharField(max_length=100, null=True, blank=True)  # noqa: DJ001
    supersedes = models.OneToOneField(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="superseded_by"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(choice="") | ~Q(ranking=[]), name="label_choice_or_ranking"
            ),
            models.UniqueConstraint(fields=["idempotency_key"], name="label_idempotency_key"),
        ]
        indexes = [
            models.Index(fields=["comparison", "created_at"], name="label_by_comparison"),
            models.Index(fields=["annotator", "created_at"], name="label_by_annotator"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Label {self.pk}: {self.choice} on comparison {self.comparison_id}"


class ReviewDecision(TimeStampedModel):
    """A reviewer's final judgment of a comparison, kept apart from the annotators' labels.

    Append-only like labels: the latest decision of a comparison is the one in force.
    """

    comparison = models.ForeignKey(
        Comparison, on_delete=models.CASCADE, related_name="review_decisions"
    )
    reviewer = models.ForeignKey(User, on_delete=models.PROTECT, related_name="review_decisions")
    choice = models.CharField(max_length=16, choices=Label.Choice.choices, blank=True)
    strength = models.PositiveSmallIntegerField(null=True, blank=True)
    ranking = models.JSONField(default=list, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=~Q(choice="") | ~Q(ranking=[]), name="review_choice_or_ranking"
            ),
        ]
        indexes = [models.Index(fields=["comparison", "-created_at"], name="review_latest")]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Review {self.pk} of comparison {self.comparison_id}"


class AnnotatorStatus(TimeStampedModel):
    """Whether one annotator's queue in a project is paused (gold accuracy too low)."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="+")
    user = models.ForeignKey(User, on_delete=models.CASCADE, related_name="+")
    paused_at = models.DateTimeField(null=True, blank=True)
    pause_reason = models.CharField(max_length=300, blank=True)
    resumed_at = models.DateTimeField(null=True, blank=True)
    resumed_by = models.ForeignKey(
        User, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="annotator_status_unique"),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        state = "paused" if self.paused_at else "active"
        return f"{self.user_id} in project {self.project_id}: {state}"


class AgreementReport(TimeStampedModel):
    """A project's label-quality figures as a worker last computed them.

    `figures` holds the agreement figures (see `review.agreement_compute`), `annotators`
    one report per annotator (see `reports.annotator_reports_compute`). `requested_at` is
    set while a recompute is queued, so a burst of labels enqueues one job.
    """

    project = models.OneToOneField(
        Project, on_delete=models.CASCADE, related_name="agreement_report"
    )
    figures = models.JSONField(default=dict, blank=True)
    annotators = models.JSONField(default=dict, blank=True)
    computed_at = models.DateTimeField(null=True, blank=True)
    compute_seconds = models.FloatField(null=True, blank=True)
    requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Agreement report of project {self.project_id}"

    @property
    def is_waiting_for_worker(self) -> bool:
        """A recompute asked for over a minute past its debounce delay and not started."""
        if self.requested_at is None:
            return False
        late = timedelta(seconds=settings.AGREEMENT_DEBOUNCE_SECONDS + 60)
        return timezone.now() - self.requested_at > late
