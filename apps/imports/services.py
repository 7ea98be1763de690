"""Imports: a file in, prompts, responses, comparisons and labels out — all or nothing,
or, when the user asks for it, the valid rows with a report of the skipped ones."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import IO, Any

from django.conf import settings
from django.core.files import File
from django.db import DatabaseError, reset_queries, transaction
from django.template.defaultfilters import filesizeformat
from django.utils import timezone

from apps.accounts.models import Project, User
from apps.annotation.models import Comparison, Label, ReviewDecision
from apps.annotation.reports import agreement_request
from apps.annotation.services import comparisons_generate
from apps.core.errors import ApplicationError
from apps.imports.copy import insert_rows
from apps.imports.models import ImportJob
from apps.imports.progress import ProgressReporter, progress_clear
from apps.imports.readers import ReadLimits, open_reader
from apps.imports.rows import (
    PairRecord,
    PromptRecord,
    Record,
    ResponseRecord,
    RowError,
    parse_row,
)
from apps.prompts.models import Prompt, Response

logger = logging.getLogger(__name__)

MAX_REPORTED_ERRORS = 50
# A skipped row's entry in the report lists at most this many of its errors (and how many
# more), so that a row of thousands of broken items cannot make its entry much bigger than
# the row itself.
MAX_ERRORS_PER_SKIPPED_ROW = 20
STOPS_THE_FILE = (
    "skip-invalid leaves out a row only when the rows after it can still be read; the "
    "problem above stops the file (or breaks its last row, as a file cut short would), "
    "so nothing was imported"
)
BATCH_ROWS = 2000
_FORMATS = {
    ".jsonl": ImportJob.Format.JSONL,
    ".ndjson": ImportJob.Format.JSONL,
    ".json": ImportJob.Format.JSONL,
    ".csv": ImportJob.Format.CSV,
    ".parquet": ImportJob.Format.PARQUET,
    ".pq": ImportJob.Format.PARQUET,
}


def import_format_for(name: str) -> ImportJob.Format:
    """The format a file name announces, or an ApplicationError naming the accepted ones."""
    extension = os.path.splitext(name)[1].lower()
    if extension not in _FORMATS:
        shown = extension or "no extension"
        raise ApplicationError(
            f"Unsupported file type ({shown}): upload a .jsonl, .csv or .parquet file."
        )
    return _FORMATS[extension]


@transaction.atomic
def import_create(
    *,
    project: Project,
    created_by: User | None,
    upload: File,
    name: str | None = None,
    enforce_size_limit: bool = True,
    enqueue: bool = True,
    skip_invalid: bool = False,
) -> ImportJob:
    """Store an uploaded file as an import job and queue it for a worker.

    Refuses, writing nothing, a file of an unknown type, an empty one, or one over
    IMPORT_MAX_UPLOAD_BYTES. The rows are read later by `import_run`; with `skip_invalid`
    it imports the valid rows and reports the invalid ones instead of refusing the file.
    """
    original_name = os.path.basename(name or upload.name or "upload")[:255]
    file_format = import_format_for(original_name)
    size = upload.size or 0
    if size == 0:
        raise ApplicationError(f"{original_name} is empty.")
    limit = settings.IMPORT_MAX_UPLOAD_BYTES
    if enforce_size_limit and size > limit:
        raise ApplicationError(
            f"{original_name} is {filesizeformat(size)}; the upload limit is "
            f"{filesizeformat(limit)} (IMPORT_MAX_UPLOAD_BYTES)."
        )
    job = ImportJob(
        project=project,
        created_by=created_by,
        original_name=original_name,
        file_format=file_format,
        size_bytes=size,
        skip_invalid=skip_invalid,
    )
    job.file.save(original_name, upload, save=False)
    job.save()
    progress_clear(job.pk)
    if enqueue:
        from workers.tasks.imports import run_import

        job.enqueue_after_commit(run_import, job_id=job.pk)
    return job


EXPIRED_FILES_PER_SWEEP = 200


def import_failed_files_delete(*, now: datetime | None = None) -> int:
    """Delete the uploaded files of imports that failed over IMPORT_FAILED_RETENTION_HOURS
    ago, at most EXPIRED_FILES_PER_SWEEP at a time; the jobs stay, with their errors.

    A failed job is never read again, so its file only serves whoever looks into the
    failure meanwhile. Workers call this after each import and when they start (there
    is no scheduler), so the files of failed imports cannot pile up. Returns how many
    files were deleted.
    """
    now = now or timezone.now()
    cutoff = now - timedelta(hours=settings.IMPORT_FAILED_RETENTION_HOURS)
    expired = (
        ImportJob.objects.filter(status=ImportJob.Status.FAILED, finished_at__lt=cutoff)
        .exclude(file="")
        .order_by("finished_at")
        .values_list("pk", "file")[:EXPIRED_FILES_PER_SWEEP]
    )
    storage = ImportJob._meta.get_field("file").storage
    deleted = 0
    for pk, name in expired:
        storage.delete(name)
        deleted += ImportJob.objects.filter(pk=pk, file=name).update(file="", updated_at=now)
    return deleted


API_MAX_ROWS = 500


@dataclass(frozen=True, slots=True)
class PromptsWritten:
    """What `prompts_write` did: the rows' prompt ids (in row order) and what was new."""

    prompt_ids: list[int]
    prompts_created: int
    responses_created: int
    comparisons_created: int


