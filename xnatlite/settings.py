"""xnatlite settings: every knob is an environment variable with a default that works on a laptop.

With nothing set the site runs on SQLite under ./var/, runs Celery tasks eagerly in-process and keeps
data under ./var/data. With DATABASE_URL and CELERY_BROKER_URL it runs on PostgreSQL and Redis.
Every variable here appears once in the README's configuration table.
"""

import os
import sys
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent


def env(name: str, default: str = "") -> str:
    """The variable's value, or the content of the file named by NAME_FILE (for secrets)."""
    file_name = os.environ.get(f"{name}_FILE")
    if file_name:
        return Path(file_name).read_text().strip()
    return os.environ.get(name, default)


TRUE_WORDS = ("1", "yes", "true", "on")
FALSE_WORDS = ("0", "no", "false", "off")


def env_bool(name: str, default: bool) -> bool:
    """A boolean variable, as Django users write one: 1/0, yes/no, true/false or on/off, in any case and
    with spaces around it ignored; anything else stops start-up with a message."""
    raw = env(name, TRUE_WORDS[0] if default else FALSE_WORDS[0])
    value = raw.strip().lower()
    if value in TRUE_WORDS:
        return True
    if value in FALSE_WORDS:
        return False
    accepted = ", ".join(f"{yes}/{no}" for yes, no in zip(TRUE_WORDS, FALSE_WORDS, strict=True))
    raise ImproperlyConfigured(f"{name} must be one of {accepted} (in any case), not {raw!r}")


def env_int(name: str, default: int) -> int:
    """An integer variable; anything else stops start-up with a message."""
    value = env(name, str(default)).strip()
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be a whole number, not {value!r}") from None


DEBUG = env_bool("DEBUG", False)
TESTING = "pytest" in sys.modules or env_bool("XNATLITE_TESTING", False)
SECRET_KEY = env("SECRET_KEY")
if not SECRET_KEY:
    if not (DEBUG or TESTING):
        raise ImproperlyConfigured(
            "SECRET_KEY (or SECRET_KEY_FILE) must be set when DEBUG is false; `make run` creates var/secret_key"
        )
    SECRET_KEY = "insecure-development-key-do-not-use-in-production"

