"""Build import files in each format from plain rows."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
from django.core.files.uploadedfile import SimpleUploadedFile

PROMPT_ROWS: list[dict[str, Any]] = [
    {
        "prompt": "What is the capital of Australia?",
        "responses": [
            {"text": "Canberra.", "model": "qwen2.5-7b-instruct"},
            {"text": "Sydney is the capital.", "model": "llama-3.1-8b-instruct"},
        ],
        "reference": "Canberra",
        "metadata": {"kind": "factual"},
        "group": "capitals",
    },
    {
        "prompt": [
            {"role": "system", "content": "You are terse."},
            {"role": "user", "content": "Name a prime number above 10."},
        ],
        "responses": [
            {"text": "11", "model": "m1"},
            {"text": "12", "model": "m2"},
            {"text": "13", "model": "m3"},
        ],
        "metadata": {"kind": "math"},
    },
]

PAIR_ROWS: list[dict[str, Any]] = [
    # Standard form with an explicit prompt.
    {"prompt": "Say hi.", "chosen": "Hi!", "rejected": "No."},
    # Conversational form with an explicit prompt.
    {
        "prompt": [{"role": "user", "content": "2+2?"}],
        "chosen": [{"role": "assistant", "content": "4"}],
        "rejected": [{"role": "assistant", "content": "5"}],
    },
    # Conversational, implicit prompt: all but the last message.
    {
        "chosen": [
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ],
        "rejected": [
            {"role": "user", "content": "Capital of France?"},
            {"role": "assistant", "content": "Lyon."},
        ],
    },
    # Anthropic HH-RLHF transcript, implicit prompt: up to the last assistant marker.
    {
        "chosen": "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Tell me a joke\n\nAssistant: "
        "Why did the scarecrow win an award? He was outstanding in his field.",
        "rejected": "\n\nHuman: Hi\n\nAssistant: Hello.\n\nHuman: Tell me a joke\n\nAssistant: "
        "What do you call a fish with no eyes? A fsh.",
    },
]


def hh(human: str, answer: str) -> str:
    return f"\n\nHuman: {human}\n\nAssistant: {answer}".rstrip(" ")


# Anthropic HH-RLHF's shape: two transcripts per row, nothing else; the third pair ends
# with an empty answer (data, as in the published test file); rows 3 and 5 are broken.
HH_ROWS: list[Any] = [
    {"chosen": hh("Hi", "Hello! How can I help?"), "rejected": hh("Hi", "What.")},
    {"chosen": hh("Capital of Peru?", "Lima."), "rejected": hh("Capital of Peru?", "Cusco.")},
    {"chosen": hh("Tell me a secret", "No.")},
    {"chosen": hh("Say nothing", "Okay."), "rejected": hh("Say nothing", "")},
    {"chosen": 42, "rejected": hh("Count to one", "One.")},
    {"chosen": hh("2+2?", "4"), "rejected": hh("2+2?", "5")},
]
HH_REPORT = [
    {"row": 3, "errors": [{"field": "rejected", "reason": "Field required"}], "data": HH_ROWS[2]},
    {
        "row": 5,
        "errors": [
            {
                "field": "chosen",
                "reason": "must be a non-empty string or a list of {role, content} messages",
            }
        ],
        "data": HH_ROWS[4],
    },
]
HH_ERRORS = [
    "row 3, field rejected: Field required",
    "row 5, field chosen: must be a non-empty string or a list of {role, content} messages",
]


def jsonl_bytes(rows: list[Any]) -> bytes:
    return "".join(json.dumps(row) + "\n" for row in rows).encode()


def csv_bytes(rows: list[dict[str, Any]]) -> bytes:
    """Structured values become JSON cells, as the CSV reader expects."""
    columns: list[str] = []
    for row in rows:
        columns.extend(key for key in row if key not in columns)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=columns)
    writer.writeheader()
    for row in rows:
        writer.writerow({k: v if isinstance(v, str) else json.dumps(v) for k, v in row.items()})
    return buffer.getvalue().encode()


def parquet_bytes(rows: list[dict[str, Any]]) -> bytes:
    """Parquet columns need one type: conversation-valued columns are all strings or all lists
    within a file, so callers pass rows of one form (or we JSON-encode metadata-like dicts)."""
    buffer = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows), buffer)
    return buffer.getvalue()


ENCODERS = {"jsonl": jsonl_bytes, "csv": csv_bytes, "parquet": parquet_bytes}


def upload(name: str, content: bytes) -> SimpleUploadedFile:
    return SimpleUploadedFile(name, content)


def unclosed_quote_csv(later_rows_quoted: bool = False) -> bytes:
    """The file of issue 17: a header, 20 good rows, a cell whose opening quote is never
    closed, 20 more rows (quoted, the quote closes early and the rows would merge)."""
    good = [f"Question {i}?,Answer {i}.,m1" for i in range(40)]
    later = [f'"Question {i}?",Answer {i}.,m1' for i in range(20, 40)]
    lines = [
        "prompt,response,model",
        *good[:20],
        '"unclosed quote,resp,m1',
        *(later if later_rows_quoted else good[20:]),
    ]
    return "".join(line + "\n" for line in lines).encode()


def parquet_bomb(unpacked_bytes: int, rows: int = 1) -> bytes:
    """A few KiB of zstd-compressed Parquet whose prompt column unpacks to `unpacked_bytes`
    in all; the data pages are then overwritten, so reading them (not just the metadata
    at the end) would fail."""
    buffer = io.BytesIO()
    prompts = [chr(ord("a") + i % 26) * (unpacked_bytes // rows) for i in range(rows)]
    table = pa.Table.from_pylist(
        [{"prompt": prompt, "responses": [{"text": "ok"}]} for prompt in prompts]
    )
    pq.write_table(table, buffer, compression="zstd", use_dictionary=False)
    content = bytearray(buffer.getvalue())
    content[4:64] = b"\xff" * 60  # just after the leading magic: the first data page
    return bytes(content)


def parquet_repeating(rows: int, prompt_bytes: int, response_bytes: int = 0) -> bytes:
    """Parquet that stores one long prompt (and two long responses) once, in dictionaries,
    and repeats them in every row: tiny on disk and in its metadata, big once read."""
    prompt = "p" * prompt_bytes
    texts = ["a" * response_bytes, "b" * response_bytes] if response_bytes else ["ok"]
    table = pa.Table.from_pylist(
        [
            {"prompt": prompt or f"Prompt {i}", "responses": [{"text": t} for t in texts]}
            for i in range(rows)
        ]
    )
    buffer = io.BytesIO()
    pq.write_table(table, buffer, compression="zstd")
    return buffer.getvalue()
