"""Raw values copied from earlier versions whose identical components already scored."""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import connection
from django.db.models import Exists, OuterRef

from apps.prompts.models import Prompt, Response, prompt_text
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


@dataclass(frozen=True)
class Sources:
    """Where raw values can be copied from: component name → an earlier version whose
    identical component already scored the project's responses.

    `whole` is the one source of every component when that version has exactly our
    components (no others). A version's Score rows hold exactly its own components, so
    that version's are ours as they are: copied whole rather than rebuilt key by key.
    """

    by_name: dict[str, int] = field(default_factory=dict)
    whole: int | None = None


def reuse_sources(*, version: RewardFunctionVersion) -> Sources:
    """Which earlier versions of the project can give each component's raw values.

    This makes re-scoring after a change to weights, transforms or the combination cost
    no model calls at all; a changed component is computed (through the embedding cache).
    """
    components = version.parsed_spec.components
    ours = {
        c.name: c.model_dump(mode="json", by_alias=True) for c in components if _is_deterministic(c)
    }
    if not ours:
        return Sources()
    scored = Score.objects.filter(version=OuterRef("pk"))
    candidates = (
        RewardFunctionVersion.objects.filter(function__project_id=version.function.project_id)
        .exclude(pk=version.pk)
        .filter(Exists(scored))
        .order_by("-created_at", "-pk")
        .values_list("pk", "spec")[:REUSE_CANDIDATES]
    )
    sources: dict[str, int] = {}
    names_of: dict[int, set[str]] = {}
    for pk, spec in candidates:
        theirs = RewardSpec.model_validate(spec).components
        names_of[pk] = {c.name for c in theirs}
        for component in theirs:
            name = component.name
            if name in sources or name not in ours:
                continue
            if component.model_dump(mode="json", by_alias=True) == ours[name]:
                sources[name] = pk
        if len(sources) == len(ours):
            break
    used = set(sources.values())
    whole = None
    if len(used) == 1 and len(sources) == len(components):
        (only,) = used
        whole = only if names_of[only] == set(sources) else None
    return Sources(by_name=sources, whole=whole)


def known_values(sources: Sources, ids: Sequence[int]) -> dict[str, dict[int, float | None]]:
    """Raw values the source versions hold for these responses, by item index."""
    index = {response_id: i for i, response_id in enumerate(ids)}
    known: dict[str, dict[int, float | None]] = {name: {} for name in sources.by_name}
    by_version: dict[int, list[str]] = {}
    for name, version_id in sources.by_name.items():
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
    # A plain-text input comes back as text from Postgres; only a transcript (or
    # anything else) is decoded here and joined as `Prompt.text` joins it.
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, CASE jsonb_typeof(input) WHEN 'string' THEN input #>> '{}' END, "
            "CASE WHEN jsonb_typeof(input) <> 'string' THEN input::text END "
            f"FROM {Prompt._meta.db_table} WHERE project_id = %s",  # noqa: S608 - our table
            [project_id],
        )
        rows = cursor.fetchall()
    return {
        pk: prompt_key(text if other is None else prompt_text(json.loads(other)))
        for pk, text, other in rows
    }


def _joins(sources: dict[str, int]) -> tuple[dict[int, str], str, list[int]]:
    """An alias per source version, the LEFT JOINs to its Score rows (on `t.response_id`),
    and their parameters."""
    table = Score._meta.db_table
    aliases = {vid: f"s{i}" for i, vid in enumerate(sorted(set(sources.values())))}
    sql = " ".join(
        f"LEFT JOIN {table} {a} ON {a}.version_id = %s AND {a}.response_id = t.response_id"
        for a in aliases.values()
    )
    return aliases, sql, list(aliases)


@dataclass(frozen=True)
class Copied:
    """Every response of the project in id order, with its raw values copied from the sources."""

    ids: list[int]
    raw: RawValues


