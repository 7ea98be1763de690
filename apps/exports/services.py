"""Exports: a project's labels out as dataset files with a data card, streamed and atomic."""

from __future__ import annotations

import hashlib
import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from django.db import DatabaseError, transaction
from django.utils import timezone

from apps.accounts.models import Membership, Project, Role, User
from apps.core.errors import ApplicationError
from apps.exports import lines as copied_lines
from apps.exports import selectors
from apps.exports.card import CardFile, card_render
from apps.exports.formats import LabelsRaw, Scope, format_for
from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.exports.outbox import StorageOutbox
from apps.exports.writers import RowWriter, open_writer
from apps.rewards.models import RewardFunctionVersion

logger = logging.getLogger(__name__)

EXTENSIONS = {".jsonl": "jsonl", ".parquet": "parquet", ".csv": "csv"}
# Bad data met half-way (a prompt in the wrong form, a value of the wrong type) fails the
# export with its message; anything else is a bug and is raised after the job is failed.
_EXPECTED_ERRORS = (ApplicationError, OSError, DatabaseError, ValueError, TypeError)


def _is_expected(exc: Exception) -> bool:
    if isinstance(exc, _EXPECTED_ERRORS):
        return True
    # pyarrow is imported only by Parquet exports: its errors can only come from one.
    arrow = sys.modules.get("pyarrow")
    return arrow is not None and isinstance(exc, arrow.ArrowException)


class Outbox(Protocol):
    names: dict[str, str]

    def temp_path(self, key: str) -> Any: ...

    def publish(self) -> dict[str, str]: ...

    def discard(self) -> None: ...


def export_file_format_for(name: str) -> str:
    """The file format a file name announces (.jsonl, .parquet, .csv)."""
    extension = os.path.splitext(name)[1].lower()
    if extension not in EXTENSIONS:
        raise ApplicationError(
            f"Unsupported file type ({extension or 'no extension'}): use .jsonl, .parquet or .csv."
        )
    return EXTENSIONS[extension]


def export_file_names(export: Export, splits: list[str]) -> dict[str, str]:
    """Each file's name in storage, which is the name it downloads as and the path the data
    card lists: `<project>-<export id>-<format>-<split>.<extension>`, unique among exports,
    and the card as README.md, where `datasets.load_dataset(folder)` reads it."""
    prefix = f"{export.project.slug}-{export.pk}-{export.format}"
    names = {split: f"{prefix}-{split}.{export.file_format}" for split in splits}
    names["card"] = "README.md"
    return names


def export_splits(options: ExportOptions) -> list[str]:
    return ["train", "test"] if options.test_share > 0 else ["train"]


def split_of(content_hash: str, options: ExportOptions) -> str:
    """`test` for a share `test_share` of prompts, chosen by a hash of content and seed.

    Decided per prompt (by its content hash), so a prompt's rows never straddle splits and
    the same seed gives the same split in every export.
    """
    if options.test_share <= 0:
        return "train"
    digest = hashlib.sha256(f"{options.seed}:{content_hash}".encode()).digest()
    return "test" if int.from_bytes(digest[:8], "big") / 2**64 < options.test_share else "train"


def export_check(
    *, project: Project, user: User | None, export_format: str, options: ExportOptions
) -> RewardFunctionVersion | None:
    """Refuse options that cannot work for this project; return the reward version if any.

    `user` None is the operator (management command), who may do anything.
    """
    if export_format not in Export.Format.values:
        raise ApplicationError(f"format: must be one of {', '.join(Export.Format.values)}.")
    if not options.pseudonymise_annotators and user is not None:
        role = (
            Membership.objects.filter(project=project, user=user).values_list("role", flat=True)
        ).first()
        if role != Role.ADMIN:
            raise ApplicationError(
                "pseudonymise_annotators: only a project admin may export annotator names."
            )
    if options.prompt_form == "standard" and selectors.project_has_chat_prompts(project=project):
        raise ApplicationError(
            "prompt_form: this project has chat prompts, which TRL's standard form cannot hold; "
            "choose conversational or auto."
        )
    if export_format != Export.Format.REWARDS:
        if options.reward_version_id is not None:
            raise ApplicationError("reward_version_id: only the rewards format uses it.")
        return None
    if options.reward_version_id is None:
        raise ApplicationError("reward_version_id: the rewards format needs a version.")
    version = selectors.reward_version_for_project(project=project, pk=options.reward_version_id)
    if version is None:
        raise ApplicationError("reward_version_id: no such reward function version here.")
    return version