@transaction.atomic
def prompts_write(*, project: Project, rows: list[Any]) -> PromptsWritten:
    """Write a few prompt rows at once, exactly as an import of the same rows would.

    Rows have the import's prompt shape (`prompt`, `responses`, `reference`, `metadata`,
    `group`) and are numbered from 1. All or nothing: any bad row writes nothing and the
    ApplicationError lists every problem as `{row, field, message}`. Idempotent by content
    hash: a prompt or response already in the project is reused, not repeated. New
    responses get the comparisons the project's settings ask for. Preference pairs
    (`chosen`/`rejected`) carry labels, so they go through a file import instead.
    """
    if not rows:
        raise ApplicationError("Send at least one prompt.")
    if len(rows) > API_MAX_ROWS:
        raise ApplicationError(
            f"{len(rows)} prompts in one request; the limit is {API_MAX_ROWS}. "
            "Upload a file to imports/ for more."
        )
    records: list[PromptRecord] = []
    errors: list[RowError] = []
    for number, data in enumerate(rows, start=1):
        result = parse_row(number, data)
        if isinstance(result, list):
            errors.extend(result)
        elif isinstance(result, PairRecord):
            errors.append(
                RowError(number, "chosen", "preference pairs carry labels: import them as a file")
            )
        else:
            records.append(result)
    if errors:
        raise ApplicationError(
            f"Nothing was written: {len(errors)} problem(s), the first {errors[0]}.",
            extra={
                "rows": [
                    {"row": error.row, "field": error.field, "message": error.reason}
                    for error in errors[:MAX_REPORTED_ERRORS]
                ]
            },
        )
    Project.objects.select_for_update().filter(pk=project.pk).exists()  # as an import does
    writer = _Writer(project.pk)
    writer.write(list(records))
    comparisons = 0
    if writer.prompts_with_responses:
        comparisons = comparisons_generate(
            project=project, prompt_ids=writer.prompts_with_responses
        )
    ids = writer._prompt_ids([record.content_hash for record in records])
    return PromptsWritten(
        prompt_ids=[ids[record.content_hash] for record in records],
        prompts_created=writer.counts.prompts,
        responses_created=writer.counts.responses,
        comparisons_created=comparisons,
    )


class PromptInUse(ApplicationError):
    """The prompt has judgments, which must never be lost: it is kept."""


@transaction.atomic
def prompt_delete(*, prompt: Prompt) -> None:
    """Delete a prompt with its responses, their comparisons, leases and scores.

    Refuses with PromptInUse, deleting nothing, while any comparison of the prompt has a
    label or a review decision. The comparisons are locked first, so a label cannot be
    written to one between the check and the delete.
    """
    comparisons = Comparison.objects.select_for_update().filter(prompt=prompt)
    list(comparisons.values_list("pk", flat=True))
    labels = Label.objects.filter(comparison__prompt=prompt).count()
    reviewed = ReviewDecision.objects.filter(comparison__prompt=prompt).exists()
    if labels or reviewed:
        raise PromptInUse(
            f"Prompt {prompt.pk} has {labels} label(s) and is kept: judgments are never "
            "deleted. Leave it out of exports with a filter instead."
        )
    prompt.delete()


