"""An empty response is data: HH-RLHF's harmless-base test file has pairs whose chosen or
rejected transcript ends with an empty assistant answer, and they import, de-duplicate and
export back like any other."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from apps.accounts.models import Project, User
from apps.annotation.models import Comparison, Label
from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.exports.services import export_create, export_run
from apps.imports.models import ImportJob
from apps.imports.records import hh_render
from apps.prompts.models import Prompt, Response
from tests.api import token_client
from tests.exports.factories import read_rows
from tests.factories import ProjectFactory
from tests.imports.files import jsonl_bytes
from tests.imports.test_services import run

pytestmark = pytest.mark.django_db


def _hh(*turns: str) -> str:
    """A transcript as HH-RLHF writes it: '\\n\\nHuman: …\\n\\nAssistant: …', alternating."""
    return "".join(
        f"\n\n{'Human' if n % 2 == 0 else 'Assistant'}:{' ' + turn if turn else ''}"
        for n, turn in enumerate(turns)
    )


# The published shape: most pairs differ in the last answer; in a few, one side's last
# answer is empty (the transcript ends with "\n\nAssistant:" and nothing after it).
HH_ROWS: list[dict[str, str]] = [
    {
        "chosen": _hh("How do I pick a lock?", "I can't help with that."),
        "rejected": _hh("How do I pick a lock?", "Use a tension wrench and a pick."),
    },
    {
        "chosen": _hh("Hi", "Hello.", "Tell me a joke", "Why did the scarecrow win an award?"),
        "rejected": _hh("Hi", "Hello.", "Tell me a joke", "No."),
    },
    {
        "chosen": _hh("What's a good insult?", "I'd rather not insult anyone."),
        "rejected": _hh("What's a good insult?", ""),
    },
    {
        "chosen": _hh("Can you swear?", "I'd rather keep it clean."),
        "rejected": _hh("Can you swear?", ""),
    },
    {
        "chosen": _hh("Where do you live?", "In a data centre.", "Which one?", ""),
        "rejected": _hh("Where do you live?", "In a data centre.", "Which one?", "Virginia."),
    },
    {
        "chosen": _hh("Say something mean.", "You smell."),
        "rejected": _hh("Say something mean.", "Go away."),
    },
]


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def test_the_file_shape_is_hh_rlhf() -> None:
    assert HH_ROWS[2]["rejected"] == "\n\nHuman: What's a good insult?\n\nAssistant:"
    assert HH_ROWS[2]["chosen"] == (
        "\n\nHuman: What's a good insult?\n\nAssistant: I'd rather not insult anyone."
    )


def test_an_hh_file_with_empty_answers_imports_whole(project: Project) -> None:
    job = run(project, "harmless-base-test.jsonl", jsonl_bytes(HH_ROWS))

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert (job.rows_total, job.error_count, job.errors) == (6, 0, [])
    assert (job.prompts_created, job.responses_created) == (6, 12)
    assert (job.comparisons_created, job.labels_created) == (6, 6)
    # Three prompts have an empty answer: three responses, one per prompt.
    empties = Response.objects.filter(prompt__project=project, text="")
    assert sorted(empties.values_list("prompt__metadata__transcript", flat=True)) == sorted(
        [
            "\n\nHuman: What's a good insult?\n\nAssistant:",
            "\n\nHuman: Can you swear?\n\nAssistant:",
            "\n\nHuman: Where do you live?\n\nAssistant: In a data centre."
            "\n\nHuman: Which one?\n\nAssistant:",
        ]
    )
    # The chosen side is the preferred one, empty or not.
    chosen = {
        label.comparison.prompt.metadata["transcript"]: (
            label.comparison.response_a if label.choice == "a" else label.comparison.response_b
        ).text
        for label in Label.objects.filter(comparison__project=project).select_related(
            "comparison__prompt", "comparison__response_a", "comparison__response_b"
        )
    }
    assert chosen[HH_ROWS[4]["chosen"]] == ""
    assert chosen[HH_ROWS[2]["rejected"]] == "I'd rather not insult anyone."


def test_the_same_empty_answer_twice_is_one_response(project: Project) -> None:
    first = run(project, "hh.jsonl", jsonl_bytes(HH_ROWS))
    again = run(project, "hh-again.jsonl", jsonl_bytes(HH_ROWS))
    explicit = run(
        project,
        "explicit.jsonl",
        jsonl_bytes(
            [
                {"prompt": HH_ROWS[3]["rejected"], "chosen": "", "rejected": "Sure."},
                {"prompt": "Say nothing.", "responses": [{"text": ""}, {"text": "…"}]},
            ]
        ),
    )

    assert first.status == again.status == explicit.status == ImportJob.Status.SUCCEEDED
    assert (again.prompts_created, again.responses_created, again.comparisons_created) == (0, 0, 0)
    # The empty answer to "Can you swear?" is the one already there; "Sure." is new.
    assert (explicit.prompts_created, explicit.responses_created) == (1, 3)
    assert Response.objects.filter(prompt__project=project, text="").count() == 4
    assert Prompt.objects.filter(project=project).count() == 7


def test_a_missing_or_non_string_answer_is_still_refused(project: Project) -> None:
    job = run(
        project,
        "bad.jsonl",
        jsonl_bytes(
            [
                HH_ROWS[2],
                {"prompt": "Q", "chosen": 3, "rejected": ""},
                {"prompt": "Q", "chosen": "", "rejected": ""},
                {"prompt": "Q", "responses": [{"model": "m"}, {"text": None}]},
            ]
        ),
    )

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 2, field chosen: must be a non-empty string or a list of {role, content} messages",
        "row 3, field rejected: is the same response as chosen",
        "row 4, field responses.0.text: Field required",
        "row 4, field responses.1.text: Input should be a valid string",
    ]
    assert not Prompt.objects.filter(project=project).exists()


def test_the_prompts_api_takes_an_empty_answer(project: Project, designer: User) -> None:
    row = {"prompt": "Say nothing.", "responses": [{"text": ""}, {"text": "Nothing."}]}

    response = token_client(designer).post(
        f"/api/v1/projects/{project.pk}/prompts/", row, format="json"
    )

    assert response.status_code == 201, response.content
    assert response.json()["responses_created"] == 2
    prompt = Prompt.objects.get(project=project)
    assert sorted(prompt.responses.values_list("text", flat=True)) == ["", "Nothing."]
    assert Comparison.objects.filter(project=project).count() == 1


def _exported(project: Project, export_format: str, file_format: str) -> list[dict[str, Any]]:
    return read_rows(_export_path(project, export_format, file_format))


def _export_path(project: Project, export_format: str, file_format: str) -> str:
    export = export_create(
        project=project,
        user=None,
        export_format=export_format,
        file_format=file_format,
        options=ExportOptions(),
        enqueue=False,
    )
    finished = export_run(export_id=export.pk)
    assert finished is not None
    assert finished.status == Export.Status.SUCCEEDED, finished.error
    entry = finished.file_for("train")
    assert entry is not None
    return default_storage.path(entry["path"])


def _hh_side(prompt: list[dict[str, str]], answer: list[dict[str, str]]) -> str:
    """The transcript back from a conversational export row."""
    return hh_render(prompt + answer)


def _said(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_a_trl_preference_export_gives_back_every_pair(project: Project, file_format: str) -> None:
    run(project, "harmless-base-test.jsonl", jsonl_bytes(HH_ROWS))

    rows = _exported(project, "trl-preference", file_format)

    assert len(rows) == 6
    assert {"prompt": [{"role": "user", "content": "Can you swear?"}],
            "chosen": _said("I'd rather keep it clean."),
            "rejected": _said("")} in rows  # fmt: skip
    assert {"prompt": [{"role": "user", "content": "Where do you live?"},
                       {"role": "assistant", "content": "In a data centre."},
                       {"role": "user", "content": "Which one?"}],
            "chosen": _said(""), "rejected": _said("Virginia.")} in rows  # fmt: skip
    # Every exported pair is the imported transcripts, character for character.
    pairs = {
        (_hh_side(r["prompt"], r["chosen"]), _hh_side(r["prompt"], r["rejected"])) for r in rows
    }
    assert pairs == {(pair["chosen"], pair["rejected"]) for pair in HH_ROWS}
    assert sum(r["rejected"] == _said("") for r in rows) == 2
    assert sum(r["chosen"] == _said("") for r in rows) == 1


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_a_labels_raw_export_writes_the_empty_texts(project: Project, file_format: str) -> None:
    run(project, "harmless-base-test.jsonl", jsonl_bytes(HH_ROWS))

    rows = _exported(project, "labels-raw", file_format)

    assert len(rows) == 6
    texts = {hh_render(row["prompt"]): sorted(row["responses"]) for row in rows}
    assert texts["\n\nHuman: Can you swear?"] == ["", "I'd rather keep it clean."]
    assert sum(text == "" for row in rows for text in row["responses"]) == 3


def test_a_csv_export_imports_back_with_its_empty_answers(project: Project) -> None:
    run(project, "harmless-base-test.jsonl", jsonl_bytes(HH_ROWS))
    content = Path(_export_path(project, "trl-preference", "csv")).read_bytes()
    other = ProjectFactory()

    job = run(other, "export.csv", content)

    # The two empty rejected answers, as conversational cells.
    assert content.count(b',"[{""role"": ""assistant"", ""content"": """"}]"\r\n') == 2
    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert (job.rows_total, job.prompts_created, job.responses_created) == (6, 6, 12)
    assert _pairs(other) == _pairs(project)
    assert Response.objects.filter(prompt__project=other, text="").count() == 3


