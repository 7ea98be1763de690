"""Palate settings: one module, every deploy-specific value from the environment.

The defaults give the embedded single-machine setup (SQLite under var/, a Celery
broker on the filesystem, files under var/media/). Production is switched on by
variables, never by a second settings file; `deploy/.env.example` lists them all.
"""

from __future__ import annotations

import ipaddress
import os
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str) -> str:
    return os.environ.get(name, default)


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name} must be a boolean (true/false), got {raw!r}")


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        return int(raw)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, got {raw!r}") from None


def env_list(name: str, default: list[str]) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return default
    return [item.strip() for item in raw.split(",") if item.strip()]


def env_judge_endpoints(name: str) -> dict[str, str]:
    """`JUDGE_X=https://host/v1,JUDGE_Y=…`: each extra judge key and the one endpoint it may
    be sent to."""
    bound: dict[str, str] = {}
    for item in env_list(name, []):
        key, sep, url = (part.strip() for part in item.partition("="))
        if not sep or not key.startswith("JUDGE_") or not key.isupper() or not url:
            raise ImproperlyConfigured(
                f"{name}: write SETTING=URL pairs separated by commas, each SETTING starting "
                f"with JUDGE_ (got {item!r})"
            )
        if urlparse(url).scheme not in ("http", "https") or not urlparse(url).netloc:
            raise ImproperlyConfigured(
                f"{name}: {key}'s endpoint must be an http(s) URL, got {url!r}"
            )
        bound[key] = url
    return bound


_HOST_NAME = re.compile(r"^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]{0,62})(\.[a-z0-9_][a-z0-9_-]{0,62})*$")


def env_hosts(name: str) -> list[str]:
    """`host,10.0.0.5,10.1.0.0/16,::1`: host names, IP addresses or networks, lower-cased."""
    hosts = []
    for item in env_list(name, []):
        host = item.lower().rstrip(".")
        try:
            ipaddress.ip_network(host, strict=False)
        except ValueError:
            if not _HOST_NAME.match(host):
                raise ImproperlyConfigured(
                    f"{name}: give host names, IP addresses or networks (like 10.0.0.0/8) "
                    f"separated by commas, without scheme or port (got {item!r})"
                ) from None
        hosts.append(host)
    return hosts


VAR_DIR = Path(env_str("PALATE_VAR_DIR", str(BASE_DIR / "var")))

DEBUG = env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG:
        raise ImproperlyConfigured("SECRET_KEY must be set when DEBUG is off")
    SECRET_KEY = "django-insecure-palate-development-only"  # noqa: S105 - DEBUG only

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["127.0.0.1", "localhost", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_htmx",
    "template_partials",
    "csp",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",  # log-in throttling (apps/accounts/throttle.py)
    "apps.core",
    "apps.accounts",
    "apps.prompts",
    "apps.rubrics",
    "apps.annotation",
    "apps.imports",
    "apps.reward_models",
    "apps.rewards",
    "apps.exports",
    "apps.demo",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "apps.core.middleware.CSPMiddleware",
    "django_htmx.middleware.HtmxMiddleware",
    "axes.middleware.AxesMiddleware",  # turns a locked-out log-in into the lockout page
    "apps.core.middleware.RefuseNulInQueryMiddleware",
]
if not DEBUG:
    # Production serves static files from the app (whitenoise, in the `web` extra);
    # runserver serves them itself in DEBUG.
    MIDDLEWARE.insert(1, "whitenoise.middleware.WhiteNoiseMiddleware")

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"
ASGI_APPLICATION = "config.asgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "csp.context_processors.nonce",
            ],
        },
    }
]