@dataclass
class _Counts:
    rows: int = 0
    prompts: int = 0
    responses: int = 0
    comparisons: int = 0
    labels: int = 0
    gold: int = 0
    invalid_rows: int = 0  # left out with skip_invalid; otherwise they fail the file
    rows_reported: int = 0  # of the invalid rows, those written to the report
    errors: list[RowError] = field(default_factory=list)  # the first MAX_REPORTED_ERRORS
    error_count: int = 0


class _Rejected(Exception):
    """Raised inside the import transaction so that nothing of a bad file is kept."""

    def __init__(self, errors: list[RowError], error_count: int, rows: int) -> None:
        self.errors, self.error_count, self.rows = errors, error_count, rows


def import_run(*, job_id: int) -> ImportJob | None:
    """Read the job's file and write its rows in one transaction.

    Idempotent: only a queued job is claimed (compare-and-set to running), and content
    hashes make re-importing the same rows add nothing. A file with any bad row writes
    nothing; the job then lists up to 50 errors as `row N, field F: reason`. With the job's
    `skip_invalid`, bad rows are left out and written, with their errors and data, to the
    job's `skipped_report`; a problem after which the reader cannot find the next row (or
    a file with no valid row) still fails the job, writing nothing.
    """
    claimed = ImportJob.claim(job_id)
    job = ImportJob.objects.select_related("project").filter(pk=job_id).first()
    if job is None or not claimed:
        logger.info("import %s: not queued any more, nothing to do", job_id)
        return job
    reporter = ProgressReporter(job.pk)
    try:
        counts = _import_file(job, reporter)
    except _Rejected as rejected:
        _finish(job, reporter, failed=True, rows=rejected.rows, errors=rejected.errors,
                error_count=rejected.error_count)  # fmt: skip
    except (OSError, DatabaseError) as exc:
        logger.exception("import %s failed", job.pk)
        _discard_report(job)
        _finish(job, reporter, failed=True, errors=[RowError(0, "", f"could not import: {exc}")])
    except Exception:
        # A bug, not bad data: leave a failed job rather than one that looks busy forever.
        _discard_report(job)
        _finish(job, reporter, failed=True, errors=[RowError(0, "", "internal error; see logs")])
        raise
    else:
        _finish(job, reporter, failed=False, rows=counts.rows, counts=counts,
                errors=counts.errors, error_count=counts.error_count)  # fmt: skip
    return job


def _discard_report(job: ImportJob) -> None:
    """Delete a skipped-rows report stored before the import's transaction failed."""
    if job.skipped_report:
        job.skipped_report.delete(save=False)


def _finish(
    job: ImportJob,
    reporter: ProgressReporter,
    *,
    failed: bool,
    rows: int = 0,
    counts: _Counts | None = None,
    errors: list[RowError] | None = None,
    error_count: int | None = None,
) -> None:
    counts = counts or _Counts()
    errors = errors or []
    job.end(
        ImportJob.Status.FAILED if failed else ImportJob.Status.SUCCEEDED,
        rows_total=rows,
        prompts_created=counts.prompts,
        responses_created=counts.responses,
        comparisons_created=counts.comparisons,
        labels_created=counts.labels,
        rows_skipped=counts.invalid_rows,
        rows_reported=counts.rows_reported,
        skipped_report=job.skipped_report,
        errors=[str(error) for error in errors],
        error_count=len(errors) if error_count is None else error_count,
    )
    reporter.report(rows=rows, fraction=None if failed else 1.0, phase=job.status, force=True)


def _import_file(job: ImportJob, reporter: ProgressReporter) -> _Counts:
    # The report of skipped rows is written to a temporary file as the rows go by, so
    # that a file of many bad rows costs disk, not memory; it is stored with the job.
    with job.file.open("rb") as handle, tempfile.TemporaryFile() as report:
        return _import_rows(job, handle, reporter, report if job.skip_invalid else None)


