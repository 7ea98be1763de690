"""Writing reward models and getting their files onto the worker that scores with them."""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from apps.accounts.models import Project
from apps.core.errors import ApplicationError
from apps.reward_models.models import RewardModel
from workers.contracts import HEAD_FILES

_LOCAL_CACHE = Path(tempfile.gettempdir()) / "palate-heads"


@transaction.atomic
def reward_model_create(
    *,
    project: Project,
    name: str,
    head_kind: str,
    directory: Path,
    backbone: str = "all-MiniLM-L6-v2",
    metrics: dict[str, float] | None = None,
) -> RewardModel:
    """Copy a saved head (the files of workers.contracts.HEAD_FILES in `directory`) to storage.

    The storage prefix is new for every model, so a model's files never change.
    """
    missing = [name for name in HEAD_FILES if not (directory / name).is_file()]
    if missing:
        raise ApplicationError(f"The head in {directory} lacks {', '.join(missing)}.")
    prefix = f"reward_models/{project.pk}/{uuid.uuid4().hex}"
    for file_name in HEAD_FILES:
        default_storage.save(
            f"{prefix}/{file_name}", ContentFile((directory / file_name).read_bytes())
        )
    return RewardModel.objects.create(
        project=project,
        name=name,
        backbone=backbone,
        head_kind=head_kind,
        artifact_path=prefix,
        metrics=metrics or {},
    )


@transaction.atomic
def reward_model_promote(*, model: RewardModel) -> RewardModel:
    """Make `model` its project's active model; the previously promoted one steps down."""
    RewardModel.objects.select_for_update().filter(project_id=model.project_id).exists()
    RewardModel.objects.filter(project_id=model.project_id, is_promoted=True).exclude(
        pk=model.pk
    ).update(is_promoted=False)
    model.is_promoted = True
    model.save(update_fields=["is_promoted", "updated_at"])
    return model


def reward_model_local_directory(*, model: RewardModel) -> Path:
    """A local folder holding the model's head files, fetched from storage once per worker.

    Works the same for local disk and S3: the files are copied into a temporary folder
    named after the storage prefix (which never changes content), and reused after.
    """
    target = _LOCAL_CACHE / model.artifact_path.replace("/", "_")
    if all((target / name).is_file() for name in HEAD_FILES):
        return target
    target.mkdir(parents=True, exist_ok=True)
    for file_name in HEAD_FILES:
        try:
            with default_storage.open(f"{model.artifact_path}/{file_name}", "rb") as source:
                data = source.read()
        except FileNotFoundError:
            raise ApplicationError(
                f"Reward model {model.pk} has no {file_name} in storage."
            ) from None
        partial = target / f"{file_name}.part"
        partial.write_bytes(data)
        partial.replace(target / file_name)  # atomic: a reader never sees half a file
    return target
