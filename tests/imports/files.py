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
