"""Settings read from the environment, with the defaults a single-machine install needs."""

from __future__ import annotations

import os
import re
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

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

    # Web security limits (docs/security.md).
    secure_cookies: bool = True
    """`PATHFINDER_SECURE_COOKIES`: mark session cookies `Secure` (sent over HTTPS only). On by
    default; `make run` turns it off for http://127.0.0.1."""

    trusted_proxies: int = 0
    """`PATHFINDER_TRUSTED_PROXIES`: how many reverse proxies stand in front of the server. With
    N > 0 the app takes the client's address and the scheme from the last N entries of the
    `X-Forwarded-For` and `X-Forwarded-Proto` headers those proxies add (werkzeug's `ProxyFix`);
    with 0 (the default) it reads no such header, since a client could write them itself."""

    session_idle_minutes: int = 60
    """`PATHFINDER_SESSION_IDLE_MINUTES`: a web session unused this long ends."""

    session_max_hours: int = 12
    """`PATHFINDER_SESSION_MAX_HOURS`: a web session ends this long after sign-in, however
    active."""

    token_max_days: int = 365
    """`PATHFINDER_TOKEN_MAX_DAYS`: the longest lifetime an API token may have (every token
    expires)."""

    token_cache_seconds: float = 5.0
    """`PATHFINDER_TOKEN_CACHE_SECONDS`: how long a process may answer a checked API token from
    memory. A change this process commits to a user or a token takes effect at once; one made
    by another process (another server, the CLI) within this time. 0 reads the token on every
    request."""

    max_draft_kb: int = 256
    """`PATHFINDER_MAX_DRAFT_KB`: the largest draft (unfinished form input) a task keeps."""

    # -- limits on what a process model may make the engine do (docs/security.md) --
    min_timer_period: float = 60.0
    """`PATHFINDER_MIN_TIMER_PERIOD`: seconds; timer cycles repeating more often are refused at
    deploy and stop the instance when computed at run time."""

    max_timer_catch_up: int = 10
    """`PATHFINDER_MAX_TIMER_CATCH_UP`: owed occurrences of one cycle fired in one run; the rest
    are skipped (audited) and the cycle waits for its next future occurrence."""

    max_engine_steps: int = 10_000
    """`PATHFINDER_MAX_ENGINE_STEPS`: automatic steps one engine run may take before the instance
    goes to the error state."""

    engine_run_seconds: float = 30.0
    """`PATHFINDER_ENGINE_RUN_SECONDS`: wall time one engine run may take before the instance goes
    to the error state."""

    max_script_chars: int = 20_000
    """`PATHFINDER_MAX_SCRIPT_CHARS`: longest script, condition or timer expression accepted."""

    script_processes: int = 2
    """`PATHFINDER_SCRIPT_PROCESSES`: sandbox processes that run scripts, conditions and timer
    expressions (0 runs them in the server's own process, without memory or GIL isolation)."""

    script_memory_mb: int = 512
    """`PATHFINDER_SCRIPT_MEMORY_MB`: address space limit of each sandbox process."""

    web_processes: int = 1
    """`PATHFINDER_WORKERS`: web server processes `pathfinder serve` runs (granian worker
    processes, each with `--threads` request threads; more than one uses every core)."""

    readyz_timeout: float = 2.0
    """`PATHFINDER_READYZ_TIMEOUT`: seconds `/readyz` waits for the database's write lock."""

    checkpoint_key: Path | None = None
    """`PATHFINDER_CHECKPOINT_KEY`: file of the Ed25519 private key that signs audit checkpoints
    (made on first use, mode 0600). Keep it outside the database and its backups. Unset: the
    worker writes no checkpoints."""

    checkpoint_dir: Path | None = None
    """`PATHFINDER_CHECKPOINT_DIR`: folder of the signed checkpoints (default
    var_dir/checkpoints)."""

    checkpoint_interval_hours: float = 24.0
    """`PATHFINDER_CHECKPOINT_INTERVAL_HOURS`: how often the worker writes a checkpoint."""

    audit_mailbox: str | None = None
    """`PATHFINDER_AUDIT_MAILBOX`: address each checkpoint is mailed to (through the outbox)."""

    upload_max_age_days: float = 7.0
    """`PATHFINDER_UPLOAD_MAX_AGE_DAYS`: uploads never attached to a submitted form are removed
    after this many days (the removal is recorded on the system chain)."""

    session_retention_days: int = 30
    """`PATHFINDER_SESSION_RETENTION_DAYS`: ended web sessions and sign-in attempts are deleted
    this many days later (by the worker, or `pathfinder purge`); sign-ins stay in the audit."""

    oidc_providers: tuple[OidcProvider, ...] = ()
    """`PATHFINDER_OIDC_PROVIDERS`: OpenID Connect providers people may sign in with (a comma
    list of names; each configured by `PATHFINDER_OIDC_<NAME>_*`, see `OidcProvider`)."""

    password_login: bool = True
    """`PATHFINDER_PASSWORD_LOGIN`: `0` turns sign-in with local passwords off (the sign-in page
    then offers only the OpenID providers; API tokens keep working)."""

    @property
    def checkpoints_folder(self) -> Path:
        """Where checkpoint files go: `checkpoint_dir`, else `var/checkpoints`."""
        return self.checkpoint_dir or self.var_dir / "checkpoints"

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
            secure_cookies=env.get("PATHFINDER_SECURE_COOKIES", "1") not in {"0", "false", "no"},
            trusted_proxies=_count(env, "PATHFINDER_TRUSTED_PROXIES", default=0),
            session_idle_minutes=int(env.get("PATHFINDER_SESSION_IDLE_MINUTES", "60")),
            session_max_hours=int(env.get("PATHFINDER_SESSION_MAX_HOURS", "12")),
            token_max_days=int(env.get("PATHFINDER_TOKEN_MAX_DAYS", "365")),
            token_cache_seconds=float(env.get("PATHFINDER_TOKEN_CACHE_SECONDS", "5")),
            max_draft_kb=int(env.get("PATHFINDER_MAX_DRAFT_KB", "256")),
            min_timer_period=float(env.get("PATHFINDER_MIN_TIMER_PERIOD", "60")),
            max_timer_catch_up=int(env.get("PATHFINDER_MAX_TIMER_CATCH_UP", "10")),
            max_engine_steps=int(env.get("PATHFINDER_MAX_ENGINE_STEPS", "10000")),
            engine_run_seconds=float(env.get("PATHFINDER_ENGINE_RUN_SECONDS", "30")),
            max_script_chars=int(env.get("PATHFINDER_MAX_SCRIPT_CHARS", "20000")),
            script_processes=int(env.get("PATHFINDER_SCRIPT_PROCESSES", "2")),
            script_memory_mb=int(env.get("PATHFINDER_SCRIPT_MEMORY_MB", "512")),
            web_processes=int(env.get("PATHFINDER_WORKERS", "1")),
            readyz_timeout=float(env.get("PATHFINDER_READYZ_TIMEOUT", "2")),
            oidc_providers=oidc_providers_from_env(env),
            password_login=env.get("PATHFINDER_PASSWORD_LOGIN", "1") not in {"0", "false", "no"},
            **_reliability_settings(env),
        )


