"""`pathfinder worker`, `serve`, `seed` and `purge`: running Pathfinder (the timer worker, the web
server with its worker thread, the demo data). Registered on the `pathfinder` group in
`cli/main.py`; like the other commands, they import the engine and Flask only when run."""

from __future__ import annotations

import os

import click

from cli.main import _engine, _settings
from cli.served import TIMER_THREAD

GRACE_SECONDS = 20
"""How long a stopping web process may take over its requests in flight and its timer worker
thread (which gets `STOP_SECONDS` of it) before it is killed."""


@click.command()
@click.option("--once", is_flag=True, help="Fire what is due now and exit.")
@click.option(
    "--max-sleep",
    default=5.0,
    show_default=True,
    envvar="PATHFINDER_TIMER_MAX_SLEEP",
    help="Longest sleep between passes (s). On SQLite, how late a timer written by another "
    "process may be noticed. [env PATHFINDER_TIMER_MAX_SLEEP]",
)
@click.option(
    "--batch",
    default=100,
    show_default=True,
    envvar="PATHFINDER_TIMER_BATCH",
    help="Timer jobs leased per acquire. [env PATHFINDER_TIMER_BATCH]",
)
@click.option("--name", help="Lease owner name, unique per worker (default host:pid:thread).")
def worker(once: bool, max_sleep: float, batch: int, name: str | None) -> None:
    """Fire due timers, forever (or --once); several may run against one PostgreSQL."""
    from engine import Worker

    w = Worker(_engine(), max_sleep=max_sleep, batch=batch, name=name)
    w.engine.warm_scripts()  # the first timer's script does not wait for the sandbox
    if once:
        click.echo(f"fired timers on {w.run_once()} instance(s)")
        return
    w.run_forever()


@click.command()
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--port", default=5000, show_default=True, type=int)
@click.option(
    "--no-worker", is_flag=True, help="Do not run a timer worker thread in each web process."
)
@click.option(
    "--simulate", is_flag=True, help="Run on a virtual clock that the simulation API advances."
)
@click.option(
    "--threads",
    default=4,
    show_default=True,
    type=click.IntRange(1, 64),
    help="Request threads per web process: one slow request (a long script, a large upload) "
    "holds one of them.",
)
def serve(host: str, port: int, no_worker: bool, simulate: bool, threads: int) -> None:
    """Serve the web app and API (granian), with a timer worker thread unless --no-worker."""
    try:
        settings = _settings()
    except ValueError as exc:  # a number that is not one, say
        raise click.ClickException(
            f"A PATHFINDER_ setting is not valid ({exc}); see docs/configuration.md."
        ) from exc
    if not settings.secret_key_set:
        raise click.ClickException(
            "Set PATHFINDER_SECRET_KEY (the same for every web process), or PATHFINDER_DEV=1 on a"
            " development machine to keep a generated key in var/secret_key."
        )
    if settings.web_processes < 1:
        raise click.ClickException("PATHFINDER_WORKERS must be 1 or more (web processes).")
    if simulate and settings.web_processes > 1:
        raise click.ClickException(
            "--simulate keeps the virtual clock in one process: use PATHFINDER_WORKERS=1."
        )
    # What this command decided reaches each web process through the environment it inherits
    # (cli/served.py reads it back).
    if not os.environ.get("PATHFINDER_BASE_URL"):  # links in mail point at this server
        os.environ["PATHFINDER_BASE_URL"] = f"http://{host}:{port}"
    if simulate:
        os.environ["PATHFINDER_SIMULATE"] = "1"
    os.environ[TIMER_THREAD] = "0" if no_worker else "1"

    clock = "simulated clock" if simulate else "system clock"
    processes = settings.web_processes
    click.echo(
        f"Pathfinder on http://{host}:{port}/ ({clock}, {processes} "
        f"process{'es' if processes > 1 else ''} x {threads} threads)"
    )
    _granian(host, port, processes, threads)


def _granian(host: str, port: int, processes: int, threads: int) -> None:
    """Serve `cli.served:app` with granian: `processes` worker processes of `threads` request
    threads, each building its own app after it started (its own database pool, script
    sandbox and timer worker thread; the timer workers share the due jobs through leases, as
    separate `pathfinder worker`s do). The first SIGTERM or SIGINT stops taking connections,
    lets the requests in flight finish (a process still busy after `GRACE_SECONDS` is killed)
    and exits 0."""
    import gc

    from granian.constants import HTTPModes, Interfaces
    from granian.log import LogLevels
    from granian.server import Server

    import web  # noqa: F401 - imported once here, before the worker processes are forked

    server = Server(
        "cli.served:app",
        address=host,
        port=port,
        interface=Interfaces.WSGI,
        factory=True,
        workers=processes,
        blocking_threads=threads,
        http=HTTPModes.http1,
        log_level=LogLevels.warning,
        workers_kill_timeout=GRACE_SECONDS,
        respawn_failed_workers=True,
    )
    # What is imported by now lives as long as the process: out of the collector's sight, the
    # forked workers' collections neither copy its pages nor walk it again (B9: -0.05 s CPU).
    gc.freeze()
    server.serve()


@click.command()
def seed() -> None:
    """Create demo users and countries at different stages (idempotent)."""
    from engine import seed_demo

    for line in seed_demo(_settings()):
        click.echo(line)


@click.command()
def purge() -> None:
    """Delete ended web sessions and sign-in attempts older than
    PATHFINDER_SESSION_RETENTION_DAYS (the worker also does this in its housekeeping)."""
    engine = _engine()
    ended, attempts = engine.people.purge()
    days = engine.settings.session_retention_days
    click.echo(
        f"Deleted {ended} web session(s) and {attempts} sign-in attempt(s) over {days} days old."
    )
