"""The one way Palate says how long ago something happened."""

from __future__ import annotations

import datetime

from django.utils import timezone
from django.utils.timesince import timesince

JUST_NOW = datetime.timedelta(minutes=1)


def relative_time(value: datetime.datetime, *, now: datetime.datetime | None = None) -> str:
    """How long before `now` (default: the current time) `value` was, in words.

    Under a minute, and for a time a skewed clock puts slightly in the future: "just now".
    Otherwise Django's timesince with "ago" ("1 minute ago", "2 hours ago"), so a page never
    reads "0 minutes ago"."""
    now = now or timezone.now()
    if now - value < JUST_NOW:
        return "just now"
    return f"{timesince(value, now)} ago"