ALLOWED_HOSTS = [h.strip() for h in env("ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]").split(",") if h.strip()]
CSRF_TRUSTED_ORIGINS = [o.strip() for o in env("CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]

# --- HTTPS and the browser's protections (README "Security") --------------------------------------
# The embedded default serves plain HTTP on 127.0.0.1, so cookies are not Secure and no HSTS is sent
# unless configured; a TLS deployment sets XNATLITE_SECURE_COOKIES=true and XNATLITE_HSTS_SECONDS, and
# behind a proxy that ends TLS, XNATLITE_BEHIND_TLS_PROXY=true (the proxy must set X-Forwarded-Proto).
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env_bool("XNATLITE_SECURE_COOKIES", False)
SECURE_HSTS_SECONDS = env_int("XNATLITE_HSTS_SECONDS", 0)
BEHIND_TLS_PROXY = env_bool("XNATLITE_BEHIND_TLS_PROXY", False)
if BEHIND_TLS_PROXY:
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
# A session nobody used for this long ends (XNAT's default: 15 minutes); each request starts it again.
SESSION_COOKIE_AGE = 60 * env_int("XNATLITE_SIGNIN_IDLE_MINUTES", 15)
SESSION_SAVE_EVERY_REQUEST = True
# Pages load scripts, styles, images and data from this site only and run no inline script or style
# (django-csp); report-only to try a change without breaking pages.
_CSP = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if env_bool("XNATLITE_CSP_REPORT_ONLY", False):
    CONTENT_SECURITY_POLICY_REPORT_ONLY = _CSP
else:
    CONTENT_SECURITY_POLICY = _CSP

# --- xnatlite -----------------------------------------------------------------------------------
DATA_ROOT = Path(env("XNATLITE_DATA_ROOT", str(BASE_DIR / "var" / "data"))).resolve()
SITE_ID_PREFIX = env("XNATLITE_SITE_ID", "XNATLITE")
HTTP_HOST = env("XNATLITE_HTTP_HOST", "127.0.0.1")
HTTP_PORT = env_int("XNATLITE_HTTP_PORT", 8000)
AE_TITLE = env("XNATLITE_AE_TITLE", "XNATLITE")
DICOM_PORT = env_int("XNATLITE_DICOM_PORT", 8104)
SESSION_IDLE_SECONDS = env_int("XNATLITE_SESSION_IDLE_SECONDS", 300)
# How often the idle-session builder looks for idle sessions (README "The prearchive").
SESSION_CHECK_SECONDS = env_int("XNATLITE_SESSION_CHECK_SECONDS", 60)
# A session queued for archiving this long without its task running had the task lost (a broker
# restarted empty, a worker killed): the sweep queues it again (README "Health and status").
LOST_TASK_SECONDS = env_int("XNATLITE_LOST_TASK_SECONDS", 600)
# Pipelines (pipelines/runner.py): a run's wall-clock limit, and the address-space limit of a program run.
PIPELINE_TIMEOUT_SECONDS = env_int("XNATLITE_PIPELINE_TIMEOUT_SECONDS", 6 * 3600)
PIPELINE_MEMORY_MB = env_int("XNATLITE_PIPELINE_MEMORY_MB", 8192)
# A pipeline program's PATH: the server's own, after the programs installed with it (dcm2niix).
PIPELINE_PATH = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", os.defpath)])
# Receiver processes `manage.py dicom_receiver` runs, sharing its ports; 0 = one per CPU core (README "The DICOM receiver").
RECEIVER_PROCESSES = env_int("XNATLITE_RECEIVER_PROCESSES", 0)
# Spool workers `manage.py dicom_receiver` runs to process what the receivers acknowledged; 0 = one per core.
RECEIVER_WORKERS = env_int("XNATLITE_RECEIVER_WORKERS", 0)
# The address the DICOM receivers listen on (all interfaces by default; their ports are in the database).
DICOM_HOST = env("XNATLITE_DICOM_HOST", "0.0.0.0")
# What the DICOM receivers let senders hold, per receiver process (README "The DICOM receiver", Limits):
# seconds in all for an A-ASSOCIATE-RQ, associations at once, how many of those only senders on a
# receiver's whitelist may use, connections from one address at once.
DICOM_ASSOCIATE_TIMEOUT = env_int("XNATLITE_DICOM_ASSOCIATE_TIMEOUT", 10)
DICOM_MAX_ASSOCIATIONS = env_int("XNATLITE_DICOM_MAX_ASSOCIATIONS", 64)
DICOM_RESERVED_ASSOCIATIONS = env_int("XNATLITE_DICOM_RESERVED_ASSOCIATIONS", 8)
DICOM_MAX_PER_PEER = env_int("XNATLITE_DICOM_MAX_PER_PEER", 16)
# Request threads of `manage.py serve`'s web server, and its limits (xnatlite/webserver.py, README
# "Security"): open connections; seconds for a request's headers (and for an idle connection's next
# request); seconds a body or an answer may move nothing; the largest body sent without credentials;
# how much of an answer is spooled for a slow client before the request thread waits for it.
HTTP_THREADS = env_int("XNATLITE_HTTP_THREADS", 8)
HTTP_CONNECTIONS = env_int("XNATLITE_HTTP_CONNECTIONS", 1000)
HTTP_HEADER_SECONDS = env_int("XNATLITE_HTTP_HEADER_SECONDS", 30)
HTTP_IDLE_SECONDS = env_int("XNATLITE_HTTP_IDLE_SECONDS", 60)
HTTP_ANONYMOUS_BODY_BYTES = env_int("XNATLITE_HTTP_ANONYMOUS_BODY_BYTES", 64 * 1024)
HTTP_SPOOL_BYTES = env_int("XNATLITE_HTTP_SPOOL_BYTES", 1024**3)
# The site admin `manage.py createadmin` (and `serve` when both name and password are set) makes.
ADMIN_USERNAME = env("XNATLITE_ADMIN_USERNAME")
ADMIN_PASSWORD = env("XNATLITE_ADMIN_PASSWORD")
ADMIN_EMAIL = env("XNATLITE_ADMIN_EMAIL")
PROJECT_GROUPS = env_bool("XNATLITE_PROJECT_GROUPS", False)
# Who may create projects (README "Projects, roles and data"): `admins` (the default: anyone else
# requests one, which a site admin approves) or `everyone` signed in (xnatlite before issue 14).
PROJECT_CREATION = env("XNATLITE_PROJECT_CREATION", "admins").strip().lower()
if PROJECT_CREATION not in ("admins", "everyone"):
    raise ImproperlyConfigured(
        f"XNATLITE_PROJECT_CREATION must be admins or everyone, not {env('XNATLITE_PROJECT_CREATION')!r}"
    )
# URL prefixes DicomEdit's getURL may fetch, comma-separated (README "Anonymization"); none: getURL is off.
SCRIPT_URL_PREFIXES = [p.strip() for p in env("XNATLITE_SCRIPT_URL_PREFIXES", "").split(",") if p.strip()]
# How long a process keeps the site routing rules before reading them again (XNAT: about 5 s, §5.5).
ROUTING_CACHE_SECONDS = 5.0
# REST API (README "The XNAT-compatible REST API"): alias token lifetime, and the caps on uploaded archives.
ALIAS_TOKEN_HOURS = env_int("XNATLITE_ALIAS_TOKEN_HOURS", 48)
UPLOAD_MAX_BYTES = env_int("XNATLITE_UPLOAD_MAX_BYTES", 64 * 1024**3)
UPLOAD_MAX_RATIO = env_int("XNATLITE_UPLOAD_MAX_RATIO", 200)
UPLOAD_MAX_MEMBERS = env_int("XNATLITE_UPLOAD_MAX_MEMBERS", 200_000)
UPLOAD_MAX_DEPTH = env_int("XNATLITE_UPLOAD_MAX_DEPTH", 3)
# DICOMweb (README "DICOMweb"): origins whose pages may call it from a browser (none: CORS off), and the
# caps on a QIDO-RS query (rows per answer, includefield attributes).
DICOMWEB_CORS_ORIGINS = [o.strip() for o in env("XNATLITE_DICOMWEB_CORS_ORIGINS", "").split(",") if o.strip()]
DICOMWEB_MAX_LIMIT = env_int("XNATLITE_DICOMWEB_MAX_LIMIT", 1000)
DICOMWEB_MAX_INCLUDEFIELDS = 100
# The most a deflated DICOM data set (received or uploaded) may inflate to; it may also grow at most
# UPLOAD_MAX_RATIO times beyond its first 16 MiB (README "Security", dicomio/inflation.py).
INFLATED_MAX_BYTES = env_int("XNATLITE_INFLATED_MAX_BYTES", 256 * 1024**2)
# Sign-in throttling (README "Signing in"): failures from one address or for one account before both are
# refused, for how long (0: until an admin unlocks), and how many proxies in front of us append the
# client's address to X-Forwarded-For (0: none; the client's address is the connection's).
SIGNIN_FAILURE_LIMIT = env_int("XNATLITE_SIGNIN_FAILURE_LIMIT", 10)
SIGNIN_LOCKOUT_MINUTES = env_int("XNATLITE_SIGNIN_LOCKOUT_MINUTES", 15)
TRUSTED_PROXIES = env_int("XNATLITE_TRUSTED_PROXIES", 0)

# --- Django -------------------------------------------------------------------------------------
INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "guardian",
    "axes",  # before xnatapi, whose admin extends axes' own
    "xnatlite",
    "archive",
    "prearchive",
    "anonymize",
    "dicom_receiver",
    "xnatapi",
    "pipelines",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "csp.middleware.CSPMiddleware",  # outside the others, so every page has the header, error pages too
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # A locked-out sign-in answers 429 (xnatapi.auth.locked_out), basic auth's included: so before it.
    "axes.middleware.AxesMiddleware",
    "xnatapi.auth.BasicAuthMiddleware",  # HTTP basic auth on /data/, /REST/, /xapi/ and / (XNAT clients)
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "xnatlite.urls"
WSGI_APPLICATION = "xnatlite.wsgi.application"

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
            ],
        },
    },
]

