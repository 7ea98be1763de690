from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from apps.accounts.models import Membership, Project, Role, User
from tests.factories import PASSWORD, MembershipFactory, ProjectFactory, UserFactory

__all__ = ["PASSWORD"]


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings) -> None:  # type: ignore[no-untyped-def]
    """PBKDF2's real cost makes each test user take a third of a second to create."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture(autouse=True)
def _empty_cache() -> None:
    """Each test starts with an empty cache (live progress is kept there)."""
    from django.core.cache import cache

    cache.clear()


@pytest.fixture
def project(db) -> Project:  # type: ignore[no-untyped-def]
    return ProjectFactory()


def _member(project: Project, role: Role) -> User:
    user = UserFactory(username=f"{role}-{project.slug}")
    MembershipFactory(project=project, user=user, role=role)
    return user


@pytest.fixture
def admin_user(project: Project) -> User:
    return _member(project, Role.ADMIN)


@pytest.fixture
def designer(project: Project) -> User:
    return _member(project, Role.DESIGNER)


@pytest.fixture
def annotator(project: Project) -> User:
    return _member(project, Role.ANNOTATOR)


@pytest.fixture
def viewer(project: Project) -> User:
    return _member(project, Role.VIEWER)


@pytest.fixture
def outsider(db) -> User:  # type: ignore[no-untyped-def]
    """A signed-up user who is not a member of `project`."""
    return UserFactory(username="outsider")


@pytest.fixture
def staff(db) -> User:  # type: ignore[no-untyped-def]
    """A staff user, who may create projects, and is not a member of `project`."""
    return UserFactory(username="staff", is_staff=True)


@pytest.fixture
def api_client() -> APIClient:
    return APIClient()


def membership_of(user: User, project: Project) -> Membership | None:
    return Membership.objects.filter(user=user, project=project).first()


def celery_worker_start(*, extra_env: dict[str, str] | None = None, purge: bool = True):  # type: ignore[no-untyped-def]
    """Start a real Celery worker process on the test broker and database; wait until ready.

    `extra_env` overrides settings for that worker only (e.g. a short visibility timeout).
    """
    import os
    import subprocess
    import sys
    import time
    from pathlib import Path

    from django.conf import settings
    from django.db import connection
    from kombu import Connection

    from workers.queues import Queue

    db = connection.settings_dict
    host = db["HOST"] or "127.0.0.1"
    port = db["PORT"] or "5432"
    env = {
        **os.environ,
        "DATABASE_URL": (
            f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{host}:{port}/{db['NAME']}"
        ),
        "MEDIA_ROOT": str(settings.MEDIA_ROOT),
        **(extra_env or {}),
    }
    if purge:
        with Connection(settings.CELERY_BROKER_URL) as broker:  # drop jobs left by earlier runs
            for queue in Queue:
                broker.default_channel.queue_purge(queue)
    log = Path(settings.VAR_DIR) / "test-worker.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        worker = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool=solo",
                "--loglevel=INFO",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
            ],  # fmt: skip
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )
    deadline = time.monotonic() + 60
    while b"ready." not in log.read_bytes():
        if worker.poll() is not None or time.monotonic() > deadline:
            worker.kill()
            raise RuntimeError("the Celery worker did not start:\n" + log.read_text()[-3000:])
        time.sleep(0.2)
    return worker


def celery_worker_stop(worker) -> None:  # type: ignore[no-untyped-def]
    import subprocess

    worker.terminate()
    try:
        worker.wait(timeout=20)
    except subprocess.TimeoutExpired:
        worker.kill()


@pytest.fixture
def celery_worker_process(transactional_db):  # type: ignore[no-untyped-def]
    """A real Celery worker, in its own process, consuming from the test broker (Redis)
    and writing to the test database. Tests using it need committed data, hence
    `transactional_db`."""
    worker = celery_worker_start()
    yield worker
    celery_worker_stop(worker)


def wait_for(predicate, timeout: float = 60.0, interval: float = 0.2):  # type: ignore[no-untyped-def]
    """Poll until `predicate()` is truthy; return its value or fail after `timeout` seconds."""
    import time

    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        time.sleep(interval)