def _import_rows(
    job: ImportJob, handle: IO[bytes], reporter: ProgressReporter, report: IO[bytes] | None
) -> _Counts:
    limits = ReadLimits(
        max_line_bytes=settings.IMPORT_MAX_LINE_BYTES,
        max_parquet_bytes=settings.IMPORT_MAX_PARQUET_UNPACKED_BYTES,
    )
    reader = open_reader(job.file_format, handle, job.size_bytes, limits)
    writer = _Writer(job.project_id, import_id=job.pk)
    counts = writer.counts
    gold_answers: dict[tuple[str, str, str], tuple[str, int]] = {}
    report_limit = settings.IMPORT_SKIPPED_REPORT_MAX_ROWS
    batch: list[Record] = []
    with transaction.atomic():
        # One import per project at a time: concurrent ones would race on the hashes.
        Project.objects.select_for_update().filter(pk=job.project_id).exists()
        for (number, item), more in _with_lookahead(reader.rows()):
            counts.rows += 1
            if isinstance(item, RowError):  # the reader could not decode the row
                if report is not None and (item.row == 0 or not more):
                    stop = [item, RowError(0, "", STOPS_THE_FILE), *counts.errors]
                    raise _Rejected(stop[:MAX_REPORTED_ERRORS], counts.error_count + 1, counts.rows)
                result: Record | list[RowError] = [item]
            else:
                result = parse_row(number, item)
            if isinstance(result, PairRecord) and (
                contradiction := _gold_contradiction(gold_answers, result)
            ):
                result = [contradiction]
            if isinstance(result, list):
                counts.invalid_rows += 1
                counts.error_count += len(result)
                counts.errors.extend(result[: MAX_REPORTED_ERRORS - len(counts.errors)])
                if report is not None and counts.rows_reported < report_limit:
                    data = None if isinstance(item, RowError) else item
                    report.write(_report_line(number, result, data))
                    counts.rows_reported += 1
            elif report is not None or not counts.error_count:
                # Without skipping, after the first bad row only validate the rest.
                batch.append(result)
                if len(batch) >= BATCH_ROWS:
                    writer.write(batch)
                    batch = []
                    reset_queries()  # with DEBUG on, Django would keep every query
            reporter.report(rows=counts.rows, fraction=reader.fraction(), phase="reading")
        if counts.rows == 0:
            raise _Rejected([RowError(0, "", "the file has no rows")], 1, 0)
        if counts.error_count and (report is None or counts.invalid_rows == counts.rows):
            raise _Rejected(counts.errors, counts.error_count, counts.rows)
        writer.write(batch)
        reporter.report(rows=counts.rows, fraction=1.0, phase="writing", force=True)
        # Responses that arrived with their prompt get the comparisons the project asks for;
        # imported pairs come with their own.
        if writer.prompts_with_responses:
            counts.comparisons += comparisons_generate(
                project=job.project, prompt_ids=writer.prompts_with_responses
            )
        if counts.labels or counts.gold:
            agreement_request(project_id=job.project_id)
        if report is not None and counts.invalid_rows:
            # Stored before the commit: if storing fails, nothing is imported.
            report.seek(0)
            stem = os.path.splitext(job.original_name)[0]
            job.skipped_report.save(f"{stem}-skipped.jsonl", File(report), save=False)
    return counts


def _with_lookahead(
    rows: Iterable[tuple[int, Any]],
) -> Iterator[tuple[tuple[int, Any], bool]]:
    """Each row with whether the reader found another after it. A reader stops at a
    problem that leaves it unable to find the next row, so an undecodable row with
    nothing after it stops the file."""
    iterator = iter(rows)
    current = next(iterator, None)
    while current is not None:
        following = next(iterator, None)
        yield current, following is not None
        current = following


def _gold_contradiction(
    answers: dict[tuple[str, str, str], tuple[str, int]], pair: PairRecord
) -> RowError | None:
    """A gold pair that an earlier row of the file has the other way round (checked by
    content, so before anything is written)."""
    if not pair.is_gold:
        return None
    chosen, rejected = pair.chosen.content_hash, pair.rejected.content_hash
    key = (pair.prompt.content_hash, min(chosen, rejected), max(chosen, rejected))
    earlier_chosen, earlier_row = answers.setdefault(key, (chosen, pair.row))
    if earlier_chosen == chosen:
        return None
    reason = f"row {earlier_row} has this gold pair with chosen and rejected swapped"
    return RowError(pair.row, "gold", reason)


