"""Published datasets import as they are published and export back: each file here is
written in the dataset's own shape (its column names and nesting, as its card shows), imported
unchanged, and exported with the trl-preference format; the rows give back the file's
prompts and preferred/other responses."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from apps.accounts.models import Project
from apps.annotation.models import Comparison, Label
from apps.core.errors import ApplicationError
from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.exports.services import export_create, export_run
from apps.imports.models import ImportJob
from apps.imports.records import hh_render
from apps.prompts.models import Prompt, Response
from tests.exports.factories import read_rows
from tests.factories import ProjectFactory
from tests.imports.files import csv_bytes, jsonl_bytes, parquet_bytes
from tests.imports.test_services import nothing_written, run

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _exported(project: Project, **options: Any) -> list[dict[str, Any]]:
    export = export_create(
        project=project,
        user=None,
        export_format="trl-preference",
        file_format="jsonl",
        options=ExportOptions(**options),
        enqueue=False,
    )
    finished = export_run(export_id=export.pk)
    assert finished is not None
    assert finished.status == Export.Status.SUCCEEDED, finished.error
    entry = finished.file_for("train")
    assert entry is not None
    return read_rows(default_storage.path(entry["path"]))


def _imported(project: Project, name: str, content: bytes) -> ImportJob:
    job = run(project, name, content)
    assert job.status == ImportJob.Status.SUCCEEDED, job.errors
    return job


def _said(text: str) -> list[dict[str, str]]:
    return [{"role": "assistant", "content": text}]


def _key(prompt: Any) -> str:
    return json.dumps(prompt, sort_keys=True)


# --- HH-RLHF ------------------------------------------------------------------------------


def _hh(*turns: str) -> str:
    """A transcript as HH-RLHF writes it: '\\n\\nHuman: …\\n\\nAssistant: …', alternating."""
    return "".join(
        f"\n\n{'Human' if n % 2 == 0 else 'Assistant'}:{' ' + turn if turn else ''}"
        for n, turn in enumerate(turns)
    )


_LONG_TURNS = [f"Turn {n}: " + "and then what happened next, in detail? " * 200 for n in range(39)]
HH_ROWS = [
    {
        "chosen": _hh("What are some cuss words in english?", "I'd rather not list those."),
        "rejected": _hh("What are some cuss words in english?", "Here's an incomplete list."),
    },
    # Multi-turn, the last answers differ; one is empty.
    {
        "chosen": _hh("Hi", "Hello.", "Can you swear?", "I'd rather keep it clean."),
        "rejected": _hh("Hi", "Hello.", "Can you swear?", ""),
    },
    # Long: 39 turns of about 8 KB each, then the answers.
    {
        "chosen": _hh(*_LONG_TURNS, "A long story, well told."),
        "rejected": _hh(*_LONG_TURNS, "No."),
    },
    # An answer with its own line breaks and a trailing space, kept as written.
    {
        "chosen": _hh("Write two lines.", "One.\nTwo. "),
        "rejected": _hh("Write two lines.", "One two."),
    },
]


def test_an_hh_transcript_is_stored_as_messages_with_its_text_in_metadata(
    project: Project,
) -> None:
    job = _imported(project, "harmless-base-train.jsonl", jsonl_bytes(HH_ROWS))

    assert (job.prompts_created, job.responses_created, job.labels_created) == (4, 8, 4)
    prompt = Prompt.objects.get(project=project, metadata__transcript__startswith="\n\nHuman: Hi")
    assert prompt.input == [
        {"role": "user", "content": "Hi"},
        {"role": "assistant", "content": "Hello."},
        {"role": "user", "content": "Can you swear?"},
    ]
    assert prompt.metadata == {
        "transcript": "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Can you swear?\n\nAssistant:"
    }
    assert sorted(prompt.responses.values_list("text", flat=True)) == [
        "",
        "I'd rather keep it clean.",
    ]
    long = Prompt.objects.get(project=project, input__0__content__startswith="Turn 0")
    assert len(long.input) == 39
    assert long.input[-1] == {"role": "user", "content": _LONG_TURNS[-1]}


def test_an_hh_file_exports_back_as_conversations_that_render_to_its_transcripts(
    project: Project,
) -> None:
    _imported(project, "hh.jsonl", jsonl_bytes(HH_ROWS))

    rows = _exported(project)

    assert len(rows) == 4
    transcripts = {
        (hh_render(row["prompt"] + row["chosen"]), hh_render(row["prompt"] + row["rejected"]))
        for row in rows
    }
    assert transcripts == {(row["chosen"], row["rejected"]) for row in HH_ROWS}
    assert {"prompt": [{"role": "user", "content": "Write two lines."}],
            "chosen": [{"role": "assistant", "content": "One.\nTwo. "}],
            "rejected": [{"role": "assistant", "content": "One two."}]} in rows  # fmt: skip


def test_a_transcript_that_would_not_render_back_the_same_stays_text(project: Project) -> None:
    # "Human:" with no space after it: as messages, it would come back with one.
    odd = "\n\nHuman:no space\n\nAssistant:"
    _imported(project, "odd.jsonl", jsonl_bytes([{"prompt": odd, "chosen": "a", "rejected": "b"}]))

    assert Prompt.objects.get(project=project).input == odd


def test_a_project_of_chats_and_transcripts_exports_every_row_as_a_conversation(
    project: Project,
) -> None:
    chat = {
        "prompt": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "2+2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
    }
    _imported(project, "mixed.jsonl", jsonl_bytes([chat, HH_ROWS[0]]))

    rows = _exported(project, prompt_form="auto")

    assert chat in rows
    assert {
        "prompt": [{"role": "user", "content": "What are some cuss words in english?"}],
        "chosen": [{"role": "assistant", "content": "I'd rather not list those."}],
        "rejected": [{"role": "assistant", "content": "Here's an incomplete list."}],
    } in rows
    with pytest.raises(ApplicationError, match="this project has chat prompts"):
        export_create(
            project=project,
            user=None,
            export_format="trl-preference",
            file_format="jsonl",
            options=ExportOptions(prompt_form="standard"),
            enqueue=False,
        )


# --- UltraFeedback binarized ----------------------------------------------------------------


def _ultrafeedback(prompt: str, chosen: str, rejected: str, scores: tuple[float, float]) -> dict:
    def chat(answer: str) -> list[dict[str, str]]:
        return [{"content": prompt, "role": "user"}, {"content": answer, "role": "assistant"}]

    return {
        "prompt": prompt,
        "prompt_id": hashlib.sha256(prompt.encode()).hexdigest(),
        "chosen": chat(chosen),
        "rejected": chat(rejected),
        "messages": chat(chosen),
        "score_chosen": scores[0],
        "score_rejected": scores[1],
    }


ULTRAFEEDBACK_ROWS = [
    _ultrafeedback(
        "how can i develop a habit of drawing daily",
        "Start small: five minutes a day, same time, and keep the sketchbook in sight.",
        "As an AI language model, I cannot draw, but here are some tips.",
        (8.5, 6.0),
    ),
    _ultrafeedback("What is 7 * 6?", "42", "", (10.0, 1.0)),
]


@pytest.mark.parametrize(
    ("name", "encode"), [("uf.jsonl", jsonl_bytes), ("uf.parquet", parquet_bytes)]
)
def test_ultrafeedback_binarized_imports_with_its_scores_and_exports_back(
    project: Project, name: str, encode: Any
) -> None:
    job = _imported(project, name, encode(ULTRAFEEDBACK_ROWS))

    assert (job.prompts_created, job.responses_created, job.labels_created) == (2, 4, 2)
    prompt = Prompt.objects.get(project=project, input="What is 7 * 6?")
    assert prompt.metadata == {"prompt_id": ULTRAFEEDBACK_ROWS[1]["prompt_id"]}
    answers = {r.text: r.metadata for r in prompt.responses.all()}
    assert answers == {"42": {"score": 10.0}, "": {"score": 1.0}}
    label = Label.objects.get(comparison__prompt=prompt)
    assert label.metadata == {"import_id": job.pk, "row": 2}  # `messages` is `chosen` again
    rows = _exported(project)
    assert sorted(rows, key=lambda r: r["prompt"]) == sorted(
        (
            {
                "prompt": r["prompt"],
                "chosen": r["chosen"][1]["content"],
                "rejected": r["rejected"][1]["content"],
            }  # fmt: skip
            for r in ULTRAFEEDBACK_ROWS
        ),
        key=lambda r: r["prompt"],
    )


# --- HelpSteer2 and HelpSteer3 --------------------------------------------------------------

HELPSTEER2_RATINGS = [
    {
        "prompt": "c#",
        "response": "C# is a high-level, object-oriented programming language by Microsoft.",
        "helpfulness": 3,
        "correctness": 4,
        "coherence": 4,
        "complexity": 2,
        "verbosity": 1,
    },
    {
        "prompt": "c#",
        "response": "C# is a musical note.",
        "helpfulness": 1,
        "correctness": 1,
        "coherence": 3,
        "complexity": 0,
        "verbosity": 0,
    },
]


def test_helpsteer2_rated_responses_merge_into_their_prompt_with_their_ratings(
    project: Project,
) -> None:
    job = _imported(project, "helpsteer2-train.jsonl", jsonl_bytes(HELPSTEER2_RATINGS))

    assert (job.rows_total, job.prompts_created, job.responses_created) == (2, 1, 2)
    assert job.comparisons_created == 1  # the project's settings ask for every pair
    responses = Response.objects.filter(prompt__input="c#").order_by("id")
    assert [(r.text, r.metadata) for r in responses] == [
        (row["response"], {key: row[key] for key in list(row)[2:]}) for row in HELPSTEER2_RATINGS
    ]


HELPSTEER2_PREFERENCES = [
    {
        "split": "train",
        "prompt": "Write a haiku about rain.",
        "response_1": "Soft rain on the roof\nthe gutters hum their one note\nthe street shines",
        "response_2": "Rain is water falling from clouds.",
        "preference_strength": -2,
        "preference_statement": "@Response 1 is better than @Response 2 because it is a haiku.",
        "preference_elaboration": "@Response 2 does not follow the form.",
        "three_most_similar_preferences": [
            {"statement": "@Response 1 is better.", "elaboration": "A haiku.", "strength": -2}
        ],
        "all_preferences_unprocessed": [-2, -3, -1],
    },
    {
        "split": "train",
        "prompt": "Name a prime above 10.",
        "response_1": "12",
        "response_2": "11",
        "preference_strength": 3,
        "preference_statement": "@Response 2 is much better: 12 is not prime.",
        "preference_elaboration": "",
        "three_most_similar_preferences": [],
        "all_preferences_unprocessed": [3, 3, 3],
    },
]


def test_helpsteer2_preferences_become_labels_and_export_back(project: Project) -> None:
    job = _imported(project, "preference.jsonl", jsonl_bytes(HELPSTEER2_PREFERENCES))

    assert (job.prompts_created, job.responses_created, job.labels_created) == (2, 4, 2)
    label = Label.objects.get(comparison__prompt__input="Name a prime above 10.")
    assert label.metadata == {
        "import_id": job.pk,
        "row": 2,
        **{key: HELPSTEER2_PREFERENCES[1][key] for key in list(HELPSTEER2_PREFERENCES[1])
           if key not in ("prompt", "response_1", "response_2")},
    }  # fmt: skip
    assert sorted(map(tuple, (r.values() for r in _exported(project)))) == sorted(
        [
            ("Write a haiku about rain.", HELPSTEER2_PREFERENCES[0]["response_1"],
             "Rain is water falling from clouds."),
            ("Name a prime above 10.", "11", "12"),
        ]
    )  # fmt: skip


def _context(*turns: str) -> list[dict[str, str]]:
    return [
        {"role": "user" if n % 2 == 0 else "assistant", "content": turn}
        for n, turn in enumerate(turns)
    ]


HELPSTEER3_ROWS = [
    {
        "domain": "code",
        "language": "python",
        "context": _context("Reverse a list in Python.", "Use reversed().", "In place?"),
        "response1": "Call `items.reverse()`.",
        "response2": "Use `items[::-1]`, which makes a copy.",
        "overall_preference": -2,
        "individual_preference": [
            {"score": -2, "reasoning": "@Response 1 answers in place."},
            {"score": -1, "reasoning": "@Response 2 copies."},
        ],
    },
    {
        "domain": "multilingual",
        "language": "french",
        "context": _context("Bonjour, ça va ?"),
        "response1": "Oui, merci !",
        "response2": "Très bien, et vous ?",
        "overall_preference": 0,
        "individual_preference": [{"score": 0, "reasoning": "Both fine."}],
    },
    {
        "domain": "stem",
        "language": "english",
        "context": _context("Is 1 prime?"),
        "response1": "Yes.",
        "response2": "No: a prime has exactly two divisors.",
        "overall_preference": 3,
        "individual_preference": [{"score": 3, "reasoning": "@Response 1 is wrong."}],
    },
]


@pytest.mark.parametrize(
    ("name", "encode"), [("hs3.jsonl", jsonl_bytes), ("hs3.parquet", parquet_bytes)]
)
def test_helpsteer3_preferences_import_with_ties_and_export_back(
    project: Project, name: str, encode: Any
) -> None:
    job = _imported(project, name, encode(HELPSTEER3_ROWS))

    assert (job.prompts_created, job.responses_created, job.labels_created) == (3, 6, 3)
    french = Prompt.objects.get(project=project, metadata__language="french")
    assert french.metadata == {"domain": "multilingual", "language": "french"}
    assert Label.objects.get(comparison__prompt=french).choice == "tie"
    rows = _exported(project, ties="write")
    # A tie is written with the first response as chosen (the lower id).
    assert sorted((_key(r["prompt"]), r["chosen"], r["rejected"]) for r in rows) == sorted(
        (_key(row["context"]), _said(chosen), _said(rejected))
        for row, chosen, rejected in [
            (
                HELPSTEER3_ROWS[0],
                "Call `items.reverse()`.",
                "Use `items[::-1]`, which makes a copy.",
            ),
            (HELPSTEER3_ROWS[1], "Oui, merci !", "Très bien, et vous ?"),
            (HELPSTEER3_ROWS[2], "No: a prime has exactly two divisors.", "Yes."),
        ]
    )
    assert len(_exported(project)) == 2  # ties left out by default


def test_a_helpsteer_preference_out_of_range_is_a_row_error(project: Project) -> None:
    rows = [dict(HELPSTEER3_ROWS[0], overall_preference=5), dict(HELPSTEER3_ROWS[1])]
    del rows[1]["response2"]

    job = run(project, "hs3.jsonl", jsonl_bytes(rows))

    assert job.status == ImportJob.Status.FAILED
    assert job.errors == [
        "row 1, field overall_preference: must be an integer from -3 (the first response much "
        "better) to 3 (the second much better)",
        "row 2, field response2: Field required",
    ]
    assert nothing_written(project)


# --- SHP ------------------------------------------------------------------------------------

_POST = "In an interview right before receiving the 2013 Nobel prize in physics, Peter Higgs..."
_COMMENTS = {
    "g3d2sov": ("It's a reference to the Higgs field being named after him.", 17, 1591893306),
    "g3d2z5d": ("Physicists are humble.", 6, 1591893541),
    "g3d3abc": ("He said he wouldn't get a job today.", 3, 1591894000),
}


def _shp(a: str, b: str, labels: int) -> dict[str, Any]:
    (text_a, score_a, time_a), (text_b, score_b, time_b) = _COMMENTS[a], _COMMENTS[b]
    return {
        "post_id": "himc90",
        "domain": "askphysics_train",
        "upvote_ratio": 0.99,
        "history": _POST,
        "c_root_id_A": a,
        "c_root_id_B": b,
        "created_at_utc_A": time_a,
        "created_at_utc_B": time_b,
        "score_A": score_a,
        "score_B": score_b,
        "human_ref_A": text_a,
        "human_ref_B": text_b,
        "labels": labels,
        "seconds_difference": float(time_b - time_a),
        "score_ratio": max(score_a, score_b) / min(score_a, score_b),
    }


SHP_ROWS = [
    _shp("g3d2sov", "g3d2z5d", 1),
    _shp("g3d3abc", "g3d2z5d", 0),
    _shp("g3d2sov", "g3d3abc", 1),
]


@pytest.mark.parametrize(
    ("name", "encode"), [("shp.jsonl", jsonl_bytes), ("shp.parquet", parquet_bytes)]
)
def test_shp_pairs_share_their_post_and_comments_and_export_back(
    project: Project, name: str, encode: Any
) -> None:
    job = _imported(project, name, encode(SHP_ROWS))

    assert (job.prompts_created, job.responses_created) == (1, 3)
    assert (job.comparisons_created, job.labels_created) == (3, 3)
    post = Prompt.objects.get(project=project)
    assert (post.input, post.metadata) == (
        _POST, {"post_id": "himc90", "domain": "askphysics_train", "upvote_ratio": 0.99}
    )  # fmt: skip
    comment = Response.objects.get(prompt=post, text=_COMMENTS["g3d2sov"][0])
    assert comment.metadata == {"c_root_id": "g3d2sov", "created_at_utc": 1591893306, "score": 17}
    first = Label.objects.get(metadata__row=1)
    assert first.metadata == {"import_id": job.pk, "row": 1, "labels": 1,
                              "seconds_difference": 235.0, "score_ratio": 17 / 6}  # fmt: skip
    rows = _exported(project)
    expected = {
        (_POST, r["human_ref_A"], r["human_ref_B"])
        if r["labels"] == 1
        else (_POST, r["human_ref_B"], r["human_ref_A"])
        for r in SHP_ROWS
    }
    assert {(r["prompt"], r["chosen"], r["rejected"]) for r in rows} == expected


def test_shp_labels_other_than_0_or_1_are_a_row_error(project: Project) -> None:
    job = run(project, "shp.jsonl", jsonl_bytes([dict(SHP_ROWS[0], labels="A")]))

    assert job.errors == [
        "row 1, field labels: must be 1 (human_ref_A preferred) or 0 (human_ref_B preferred)"
    ]


# --- TRL's dataset types --------------------------------------------------------------------

TRL_STANDARD = [
    {"prompt": "The sky is", "chosen": " blue.", "rejected": " green."},
    {"prompt": "The sea is", "chosen": " wet.", "rejected": ""},  # an empty answer
]
TRL_CONVERSATIONAL = [
    {
        "prompt": [{"role": "user", "content": "What color is the sky?"}],
        "chosen": [{"role": "assistant", "content": "It is blue."}],
        "rejected": [{"role": "assistant", "content": "It is green."}],
    },
]
TRL_CONVERSATIONAL_IMPLICIT = [
    {
        "chosen": [
            {"role": "user", "content": "What color is the sea?"},
            {"role": "assistant", "content": "It is blue."},
        ],
        "rejected": [
            {"role": "user", "content": "What color is the sea?"},
            {"role": "assistant", "content": "It is red."},
        ],
    },
]


def test_trl_standard_preferences_export_back_unchanged(project: Project) -> None:
    implicit = [{"chosen": "The grass is green.", "rejected": "The grass is blue."}]
    _imported(project, "standard.jsonl", jsonl_bytes(TRL_STANDARD))

    assert sorted(_exported(project), key=lambda r: r["prompt"]) == TRL_STANDARD[::-1]
    job = run(project, "implicit.jsonl", jsonl_bytes(implicit))
    assert job.errors == [
        "row 1, field chosen: without a `prompt`, chosen and rejected must share a transcript "
        "that ends at an assistant turn (e.g. '\\n\\nHuman: …\\n\\nAssistant:')"
    ]


def test_trl_conversational_preferences_export_back_unchanged(project: Project) -> None:
    _imported(project, "conv.jsonl", jsonl_bytes(TRL_CONVERSATIONAL + TRL_CONVERSATIONAL_IMPLICIT))

    rows = sorted(_exported(project), key=lambda r: r["prompt"][0]["content"])

    implicit = TRL_CONVERSATIONAL_IMPLICIT[0]
    assert rows == [
        {"prompt": implicit["chosen"][:1], "chosen": implicit["chosen"][1:],
         "rejected": implicit["rejected"][1:]},
        TRL_CONVERSATIONAL[0],
    ]  # fmt: skip


def test_trl_unpaired_preferences_and_completions_are_responses_with_their_label(
    project: Project,
) -> None:
    rows = [
        {"prompt": "The sky is", "completion": " blue.", "label": True},
        {"prompt": "The sky is", "completion": " green.", "label": False},
        {
            "prompt": [{"role": "user", "content": "What color is the sky?"}],
            "completion": [{"role": "assistant", "content": "It is blue."}],
            "label": True,
        },
        {"prompt": "The sea is", "completion": " wet."},
    ]

    job = _imported(project, "kto.jsonl", jsonl_bytes(rows))

    assert (job.prompts_created, job.responses_created, job.labels_created) == (3, 4, 0)
    sky = Prompt.objects.get(project=project, input="The sky is")
    assert sorted(sky.responses.values_list("text", "metadata")) == [
        (" blue.", {"label": True}),
        (" green.", {"label": False}),
    ]
    assert Comparison.objects.filter(prompt=sky).count() == 1
    chat = Prompt.objects.get(project=project, input__0__role="user")
    assert list(chat.responses.values_list("text", flat=True)) == ["It is blue."]


@pytest.mark.parametrize(
    ("row", "error"),
    [
        (
            {"prompt": "Q", "completions": ["step 1", "step 2"], "labels": [True, False]},
            "row 1: TRL's stepwise supervision rows (`prompt`, `completions`, `labels`) judge "
            "steps of one answer, not responses: not supported. Write each full answer as a "
            "`response`",
        ),
        (
            {"text": "The sky is blue."},
            "row 1: a TRL language-modeling row (`text` or `messages`) has no prompt and "
            "response to judge: not supported. Write `prompt` with `response`, or `chosen` and "
            "`rejected`",
        ),
        (
            {"prompt": "The sky is"},
            "row 1: expected `prompt` with `responses` or a `response`, or `chosen` and "
            "`rejected` (a TRL pair), or a published pair (SHP, HelpSteer2, HelpSteer3); a TRL "
            "prompt-only row has nothing to judge",
        ),
    ],
)
def test_trl_types_without_responses_to_judge_are_refused_with_a_reason(
    project: Project, row: dict[str, Any], error: str
) -> None:
    job = run(project, "trl.jsonl", jsonl_bytes([row]))

    assert job.errors == [error]
    assert nothing_written(project)


def test_published_pairs_in_csv_import_as_from_json_lines(project: Project) -> None:
    """CSV cells are text: SHP's `labels` is "1" or "0", HelpSteer3's `context` a JSON chat."""
    other = ProjectFactory()
    _imported(project, "pairs.jsonl", jsonl_bytes(SHP_ROWS + HELPSTEER3_ROWS))

    job = _imported(other, "pairs.csv", csv_bytes(SHP_ROWS + HELPSTEER3_ROWS))

    assert (job.prompts_created, job.responses_created, job.labels_created) == (4, 9, 6)
    assert _exported(other, ties="write") == _exported(project, ties="write")
    post = Prompt.objects.get(project=other, input=_POST)
    assert post.metadata == {
        "post_id": "himc90",
        "domain": "askphysics_train",
        "upvote_ratio": "0.99",
    }


def test_the_import_page_names_the_shapes_it_reads(
    client: Any, project: Project, designer: Any
) -> None:
    client.force_login(designer)

    page = client.get(f"/projects/{project.slug}/imports/")

    assert page.status_code == 200
    assert (
        "with rows of: SHP; HelpSteer3 preferences; HelpSteer2 preferences; TRL preference pairs "
        "(HH-RLHF, UltraFeedback); prompts with responses; one response per row (TRL "
        "prompt-completion and unpaired preference, HelpSteer2)."
    ) in page.content.decode()