def _reliability_settings(env: dict[str, str]) -> dict[str, Any]:
    """Checkpoint and clean-up settings (see the fields of `Settings`)."""
    key = env.get("PATHFINDER_CHECKPOINT_KEY")
    folder = env.get("PATHFINDER_CHECKPOINT_DIR")
    return {
        "checkpoint_key": Path(key) if key else None,
        "checkpoint_dir": Path(folder) if folder else None,
        "checkpoint_interval_hours": float(env.get("PATHFINDER_CHECKPOINT_INTERVAL_HOURS", "24")),
        "audit_mailbox": env.get("PATHFINDER_AUDIT_MAILBOX") or None,
        "upload_max_age_days": float(env.get("PATHFINDER_UPLOAD_MAX_AGE_DAYS", "7")),
        "session_retention_days": _retention_days(env.get("PATHFINDER_SESSION_RETENTION_DAYS")),
    }


def _count(env: dict[str, str], name: str, *, default: int) -> int:
    """A setting that counts something: a whole number, 0 or more (`default` when unset)."""
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ValueError(f"{name} must be a whole number, 0 or more (got '{value}')")
    return int(value)


def _retention_days(value: str | None) -> int:
    """`PATHFINDER_SESSION_RETENTION_DAYS` as a whole number of days, at least 1."""
    if value is None or not value.strip():
        return 30
    if not value.strip().isdigit() or int(value) < 1:
        raise ValueError(
            f"PATHFINDER_SESSION_RETENTION_DAYS must be a whole number of days, at least 1 "
            f"(got '{value}')"
        )
    return int(value)