_default_sqlite = BASE_DIR / "var" / "xnatlite.sqlite3"
DATABASES = {"default": dj_database_url.parse(env("DATABASE_URL", f"sqlite:///{_default_sqlite}"))}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    Path(DATABASES["default"]["NAME"]).parent.mkdir(parents=True, exist_ok=True)
    # Receiver threads, the scheduler and web requests write at once: wait for the lock instead of
    # failing, take the write lock at BEGIN so two writers never deadlock upgrading, and use WAL so
    # readers do not block the writer.
    DATABASES["default"]["OPTIONS"] = {
        "timeout": 30,
        "transaction_mode": "IMMEDIATE",
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
    }
    # A file, not memory, so the receiver and worker processes started by end-to-end tests see the
    # test database; one per test run so that parallel runs never share it.
    DATABASES["default"]["TEST"] = {
        "NAME": str(Path(tempfile.gettempdir()) / f"xnatlite-test-{os.getpid()}.sqlite3"),
    }
else:
    DATABASES["default"].setdefault("CONN_MAX_AGE", 60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# XNAT clients expect the session cookie to be called JSESSIONID and to equal the token that
# `PUT /data/services/auth` returns (xnat-rest-api.md §2); the browser UI shares the same session.
SESSION_COOKIE_NAME = "JSESSIONID"

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",  # first: refuses a locked-out sign-in before any other looks
    "xnatapi.auth.AliasTokenBackend",  # an alias token and its secret as user name and password
    "django.contrib.auth.backends.ModelBackend",
    "guardian.backends.ObjectPermissionBackend",
]
# django-axes (xnatlite/signin.py): lock out an address, and an account, after too many failed sign-ins.
AXES_FAILURE_LIMIT = SIGNIN_FAILURE_LIMIT
AXES_COOLOFF_TIME = timedelta(minutes=SIGNIN_LOCKOUT_MINUTES) if SIGNIN_LOCKOUT_MINUTES > 0 else None
AXES_LOCKOUT_PARAMETERS = ["ip_address", "username"]
AXES_CLIENT_IP_CALLABLE = "xnatlite.signin.client_address"
AXES_LOCKOUT_CALLABLE = "xnatapi.auth.locked_out"
AXES_ENABLE_ACCESS_FAILURE_LOG = True  # every failure, for site admins in Django admin
AXES_DISABLE_ACCESS_LOG = True  # not a row for every successful sign-in of every script
# guardian's anonymous user is not used: a visitor who is not signed in sees nothing.
ANONYMOUS_USER_NAME = None
GUARDIAN_RAISE_403 = False

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "project-list"
LOGOUT_REDIRECT_URL = "login"

