from __future__ import annotations

from typing import Any

from django.db import models

from apps.accounts.models import Project
from apps.core.models import TimeStampedModel


def prompt_text(value: Any) -> str:
    """A prompt's `input` as one string (chat turns joined as `role: content`), as
    `Prompt.text` gives it, for code that reads inputs without making instances."""
    if isinstance(value, list):
        return "\n\n".join(f"{m['role']}: {m['content']}" for m in value)
    return str(value)


class Prompt(TimeStampedModel):
    """The input an annotator sees: plain text or a chat transcript, with references."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="prompts")
    # A string, or a chat transcript: a list of {"role", "content"}.
    input = models.JSONField()
    references = models.JSONField(default=list, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    group = models.CharField(max_length=200, blank=True, default="")
    content_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["project", "content_hash"], name="prompt_unique_content"
            ),
        ]
        indexes = [models.Index(fields=["project", "group"], name="prompt_project_group")]
        ordering = ["id"]

    def __str__(self) -> str:
        return self.preview(80)

    @property
    def is_chat(self) -> bool:
        return isinstance(self.input, list)

    @property
    def messages(self) -> list[dict[str, Any]]:
        """The transcript as turns; a plain prompt is one user turn."""
        if self.is_chat:
            return list(self.input)
        return [{"role": "user", "content": self.input}]

    @property
    def text(self) -> str:
        """The prompt as one string (chat turns joined as `role: content`)."""
        return prompt_text(self.input)

    def preview(self, length: int = 140) -> str:
        last = self.messages[-1]["content"] if self.messages else ""
        last = " ".join(str(last).split())
        return last if len(last) <= length else last[: length - 1] + "…"


class Response(TimeStampedModel):
    """One candidate output for a prompt, with the model and settings that produced it."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    text = models.TextField()
    model = models.CharField(max_length=200, blank=True, default="")
    sampling_params = models.JSONField(default=dict, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(max_length=64)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["prompt", "content_hash"], name="response_unique_content"
            ),
        ]
        ordering = ["id"]

    def __str__(self) -> str:
        return f"Response {self.pk} to prompt {self.prompt_id}"