# Database: DATABASE_URL, else a SQLite file under var/ in WAL mode so the web
# server and the local worker can write side by side.
_database_url = os.environ.get("DATABASE_URL", "")
if _database_url:
    try:
        # Connections live 60 s and are checked before each request reuses one, so one
        # that a database restart closed is replaced instead of failing the request.
        DATABASES = {
            "default": dj_database_url.parse(
                _database_url, conn_max_age=60, conn_health_checks=True
            )
        }
    except Exception as exc:  # dj-database-url raises several kinds
        raise ImproperlyConfigured(f"DATABASE_URL is not a valid database URL: {exc}") from exc
    _postgres = DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql"
    if _postgres and env_bool("DATABASE_PREPARED_STATEMENTS", True):
        # The annotation hot path's statements (apps.core.rawsql.cursor) are prepared on
        # their second run; Django's own cursors never prepare. Turn off behind a pooler
        # in transaction mode that cannot keep prepared statements (PgBouncer < 1.21).
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 1
else:
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": VAR_DIR / "palate.sqlite3",
            "OPTIONS": {
                "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
                "transaction_mode": "IMMEDIATE",
                "timeout": 20,
            },
        }
    }

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "accounts.User"
LOGIN_URL = "accounts:login"
# Log-in throttling (django-axes, see apps/accounts/throttle.py): LOGIN_FAILURE_LIMIT wrong
# passwords for one account, or from one client address, lock log-ins for that account or
# address until LOGIN_LOCKOUT_SECONDS after the last failure. Wrong API token keys count
# per address the same way (429 past the limit). TRUSTED_PROXY_COUNT: how many proxies in
# front of the web server append to X-Forwarded-For (0: the client is REMOTE_ADDR).
LOGIN_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 10)
LOGIN_LOCKOUT_SECONDS = env_int("LOGIN_LOCKOUT_SECONDS", 900)
TRUSTED_PROXY_COUNT = env_int("TRUSTED_PROXY_COUNT", 0)
AUTHENTICATION_BACKENDS = [
    "apps.accounts.throttle.LoginThrottleBackend",
    "django.contrib.auth.backends.ModelBackend",
]
AXES_FAILURE_LIMIT = LOGIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(seconds=LOGIN_LOCKOUT_SECONDS)
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_DISABLE_ACCESS_LOG = True  # failures only: a successful log-in writes nothing
AXES_LOCKOUT_CALLABLE = "apps.accounts.throttle.lockout_response"
AXES_CLIENT_IP_CALLABLE = "apps.accounts.throttle.client_ip"
LOGIN_REDIRECT_URL = "accounts:project_list"
LOGOUT_REDIRECT_URL = "accounts:login"

# Accounts. Who may create projects: `staff` (users marked staff) or `all` (anyone who can
# log in). Invitation links work once, until INVITATION_EXPIRY_DAYS after they were sent;
# password reset links until PASSWORD_RESET_TIMEOUT seconds.
PROJECT_CREATORS = env_str("PROJECT_CREATORS", "staff")
if PROJECT_CREATORS not in ("staff", "all"):
    raise ImproperlyConfigured(
        f"PROJECT_CREATORS must be 'staff' or 'all', got {PROJECT_CREATORS!r}"
    )
INVITATION_EXPIRY_DAYS = env_int("INVITATION_EXPIRY_DAYS", 7)
if INVITATION_EXPIRY_DAYS < 1:
    raise ImproperlyConfigured(
        f"INVITATION_EXPIRY_DAYS must be at least 1, got {INVITATION_EXPIRY_DAYS}"
    )
PASSWORD_RESET_TIMEOUT = env_int("PASSWORD_RESET_TIMEOUT", 3 * 24 * 3600)

# E-mail (invitations, password resets): printed on the console by default; set
# EMAIL_BACKEND=django.core.mail.backends.smtp.EmailBackend and EMAIL_HOST… to send it.
EMAIL_BACKEND = env_str("EMAIL_BACKEND", "django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env_str("DEFAULT_FROM_EMAIL", "palate@localhost")
EMAIL_HOST = env_str("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
EMAIL_HOST_USER = env_str("EMAIL_HOST_USER", "")
EMAIL_HOST_PASSWORD = env_str("EMAIL_HOST_PASSWORD", "")
EMAIL_USE_TLS = env_bool("EMAIL_USE_TLS", False)
EMAIL_USE_SSL = env_bool("EMAIL_USE_SSL", False)
EMAIL_TIMEOUT = env_int("EMAIL_TIMEOUT", 10)

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(VAR_DIR / "static")))
MEDIA_URL = "media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(VAR_DIR / "media")))

# Files (uploads, artifacts, exports): local disk, or S3-compatible storage.
STORAGE_BACKEND = env_str("STORAGE_BACKEND", "local")
if STORAGE_BACKEND == "local":
    _default_storage: dict[str, object] = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
    }
elif STORAGE_BACKEND == "s3":
    _default_storage = {
        "BACKEND": "storages.backends.s3.S3Storage",
        "OPTIONS": {
            "bucket_name": env_str("S3_BUCKET", ""),
            "endpoint_url": env_str("S3_ENDPOINT_URL", "") or None,
            "access_key": env_str("S3_ACCESS_KEY_ID", "") or None,
            "secret_key": env_str("S3_SECRET_ACCESS_KEY", "") or None,
            "region_name": env_str("S3_REGION", "") or None,
            "file_overwrite": False,
        },
    }
    if not _default_storage["OPTIONS"]["bucket_name"]:  # type: ignore[index]
        raise ImproperlyConfigured("S3_BUCKET must be set when STORAGE_BACKEND=s3")
else:
    raise ImproperlyConfigured(f"STORAGE_BACKEND must be 'local' or 's3', got {STORAGE_BACKEND!r}")

STORAGES = {
    "default": _default_storage,
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        ),
    },
}