LANGUAGE_CODE = "en-us"
TIME_ZONE = env("TIME_ZONE", "UTC")
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = Path(env("XNATLITE_STATIC_ROOT", str(BASE_DIR / "var" / "static")))
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True  # `serve` works before collectstatic has ever run

# Uploads larger than this go to a file, never to memory: in its own folder under the data root's
# cache/uploads/, where the sweep finds what a killed process left (xnatlite/uploads.py).
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_HANDLERS = [
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "xnatlite.uploads.UploadFolderHandler",
]

# --- Celery -------------------------------------------------------------------------------------
CELERY_BROKER_URL = env("CELERY_BROKER_URL", "")
CELERY_RESULT_BACKEND = env("CELERY_RESULT_BACKEND", "")
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL  # no broker: tasks run in-process, same code path
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_DEFAULT_QUEUE = env("XNATLITE_CELERY_QUEUE", "xnatlite")
CELERY_TASK_ACKS_LATE = True  # a task whose worker dies is delivered again (tasks are idempotent)
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("XNATLITE_TASK_TIME_LIMIT", 6 * 3600)
CELERY_TASK_SOFT_TIME_LIMIT = CELERY_TASK_TIME_LIMIT - 60
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers an unacknowledged task after this many seconds; it must exceed the longest task.
CELERY_BROKER_TRANSPORT_OPTIONS = {"visibility_timeout": CELERY_TASK_TIME_LIMIT + 600}
# `celery -A xnatlite beat`: the idle-session builder of the PostgreSQL/Redis deployment.
CELERY_BEAT_SCHEDULE = {
    "build-idle-sessions": {
        "task": "prearchive.tasks.build_idle_sessions",
        "schedule": float(SESSION_CHECK_SECONDS),
        "options": {"expires": float(SESSION_CHECK_SECONDS)},
    },
    "fail-stale-pipeline-runs": {  # runs left Running by a worker that died (pipelines/services.py)
        "task": "pipelines.tasks.fail_stale_runs",
        "schedule": 60.0,
        "options": {"expires": 60.0},
    },
}

# --- Logging ------------------------------------------------------------------------------------
LOG_LEVEL = env("XNATLITE_LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(process)d: %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "pynetdicom": {"level": "WARNING"},
        "axes": {"level": "WARNING"},  # xnatlite.signin logs failures with the name and address axes masks
        "django.db.backends": {"level": "INFO"},
    },
}