def copied_raw_values(*, project_id: int, spec: RewardSpec, sources: Sources) -> Copied | None:
    """Every response's id and raw values, copied from the source versions' Score rows.

    One query lists the project's responses, then one per source version reads that
    version's rows in the same order: plain scans rather than a join of every response
    with every source (whose plan went wrong on tables not analysed yet).

    None when something must be computed: a component without a source, a chain that
    needs the reference answers' own scores (not kept in Score rows), or a response
    some source has not scored (or has scored without one of our components).
    """
    names = spec.names
    if connection.vendor != "postgresql":  # jsonb operators; SQLite takes the batch path
        return None
    if set(sources.by_name) != set(names) or needs_reference_scores(spec):
        return None
    per_prompt = _needs_prompt_keys(spec)
    by_version: dict[int, list[str]] = {}
    for name in names:
        by_version.setdefault(sources.by_name[name], []).append(name)
    response, prompt, score = (m._meta.db_table for m in (Response, Prompt, Score))
    values: dict[str, list[float | None]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT r.id{', r.prompt_id' if per_prompt else ''} FROM {response} r "  # noqa: S608 - our tables
            f"JOIN {prompt} p ON p.id = r.prompt_id WHERE p.project_id = %s ORDER BY r.id",
            [project_id],
        )
        rows = cursor.fetchall()
        if not rows:
            return None
        ids = [row[0] for row in rows]
        for version_id, its_names in by_version.items():
            columns = ", ".join("(components ->> %s)::float8" for _ in its_names)
            # A row without one of our components is left out, so the ids differ.
            cursor.execute(
                f"SELECT response_id, {columns} FROM {score} "  # noqa: S608 - our table
                "WHERE version_id = %s AND components ?& %s::text[] ORDER BY response_id",
                [*its_names, version_id, its_names],
            )
            found = cursor.fetchall()
            if len(found) != len(ids):
                return None
            transposed = list(zip(*found, strict=True))
            if list(transposed[0]) != ids:
                return None
            for i, name in enumerate(its_names, start=1):
                values[name] = list(transposed[i])
    if per_prompt:
        keys = _prompt_keys(project_id)
        prompt_keys = [keys[row[1]] for row in rows]
    else:
        prompt_keys = [""] * len(ids)  # no transform groups by prompt
    raw = RawValues(
        names=names, prompt_keys=prompt_keys, values={name: values[name] for name in names}
    )
    return Copied(ids=ids, raw=raw)


COPIED_WRITE_CHUNK = 100_000


def copied_scores_write(
    *,
    version: RewardFunctionVersion,
    ids: Sequence[int],
    totals: Sequence[float | None],
    sources: Sources,
    names: Sequence[str],
    upsert: bool = False,
) -> None:
    """Write one Score per response with its total; each raw value is copied from its
    source version's row inside Postgres (in the caller's transaction).

    A version without Score rows yet (a new one: the usual case) takes a plain INSERT;
    one with rows already (a run again) takes an upsert, as does `upsert`. A plain
    INSERT racing another run of the same version raises IntegrityError: the caller
    rolls back and writes again with `upsert`.
    """
    table = Score._meta.db_table
    if sources.whole is not None:
        # The source's rows hold exactly our components: copy them as they are.
        joins = f"LEFT JOIN {table} s ON s.version_id = %s AND s.response_id = t.response_id"
        join_params: list[Any] = [sources.whole]
        components, components_params = "s.components", []
    else:
        aliases, joins, join_params = _joins(sources.by_name)
        components = "jsonb_build_object({})".format(
            ", ".join(f"%s::text, {aliases[sources.by_name[n]]}.components -> %s" for n in names)
        )
        components_params = [value for name in names for value in (name, name)]
    select = (
        f"SELECT %s, t.response_id, t.total, {components}, now() "
        f"FROM unnest(%s::bigint[], %s::float8[]) AS t(response_id, total) {joins}"
    )
    insert = f"INSERT INTO {table} (version_id, response_id, total, components, created_at) "
    upserting = (
        f"{insert}{select} ON CONFLICT (version_id, response_id) DO UPDATE "
        "SET total = EXCLUDED.total, components = EXCLUDED.components"
    )
    # Inserts only while the version has no rows: each row then skips the upsert's
    # speculative insertion (checked once, not per row).
    first = f"{insert}{select} WHERE NOT EXISTS (SELECT 1 FROM {table} WHERE version_id = %s)"
    with connection.cursor() as cursor:
        for start in range(0, len(ids), COPIED_WRITE_CHUNK):
            end = start + COPIED_WRITE_CHUNK
            chunk = [_array(ids[start:end]), _array(totals[start:end])]
            params = [version.pk, *components_params, *chunk, *join_params]
            if upsert:
                cursor.execute(upserting, params)
            elif start == 0:
                cursor.execute(first, [*params, version.pk])
                if not cursor.rowcount:  # the version has rows already
                    upsert = True
                    cursor.execute(upserting, params)
            else:
                cursor.execute(insert + select, params)


def _array(values: Sequence[float | int | None]) -> str:
    """A Postgres array literal of numbers: much quicker to send than an adapted list.

    `repr` of an int or float is exact and Postgres reads it back to the same value
    (`inf` included); None is NULL.
    """
    if None in values:
        return "{" + ",".join("NULL" if v is None else repr(v) for v in values) + "}"
    return "{" + ",".join(map(repr, values)) + "}"