@transaction.atomic
def export_create(
    *,
    project: Project,
    user: User | None,
    export_format: str,
    file_format: str,
    options: ExportOptions,
    enqueue: bool = True,
) -> Export:
    """Record an export and queue it for a worker once the transaction commits."""
    if file_format not in Export.FileFormat.values:
        raise ApplicationError("file_format: must be jsonl, parquet or csv.")
    export_check(project=project, user=user, export_format=export_format, options=options)
    export = Export.objects.create(
        project=project,
        created_by=user,
        format=export_format,
        file_format=file_format,
        options=options.model_dump(mode="json"),
    )
    if enqueue:
        from workers.tasks.exports import run_export

        export.enqueue_after_commit(run_export, export_id=export.pk)
    return export


class _DatabaseProgress:
    """Writes `items_done` to the export's row at most every `interval` seconds."""

    def __init__(self, export_id: int, interval: float = 0.5) -> None:
        self.export_id, self.interval = export_id, interval
        self.done, self._last = 0, time.monotonic()

    def __call__(self, count: int) -> None:
        self.done += count
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            Export.objects.filter(pk=self.export_id).update(items_done=self.done)


def export_run(*, export_id: int) -> Export | None:
    """Write the export's files and card, then publish them and mark it succeeded.

    Idempotent: only a queued export is claimed (compare-and-set to running). A failure
    leaves the export failed, with its error, and no file in storage.
    """
    claimed = Export.claim(export_id)
    export = Export.objects.select_related("project").filter(pk=export_id).first()
    if export is None or not claimed:
        logger.info("export %s: not queued any more, nothing to do", export_id)
        return export
    options = export.parsed_options
    splits = export_splits(options)
    names = export_file_names(export, splits)
    outbox = StorageOutbox(f"exports/{export.project_id}/{export.pk}", names)
    try:
        result = export_write(
            project=export.project,
            export_format=export.format,
            file_format=export.file_format,
            options=options,
            outbox=outbox,
            advance=_DatabaseProgress(export.pk),
            on_total=lambda total: Export.objects.filter(pk=export.pk).update(items_total=total),
            export_id=export.pk,
        )
    except Exception as exc:
        if not _is_expected(exc):
            export.fail("internal error; see the worker's log")
            raise
        logger.warning("export %s failed: %s", export.pk, exc)
        message = (
            exc.message if isinstance(exc, ApplicationError) else f"{type(exc).__name__}: {exc}"
        )
        export.fail(message)
    else:
        export.finish(
            row_counts=result.row_counts,
            files=result.files,
            card=result.card,
            card_path=result.card_path,
            items_done=result.items,
            items_total=result.items,
        )
    return export


@dataclass(frozen=True)
class ExportResult:
    row_counts: dict[str, int]
    files: list[dict[str, Any]]
    card: str
    card_path: str
    items: int


