"""Quill settings: one module, read from environment variables.

Every variable is listed with its default in docs/configuration.md and
.env.example. Unset DATABASE_URL means the embedded default: SQLite and
local files under ./var, no services needed.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import dj_database_url
from celery.schedules import crontab
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from quill import secret_key
from quill.env import env_bool, env_choice, env_float, env_int, env_list, env_str
from quill.s3 import s3_client_config
from quill.secrets import read_secret, with_password
from quill.tls import plaintext_problems, postgres_tls_options, service_tls_files

BASE_DIR = Path(__file__).resolve().parent.parent
VAR_DIR = Path(env_str("QUILL_VAR_DIR", str(BASE_DIR / "var")))

QUILL_ENV = env_choice("QUILL_ENV", "development", {"development", "production"})
PRODUCTION = QUILL_ENV == "production"

# Every secret may come from a file instead: NAME_FILE=/run/secrets/... (quill/secrets.py).
# Production must be given a key; a development installation makes its own on first run
# (QUILL_VAR_DIR/secret-key) and serves a public or weak one only to this computer (quill/secret_key.py).
SECRET_KEY = read_secret("DJANGO_SECRET_KEY")
if not SECRET_KEY and not PRODUCTION:
    SECRET_KEY = secret_key.installation_key(VAR_DIR)
DEBUG = env_bool("DJANGO_DEBUG", False)
ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", [] if PRODUCTION else ["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

# --- Database -----------------------------------------------------------------
DATABASE_URL = read_secret("DATABASE_URL")
# The password apart from the URL (e.g. QUILL_DATABASE_PASSWORD_FILE=/run/secrets/postgres_password).
QUILL_DATABASE_PASSWORD = read_secret("QUILL_DATABASE_PASSWORD")
EMBEDDED = DATABASE_URL == ""
DATABASES: dict[str, dict[str, Any]]
if EMBEDDED:
    VAR_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": str(VAR_DIR / "quill.sqlite3"),
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE"},
        }
    }
else:
    DATABASES = {
        "default": {
            **dj_database_url.parse(DATABASE_URL, conn_max_age=env_int("QUILL_DB_CONN_MAX_AGE", 60)),
            # A `SELECT 1` before a reused connection's first query in each request: a PostgreSQL
            # restart becomes a reconnect instead of errors. One round trip per request (issue 21).
            "CONN_HEALTH_CHECKS": env_bool("QUILL_DB_HEALTH_CHECKS", True),
        }
    }
    if QUILL_DATABASE_PASSWORD:
        DATABASES["default"]["PASSWORD"] = QUILL_DATABASE_PASSWORD
# Verified TLS to PostgreSQL (docs/security.md, "TLS"): verify-full checks the server's certificate
# against QUILL_DB_SSLROOTCERT and its host name; SSLCERT and SSLKEY are Quill's client certificate.
QUILL_DB_SSLMODE = env_choice(
    "QUILL_DB_SSLMODE", "", {"", "disable", "allow", "prefer", "require", "verify-ca", "verify-full"}
)
QUILL_DB_SSLROOTCERT = env_str("QUILL_DB_SSLROOTCERT", "")
QUILL_DB_SSLCERT = env_str("QUILL_DB_SSLCERT", "")
QUILL_DB_SSLKEY = env_str("QUILL_DB_SSLKEY", "")
if not EMBEDDED:
    DATABASES["default"].setdefault("OPTIONS", {}).update(
        postgres_tls_options(
            sslmode=QUILL_DB_SSLMODE, sslrootcert=QUILL_DB_SSLROOTCERT, sslcert=QUILL_DB_SSLCERT, sslkey=QUILL_DB_SSLKEY
        )
    )
# Hosts on a private network Quill may reach without verified TLS in production (a compose
# service name, a 10.x address): nothing else gets a plaintext or unverified connection.
QUILL_TLS_PLAINTEXT_HOSTS = env_list("QUILL_TLS_PLAINTEXT_HOSTS", [])
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Applications ---------------------------------------------------------------
INSTALLED_APPS = [
    "quill.apps.QuillAdminConfig",
    "quill.apps.QuillConfig",  # before staticfiles: its runserver refuses a public key beyond loopback
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django_otp",
    "django_otp.plugins.otp_totp",
    "axes",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI's files, served from STATIC_URL (no CDN)
    "apps.accounts",
    "apps.audit",
    "apps.patients",
    "apps.files",
    "apps.documents",
    "apps.fhir",
    "apps.letters",
    "apps.operations",
    "apps.outbox",
    "apps.inbox",
    "apps.reviews",
]

MIDDLEWARE = [
    "quill.middleware.RequestIdMiddleware",
    "quill.csp.ContentSecurityPolicyMiddleware",
    "quill.middleware.LoopbackOnlyWithPublicKeyMiddleware",
    "quill.input_guard.InputGuardMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "apps.accounts.middleware.SlidingSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "apps.audit.middleware.DenialAuditMiddleware",
    "django_otp.middleware.OTPMiddleware",
    "apps.accounts.middleware.IpAllowlistMiddleware",
    "apps.accounts.middleware.TotpRequiredMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "quill.urls"
WSGI_APPLICATION = "quill.wsgi.application"
ASGI_APPLICATION = "quill.asgi.application"

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
                "quill.context_processors.quill",
            ],
        },
    },
]

# --- Accounts, passwords, sessions, lockout ------------------------------------------
AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
    "django.contrib.auth.hashers.ScryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {
        "NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator",
        "OPTIONS": {"user_attributes": ("email", "full_name")},
    },
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "accounts:login"
LOGIN_REDIRECT_URL = "patients:list"
LOGOUT_REDIRECT_URL = "accounts:login"

SESSION_ENGINE = "django.contrib.sessions.backends.db"
# Messages stay on the server: an API token's key is shown once in a message and must not ride in a cookie.
MESSAGE_STORAGE = "django.contrib.messages.storage.session.SessionStorage"
QUILL_SESSION_IDLE_SECONDS = env_int("QUILL_SESSION_IDLE_SECONDS", 30 * 60)
SESSION_COOKIE_AGE = QUILL_SESSION_IDLE_SECONDS
# Sliding idle timeout: apps.accounts.middleware.SlidingSessionMiddleware moves the expiry
# forward at most once per refresh interval, not with a write on every request.
QUILL_SESSION_REFRESH_SECONDS = env_int("QUILL_SESSION_REFRESH_SECONDS", 60)
if not 1 <= QUILL_SESSION_REFRESH_SECONDS < QUILL_SESSION_IDLE_SECONDS:
    raise ImproperlyConfigured(
        "QUILL_SESSION_REFRESH_SECONDS must be at least 1 and less than QUILL_SESSION_IDLE_SECONDS"
    )
SESSION_SAVE_EVERY_REQUEST = False
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_SAMESITE = "Lax"

AXES_FAILURE_LIMIT = env_int("QUILL_LOCKOUT_FAILURES", 5)
AXES_COOLOFF_TIME = timedelta(minutes=env_int("QUILL_LOCKOUT_COOLOFF_MINUTES", 15))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "accounts/locked_out.html"
AXES_USERNAME_FORM_FIELD = "username"
AXES_ENABLE_ACCESS_FAILURE_LOG = True
AXES_VERBOSE = False
AXES_IPWARE_PROXY_COUNT = env_int("QUILL_PROXY_COUNT", 0) or None
AXES_IPWARE_META_PRECEDENCE_ORDER = (
    ["HTTP_X_FORWARDED_FOR", "REMOTE_ADDR"] if env_int("QUILL_PROXY_COUNT", 0) else ["REMOTE_ADDR"]
)

OTP_TOTP_ISSUER = env_str("QUILL_TOTP_ISSUER", "Quill")
QUILL_PROXY_COUNT = env_int("QUILL_PROXY_COUNT", 0)
QUILL_BREAK_GLASS_MINUTES = env_int("QUILL_BREAK_GLASS_MINUTES", 60)
QUILL_API_TOKEN_DAYS = env_int("QUILL_API_TOKEN_DAYS", 365)

# --- Internationalisation ------------------------------------------------------------
LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("QUILL_TIME_ZONE", "Europe/London")
USE_I18N = True
USE_TZ = True

# --- Static files and document storage -----------------------------------------------
STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = VAR_DIR / "static"

QUILL_STORAGE = env_choice("QUILL_STORAGE", "filesystem", {"filesystem", "s3"})
QUILL_FILES_DIR = Path(env_str("QUILL_FILES_DIR", str(VAR_DIR / "documents")))
# A presigned S3 URL cannot be revoked once issued (docs/security.md, "Download links"): keep it short.
QUILL_SIGNED_URL_SECONDS = env_int("QUILL_SIGNED_URL_SECONDS", 5 * 60)
if not 1 <= QUILL_SIGNED_URL_SECONDS <= 60 * 60:
    raise ImproperlyConfigured(
        f"QUILL_SIGNED_URL_SECONDS must be between 1 and 3600 (one hour); it is {QUILL_SIGNED_URL_SECONDS}. "
        "A download link cannot be withdrawn once issued, so it should live only as long as a browser needs "
        "to start the download (default 300)."
    )
# Encryption at rest (docs/security.md): SSE-S3 on every object by default in production.
# Empty means the default; "none" turns it off (the filesystem store ignores it).
_s3_sse = env_str("QUILL_S3_SSE", "").strip() or ("AES256" if PRODUCTION else "none")
QUILL_S3_SSE = "" if _s3_sse.lower() == "none" else _s3_sse
if QUILL_S3_SSE not in {"", "AES256", "aws:kms"}:
    raise ImproperlyConfigured(
        f"QUILL_S3_SSE must be AES256 (SSE-S3), aws:kms or none, not {_s3_sse!r} (docs/configuration.md)."
    )
# Stream large direct uploads with a Repr-Digest into S3 while they arrive (docs/documents.md).
QUILL_S3_STREAM_UPLOADS = env_bool("QUILL_S3_STREAM_UPLOADS", False)
QUILL_S3_ENDPOINT_URL = env_str("QUILL_S3_ENDPOINT_URL", "")
QUILL_S3_CA_BUNDLE = env_str("QUILL_S3_CA_BUNDLE", "")
QUILL_S3_CLIENT_CERT = env_str("QUILL_S3_CLIENT_CERT", "")
QUILL_S3_CLIENT_KEY = env_str("QUILL_S3_CLIENT_KEY", "")
if QUILL_STORAGE == "s3":
    _s3_options = {
        "bucket_name": env_str("QUILL_S3_BUCKET", "quill-documents"),
        "endpoint_url": QUILL_S3_ENDPOINT_URL or None,
        "verify": QUILL_S3_CA_BUNDLE or None,
        "region_name": env_str("QUILL_S3_REGION", "us-east-1"),
        "access_key": read_secret("QUILL_S3_ACCESS_KEY_ID", sensitive=False),
        "secret_key": read_secret("QUILL_S3_SECRET_ACCESS_KEY"),
        "addressing_style": env_str("QUILL_S3_ADDRESSING_STYLE", "path"),
        "signature_version": "s3v4",
        "client_config": s3_client_config(
            addressing_style=env_str("QUILL_S3_ADDRESSING_STYLE", "path"),
            connect_timeout=env_float("QUILL_S3_CONNECT_TIMEOUT_SECONDS", 5.0),
            read_timeout=env_float("QUILL_S3_READ_TIMEOUT_SECONDS", 60.0),
            max_attempts=env_int("QUILL_S3_MAX_ATTEMPTS", 3),
            client_cert=service_tls_files(QUILL_S3_CLIENT_CERT, QUILL_S3_CLIENT_KEY),
        ),
        "querystring_expire": QUILL_SIGNED_URL_SECONDS,
        "default_acl": None,
        "file_overwrite": False,
        "object_parameters": {"ServerSideEncryption": QUILL_S3_SSE} if QUILL_S3_SSE else {},
    }
    _documents_storage = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": _s3_options}
else:
    _documents_storage = {
        "BACKEND": "django.core.files.storage.FileSystemStorage",
        # No base_url: private files are never served by a static or media URL.
        "OPTIONS": {"location": str(QUILL_FILES_DIR), "base_url": None, "file_permissions_mode": 0o600},
    }
STORAGES = {
    "default": _documents_storage,
    "documents": _documents_storage,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# --- Uploads and documents -------------------------------------------------------------
QUILL_MAX_UPLOAD_BYTES = env_int("QUILL_MAX_UPLOAD_BYTES", 100 * 1024 * 1024)
QUILL_MAX_IMAGE_PIXELS = env_int("QUILL_MAX_IMAGE_PIXELS", 50_000_000)
QUILL_MAX_BULK_FILES = env_int("QUILL_MAX_BULK_FILES", 50)
# Intake (manage.py run_intake): a watched file is taken once unchanged this long (folders are
# also rescanned every half of it, events or not); IMAP is polled (or IDLEs) this long between passes.
QUILL_INTAKE_STABLE_SECONDS = env_float("QUILL_INTAKE_STABLE_SECONDS", 5.0)
QUILL_INTAKE_IMAP_POLL_SECONDS = env_float("QUILL_INTAKE_IMAP_POLL_SECONDS", 60.0)
# The inbox's category classifier learns from at most this many of an organisation's newest documents.
QUILL_INBOX_CLASSIFIER_MAX_DOCUMENTS = env_int("QUILL_INBOX_CLASSIFIER_MAX_DOCUMENTS", 2000)
# Each wait for a piece of a request body, under gunicorn without the proxy (quill/slow_clients.py).
QUILL_CLIENT_BODY_TIMEOUT_SECONDS = env_float("QUILL_CLIENT_BODY_TIMEOUT_SECONDS", 30.0)
FILE_UPLOAD_MAX_MEMORY_SIZE = 0  # always spool to a temporary file
FILE_UPLOAD_TEMP_DIR = env_str("QUILL_UPLOAD_TEMP_DIR", "") or None
DATA_UPLOAD_MAX_MEMORY_SIZE = 5 * 1024 * 1024
DATA_UPLOAD_MAX_NUMBER_FILES = QUILL_MAX_BULK_FILES

# --- Retention (apps/documents/retention_rules.py; docs/configuration.md "Retention") -----------------------
# Adults: this many years after the last clinical date of the patient's record; children are kept
# until their 25th birthday (26th if 17 at the last clinical date), or longer if a category says so.
QUILL_RETENTION_YEARS = env_int("QUILL_RETENTION_YEARS", 8)
QUILL_RETENTION_CATEGORY_YEARS: dict[str, int] = {}
for _entry in env_list("QUILL_RETENTION_CATEGORY_YEARS", []):
    _category, _, _years = _entry.partition("=")
    if not _category.strip() or not _years.strip().isdigit():
        raise ImproperlyConfigured(
            f"QUILL_RETENTION_CATEGORY_YEARS entries look like imaging=10,consent=15; {_entry!r} does not"
        )
    QUILL_RETENTION_CATEGORY_YEARS[_category.strip()] = int(_years)

# --- Virus scanning --------------------------------------------------------------------
QUILL_SCANNER = env_choice("QUILL_SCANNER", "none" if EMBEDDED else "clamd", {"clamd", "none"})
QUILL_CLAMD_SOCKET = env_str("QUILL_CLAMD_SOCKET", "")
QUILL_CLAMD_HOST = env_str("QUILL_CLAMD_HOST", "127.0.0.1")
QUILL_CLAMD_PORT = env_int("QUILL_CLAMD_PORT", 3310)
QUILL_CLAMD_TIMEOUT_SECONDS = env_float("QUILL_CLAMD_TIMEOUT_SECONDS", 120.0)
QUILL_SCAN_SWEEP_AFTER_SECONDS = env_int("QUILL_SCAN_SWEEP_AFTER_SECONDS", 300)

# --- Text extraction and OCR (apps/files/extraction.py; docs/search.md) ---------------------------------
# "auto" runs OCR when Tesseract is installed (the embedded run without it still reads PDF text layers).
QUILL_OCR = env_choice("QUILL_OCR", "auto", {"auto", "tesseract", "none"})
QUILL_OCR_LANGUAGES = env_str("QUILL_OCR_LANGUAGES", "eng")  # when an organisation names none
QUILL_OCR_PAGE_TIMEOUT_SECONDS = env_float("QUILL_OCR_PAGE_TIMEOUT_SECONDS", 120.0)
# Keep the document's time limit under QUILL_CELERY_VISIBILITY_TIMEOUT (or Redis redelivers a running OCR).
QUILL_TEXT_DOCUMENT_TIMEOUT_SECONDS = env_float("QUILL_TEXT_DOCUMENT_TIMEOUT_SECONDS", 600.0)
QUILL_TEXT_MAX_PAGES = env_int("QUILL_TEXT_MAX_PAGES", 2000)
# Data-segment limit (RLIMIT_DATA) of each process OCR starts: image wrapper, OCRmyPDF, Tesseract, Ghostscript.
QUILL_TEXT_MEMORY_LIMIT_MB = env_int("QUILL_TEXT_MEMORY_LIMIT_MB", 1024)
QUILL_TEXT_SWEEP_AFTER_SECONDS = env_int("QUILL_TEXT_SWEEP_AFTER_SECONDS", 3600)

# --- Background jobs (Celery) -----------------------------------------------------------------
# A Redis password may sit in the URL or apart from it (QUILL_REDIS_PASSWORD[_FILE]).
QUILL_REDIS_PASSWORD = read_secret("QUILL_REDIS_PASSWORD")
QUILL_REDIS_URL = with_password(
    read_secret("QUILL_REDIS_URL", "" if EMBEDDED else "redis://127.0.0.1:6379/0"), QUILL_REDIS_PASSWORD
)
CELERY_BROKER_URL = with_password(
    read_secret("CELERY_BROKER_URL", QUILL_REDIS_URL or "memory://"), QUILL_REDIS_PASSWORD
)
# Redis brokers publish through one client per channel instead of one per message (quill/broker.py).
if CELERY_BROKER_URL.split("://", 1)[0] in ("redis", "rediss"):
    CELERY_BROKER_TRANSPORT = "quill.broker:Transport"
CELERY_RESULT_BACKEND = None
CELERY_TASK_ALWAYS_EAGER = env_bool("QUILL_CELERY_EAGER", EMBEDDED)
CELERY_TASK_EAGER_PROPAGATES = False
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
# Celery's Django fixup closes the database connection before and after every task unless this is
# set (a new PostgreSQL connection per task: about 5 ms, a fifth of a 1 MiB scan). With it, only
# every 1000th task forces a reconnect; quill/celery.py applies CONN_MAX_AGE and CONN_HEALTH_CHECKS
# around each task as Django does around each request.
CELERY_DB_REUSE_MAX = 1000
CELERY_TASK_DEFAULT_QUEUE = env_str("QUILL_CELERY_QUEUE", "quill")
# Scans stay on the default queue. Set a background queue and thumbnails and outbox relays go there
# instead, so workers started with `-Q <default queue>` only scan; a worker started without -Q
# consumes every queue listed here.
QUILL_CELERY_BACKGROUND_QUEUE = env_str("QUILL_CELERY_BACKGROUND_QUEUE", "")
# Text extraction and OCR have a queue of their own, so a long OCR never holds up a scan.
QUILL_CELERY_TEXT_QUEUE = env_str("QUILL_CELERY_TEXT_QUEUE", "text")
CELERY_TASK_QUEUES = [
    Queue(name)
    for name in dict.fromkeys([CELERY_TASK_DEFAULT_QUEUE, QUILL_CELERY_BACKGROUND_QUEUE, QUILL_CELERY_TEXT_QUEUE])
    if name
]
CELERY_TASK_ROUTES = {
    task: {"queue": QUILL_CELERY_BACKGROUND_QUEUE}
    for task in ("documents.make_thumbnail", "outbox.relay_message", "outbox.relay_due")
    if QUILL_CELERY_BACKGROUND_QUEUE
}
if QUILL_CELERY_TEXT_QUEUE:
    CELERY_TASK_ROUTES["documents.extract_text"] = {"queue": QUILL_CELERY_TEXT_QUEUE}
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": env_int("QUILL_CELERY_VISIBILITY_TIMEOUT", 900)}
CELERY_TIMEZONE = TIME_ZONE
CELERY_BEAT_SCHEDULE = {
    "sweep-pending-scans": {"task": "documents.sweep_pending_scans", "schedule": 120.0},
    "relay-outbox": {"task": "outbox.relay_due", "schedule": 30.0},
    "sweep-inbox-scans": {"task": "inbox.sweep_pending_scans", "schedule": 120.0},
    "sweep-pending-text": {"task": "documents.sweep_pending_text", "schedule": 600.0},
    "purge-rejected-inbox-items": {"task": "inbox.purge_rejected", "schedule": crontab(hour=3, minute=15)},
    "retrain-inbox-classifiers": {"task": "inbox.retrain_category_classifiers", "schedule": crontab(hour=2, minute=30)},
}

# --- Cache (API throttling) ----------------------------------------------------------------------
if QUILL_REDIS_URL:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": QUILL_REDIS_URL}}
else:
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}

# --- REST API -----------------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "apps.accounts.authentication.ApiTokenAuthentication",
        "apps.accounts.authentication.VerifiedSessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_PAGINATION_CLASS": "quill.api.Pagination",
    "PAGE_SIZE": 25,
    "EXCEPTION_HANDLER": "quill.api.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "DEFAULT_THROTTLE_CLASSES": ["quill.throttling.FailOpenUserRateThrottle"],  # a Redis outage must not fail requests
    "DEFAULT_THROTTLE_RATES": {"user": env_str("QUILL_API_THROTTLE_RATE", "6000/minute")},
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    # Request bodies are JSON (checked for NUL and lone surrogates, quill/parsers.py); the upload views
    # name the multipart parser themselves.
    "DEFAULT_PARSER_CLASSES": ["quill.parsers.JSONParser"],
    # OPTIONS is not part of the API (the schema is at /api/schema/): 405 like any undeclared method.
    "DEFAULT_METADATA_CLASS": None,
    "UNAUTHENTICATED_USER": None,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Quill API",
    "DESCRIPTION": "Clinical document store: patients, documents, audit.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # Schema warnings are documentation quality, not deployment safety: keep them out of
    # `check --deploy` (run `manage.py spectacular --validate` to see them).
    "ENABLE_DJANGO_DEPLOY_CHECK": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    # Enums are named after their field (CategoryEnum, SexEnum, ...); the shared refusals
    # (authentication, throttling) are added to every operation after the views' own.
    "ENUM_NAME_OVERRIDES": {"ReviewOutcomeEnum": "apps.reviews.models.ReviewOutcome"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "apps.accounts.openapi.add_shared_refusals",
        "quill.openapi.add_unknown_input_refusals",
        "quill.openapi.add_links",
    ],
}

# --- Integrations ----------------------------------------------------------------------------------
# Where integrators reach Quill; every absolute link Quill hands out starts with it. Required in
# production; in development, empty means "the address each request came to" (host checked
# against ALLOWED_HOSTS).
QUILL_PUBLIC_BASE_URL = env_str("QUILL_PUBLIC_BASE_URL", "").rstrip("/")
QUILL_FHIR_BASE_URL = env_str("QUILL_FHIR_BASE_URL", "").rstrip("/")
QUILL_FHIR_AUTH = env_choice("QUILL_FHIR_AUTH", "none", {"none", "basic", "bearer", "oauth2"})
QUILL_FHIR_USERNAME = read_secret("QUILL_FHIR_USERNAME", sensitive=False)
QUILL_FHIR_PASSWORD = read_secret("QUILL_FHIR_PASSWORD")
QUILL_FHIR_TOKEN = read_secret("QUILL_FHIR_TOKEN")
# OAuth2 client credentials, SMART Backend Services (QUILL_FHIR_AUTH=oauth2; quill/oauth.py).
QUILL_FHIR_OAUTH_TOKEN_URL = env_str("QUILL_FHIR_OAUTH_TOKEN_URL", "")
QUILL_FHIR_OAUTH_CLIENT_ID = env_str("QUILL_FHIR_OAUTH_CLIENT_ID", "")
QUILL_FHIR_OAUTH_SCOPES = env_str("QUILL_FHIR_OAUTH_SCOPES", "system/Patient.cruds system/DocumentReference.cruds")
QUILL_FHIR_OAUTH_METHOD = env_choice(
    "QUILL_FHIR_OAUTH_METHOD", "private_key_jwt", {"private_key_jwt", "client_secret_basic"}
)
QUILL_FHIR_OAUTH_CLIENT_SECRET = read_secret("QUILL_FHIR_OAUTH_CLIENT_SECRET")
QUILL_FHIR_OAUTH_PRIVATE_KEY = read_secret("QUILL_FHIR_OAUTH_PRIVATE_KEY")
QUILL_FHIR_OAUTH_ALGORITHM = env_str("QUILL_FHIR_OAUTH_ALGORITHM", "RS384").upper()
QUILL_FHIR_OAUTH_KEY_ID = env_str("QUILL_FHIR_OAUTH_KEY_ID", "")
QUILL_FHIR_SUBJECT_MODE = env_choice("QUILL_FHIR_SUBJECT_MODE", "reference", {"reference", "identifier"})
QUILL_FHIR_TIMEOUT_SECONDS = env_float("QUILL_FHIR_TIMEOUT_SECONDS", 10.0)
# TLS (quill/tls.py): the CA that signed the server's certificate (empty: the system's CAs), and
# the client certificate and key for a server that asks for one (mutual TLS). Paths to PEM files.
QUILL_FHIR_CA_BUNDLE = env_str("QUILL_FHIR_CA_BUNDLE", "")
QUILL_FHIR_CLIENT_CERT = env_str("QUILL_FHIR_CLIENT_CERT", "")
QUILL_FHIR_CLIENT_KEY = env_str("QUILL_FHIR_CLIENT_KEY", "")
QUILL_EHRBASE_URL = env_str("QUILL_EHRBASE_URL", "").rstrip("/")
# basic: HTTP basic auth when QUILL_EHRBASE_USERNAME is set; oauth2: as for FHIR above.
QUILL_EHRBASE_AUTH = env_choice("QUILL_EHRBASE_AUTH", "basic", {"basic", "oauth2"})
QUILL_EHRBASE_USERNAME = read_secret("QUILL_EHRBASE_USERNAME", sensitive=False)
QUILL_EHRBASE_PASSWORD = read_secret("QUILL_EHRBASE_PASSWORD")
QUILL_EHRBASE_OAUTH_TOKEN_URL = env_str("QUILL_EHRBASE_OAUTH_TOKEN_URL", "")
QUILL_EHRBASE_OAUTH_CLIENT_ID = env_str("QUILL_EHRBASE_OAUTH_CLIENT_ID", "")
QUILL_EHRBASE_OAUTH_SCOPES = env_str("QUILL_EHRBASE_OAUTH_SCOPES", "")
QUILL_EHRBASE_OAUTH_METHOD = env_choice(
    "QUILL_EHRBASE_OAUTH_METHOD", "private_key_jwt", {"private_key_jwt", "client_secret_basic"}
)
QUILL_EHRBASE_OAUTH_CLIENT_SECRET = read_secret("QUILL_EHRBASE_OAUTH_CLIENT_SECRET")
QUILL_EHRBASE_OAUTH_PRIVATE_KEY = read_secret("QUILL_EHRBASE_OAUTH_PRIVATE_KEY")
QUILL_EHRBASE_OAUTH_ALGORITHM = env_str("QUILL_EHRBASE_OAUTH_ALGORITHM", "RS384").upper()
QUILL_EHRBASE_OAUTH_KEY_ID = env_str("QUILL_EHRBASE_OAUTH_KEY_ID", "")
# A cached access token is replaced this many seconds before it expires (shared by every worker).
QUILL_OAUTH_REFRESH_MARGIN_SECONDS = env_float("QUILL_OAUTH_REFRESH_MARGIN_SECONDS", 60.0)
QUILL_EHRBASE_SUBJECT_NAMESPACE = env_str("QUILL_EHRBASE_SUBJECT_NAMESPACE", "quill")
QUILL_EHRBASE_TIMEOUT_SECONDS = env_float("QUILL_EHRBASE_TIMEOUT_SECONDS", 10.0)
QUILL_EHRBASE_CA_BUNDLE = env_str("QUILL_EHRBASE_CA_BUNDLE", "")
QUILL_EHRBASE_CLIENT_CERT = env_str("QUILL_EHRBASE_CLIENT_CERT", "")
QUILL_EHRBASE_CLIENT_KEY = env_str("QUILL_EHRBASE_CLIENT_KEY", "")
# The intake's IMAP connections (quill.tls.service_tls("imap").ssl_context()).
QUILL_IMAP_CA_BUNDLE = env_str("QUILL_IMAP_CA_BUNDLE", "")
QUILL_IMAP_CLIENT_CERT = env_str("QUILL_IMAP_CLIENT_CERT", "")
QUILL_IMAP_CLIENT_KEY = env_str("QUILL_IMAP_CLIENT_KEY", "")
QUILL_OUTBOX_MAX_ATTEMPTS = env_int("QUILL_OUTBOX_MAX_ATTEMPTS", 8)
QUILL_OUTBOX_BACKOFF_BASE_SECONDS = env_float("QUILL_OUTBOX_BACKOFF_BASE_SECONDS", 2.0)
QUILL_OUTBOX_BACKOFF_MAX_SECONDS = env_float("QUILL_OUTBOX_BACKOFF_MAX_SECONDS", 600.0)

# --- Logging ----------------------------------------------------------------------------------------
QUILL_LOG_FORMAT = env_choice("QUILL_LOG_FORMAT", "json" if PRODUCTION else "text", {"json", "text"})
QUILL_LOG_LEVEL = env_str("QUILL_LOG_LEVEL", "INFO").upper()
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {
        "request_id": {"()": "quill.logging.RequestIdFilter"},
        "secrets": {"()": "quill.logging.SecretRedactingFilter"},
    },
    "formatters": {
        "json": {"()": "quill.logging.JsonFormatter"},
        "text": {"format": "%(asctime)s %(levelname)s [%(request_id)s] %(name)s: %(message)s"},
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": QUILL_LOG_FORMAT,
            "filters": ["request_id", "secrets"],
        },
    },
    "root": {"handlers": ["console"], "level": QUILL_LOG_LEVEL},
    "loggers": {
        "django.db.backends": {"level": "WARNING"},
        "axes": {"level": "WARNING"},
    },
}

# Error reports (the DEBUG page, mails to ADMINS) hide secrets in settings, URLs and local variables.
DEFAULT_EXCEPTION_REPORTER_FILTER = "quill.error_reports.SecretSafeExceptionReporterFilter"
DEFAULT_EXCEPTION_REPORTER = "quill.error_reports.SecretSafeExceptionReporter"

# --- Security headers ------------------------------------------------------------------------------
# Nothing is framed except a document's inline content, which sets SAMEORIGIN itself (documents/delivery.py).
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
if env_int("QUILL_PROXY_COUNT", 0):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

if PRODUCTION:
    _problems = []
    if secret_key.is_public(SECRET_KEY):
        _problems.append("DJANGO_SECRET_KEY must be set to a long random value (50+ characters)")
    if not ALLOWED_HOSTS:
        _problems.append("DJANGO_ALLOWED_HOSTS must list the host names Quill answers on")
    if EMBEDDED or DATABASES["default"]["ENGINE"] != "django.db.backends.postgresql":
        _problems.append("DATABASE_URL must point at PostgreSQL (postgres://...)")
    if QUILL_SCANNER == "none":
        _problems.append("QUILL_SCANNER=none is only for the embedded development run; use clamd")
    if not QUILL_PUBLIC_BASE_URL.startswith(("https://", "http://")):
        _problems.append("QUILL_PUBLIC_BASE_URL must be the absolute address integrators use (https://...)")
    _problems += plaintext_problems(
        allowed=QUILL_TLS_PLAINTEXT_HOSTS,
        database=None if EMBEDDED else DATABASES["default"],
        urls={
            "QUILL_S3_ENDPOINT_URL": QUILL_S3_ENDPOINT_URL if QUILL_STORAGE == "s3" else "",
            "QUILL_FHIR_BASE_URL": QUILL_FHIR_BASE_URL,
            "QUILL_FHIR_OAUTH_TOKEN_URL": QUILL_FHIR_OAUTH_TOKEN_URL if QUILL_FHIR_AUTH == "oauth2" else "",
            "QUILL_EHRBASE_URL": QUILL_EHRBASE_URL,
            "QUILL_EHRBASE_OAUTH_TOKEN_URL": QUILL_EHRBASE_OAUTH_TOKEN_URL if QUILL_EHRBASE_AUTH == "oauth2" else "",
        },
    )
    if _problems:
        raise ImproperlyConfigured("Quill refuses to start in production mode: " + "; ".join(_problems))
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("QUILL_SSL_REDIRECT", True)
    SECURE_HSTS_SECONDS = env_int("QUILL_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = env_bool("QUILL_HSTS_PRELOAD", False)
    SILENCED_SYSTEM_CHECKS = [] if SECURE_HSTS_PRELOAD else ["security.W021"]
