"""Service settings from environment variables, with defaults that suit a laptop.

HOST                 address to listen on (127.0.0.1; in a container use 0.0.0.0)
PORT                 port to listen on (8000)
THREADS              request threads (8); with gunicorn, the threads of each worker
WEB_CONCURRENCY      worker processes, gunicorn only (2)
MAX_CONTENT_LENGTH   largest request body in bytes (5 MiB); a bigger one gets 413
GRACEFUL_TIMEOUT     seconds to finish the requests in progress on SIGTERM or Ctrl-C (6)
CONNECTION_LIMIT     open client connections at most, waitress only (100); more wait
MONITORING           1: /metrics counts requests and predictions (the default); 0: off
ACCESS_LOG           1: a JSON line per request on stdout (the default); 0: none
PREDICTION_LOG       a file to append every prediction to, as JSON lines (off when unset)
PREDICTION_LOG_INPUTS  1: the prediction log also keeps the values sent (0, the default)
PREDICTION_LOG_MB    the prediction log's size before it is rotated (100); 3 old files kept
MONITOR_WINDOW       recent rows /monitor compares with training (1000); memory grows with it
API_KEYS             API keys, separated by commas: the API then needs one (api_keys.py)
API_KEYS_FILE        a file of API keys, one a line, # starts a comment; better for secrets
API_KEYS_PAGES       1: the pages (form, batch, monitor) need a key too (0, the default)
AUTOMATION           who decides: full, partial, assist or shadow (automation.py; config.AUTOMATION)
REVIEW_THRESHOLD     partial: answers less confident than this go to a person (config, 0.8)
REVIEW_QUEUE         the review queue's file (reviews/queue.jsonl in the project)
REVIEW_QUEUE_MB      the review queue's size at most (10); the oldest items go past it

`serve` as the server's only argument (Amazon SageMaker starts the image as
`docker run <image> serve`) sets HOST and PORT, and MODEL_DIR if unset: see sagemaker_mode().
"""

import hashlib
import logging
import os
import re
from dataclasses import dataclass, field
from pathlib import Path

from . import config

AUTOMATION_DEGREES = ("full", "partial", "assist", "shadow")


class SettingsError(Exception):
    """An environment variable has a value that cannot be used."""


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    threads: int = 8
    workers: int = 2
    max_content_length: int = 5 * 1024 * 1024
    # Under the 10 s `docker stop` waits before it kills the server.
    graceful_timeout: int = 6
    connection_limit: int = 100
    monitoring: bool = True
    access_log: bool = True
    prediction_log: str = ""
    prediction_log_inputs: bool = False
    prediction_log_mb: int = 100
    monitor_window: int = 1000
    # The keys' SHA-256 digests, never the keys: nothing can print them (api_keys.py).
    api_key_digests: tuple = field(default=(), repr=False)
    api_keys_pages: bool = False
    automation: str = config.AUTOMATION
    review_threshold: float = config.REVIEW_THRESHOLD
    review_queue: str = str(config.PROJECT_ROOT / "reviews" / "queue.jsonl")
    review_queue_mb: int = 10

    @property
    def address(self):
        host = f"[{self.host}]" if ":" in self.host else self.host  # IPv6 in brackets
        return f"{host}:{self.port}"

    @property
    def url(self):
        """The address to open in a browser (0.0.0.0 means every interface, this one too)."""
        if self.host in ("0.0.0.0", "::"):
            return f"http://127.0.0.1:{self.port}"
        return f"http://{self.address}"

    def startup_line(self, server):
        everywhere = " (and on all interfaces)" if self.host in ("0.0.0.0", "::") else ""
        return (
            f"{config.PROJECT_NAME}: serving on {self.url}{everywhere} with {server}; Ctrl-C stops"
        )


def env_int(name, default, environ=None):
    environ = os.environ if environ is None else environ
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = int(text)
    except ValueError:
        raise SettingsError(f"{name} must be a whole number, got {text!r}") from None
    if value < 1:
        raise SettingsError(f"{name} must be 1 or more, got {value}")
    return value


def env_flag(name, default, environ=None):
    environ = os.environ if environ is None else environ
    text = environ.get(name, "").strip().lower()
    if not text:
        return default
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name} must be 1 or 0, got {text!r}")


def env_automation(environ, default):
    """AUTOMATION, checked: one of the degrees, and partial or assist only for classes."""
    degree = environ.get("AUTOMATION", "").strip().lower() or default
    if degree not in AUTOMATION_DEGREES:
        raise SettingsError(
            f"AUTOMATION must be one of {', '.join(AUTOMATION_DEGREES)}, got {degree!r}"
        )
    if degree in ("partial", "assist") and config.TASK != "classification":
        raise SettingsError(
            f"AUTOMATION={degree} needs a classifier (its class probabilities); "
            "a regression takes full or shadow"
        )
    return degree


def env_share(name, default, environ):
    """A number between 0 and 1 (both excluded)."""
    text = environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        raise SettingsError(f"{name} must be a number between 0 and 1, got {text!r}") from None
    if not 0 < value < 1:
        raise SettingsError(f"{name} must be between 0 and 1 (both excluded), got {value}")
    return value


