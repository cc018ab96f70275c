"""One settings module, configured by the environment.

With nothing set it runs the single-machine mode: SQLite in ``DATA_DIR``, the in-process channel
layer, Celery tasks run eagerly in-process, and secrets generated once into ``DATA_DIR``.
``DATABASE_URL`` switches to PostgreSQL, ``REDIS_URL`` to channels-redis and a Redis broker.
``PRODUCTION=1`` requires ``SECRET_KEY``, ``FIELD_ENCRYPTION_KEY`` and ``ALLOWED_HOSTS`` and turns on
the secure-cookie/HTTPS settings that ``manage.py check --deploy`` expects.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from collections.abc import Callable
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("DATA_DIR", BASE_DIR / "data"))


# Every environment variable is read once, here; a value that does not parse stops the start with
# the variable's name (a typo must not silently become the default).
_TRUE, _FALSE = {"1", "true", "yes", "on"}, {"0", "false", "no", "off", ""}


def env_bool(name: str, default: bool = False) -> bool:
    """A boolean environment variable: 1/true/yes/on or 0/false/no/off (any case)."""
    value = os.environ.get(name)
    if value is None:
        return default
    if value.strip().lower() in _TRUE:
        return True
    if value.strip().lower() in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r}: expected 1/true/yes/on or 0/false/no/off")


def env_int(name: str, default: int) -> int:
    """An integer environment variable."""
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected an integer") from None


def env_float(name: str, default: float) -> float:
    """A finite number from the environment."""
    value = os.environ.get(name)
    if value is None:
        return default
    try:
        number = float(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name}={value!r}: expected a number") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name}={value!r}: expected a finite number")
    return number


PRODUCTION = env_bool("PRODUCTION")
DEBUG = env_bool("DEBUG")


def _secret(name: str, make: Callable[[], str]) -> str:
    """An env secret; in the embedded default, generated once into DATA_DIR and reused."""
    value = os.environ.get(name)
    if value:
        return value
    if PRODUCTION:
        raise ImproperlyConfigured(f"{name} must be set when PRODUCTION=1")
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    path = DATA_DIR / f".{name.lower()}"
    if not path.exists():
        # Written whole under a private name, then linked into place: processes starting together
        # (the web, engines, Celery) all read the one that was linked first, never a half-written one.
        fd, draft = tempfile.mkstemp(dir=DATA_DIR, prefix=f".{name.lower()}.")
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(make())
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            os.unlink(draft)
    return path.read_text().strip()


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


SECRET_KEY = _secret("SECRET_KEY", lambda: secrets.token_urlsafe(50))
# Fernet key(s) for API secrets at rest; comma-separated, the first encrypts (rotation-friendly).
FIELD_ENCRYPTION_KEY = _secret("FIELD_ENCRYPTION_KEY", _fernet_key)

ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "" if PRODUCTION else "*").split(",") if h]
if PRODUCTION and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("ALLOWED_HOSTS must be set when PRODUCTION=1")
CSRF_TRUSTED_ORIGINS = [o for o in os.environ.get("CSRF_TRUSTED_ORIGINS", "").split(",") if o]

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "channels",
    "django_celery_beat",
    "cluster",
    "marketdata",
    "bots",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "botplatform.urls"
WSGI_APPLICATION = None
ASGI_APPLICATION = "botplatform.asgi.application"

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
                "bots.context_processors.discrepancies",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
else:
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": DATA_DIR / "db.sqlite3",
            # The engine's writer thread and the web app share one file: wait rather than fail.
            "OPTIONS": {"timeout": 20, "transaction_mode": "IMMEDIATE",
                        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;"},
            # Tests get a file too, in WAL mode as above, not Django's shared in-memory database: there a
            # table held by one thread fails another's query at once ("database table is locked")
            # instead of waiting, a failure the platform never meets. One file per test process, in
            # DATA_DIR (not a shared temporary directory, where another user could plant the path).
            "TEST": {"NAME": str(DATA_DIR / f"test-{os.getpid()}.sqlite3")},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Channels and Celery --------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    # The list-based layer, not the pub/sub one: a control message (stop!) sent while the engine
    # reconnects waits up to `expiry` seconds instead of being lost. The pub/sub layer is faster
    # under bursts (bench: tick to browser p99 at 4x load); at the engine's push rate both pass.
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            # redis-py 8 reads with a 5 s socket timeout by default, which is also how long channels-redis
            # blocks in BZPOPMIN on an idle channel: every idle receive then failed at 5 s, closing idle
            # WebSockets and making the engine's control listener report an outage. The read timeout must
            # outlast that wait.
            "CONFIG": {"hosts": [{"address": REDIS_URL, "socket_timeout": 15}], "capacity": 1500, "expiry": 30},
        }
    }
    # Last prices and candles for page loads are shared between the engine and web processes.
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": REDIS_URL,
                          "KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "botplatform")}}
    CELERY_BROKER_URL = REDIS_URL
    CELERY_TASK_ALWAYS_EAGER = False
else:
    CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    CELERY_BROKER_URL = "memory://"
    # Embedded default: tasks run in-process; beat's schedule is run by the `run` command.
    CELERY_TASK_ALWAYS_EAGER = True
    CELERY_TASK_EAGER_PROPAGATES = True
# Single-machine mode: how many local threads stand in for the worker (botplatform.celery.enqueue), so
# a download, a backtest or a sweep runs beside the requests, never inside the one that started it.
# 0 runs an eager task in the caller (the old way; tests that want the result at once use it).
LOCAL_TASK_THREADS = env_int("LOCAL_TASK_THREADS", 2)
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 300
CELERY_TASK_SOFT_TIME_LIMIT = 240
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
CELERY_TIMEZONE = "UTC"
# The guardian runs on its own worker in production (``make guardian``), so a backlog of batch work
# never delays it: positions stay protected when the engine is gone.
CELERY_TASK_ROUTES = {"bots.guard_positions": {"queue": "guardian"}}

# Reconciliation and scheduled jobs (seconds unless named otherwise); schedules are editable in the
# admin (django-celery-beat) after `manage.py setup_schedules` creates them.
RECONCILE_INTERVAL_SECONDS = env_float("RECONCILE_INTERVAL_SECONDS", 10)
RECONCILE_FULL_INTERVAL_SECONDS = env_float("RECONCILE_FULL_INTERVAL_SECONDS", 300)
RECONCILE_GRACE_SECONDS = env_float("RECONCILE_GRACE_SECONDS", 30)  # a fresh pending_submit row is left alone
RECONCILE_TIMEOUT_SECONDS = env_float("RECONCILE_TIMEOUT_SECONDS", 10)  # per venue request
RECONCILE_RETRIES = env_int("RECONCILE_RETRIES", 2)  # of a failed venue request, within one pass
RECONCILE_RETRY_DELAY_SECONDS = env_float("RECONCILE_RETRY_DELAY_SECONDS", 0.2)  # doubled per retry
RECONCILE_BACKOFF_BASE_SECONDS = env_float("RECONCILE_BACKOFF_BASE_SECONDS", 5)  # an order the venue keeps failing
RECONCILE_BACKOFF_MAX_SECONDS = env_float("RECONCILE_BACKOFF_MAX_SECONDS", 300)
RECONCILE_TRADES_LOOKBACK_SECONDS = env_float("RECONCILE_TRADES_LOOKBACK_SECONDS", 3600)
RECONCILE_CONCURRENCY = env_int("RECONCILE_CONCURRENCY", 16)  # batches asked at once
RECONCILE_RATE_LIMIT_MS = env_float("RECONCILE_RATE_LIMIT_MS", 0)  # 0: ccxt's own Binance request weights
WATCHDOG_STALE_SECONDS = env_float("WATCHDOG_STALE_SECONDS", 90)
WATCHDOG_INTERVAL_SECONDS = env_float("WATCHDOG_INTERVAL_SECONDS", 30)
GUARDIAN_INTERVAL_SECONDS = env_float("GUARDIAN_INTERVAL_SECONDS", 5)  # live positions' protective stops
GUARDIAN_ENGINE_STALE_SECONDS = env_float("GUARDIAN_ENGINE_STALE_SECONDS", 30)  # then the guardian places them
GUARDIAN_ALIVE_CHECK_SECONDS = env_float("GUARDIAN_ALIVE_CHECK_SECONDS", 60)  # orphan look while the engine beats
EVENT_RETENTION_DAYS = env_float("EVENT_RETENTION_DAYS", 30)

# Where the market-data engine connects: "simulator" (the built-in loopback simulator) or "live"
# (the exchanges' public endpoints, or the overrides stored on each Exchange row).
MARKET_DATA_SOURCE = os.environ.get("MARKET_DATA_SOURCE", "live" if PRODUCTION else "simulator")
# The market-data WebSocket client: "picows" (a maintained Cython client, the fastest measured) or
# "websockets" (the fallback).
FEED_TRANSPORT = os.environ.get("FEED_TRANSPORT", "picows")
# Prometheus: the engine serves its market-data metrics at http://METRICS_HOST:METRICS_PORT/metrics
# (0 turns it off).
METRICS_PORT = env_int("METRICS_PORT", 0)
# Drills only: put the engine's local clock off by this many seconds (it must trade on exchange time).
CLOCK_SKEW_SECONDS = env_float("CLOCK_SKEW_SECONDS", 0.0)
METRICS_HOST = os.environ.get("METRICS_HOST", "127.0.0.1")
# Where ``manage.py run`` serves the portal.
HOST = os.environ.get("HOST", "127.0.0.1")
PORT = env_int("PORT", 8000)
# The channel-layer channel the engine listens on for control messages (start/stop/pause/...).
ENGINE_CONTROL_CHANNEL = os.environ.get("ENGINE_CONTROL_CHANNEL", "engine.control")
# Scale out: engines lease bots in the database (any number may run); a dead engine's bots resume
# elsewhere within about ENGINE_LEASE_SECONDS + ENGINE_LEASE_INTERVAL of its last renewal.
ENGINE_LEASES = env_bool("ENGINE_LEASES", default=True)
# Back-pressure: while more engine writes than this are queued (the database is slower than the bots
# trade), new entries are refused as a risk rejection; exits, stops and order updates still go.
ENGINE_MAX_WRITE_BACKLOG = env_int("ENGINE_MAX_WRITE_BACKLOG", 5000)
ENGINE_LEASE_SECONDS = float(os.environ.get("ENGINE_LEASE_SECONDS", "5"))
ENGINE_LEASE_INTERVAL = float(os.environ.get("ENGINE_LEASE_INTERVAL", "1"))
# 25: a fourth worker joining 300 bots evened out in 18 s; with 10, in 50 s (the scale-out test).
ENGINE_REBALANCE_MOVES = env_int("ENGINE_REBALANCE_MOVES", 25)
# Market-data fan-out (``runfeeds`` -> Redis pub/sub -> ``runengine --feeds redis``): the channel
# prefix (one per deployment sharing a Redis) and the age past which a tick is dropped as stale.
MARKET_FANOUT_PREFIX = os.environ.get("MARKET_FANOUT_PREFIX", "md")
MARKET_FANOUT_MAX_AGE = float(os.environ.get("MARKET_FANOUT_MAX_AGE", "2"))

# --- Auth, i18n, static ---------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
LOGIN_URL = "/accounts/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/accounts/login/"
SIGNUP_ENABLED = env_bool("SIGNUP_ENABLED", default=True)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = Path(os.environ.get("STATIC_ROOT", BASE_DIR / "staticfiles"))
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}

# --- Security -------------------------------------------------------------------------------------
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_HTTPONLY = False
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "same-origin"
if PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env_bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("SECURE_HSTS_SECONDS", 31536000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True

# --- Logging: never log secrets; the hot path logs at debug only ----------------------------------
LOG_LEVEL = os.environ.get("LOG_LEVEL", "INFO")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {
        "django": {"level": "INFO"},
        "daphne": {"level": "WARNING"},
        "websockets": {"level": "WARNING"},
        "ccxt": {"level": "WARNING"},
        # One line per task run every few seconds would drown the console; failures still show.
        "celery.app.trace": {"level": "WARNING"},
    },
}

# --- Portal hardening and notifications (kept in one block; owned by the portal) -------------------
# WebSocket origins: explicit ALLOWED_HOSTS as they are; with the single-machine default "*", only the
# local names and the host `make run` binds (HOST), so another site's page cannot use a signed-in session.
_BIND_HOST = os.environ.get("HOST", "127.0.0.1")
if PRODUCTION or "*" not in ALLOWED_HOSTS:
    WEBSOCKET_ALLOWED_ORIGINS = list(ALLOWED_HOSTS)
else:
    WEBSOCKET_ALLOWED_ORIGINS = ["localhost", "127.0.0.1", "[::1]"]
    if _BIND_HOST not in ("0.0.0.0", "::", *WEBSOCKET_ALLOWED_ORIGINS):  # noqa: S104 - a comparison
        WEBSOCKET_ALLOWED_ORIGINS.append(f"[{_BIND_HOST}]" if ":" in _BIND_HOST else _BIND_HOST)
MAX_QUERY_STRING_BYTES = 2048  # the longest real query (orders filters + cursor) is under 100 bytes

# Content-Security-Policy: our own static files only, no inline script or style; {sockets} becomes
# the page's own ws(s):// origin.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
    "connect-src 'self'{sockets}; object-src 'none'; base-uri 'self'; form-action 'self'; frame-ancestors 'none'"
)
MIDDLEWARE.insert(1, "botplatform.security.BadRequestMiddleware")
MIDDLEWARE.insert(2, "botplatform.security.ContentSecurityPolicyMiddleware")

# Login throttling (django-axes): a lockout after AXES_FAILURE_LIMIT failures for one account OR one
# client address, lifted after AXES_COOLOFF_TIME or by an admin (Axes > Access attempts, or
# `manage.py axes_reset`). A successful login resets the account's count.
INSTALLED_APPS.append("axes")
MIDDLEWARE.append("axes.middleware.AxesMiddleware")
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env_int("LOGIN_FAILURE_LIMIT", 5)
AXES_COOLOFF_TIME = env_float("LOGIN_LOCKOUT_HOURS", 0.25)  # hours
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]  # each counted on its own
AXES_RESET_ON_SUCCESS = True
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_VERBOSE = False
MAX_PASSWORD_LENGTH = 128  # hashing a megabyte password is a denial of service

# Notifications: e-mail through Django's mail backend (the console in the single-machine mode) and
# webhooks; at most NOTIFY_RATE_PER_HOUR per user (the rest are kept, marked as held back).
EMAIL_BACKEND = os.environ.get("EMAIL_BACKEND", "django.core.mail.backends.smtp.EmailBackend" if PRODUCTION
                               else "django.core.mail.backends.console.EmailBackend")
EMAIL_HOST = os.environ.get("EMAIL_HOST", "localhost")
EMAIL_PORT = env_int("EMAIL_PORT", 25)
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "bots@localhost")
NOTIFY_RATE_PER_HOUR = env_int("NOTIFY_RATE_PER_HOUR", 30)
NOTIFY_WEBHOOK_TIMEOUT_SECONDS = env_float("NOTIFY_WEBHOOK_TIMEOUT_SECONDS", 5)
# Webhooks to private, loopback or link-local addresses are refused in production (SSRF).
NOTIFY_ALLOW_PRIVATE_WEBHOOKS = env_bool("NOTIFY_ALLOW_PRIVATE_WEBHOOKS", default=not PRODUCTION)
LOGGING["loggers"]["axes"] = {"level": "WARNING"}  # a line per login attempt is noise; lockouts still show
