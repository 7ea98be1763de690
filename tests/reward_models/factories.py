"""Projects with labelled comparisons for training tests, made as rows (like the importer).

`preference_project` gives a known answer: on every prompt the helpful response (it
answers the question) beats the refusal, so a reward model should learn it near-perfectly.
"""

from __future__ import annotations

from apps.accounts.models import Project, User
from apps.annotation.models import Comparison, Label
from apps.prompts.models import Response
from tests.factories import PromptFactory, ResponseFactory, UserFactory

TOPICS = [
    ("the capital of France", "Paris is the capital of France."),
    ("the boiling point of water", "Water boils at 100 degrees Celsius at sea level."),
    ("the largest planet", "Jupiter is the largest planet in the solar system."),
    ("the author of Hamlet", "William Shakespeare wrote Hamlet."),
    ("the speed of light", "Light travels at about 300,000 kilometres per second."),
    ("the chemical symbol for gold", "The chemical symbol for gold is Au."),
    ("the tallest mountain", "Mount Everest is the tallest mountain above sea level."),
    ("the number of continents", "There are seven continents."),
    ("the freezing point of water", "Water freezes at 0 degrees Celsius."),
    ("the longest river", "The Nile is usually counted as the longest river."),
    ("the smallest prime", "The smallest prime number is 2."),
    ("the square root of 81", "The square root of 81 is 9."),
    ("the language of Brazil", "People in Brazil speak Portuguese."),
    ("the inventor of the telephone", "Alexander Graham Bell is credited with the telephone."),
    ("the currency of Japan", "Japan's currency is the yen."),
    ("the closest star", "The Sun is the closest star to Earth."),
    ("the capital of Italy", "Rome is the capital of Italy."),
    ("the hardest natural material", "Diamond is the hardest natural material."),
    ("the primary gas in air", "Nitrogen makes up most of the air."),
    ("the painter of the Mona Lisa", "Leonardo da Vinci painted the Mona Lisa."),
]
REFUSALS = [
    "I'm sorry, I can't help with that.",
    "I don't know.",
    "As an AI, I cannot answer this question.",
    "No idea, sorry.",
]


def pair(project: Project, question: str, first: str, second: str) -> Comparison:
    """A prompt with two responses and their comparison (response_a the lower id)."""
    prompt = PromptFactory(project=project, input=question)
    a = ResponseFactory(prompt=prompt, text=first)
    b = ResponseFactory(prompt=prompt, text=second)
    return Comparison.objects.create(
        project=project, prompt=prompt, response_a=a, response_b=b, labels_wanted=3
    )


def vote(
    comparison: Comparison,
    user: User | None,
    choice: str,
    strength: int | None = None,
    **fields: object,
) -> Label:
    source = Label.Source.ANNOTATOR if user is not None else Label.Source.IMPORT
    return Label.objects.create(
        comparison=comparison, annotator=user, choice=choice, strength=strength, source=source,
        **fields,
    )  # fmt: skip


def preference_project(project: Project, prompts: int = 20, voters: int = 1) -> list[Comparison]:
    """`prompts` comparisons where the helpful answer (response a or b, alternating) wins."""
    annotators = [UserFactory(username=f"pref-{project.slug}-{n}") for n in range(voters)]
    comparisons = []
    for index in range(prompts):
        topic, answer = TOPICS[index % len(TOPICS)]
        question = f"What is {topic}? (variant {index // len(TOPICS)})"
        refusal = REFUSALS[index % len(REFUSALS)]
        first, second = (answer, refusal) if index % 2 == 0 else (refusal, answer)
        comparison = pair(project, question, first, second)
        winner = "a" if index % 2 == 0 else "b"
        for annotator in annotators:
            vote(comparison, annotator, winner, strength=index % 3)
        comparisons.append(comparison)
    return comparisons


def helpful_response_id(comparison: Comparison) -> int:
    texts = dict(
        Response.objects.filter(
            pk__in=[comparison.response_a_id, comparison.response_b_id]
        ).values_list("pk", "text")
    )
    return next(pk for pk, text in texts.items() if text not in REFUSALS)
