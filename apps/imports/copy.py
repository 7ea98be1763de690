"""Insert many rows fast: PostgreSQL's COPY, and bulk_create on other databases."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from django.db import connection, models
from django.utils import timezone


def insert_rows(
    model: type[models.Model], fields: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert rows of `fields` values (JSON fields as Python values) into the model's table.

    Fills `auto_now`/`auto_now_add` timestamps as the ORM would. Returns no ids: read them
    back by a unique key. Runs in the caller's transaction.
    """
    if not rows:
        return
    meta = model._meta
    chosen = [meta.get_field(name) for name in fields]
    if connection.vendor != "postgresql":
        names = [field.attname for field in chosen]
        objects = [model(**dict(zip(names, row, strict=True))) for row in rows]
        model._default_manager.bulk_create(objects, batch_size=1000)
        return
    # COPY skips the ORM: JSON goes as text, and the timestamps are set here.
    stamps = [
        field
        for field in meta.concrete_fields
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
    ]
    json_at = [i for i, field in enumerate(chosen) if isinstance(field, models.JSONField)]
    now = (timezone.now(),) * len(stamps)
    quote = connection.ops.quote_name
    columns = ", ".join(quote(field.column) for field in [*chosen, *stamps])
    sql = f"COPY {quote(meta.db_table)} ({columns}) FROM STDIN"
    with connection.cursor() as cursor, cursor.cursor.copy(sql) as copy:
        for row in rows:
            values = list(row)
            for i in json_at:
                values[i] = json.dumps(values[i])
            copy.write_row((*values, *now))