def from_env(environ=None):
    environ = os.environ if environ is None else environ
    defaults = Settings()
    port = env_int("PORT", defaults.port, environ)
    if port > 65535:
        raise SettingsError(f"PORT must be at most 65535, got {port}")
    window = env_int("MONITOR_WINDOW", defaults.monitor_window, environ)
    if window > 100_000:
        raise SettingsError(f"MONITOR_WINDOW must be at most 100000, got {window}")
    keys = env_api_keys(environ)
    pages = env_flag("API_KEYS_PAGES", False, environ)
    if pages and not keys:
        raise SettingsError("API_KEYS_PAGES=1 needs keys: set API_KEYS or API_KEYS_FILE too")
    return Settings(
        host=environ.get("HOST", "").strip() or defaults.host,
        port=port,
        threads=env_int("THREADS", defaults.threads, environ),
        workers=env_int("WEB_CONCURRENCY", defaults.workers, environ),
        max_content_length=env_int("MAX_CONTENT_LENGTH", defaults.max_content_length, environ),
        graceful_timeout=env_int("GRACEFUL_TIMEOUT", defaults.graceful_timeout, environ),
        connection_limit=env_int("CONNECTION_LIMIT", defaults.connection_limit, environ),
        monitoring=env_flag("MONITORING", defaults.monitoring, environ),
        access_log=env_flag("ACCESS_LOG", defaults.access_log, environ),
        prediction_log=environ.get("PREDICTION_LOG", "").strip(),
        prediction_log_inputs=env_flag("PREDICTION_LOG_INPUTS", False, environ),
        prediction_log_mb=env_int("PREDICTION_LOG_MB", defaults.prediction_log_mb, environ),
        monitor_window=window,
        api_key_digests=keys,
        api_keys_pages=pages,
        automation=env_automation(environ, defaults.automation),
        review_threshold=env_share("REVIEW_THRESHOLD", defaults.review_threshold, environ),
        review_queue=environ.get("REVIEW_QUEUE", "").strip() or defaults.review_queue,
        review_queue_mb=env_int("REVIEW_QUEUE_MB", defaults.review_queue_mb, environ),
    )


# What RFC 6750 allows in a bearer token, 16 characters at least: long enough not to guess.
API_KEY = re.compile(r"[A-Za-z0-9._~+/=-]{16,256}")
MAX_API_KEYS = 100  # each request is compared with every key
MAX_API_KEYS_FILE_BYTES = 64 * 1024
MAKE_A_KEY = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"


def env_api_keys(environ):
    """-> the SHA-256 digests of the keys in API_KEYS and API_KEYS_FILE; () when neither is set.

    A message never shows a key, only where it is (API_KEYS item 2, API_KEYS_FILE line 5).
    """
    found = []  # (where, key)
    if environ.get("API_KEYS", "").strip():
        items = enumerate(environ["API_KEYS"].split(","), 1)
        found = [(f"API_KEYS item {n}", key.strip()) for n, key in items if key.strip()]
        if not found:
            raise SettingsError("API_KEYS holds no key: separate keys with commas, or unset it")
    path = environ.get("API_KEYS_FILE", "").strip()
    if path:
        lines = enumerate(read_keys_file(path).splitlines(), 1)
        in_file = [(f"API_KEYS_FILE line {n}", line.split("#", 1)[0].strip()) for n, line in lines]
        in_file = [(where, key) for where, key in in_file if key]
        if not in_file:
            raise SettingsError(f"API_KEYS_FILE {path} holds no key: write one a line")
        found += in_file
    for where, key in found:
        if len(key) < 16:
            raise SettingsError(
                f"{where} is too short ({len(key)} characters, 16 at least): "
                f"make keys with {MAKE_A_KEY}"
            )
        if not API_KEY.fullmatch(key):
            raise SettingsError(
                f"{where} is not a key: use 16 to 256 letters, digits and ._~+/=- "
                f"(make one with {MAKE_A_KEY})"
            )
    keys = sorted({key for _, key in found})
    if len(keys) > MAX_API_KEYS:
        raise SettingsError(f"there are {len(keys)} API keys; {MAX_API_KEYS} at most")
    return tuple(hashlib.sha256(key.encode()).digest() for key in keys)


def read_keys_file(path):
    try:
        with open(path, "rb") as file:
            data = file.read(MAX_API_KEYS_FILE_BYTES + 1)
    except OSError as error:
        raise SettingsError(f"API_KEYS_FILE {path} cannot be read: {error.strerror}") from None
    if len(data) > MAX_API_KEYS_FILE_BYTES:
        raise SettingsError(f"API_KEYS_FILE {path} is over {MAX_API_KEYS_FILE_BYTES} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise SettingsError(f"API_KEYS_FILE {path} is not UTF-8 text") from None


# Where SageMaker unpacks the model.tar.gz named by the model's ModelDataUrl, if it has one.
SAGEMAKER_MODEL_DIR = Path("/opt/ml/model")


def sagemaker_mode(environ=None, model_dir=SAGEMAKER_MODEL_DIR):
    """Settings for SageMaker's container contract, written into the environment.

    SageMaker sends GET /ping and POST /invocations to port 8080, or in an inference
    pipeline to the port in SAGEMAKER_BIND_TO_PORT. The model is the one SageMaker unpacked
    into /opt/ml/model when that holds a model.json, else the image's own models/ (a
    MODEL_DIR given in the SageMaker model's Environment wins over both).
    """
    environ = os.environ if environ is None else environ
    environ["HOST"] = "0.0.0.0"
    environ["PORT"] = environ.get("SAGEMAKER_BIND_TO_PORT", "").strip() or "8080"
    if not environ.get("MODEL_DIR", "").strip() and (Path(model_dir) / "model.json").is_file():
        environ["MODEL_DIR"] = str(model_dir)


def configure_logging():
    """Log INFO and up to stderr, one line each: time, level, source, message."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