# ------------------------------------------------------------------- OpenID Connect providers

OIDC_NAME = re.compile(r"^[a-z][a-z0-9_]{0,30}$")


@dataclass(frozen=True)
class OidcProvider:
    """One OpenID Connect provider, from `PATHFINDER_OIDC_<NAME>_*` (NAME upper-cased)."""

    name: str
    """Its name in `PATHFINDER_OIDC_PROVIDERS` and in URLs (/login/oidc/<name>)."""

    issuer: str
    """`_ISSUER`: the issuer URL; its discovery document is `<issuer>/.well-known/
    openid-configuration`, and ID tokens must carry exactly this `iss`."""

    client_id: str
    """`_CLIENT_ID`: Pathfinder's client id at the provider."""

    client_secret: str = field(default="", repr=False)
    """`_CLIENT_SECRET`: the client secret (sent with HTTP Basic to the token endpoint)."""

    label: str = ""
    """`_LABEL`: the button text on the sign-in page (default: the name)."""

    scopes: tuple[str, ...] = ("openid", "email", "profile")
    """`_SCOPES`: space-separated scopes to request; `openid` is always included."""

    roles_claim: str = "groups"
    """`_ROLES_CLAIM`: the claim whose values the claim mappings turn into roles and country."""

    username_claim: str = "preferred_username"
    """`_USERNAME_CLAIM`: the claim a new user's username is made from (then e-mail, then sub)."""

    leeway_seconds: int = 60
    """`_LEEWAY_SECONDS`: clock difference tolerated when checking ID-token times."""

    groups_url: str = ""
    """`_GROUPS_URL`: where to read the roles claim's values when they did not fit in the ID
    token, which then names the claim in `_claim_names` instead (Microsoft Entra's "groups
    overage", over 200 groups): Pathfinder POSTs `{"securityEnabledOnly": false}` there with the
    sign-in's access token and reads the `value` list of the answer (Microsoft Graph's
    `getMemberObjects`). Default: that Graph endpoint for an Entra issuer, else none (such a
    sign-in is then refused with a message for the administrator)."""

    @property
    def button_label(self) -> str:
        """The sign-in button's text: the label, else the provider's name."""
        return self.label or self.name


ENTRA_ISSUER = "https://login.microsoftonline.com/"
GRAPH_MEMBER_OBJECTS = "https://graph.microsoft.com/v1.0/me/getMemberObjects"


def _default_groups_url(issuer: str) -> str:
    """Microsoft Graph's list of the signed-in person's groups, for an Entra issuer."""
    return GRAPH_MEMBER_OBJECTS if issuer.startswith(ENTRA_ISSUER) else ""


def oidc_providers_from_env(env: dict[str, str]) -> tuple[OidcProvider, ...]:
    """The providers named in `PATHFINDER_OIDC_PROVIDERS`; raises ValueError for a bad one."""
    out = []
    for raw in env.get("PATHFINDER_OIDC_PROVIDERS", "").split(","):
        name = raw.strip().lower()
        if not name:
            continue
        if not OIDC_NAME.match(name):
            raise ValueError(f"PATHFINDER_OIDC_PROVIDERS: '{name}' is not a valid name")
        prefix = f"PATHFINDER_OIDC_{name.upper()}_"
        missing = [k for k in ("ISSUER", "CLIENT_ID") if not env.get(prefix + k)]
        if missing:
            raise ValueError(
                f"OpenID provider '{name}' needs {', '.join(prefix + k for k in missing)}"
            )
        scopes = env.get(prefix + "SCOPES", "openid email profile").split()
        out.append(
            OidcProvider(
                name=name,
                issuer=env[prefix + "ISSUER"].rstrip("/"),
                client_id=env[prefix + "CLIENT_ID"],
                client_secret=env.get(prefix + "CLIENT_SECRET", ""),
                label=env.get(prefix + "LABEL", ""),
                scopes=tuple(dict.fromkeys(["openid", *scopes])),
                roles_claim=env.get(prefix + "ROLES_CLAIM", "groups"),
                username_claim=env.get(prefix + "USERNAME_CLAIM", "preferred_username"),
                leeway_seconds=int(env.get(prefix + "LEEWAY_SECONDS", "60")),
                groups_url=env.get(
                    prefix + "GROUPS_URL", _default_groups_url(env[prefix + "ISSUER"])
                ),
            )
        )
    return tuple(out)