# Uploads: the import limit is ours; Django's in-memory threshold stays small so
# big files spool to disk instead of RAM.
IMPORT_MAX_UPLOAD_BYTES = env_int("IMPORT_MAX_UPLOAD_BYTES", 1024**3)
# What a worker reads of an import: the longest JSONL line or CSV row, and the most a
# Parquet row may unpack to (long-context chats, a few MiB, fit several times over); and
# what a Parquet file may unpack to in all, by default as much as a JSONL upload may hold.
IMPORT_MAX_LINE_BYTES = env_int("IMPORT_MAX_LINE_BYTES", 16 * 1024**2)
IMPORT_MAX_PARQUET_UNPACKED_BYTES = env_int(
    "IMPORT_MAX_PARQUET_UNPACKED_BYTES", IMPORT_MAX_UPLOAD_BYTES
)
# Failed imports' uploaded files are deleted this many hours after they failed (the job,
# with its errors, stays); a worker does it whenever it runs an import or starts.
IMPORT_FAILED_RETENTION_HOURS = env_int("IMPORT_FAILED_RETENTION_HOURS", 168)
# An import that skips invalid rows lists at most this many in its report (the rest are
# counted): each entry holds the row and its errors, and tiny rows have long errors.
IMPORT_SKIPPED_REPORT_MAX_ROWS = env_int("IMPORT_SKIPPED_REPORT_MAX_ROWS", 100_000)
# Labels arriving within this many seconds share one agreement recompute.
AGREEMENT_DEBOUNCE_SECONDS = env_int("AGREEMENT_DEBOUNCE_SECONDS", 10)
DATA_UPLOAD_MAX_MEMORY_SIZE = 10 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024

# Cache: short-lived shared state such as live job progress. A file cache under
# var/ is shared by the web server and the local worker; with several hosts, point
# CACHE_URL at Redis.
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "apps.core.cache.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL == "":
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.filebased.FileBasedCache",
            "LOCATION": str(VAR_DIR / "cache"),
        }
    }
else:
    raise ImproperlyConfigured(f"CACHE_URL must be empty or a redis:// URL, got {CACHE_URL!r}")

# Celery: Redis (or any broker URL) in production; a filesystem broker under var/
# for the embedded setup, which needs no server.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if urlparse(CELERY_BROKER_URL).scheme == "filesystem":
    _broker_dir = VAR_DIR / "broker"
    for _sub in ("queue", "processed", "control"):
        (_broker_dir / _sub).mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "control_folder": str(_broker_dir / "control"),
        "store_processed": False,
    }
# Redis hands a message that a worker took but never acknowledged (the worker was killed)
# to another worker after the visibility timeout: one option of the Redis transport, for
# every queue (kombu keeps one unacknowledged set per Redis database). It fits the longest
# task of the `default` queue (agreement recomputes take seconds; imports and exports at the
# upload limits, minutes), so a killed worker's job comes back within
# CELERY_VISIBILITY_TIMEOUT_SECONDS + CELERY_RESTORE_INTERVAL_SECONDS. A `gpu` task that runs
# longer (training, a large score run) is then delivered a second time; the copy finds its
# row claimed (compare-and-set from queued) and returns, and a training run whose worker
# stopped its heartbeat is failed. It must exceed every countdown (the agreement debounce).
CELERY_VISIBILITY_TIMEOUT_SECONDS = env_int("CELERY_VISIBILITY_TIMEOUT_SECONDS", 900)
# How often a worker sweeps the unacknowledged set for messages past the timeout.
CELERY_RESTORE_INTERVAL_SECONDS = max(1, min(60, CELERY_VISIBILITY_TIMEOUT_SECONDS // 10))
if urlparse(CELERY_BROKER_URL).scheme in ("redis", "rediss"):
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": CELERY_VISIBILITY_TIMEOUT_SECONDS,
        "unacked_restore_interval": CELERY_RESTORE_INTERVAL_SECONDS,
        "unacked_restore_throttle": 1,  # scan on every sweep, not every tenth
    }
    if AGREEMENT_DEBOUNCE_SECONDS >= CELERY_VISIBILITY_TIMEOUT_SECONDS:
        raise ImproperlyConfigured(
            "AGREEMENT_DEBOUNCE_SECONDS must be below CELERY_VISIBILITY_TIMEOUT_SECONDS: a job "
            "waiting for its countdown longer than the timeout would be delivered twice"
        )
# Results: only the synchronous scoring endpoint waits for one (every job keeps its
# state in our own tables). Redis brokers keep them in the same Redis; the embedded
# setup in files under var/.
_default_results = (
    CELERY_BROKER_URL
    if urlparse(CELERY_BROKER_URL).scheme in ("redis", "rediss")
    else f"file://{VAR_DIR / 'results'}"
)
CELERY_RESULT_BACKEND = env_str("CELERY_RESULT_BACKEND", _default_results)
if CELERY_RESULT_BACKEND.startswith("file://"):
    Path(CELERY_RESULT_BACKEND.removeprefix("file://")).mkdir(parents=True, exist_ok=True)
if CELERY_RESULT_BACKEND.startswith(("redis://", "rediss://")):
    # A web process subscribing for a scoring answer reconnects to a Redis that is down a
    # few times (about 1 s), not Celery's default 20 (about 20 s), before answering 503.
    CELERY_RESULT_BACKEND_TRANSPORT_OPTIONS = {
        "retry_policy": {"max_retries": 2, "interval_start": 0, "interval_step": 0.5}
    }
CELERY_RESULT_EXPIRES = 3600
CELERY_TASK_DEFAULT_QUEUE = "default"
CELERY_TASK_IGNORE_RESULT = True  # job state lives in our own tables
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_TASK_ALWAYS_EAGER = False

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.CachedTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "apps.core.api.Pagination",
    "PAGE_SIZE": 50,
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "apps.core.api.exception_handler",
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "apps.core.negotiation.ContentNegotiation",
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # DRF's parsers with limits: no NUL character, JSON at most MAX_JSON_DEPTH deep.
    "DEFAULT_PARSER_CLASSES": [
        "apps.core.parsers.JSONParser",
        "apps.core.parsers.MultiPartParser",
        "apps.core.parsers.FormParser",
    ],
    "DEFAULT_METADATA_CLASS": "apps.core.metadata.Metadata",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Palate API",
    "DESCRIPTION": (
        "Preference labels and reward design. Authenticate with `Authorization: Token <key>`."
    ),
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # One name for a judgment's choice wherever it appears (labels, gold answers).
    "ENUM_NAME_OVERRIDES": {
        "LabelChoiceEnum": ["a", "b", "tie", "both_bad"],
        "StatusEnum": "apps.core.models.JobStatus",
        "TrainingRunStatusEnum": "apps.reward_models.models.TrainingRun.Status",
    },
}

