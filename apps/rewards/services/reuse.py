"""Raw values copied from earlier versions whose identical components already scored."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef

from apps.prompts.models import Prompt, Response
from apps.rewards.models import RewardFunctionVersion, Score
from workers.contracts import prompt_key
from workers.rewards.fitting import RawValues, needs_reference_scores
from workers.rewards.spec import RewardModel as RewardModelComponent
from workers.rewards.spec import RewardSpec, RubricJudge

logger = logging.getLogger(__name__)

REUSE_CANDIDATES = 20


def _is_deterministic(component: Any) -> bool:
    """Gives the same raw value for the same item every time (a judge does not; nor does
    "the promoted model", which can change)."""
    if isinstance(component, RubricJudge):
        return False
    return not (isinstance(component, RewardModelComponent) and component.model is None)


def reuse_sources(*, version: RewardFunctionVersion) -> dict[str, int]:
    """Component name → an earlier version of the project whose identical component
    already scored the project's responses, so its raw values can be copied.

    This makes re-scoring after a change to weights, transforms or the combination cost
    no model calls at all; a changed component is computed (through the embedding cache).
    """
    ours = {
        c.name: c.model_dump(mode="json", by_alias=True)
        for c in version.parsed_spec.components
        if _is_deterministic(c)
    }
    if not ours:
        return {}
    scored = Score.objects.filter(version=OuterRef("pk"))
    candidates = (
        RewardFunctionVersion.objects.filter(function__project_id=version.function.project_id)
        .exclude(pk=version.pk)
        .filter(Exists(scored))
        .order_by("-created_at", "-pk")[:REUSE_CANDIDATES]
    )
    sources: dict[str, int] = {}
    for candidate in candidates:
        for component in candidate.parsed_spec.components:
            name = component.name
            if name in sources or name not in ours:
                continue
            if component.model_dump(mode="json", by_alias=True) == ours[name]:
                sources[name] = candidate.pk
    return sources


def known_values(sources: dict[str, int], ids: Sequence[int]) -> dict[str, dict[int, float | None]]:
    """Raw values the source versions hold for these responses, by item index."""
    index = {response_id: i for i, response_id in enumerate(ids)}
    known: dict[str, dict[int, float | None]] = {name: {} for name in sources}
    by_version: dict[int, list[str]] = {}
    for name, version_id in sources.items():
        by_version.setdefault(version_id, []).append(name)
    low, high = min(ids), max(ids)
    for version_id, names in by_version.items():
        # A range, not a list of ids: the batch is a run of ids in order.
        rows = Score.objects.filter(
            version_id=version_id, response_id__gte=low, response_id__lte=high
        ).values_list("response_id", "components")
        for response_id, components in rows:
            at = index.get(response_id)
            if at is None:
                continue
            for name in names:
                if name in components:
                    known[name][at] = components[name]
    return known


# --- Re-scoring from copied values alone ---------------------------------------------------
# When every component of a version is an identical copy of an earlier version's, a score
# run needs no texts and no model: it reads the raw values server-side in one query,
# combines them, and writes every Score row with one INSERT … SELECT that copies the raw
# values inside Postgres. This is the path a change of weights, transforms or the
# combination takes.


def _needs_prompt_keys(spec: RewardSpec) -> bool:
    return any(step == "zscore_per_prompt" for steps in spec.transforms.values() for step in steps)


def _prompt_keys(project_id: int) -> dict[int, str]:
    """Prompt id → the key per-prompt statistics group by (as `ScoreItem.prompt_key`)."""
    rows = Prompt.objects.filter(project_id=project_id).values_list("id", "input")
    return {pk: prompt_key(Prompt(input=value).text) for pk, value in rows}


def _joins(sources: dict[str, int]) -> tuple[dict[int, str], str, list[int]]:
    """An alias per source version, the LEFT JOINs to its Score rows, and their parameters."""
    table = Score._meta.db_table
    aliases = {vid: f"s{i}" for i, vid in enumerate(sorted(set(sources.values())))}
    sql = " ".join(
        f"LEFT JOIN {table} {a} ON {a}.version_id = %s AND {a}.response_id = r.id"
        for a in aliases.values()
    )
    return aliases, sql, list(aliases)


def copied_raw_values(
    *, project_id: int, spec: RewardSpec, sources: dict[str, int]
) -> tuple[list[int], RawValues] | None:
    """Every response's id and raw values, copied from the source versions in one query.

    None when something must be computed: a component without a source, a chain that
    needs the reference answers' own scores (not kept in Score rows), or a response
    some source has not scored.
    """
    names = spec.names
    if connection.vendor != "postgresql":  # jsonb operators; SQLite takes the batch path
        return None
    if set(sources) != set(names) or needs_reference_scores(spec):
        return None
    aliases, joins, join_params = _joins(sources)
    by_alias: dict[str, list[str]] = {}
    for name in names:
        by_alias.setdefault(aliases[sources[name]], []).append(name)
    complete = " AND ".join(f"coalesce({a}.components ?& %s::text[], false)" for a in by_alias)
    values = ", ".join(f"({aliases[sources[n]]}.components ->> %s)::float8" for n in names)
    sql = (
        f"SELECT r.id, r.prompt_id, {complete}, {values} "  # noqa: S608 - our tables and aliases
        f"FROM {Response._meta.db_table} r JOIN {Prompt._meta.db_table} p ON p.id = r.prompt_id "
        f"{joins} WHERE p.project_id = %s ORDER BY r.id"
    )
    params = [*by_alias.values(), *names, *join_params, project_id]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if not rows or not all(row[2] for row in rows):
        return None
    columns = list(zip(*rows, strict=True))
    ids = list(columns[0])
    if _needs_prompt_keys(spec):
        keys = _prompt_keys(project_id)
        prompt_keys = [keys[prompt_id] for prompt_id in columns[1]]
    else:
        prompt_keys = [""] * len(ids)  # no transform groups by prompt
    raw = RawValues(
        names=names,
        prompt_keys=prompt_keys,
        values={name: list(columns[3 + i]) for i, name in enumerate(names)},
    )
    return ids, raw


COPIED_WRITE_CHUNK = 100_000


def copied_scores_write(
    *,
    version: RewardFunctionVersion,
    ids: Sequence[int],
    totals: Sequence[float | None],
    sources: dict[str, int],
    names: Sequence[str],
) -> None:
    """Upsert one Score per response with its total; each raw value is copied from its
    source version's row inside Postgres (in the caller's transaction)."""
    table = Score._meta.db_table
    aliases, joins, join_params = _joins(sources)
    joins = joins.replace("r.id", "t.response_id")
    components = ", ".join(f"%s::text, {aliases[sources[n]]}.components -> %s" for n in names)
    sql = (
        f"INSERT INTO {table} (version_id, response_id, total, components, created_at) "  # noqa: S608 - our tables and aliases
        f"SELECT %s, t.response_id, t.total, jsonb_build_object({components}), now() "
        f"FROM unnest(%s::bigint[], %s::float8[]) AS t(response_id, total) {joins} "
        "ON CONFLICT (version_id, response_id) DO UPDATE "
        "SET total = EXCLUDED.total, components = EXCLUDED.components"
    )
    pairs = [value for name in names for value in (name, name)]
    with connection.cursor() as cursor:
        for start in range(0, len(ids), COPIED_WRITE_CHUNK):
            end = start + COPIED_WRITE_CHUNK
            chunk = (_array(ids[start:end]), _array(totals[start:end]))
            params = [version.pk, *pairs, *chunk]
            cursor.execute(sql, [*params, *join_params])


def _array(values: Sequence[float | int | None]) -> str:
    """A Postgres array literal of numbers: much quicker to send than an adapted list.

    `repr` of an int or float is exact and Postgres reads it back to the same value
    (`inf` included); None is NULL.
    """
    return "{" + ",".join("NULL" if v is None else repr(v) for v in values) + "}"
