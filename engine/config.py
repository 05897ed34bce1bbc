"""Settings read from the environment, with the defaults a single-machine install needs."""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass, field
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parent.parent


def _default_database_url() -> str:
    return f"sqlite:///{PROJECT_ROOT / 'var' / 'pathfinder.db'}"


def _kept_secret(var_dir: Path) -> str:
    """The development secret key in `var_dir/secret_key`, generated on first use, so restarting
    `make run` keeps everybody signed in."""
    path = var_dir / "secret_key"
    if path.exists():
        return path.read_text().strip()
    var_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_hex(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(key + "\n")
    return key


@dataclass(frozen=True)
class Settings:
    """Everything the engine, the worker and the web app read from the environment."""

    database_url: str = field(default_factory=_default_database_url)
    """`DATABASE_URL`: SQLAlchemy URL. SQLite file under var/ by default; PostgreSQL via
    `postgresql+psycopg://user@host/db`."""

    secret_key: str = ""
    """`PATHFINDER_SECRET_KEY`: signs sessions, CSRF tokens and unsubscribe links. A random key is
    generated per process when unset, which logs everyone out on restart."""

    processes_dir: Path = PROJECT_ROOT / "processes"
    """`PATHFINDER_PROCESSES_DIR`: BPMN/DMN files deployed by `pathfinder deploy --bundled`."""

    forms_dir: Path = PROJECT_ROOT / "forms"
    """`PATHFINDER_FORMS_DIR`: JSON Schema forms that diagrams reference by file name."""

    var_dir: Path = PROJECT_ROOT / "var"
    """`PATHFINDER_VAR_DIR`: runtime files (SQLite database, mail drop, attachments)."""

    script_time_limit: float = 2.0
    """`PATHFINDER_SCRIPT_TIME_LIMIT`: seconds a script or condition may run before it stops."""

    max_call_depth: int = 20
    """`PATHFINDER_MAX_CALL_DEPTH`: nesting of call activities beyond which an instance errors."""

    timer_lease_seconds: int = 60
    """`PATHFINDER_TIMER_LEASE_SECONDS`: how long a worker owns a timer job before another
    may take it over."""

    timer_max_attempts: int = 3
    """`PATHFINDER_TIMER_MAX_ATTEMPTS`: attempts before a failing timer job becomes an incident."""

    timer_backoff_seconds: float = 30.0
    """`PATHFINDER_TIMER_BACKOFF_SECONDS`: first retry delay; doubles on each further attempt."""

    base_url: str = "http://127.0.0.1:5000"
    """`PATHFINDER_BASE_URL`: the app's public address, for links in e-mails."""

    smtp_url: str | None = field(default=None, repr=False)
    """`PATHFINDER_SMTP_URL`: smtp://user:pass@host:587?starttls=1 or smtps://host:465
    (?verify=0, ?timeout=N). Unset: messages are written to var/mail/*.eml."""

    mail_from: str = "Pathfinder <pathfinder@localhost>"
    """`PATHFINDER_MAIL_FROM`: the From header of every e-mail."""

    reminder_before: str = "P3D"
    """`PATHFINDER_REMINDER_BEFORE`: ISO 8601 duration before a due date to send a reminder."""

    mail_max_attempts: int = 5
    """`PATHFINDER_MAIL_MAX_ATTEMPTS`: sending attempts before a message is shown as failed."""

    mail_backoff_seconds: float = 60.0
    """`PATHFINDER_MAIL_BACKOFF_SECONDS`: first retry delay; doubles on each further attempt."""

    max_upload_mb: float = 20.0
    """`PATHFINDER_MAX_UPLOAD_MB`: the largest file a form accepts (a field's `x-max-mb` may set
    a lower limit). Attachments are stored under `var_dir/attachments`."""

    simulate: bool = False
    """`PATHFINDER_SIMULATE`: run on a virtual clock that the simulation API can advance."""

    dev: bool = False
    """`PATHFINDER_DEV` (set by `make run` / `make serve`): a development machine. The secret key,
    when `PATHFINDER_SECRET_KEY` is unset, is generated once and kept in `var_dir/secret_key`;
    without it `pathfinder serve` refuses to start with no secret key set."""

    secret_key_set: bool = False
    """Whether the secret key came from `PATHFINDER_SECRET_KEY` or `var_dir/secret_key` (not a
    throwaway random key)."""

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        """Build settings from `env` (default: `os.environ`)."""
        env = dict(os.environ if env is None else env)
        var_dir = Path(env.get("PATHFINDER_VAR_DIR", str(PROJECT_ROOT / "var")))
        dev = env.get("PATHFINDER_DEV", "") in {"1", "true", "yes"}
        secret = env.get("PATHFINDER_SECRET_KEY") or (_kept_secret(var_dir) if dev else "")
        port = env.get("PORT", "5000")
        return cls(
            database_url=env.get("DATABASE_URL") or f"sqlite:///{var_dir / 'pathfinder.db'}",
            secret_key=secret or secrets.token_hex(32),
            secret_key_set=bool(secret),
            dev=dev,
            processes_dir=Path(env.get("PATHFINDER_PROCESSES_DIR", str(cls.processes_dir))),
            forms_dir=Path(env.get("PATHFINDER_FORMS_DIR", str(cls.forms_dir))),
            var_dir=var_dir,
            script_time_limit=float(env.get("PATHFINDER_SCRIPT_TIME_LIMIT", "2.0")),
            max_call_depth=int(env.get("PATHFINDER_MAX_CALL_DEPTH", "20")),
            timer_lease_seconds=int(env.get("PATHFINDER_TIMER_LEASE_SECONDS", "60")),
            timer_max_attempts=int(env.get("PATHFINDER_TIMER_MAX_ATTEMPTS", "3")),
            timer_backoff_seconds=float(env.get("PATHFINDER_TIMER_BACKOFF_SECONDS", "30")),
            base_url=(env.get("PATHFINDER_BASE_URL") or f"http://127.0.0.1:{port}").rstrip("/"),
            smtp_url=env.get("PATHFINDER_SMTP_URL") or None,
            mail_from=env.get("PATHFINDER_MAIL_FROM", "Pathfinder <pathfinder@localhost>"),
            reminder_before=env.get("PATHFINDER_REMINDER_BEFORE", "P3D"),
            mail_max_attempts=int(env.get("PATHFINDER_MAIL_MAX_ATTEMPTS", "5")),
            mail_backoff_seconds=float(env.get("PATHFINDER_MAIL_BACKOFF_SECONDS", "60")),
            max_upload_mb=float(env.get("PATHFINDER_MAX_UPLOAD_MB", "20")),
            simulate=env.get("PATHFINDER_SIMULATE", "") in {"1", "true", "yes"},
        )