def _report_line(number: int, errors: list[RowError], data: Any) -> bytes:
    """One skipped row as a line of JSON: its number, its errors and the row as read (in
    the import's JSON shape, ready to fix and import again; null when it could not be
    decoded)."""
    entry: dict[str, Any] = {
        "row": number,
        "errors": [
            {"field": error.field, "reason": error.reason}
            for error in errors[:MAX_ERRORS_PER_SKIPPED_ROW]
        ],
    }
    if len(errors) > MAX_ERRORS_PER_SKIPPED_ROW:
        entry["more_errors"] = len(errors) - MAX_ERRORS_PER_SKIPPED_ROW
    try:
        line = json.dumps({**entry, "data": data}, ensure_ascii=False, default=str)
    except RecursionError:  # nested past what JSON encoding can follow
        line = json.dumps({**entry, "data": None}, ensure_ascii=False)
    try:
        return line.encode() + b"\n"
    except UnicodeEncodeError:  # a lone surrogate: escape it, as JSON allows
        return json.dumps(json.loads(line)).encode() + b"\n"


class _Writer:
    """Turns validated records into rows, batch by batch, skipping what already exists."""

    def __init__(self, project_id: int, *, import_id: int | None = None) -> None:
        self.project_id = project_id
        self.import_id = import_id
        self.counts = _Counts()
        self.prompts_with_responses: set[int] = set()

    def write(self, records: list[Record]) -> None:
        if not records:
            return
        pairs = [record for record in records if isinstance(record, PairRecord)]
        prompt_ids, fresh = self._prompts(records)
        self.prompts_with_responses.update(
            prompt_ids[record.content_hash]
            for record in records
            if isinstance(record, PromptRecord) and record.responses
        )
        response_ids = self._responses(records, prompt_ids, fresh, with_ids=bool(pairs))
        if pairs:
            self._pairs(pairs, prompt_ids, response_ids)

    def _prompts(self, records: list[Record]) -> tuple[dict[str, int], set[int]]:
        wanted: dict[str, PromptRecord] = {}
        for record in records:
            prompt = record if isinstance(record, PromptRecord) else record.prompt
            wanted.setdefault(prompt.content_hash, prompt)
        existing = self._prompt_ids(list(wanted))
        new = {h: prompt for h, prompt in wanted.items() if h not in existing}
        insert_rows(
            Prompt,
            ["project_id", "input", "references", "metadata", "group", "content_hash"],
            [
                (self.project_id, p.input, p.references, p.metadata, p.group, h)
                for h, p in new.items()
            ],
        )
        self.counts.prompts += len(new)
        created = self._prompt_ids(list(new))
        return existing | created, set(created.values())

    def _prompt_ids(self, hashes: list[str]) -> dict[str, int]:
        if not hashes:
            return {}
        return dict(
            Prompt.objects.filter(project_id=self.project_id, content_hash__in=hashes)
            .values_list("content_hash", "id")
        )  # fmt: skip

    def _responses(
        self, records: list[Record], prompt_ids: dict[str, int], fresh: set[int], *, with_ids: bool
    ) -> dict[tuple[int, str], int]:
        """Insert the new responses; return ids of the existing ones, and of all if `with_ids`."""
        wanted: dict[tuple[int, str], ResponseRecord] = {}
        for record in records:
            if isinstance(record, PromptRecord):
                prompt_id = prompt_ids[record.content_hash]
                responses = record.responses
            else:
                prompt_id = prompt_ids[record.prompt.content_hash]
                responses = (record.chosen, record.rejected)
            for response in responses:
                wanted.setdefault((prompt_id, response.content_hash), response)
        # A prompt created in this batch has no responses yet: no need to look.
        existing = self._response_ids({key for key in wanted if key[0] not in fresh})
        new = [(key, response) for key, response in wanted.items() if key not in existing]
        insert_rows(
            Response,
            ["prompt_id", "text", "model", "sampling_params", "metadata", "content_hash"],
            [(p, r.text, r.model, r.sampling_params, r.metadata, h) for (p, h), r in new],
        )
        self.counts.responses += len(new)
        if not with_ids:
            return existing
        return existing | self._response_ids({key for key, _ in new})

    def _response_ids(self, keys: set[tuple[int, str]]) -> dict[tuple[int, str], int]:
        if not keys:
            return {}
        found = Response.objects.filter(
            prompt_id__in={prompt_id for prompt_id, _ in keys},
            content_hash__in={content_hash for _, content_hash in keys},
        ).values_list("prompt_id", "content_hash", "id")
        ids = {(prompt_id, content_hash): pk for prompt_id, content_hash, pk in found}
        return {key: ids[key] for key in keys if key in ids}

    def _pairs(
        self,
        pairs: list[PairRecord],
        prompt_ids: dict[str, int],
        response_ids: dict[tuple[int, str], int],
    ) -> None:
        resolved = []
        for pair in pairs:
            prompt_hash = pair.prompt.content_hash
            prompt_id = prompt_ids[prompt_hash]
            chosen_hash, rejected_hash = pair.chosen.content_hash, pair.rejected.content_hash
            chosen = response_ids[(prompt_id, chosen_hash)]
            rejected = response_ids[(prompt_id, rejected_hash)]
            tie = ":tie" if pair.is_tie else ""
            key = hashlib.sha256(
                f"{self.project_id}:{prompt_hash}:{chosen_hash}:{rejected_hash}{tie}".encode()
            ).hexdigest()
            resolved.append((pair, prompt_id, chosen, rejected, f"import:{key}"))

        gold: dict[tuple[int, int], str] = {}
        for pair, _, chosen, rejected, _ in resolved:
            if not pair.is_gold:
                continue
            key_pair = (min(chosen, rejected), max(chosen, rejected))
            # The file's rows agree on it: `_gold_contradiction` refused any that did not.
            gold[key_pair] = Label.Choice.A if chosen == key_pair[0] else Label.Choice.B
        wanted_pairs = {(min(c, r), max(c, r)): prompt_id for _, prompt_id, c, r, _ in resolved}
        comparison_ids = {
            (a, b): pk
            for a, b, pk in Comparison.objects.filter(
                response_a_id__in={a for a, _ in wanted_pairs},
                response_b_id__in={b for _, b in wanted_pairs},
            ).values_list("response_a_id", "response_b_id", "id")
            if (a, b) in wanted_pairs
        }
        new_comparisons = [
            Comparison(
                project_id=self.project_id,
                prompt_id=prompt_id,
                response_a_id=a,
                response_b_id=b,
                labels_wanted=0,
                is_gold=(a, b) in gold,
                gold_choice=gold.get((a, b), ""),
            )  # fmt: skip
            for (a, b), prompt_id in wanted_pairs.items()
            if (a, b) not in comparison_ids
        ]
        for answer in (Label.Choice.A, Label.Choice.B):  # existing pairs marked gold now
            Comparison.objects.filter(
                pk__in=[
                    comparison_ids[p]
                    for p, g in gold.items()
                    if g == answer and p in comparison_ids
                ]
            ).update(is_gold=True, gold_choice=answer, updated_at=timezone.now())
        Comparison.objects.bulk_create(new_comparisons, batch_size=1000)
        self.counts.comparisons += len(new_comparisons)
        self.counts.gold += len(gold)
        comparison_ids.update(((c.response_a_id, c.response_b_id), c.pk) for c in new_comparisons)

        keys = {key for *_, key in resolved}
        existing_keys = set(
            Label.objects.filter(idempotency_key__in=keys).values_list("idempotency_key", flat=True)
        )
        new_labels: dict[str, Label] = {}
        for pair, _, chosen, rejected, key in resolved:
            if pair.is_gold or key in existing_keys or key in new_labels:
                continue
            a, b = min(chosen, rejected), max(chosen, rejected)
            choice = Label.Choice.A if chosen == a else Label.Choice.B
            new_labels[key] = Label(
                comparison_id=comparison_ids[(a, b)],
                source=Label.Source.IMPORT,
                choice=Label.Choice.TIE if pair.is_tie else choice,
                metadata={"import_id": self.import_id, "row": pair.row, **pair.label_metadata},
                idempotency_key=key,
            )
        Label.objects.bulk_create(new_labels.values(), batch_size=1000)
        self.counts.labels += len(new_labels)
