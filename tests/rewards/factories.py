"""Reward functions and projects with responses, made through the real services."""

from __future__ import annotations

from typing import Any

from apps.accounts.models import Project
from apps.rewards.models import RewardFunctionVersion
from apps.rewards.services import reward_function_create
from tests.factories import PromptFactory, ResponseFactory

# Components that need no model: fast, and exact by hand.
TEXT_SPEC: dict[str, Any] = {
    "components": [
        {"name": "cites", "type": "contains", "substrings": ["[1]"]},
        {"name": "words", "type": "length_penalty", "unit": "words", "target": 3,
         "tolerance": 1},
    ],
    "combine": {"op": "weighted_sum", "weights": {"cites": 2.0, "words": 1.0}},
}  # fmt: skip


def version_of(
    project: Project, spec: dict[str, Any], name: str = "reward"
) -> RewardFunctionVersion:
    return reward_function_create(project=project, name=name, spec=spec, created_by=None)


def responses_for(
    project: Project, texts_by_prompt: dict[str, list[str]], reference: str | None = None
) -> list[Any]:
    """Prompts with the given responses; returns the responses in order."""
    made = []
    for prompt_text, texts in texts_by_prompt.items():
        prompt = PromptFactory(
            project=project, input=prompt_text, references=[reference] if reference else []
        )
        made += [ResponseFactory(prompt=prompt, text=text) for text in texts]
    return made