# Security headers. The CSP allows no inline script or style: JavaScript lives in
# static/js, and htmx's own indicator styles are switched off in base.html.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
X_FRAME_OPTIONS = "DENY"
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SECURE = not DEBUG
CSRF_COOKIE_SECURE = not DEBUG
SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", False)
SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 0 if DEBUG else 3600)
if env_bool("USE_X_FORWARDED_PROTO", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

DEMO_PASSWORD = env_str("DEMO_PASSWORD", "palate-demo")

# Rewards. The scoring endpoint hands a batch (at most SCORE_MAX_ITEMS) to a worker
# and waits SCORE_TIMEOUT_SECONDS for the answer; workers encode SCORE_BATCH_SIZE
# texts at a time. The rubric judge calls an OpenAI-compatible chat endpoint; a
# component may name another setting that holds its key (`api_key_setting`). Keys go only
# where the operator says: JUDGE_API_KEY to JUDGE_API_URL, any other JUDGE_* key to the
# endpoint JUDGE_KEY_ENDPOINTS binds it to (a designer cannot send a key elsewhere).
# A judge may call only the hosts of JUDGE_API_URL and JUDGE_KEY_ENDPOINTS and those in
# JUDGE_ALLOWED_HOSTS; loopback, private, link-local and reserved addresses only where
# the operator lists the address or its network (apps.rewards.services.functions).
# Each text component (regex, contains, json_valid, text_metric) gets SCORE_ITEM_SECONDS
# per item; an item that takes longer has no value.
SCORE_MAX_ITEMS = 256
SCORE_TIMEOUT_SECONDS = env_int("SCORE_TIMEOUT_SECONDS", 60)
SCORE_BATCH_SIZE = env_int("SCORE_BATCH_SIZE", 128)
SCORE_ITEM_SECONDS = env_int("SCORE_ITEM_SECONDS", 5)
if SCORE_ITEM_SECONDS < 1:
    raise ImproperlyConfigured(f"SCORE_ITEM_SECONDS must be at least 1, got {SCORE_ITEM_SECONDS}")
JUDGE_API_URL = env_str("JUDGE_API_URL", "")
JUDGE_API_KEY = env_str("JUDGE_API_KEY", "")
JUDGE_MODEL = env_str("JUDGE_MODEL", "")
JUDGE_KEY_ENDPOINTS = env_judge_endpoints("JUDGE_KEY_ENDPOINTS")
JUDGE_ALLOWED_HOSTS = env_hosts("JUDGE_ALLOWED_HOSTS")

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
    "loggers": {
        "django.db.backends": {"level": "INFO"},
        # django-axes: failed log-ins and lockouts (warnings), not its per-attempt chatter.
        "axes": {"level": "WARNING"},
    },
}
