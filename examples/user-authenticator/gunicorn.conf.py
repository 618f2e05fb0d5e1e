"""gunicorn settings for the container, tunable through the environment.

Everything here is chosen so the service runs on a read-only root filesystem: no control
socket, no pid file, worker heartbeat files in /dev/shm (a tmpfs even under --read-only).
"""

import os


def _env_int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    return int(raw) if raw else default


bind = f"{os.environ.get('HOST', '0.0.0.0')}:{_env_int('PORT', 8080)}"  # noqa: S104 - in a container
# One worker by default: the login rate limiter is per process, so one process keeps the limit
# exact; argon2 releases the GIL, so threads give the concurrency.
workers = _env_int("GUNICORN_WORKERS", 1)
threads = _env_int("GUNICORN_THREADS", 4)
timeout = _env_int("GUNICORN_TIMEOUT", 30)
graceful_timeout = _env_int("GUNICORN_GRACEFUL_TIMEOUT", 20)
keepalive = 5
worker_tmp_dir = os.environ.get("GUNICORN_WORKER_TMP_DIR", "/dev/shm")  # noqa: S108 - tmpfs
# gunicorn >= 25.1 opens a control socket under $HOME by default; the root FS is read-only.
control_socket_disable = True
# The app writes one JSON line per request itself; gunicorn's access log would duplicate it.
accesslog = None
errorlog = "-"
loglevel = os.environ.get("LOG_LEVEL", "info").lower()
# Bounded request sizes: the API takes small JSON bodies only.
limit_request_line = 4094
limit_request_fields = 50
limit_request_field_size = 8190
# gunicorn's own lines (start, worker boot, errors) in the same JSON shape as the app's, once:
# no propagation to the root logger, whose default handler would print each line again.
# (A logconfig_dict turns gunicorn's access log back on; its logger is silenced instead.)
logconfig_dict = {
    "root": {"level": "WARNING", "handlers": []},
    "loggers": {
        "gunicorn.error": {"level": loglevel.upper(), "handlers": ["json"], "propagate": False},
        "gunicorn.access": {"level": "CRITICAL", "handlers": [], "propagate": False},
    },
    "handlers": {
        "json": {
            "class": "logging.StreamHandler",
            "formatter": "json",
            "stream": "ext://sys.stderr",
        },
    },
    "formatters": {"json": {"()": "user_authenticator.jsonlog.JsonFormatter"}},
}
