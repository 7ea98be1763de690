from __future__ import annotations

import os

from django.core.cache import caches
from django.core.wsgi import get_wsgi_application
from django.urls import get_resolver

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
application = get_wsgi_application()
# Import the URLconf, and with it every view, now: Django would on each worker's first
# request, which then took a second of CPU.
get_resolver().url_patterns  # noqa: B018
# And the cache backend with its client library (apps/core/cache.py): no connection yet.
caches["default"]  # noqa: B018
