"""Where an export's files are written while it runs, and how they become visible.

Every file is written under a temporary name and published only when all of them are
complete: renamed in place on a local disk (an atomic rename), or uploaded to remote
storage, where an object appears only once its upload is whole. `discard` removes
whatever was written, so a failed export leaves no file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path

from django.core.files import File
from django.core.files.storage import FileSystemStorage, default_storage


class DirectoryOutbox:
    """Files in one local folder, each written as `.<name>.partial` and renamed on publish."""

    def __init__(self, directory: Path, names: dict[str, str]) -> None:
        self.directory = directory
        self.names = names  # key (train, test, card) → final file name
        self.directory.mkdir(parents=True, exist_ok=True)
        self._published: list[Path] = []

    def temp_path(self, key: str) -> Path:
        return self.directory / f".{self.names[key]}.partial"

    def publish(self) -> dict[str, str]:
        """Rename every temporary file to its final name; return key → final path."""
        published = {}
        for key, name in self.names.items():
            final = self.directory / name
            os.replace(self.temp_path(key), final)
            self._published.append(final)
            published[key] = str(final)
        return published

    def discard(self) -> None:
        for key in self.names:
            self.temp_path(key).unlink(missing_ok=True)
        for path in self._published:
            path.unlink(missing_ok=True)


class StorageOutbox:
    """Files for the default storage under `prefix/`: a folder of MEDIA_ROOT on a local disk,
    a local scratch folder then an upload otherwise."""

    def __init__(self, prefix: str, names: dict[str, str]) -> None:
        self.prefix, self.names = prefix, names
        self._is_local = isinstance(default_storage, FileSystemStorage)
        if self._is_local:
            self._local = DirectoryOutbox(Path(default_storage.path(prefix)), names)
        else:
            self._scratch = Path(tempfile.mkdtemp(prefix="palate-export-"))
            self._local = DirectoryOutbox(self._scratch, names)
        self._uploaded: list[str] = []

    def temp_path(self, key: str) -> Path:
        return self._local.temp_path(key)

    def publish(self) -> dict[str, str]:
        """Make the files visible; return key → storage name."""
        if self._is_local:
            self._local.publish()
            return {key: f"{self.prefix}/{name}" for key, name in self.names.items()}
        published = {}
        for key, name in self.names.items():
            with self.temp_path(key).open("rb") as handle:
                stored = default_storage.save(f"{self.prefix}/{name}", File(handle, name=name))
            self._uploaded.append(stored)
            published[key] = stored
        shutil.rmtree(self._scratch, ignore_errors=True)
        return published

    def discard(self) -> None:
        self._local.discard()
        for name in self._uploaded:
            default_storage.delete(name)
        if not self._is_local:
            shutil.rmtree(self._scratch, ignore_errors=True)
        else:
            with contextlib.suppress(OSError):  # only an empty folder is removed
                self._local.directory.rmdir()