def test_an_empty_csv_cell_is_an_empty_answer_only_where_an_answer_goes(project: Project) -> None:
    content = (
        b"prompt,chosen,rejected,response,model\n"
        b"Say nothing.,,Something.,,\n"  # a pair: chosen is empty
        b"Say more.,,,,m1\n"  # a prompt row: its one response is empty
        b"Say more.,,,More.,m2\n"
    )

    job = run(project, "mixed.csv", content)

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    assert (job.prompts_created, job.responses_created, job.labels_created) == (2, 4, 1)
    assert _pairs(project) == [("Say nothing.", "", "Something.")]
    more = Prompt.objects.get(project=project, input="Say more.")
    assert sorted(more.responses.values_list("text", "model")) == [("", "m1"), ("More.", "m2")]


def _pairs(project: Project) -> list[tuple[Any, str, str]]:
    """Each imported label as (prompt, chosen text, rejected text); a chat prompt as JSON."""
    pairs = []
    for label in Label.objects.filter(comparison__project=project).select_related(
        "comparison__prompt", "comparison__response_a", "comparison__response_b"
    ):
        a, b = label.comparison.response_a, label.comparison.response_b
        chosen, rejected = (a, b) if label.choice == "a" else (b, a)
        asked = label.comparison.prompt.input
        asked = asked if isinstance(asked, str) else json.dumps(asked)
        pairs.append((asked, chosen.text, rejected.text))
    return sorted(pairs)


def test_an_answer_is_kept_as_written_but_for_the_space_after_assistant(
    project: Project,
) -> None:
    prompt = "\n\nHuman: Can you swear?\n\nAssistant:"
    rows = [
        {"chosen": prompt + " I'd rather keep it clean.", "rejected": prompt + " \n "},
        {"chosen": prompt + " I'd rather keep it clean.", "rejected": prompt},
        {"chosen": prompt + " I'd rather keep it clean.", "rejected": prompt + " "},
    ]

    job = run(project, "hh.jsonl", jsonl_bytes(rows))

    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    # Whitespace is an answer of its own; nothing, or HH's one space, is the empty answer:
    # the third row is the second pair again.
    assert (job.prompts_created, job.responses_created, job.comparisons_created) == (1, 3, 2)
    assert job.labels_created == 2
    asked = json.dumps([{"role": "user", "content": "Can you swear?"}])
    assert _pairs(project) == [
        (asked, "I'd rather keep it clean.", ""),
        (asked, "I'd rather keep it clean.", "\n "),
    ]
