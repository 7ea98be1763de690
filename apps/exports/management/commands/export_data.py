from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from pydantic import ValidationError

from apps.accounts.models import Project
from apps.accounts.settings_schema import format_validation_error
from apps.core.errors import ApplicationError
from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.exports.outbox import DirectoryOutbox
from apps.exports.services import export_file_format_for, export_splits, export_write


def output_names(out: Path, splits: list[str]) -> dict[str, str]:
    """FILE itself, or FILE's stem + `-train`/`-test` when split; the card as `<stem>.README.md`."""
    if splits == ["train"]:
        names = {"train": out.name}
    else:
        names = {split: f"{out.stem}-{split}{out.suffix}" for split in splits}
    names["card"] = f"{out.stem}.README.md"
    return names


class Command(BaseCommand):
    help = (
        "Export a project's labels as a dataset file, here and now (no worker). The extension "
        "of --out picks JSON Lines, Parquet or CSV. The data card is written beside it as "
        "<stem>.README.md; with --test-share the data goes to <stem>-train and <stem>-test."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project_slug")
        parser.add_argument("--format", required=True, choices=Export.Format.values)
        parser.add_argument("--out", required=True, type=Path, help="FILE.jsonl|.parquet|.csv")
        parser.add_argument(
            "--options",
            default="{}",
            help='Filters and settings as JSON, e.g. \'{"min_agreement": 0.7, "margin": true}\'.',
        )
        parser.add_argument("--test-share", type=float, help="Share of prompts in a test split.")
        parser.add_argument("--seed", type=int, help="Seed of the split.")
        parser.add_argument(
            "--no-pseudonymise",
            action="store_true",
            help="Write annotators' usernames instead of keyed hashes.",
        )

    def handle(self, *args: Any, project_slug: str, out: Path, **opts: Any) -> None:
        project = Project.objects.filter(slug=project_slug).first()
        if project is None:
            raise CommandError(f"No project with slug {project_slug!r}.")
        try:
            raw = json.loads(opts["options"])
        except json.JSONDecodeError as exc:
            raise CommandError(f"--options is not JSON: {exc}") from None
        if not isinstance(raw, dict):
            raise CommandError("--options must be a JSON object.")
        if opts["test_share"] is not None:
            raw["test_share"] = opts["test_share"]
        if opts["seed"] is not None:
            raw["seed"] = opts["seed"]
        if opts["no_pseudonymise"]:
            raw["pseudonymise_annotators"] = False
        try:
            options = ExportOptions.model_validate(raw)
            file_format = export_file_format_for(out.name)
        except ValidationError as exc:
            raise CommandError("; ".join(format_validation_error(exc))) from None
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        names = output_names(out, export_splits(options))
        done = [0]

        def advance(count: int) -> None:
            done[0] += count
            if done[0] % 10_000 < count:
                self.stderr.write(f"  {done[0]} items")

        try:
            result = export_write(
                project=project,
                export_format=opts["format"],
                file_format=file_format,
                options=options,
                outbox=DirectoryOutbox(out.resolve().parent, names),
                advance=advance,
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from None
        for entry in result.files:
            self.stdout.write(f"{entry['path']}: {entry['rows']} rows, sha256 {entry['sha256']}")
        self.stdout.write(self.style.SUCCESS(f"Data card: {result.card_path}"))
