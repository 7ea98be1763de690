"""Account settings read at start (config/settings.py)."""

from __future__ import annotations

from tests.test_broker_settings import settings_with


def test_a_project_creators_value_other_than_staff_or_all_stops_the_app_at_start() -> None:
    result = settings_with(PROJECT_CREATORS="admins")

    assert result.returncode == 1
    assert "PROJECT_CREATORS must be 'staff' or 'all', got 'admins'" in result.stderr


def test_an_invitation_expiry_below_one_day_stops_the_app_at_start() -> None:
    result = settings_with(INVITATION_EXPIRY_DAYS="0")

    assert result.returncode == 1
    assert "INVITATION_EXPIRY_DAYS must be at least 1, got 0" in result.stderr