def export_write(
    *,
    project: Project,
    export_format: str,
    file_format: str,
    options: ExportOptions,
    outbox: Outbox,
    advance: Callable[[int], None],
    on_total: Callable[[int], Any] | None = None,
    export_id: int | None = None,
    now: datetime | None = None,
) -> ExportResult:
    """Stream the rows of one export into its files, write the card, publish them all.

    The outbox names the files (keys `train`, `test` when split, and `card`). On any error
    everything written is discarded before the error propagates.
    """
    reward_version = export_check(
        project=project, user=None, export_format=export_format, options=options
    )
    excluded: set[int] = set()
    if options.min_gold_accuracy is not None:
        excluded = selectors.annotators_below_gold_accuracy(
            project=project, threshold=options.min_gold_accuracy
        )
    conversational = options.prompt_form == "conversational" or (
        options.prompt_form == "auto" and selectors.project_has_chat_prompts(project=project)
    )
    done = [0]

    def count(n: int) -> None:
        done[0] += n
        advance(n)

    scope = Scope(
        project=project,
        options=options,
        conversational=conversational,
        label_filter=selectors.export_label_filter(options=options, excluded_annotators=excluded),
        prompt_filter=selectors.export_prompt_filter(options=options, prefix="prompt__"),
        advance=count,
        reward_version=reward_version,
        excluded_annotators=frozenset(excluded),
    )
    kind = format_for(export_format)
    writers: dict[str, RowWriter] = {}
    try:
        total = kind.items_total(scope)
        if on_total is not None:
            on_total(total)
        columns = kind.columns(scope)
        splits = export_splits(options)
        for split in splits:
            writers[split] = open_writer(file_format, outbox.temp_path(split), columns)
        if file_format == "jsonl" and copied_lines.applies(export_format):
            _write_chunks(copied_lines.lines(export_format, scope), writers, options)
        elif file_format == "jsonl" and isinstance(kind, LabelsRaw):
            # Encodes its own JSON lines, sharing each comparison's part (faster).
            chunks = ((content_hash, line, 1) for content_hash, line in kind.json_lines(scope))
            _write_chunks(chunks, writers, options)
        else:
            _write_rows(kind.rows(scope), writers, options)
        for writer in writers.values():
            writer.close()
        card_files = [
            CardFile(
                split=split,
                name=outbox.names[split],
                rows=writers[split].rows,
                sha256=writers[split].sha256(),
            )
            for split in splits
        ]
        card = card_render(
            project_name=project.name,
            project_slug=project.slug,
            export_format=export_format,
            file_format=file_format,
            options=options,
            conversational=conversational,
            files=card_files,
            stats=scope.stats,
            rubric_versions=selectors.export_rubric_versions(ids=scope.stats.rubric_versions),
            reward_version=str(reward_version) if reward_version else None,
            created_at=now or timezone.now(),
            export_id=export_id,
            consensus_rule=project.settings.consensus,
        )
        outbox.temp_path("card").write_text(card, encoding="utf-8")
        sizes = {f.split: outbox.temp_path(f.split).stat().st_size for f in card_files}
        published = outbox.publish()
    except BaseException:
        for writer in writers.values():
            try:
                writer.close()
            except Exception:  # already failing; the first error is the one to report
                logger.debug("closing a writer after a failure", exc_info=True)
        outbox.discard()
        raise
    return ExportResult(
        row_counts={f.split: f.rows for f in card_files},
        files=[
            {
                "split": f.split,
                "path": published[f.split],
                "rows": f.rows,
                "sha256": f.sha256,
                "size_bytes": sizes[f.split],
            }
            for f in card_files
        ],
        card=card,
        card_path=published["card"],
        items=done[0],
    )


def _write_rows(
    rows: Iterator[tuple[str, dict[str, Any]]],
    writers: dict[str, RowWriter],
    options: ExportOptions,
) -> None:
    if len(writers) == 1:
        write = next(iter(writers.values())).write
        for _, row in rows:
            write(row)
        return
    last_hash, split = None, "train"
    for content_hash, row in rows:
        if content_hash != last_hash:  # rows come grouped by prompt, mostly
            last_hash, split = content_hash, split_of(content_hash, options)
        writers[split].write(row)


def _write_chunks(
    chunks: Iterator[tuple[str, bytes, int]], writers: dict[str, RowWriter], options: ExportOptions
) -> None:
    """Writes JSON lines already encoded: (content hash of the prompt, lines, how many)."""
    if len(writers) == 1:
        write = next(iter(writers.values())).write_lines  # type: ignore[attr-defined]
        for _, data, count in chunks:
            write(data, count)
        return
    last_hash, split = None, "train"
    for content_hash, data, count in chunks:
        if content_hash != last_hash:
            last_hash, split = content_hash, split_of(content_hash, options)
        writers[split].write_lines(data, count)  # type: ignore[attr-defined]
