"""`pathfinder worker`, `serve`, `seed` and `purge`: running Pathfinder (the timer worker, the web
server with its worker thread, the demo data). Registered on the `pathfinder` group in
`cli/main.py`; like the other commands, they import the engine and Flask only when run."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import click

from cli.main import _engine, _settings


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
@click.option("--no-worker", is_flag=True, help="Do not run a timer worker thread in this process.")
@click.option(
    "--simulate", is_flag=True, help="Run on a virtual clock that the simulation API advances."
)
@click.option("--threads", default=8, show_default=True, type=int)
def serve(host: str, port: int, no_worker: bool, simulate: bool, threads: int) -> None:
    """Serve the web app and API (waitress), with a timer worker thread unless --no-worker."""
    import dataclasses
    import threading

    from waitress import serve as waitress_serve

    from engine import Worker
    from web import create_app

    settings = _settings()
    if not settings.secret_key_set:
        raise click.ClickException(
            "Set PATHFINDER_SECRET_KEY (the same for every web process), or PATHFINDER_DEV=1 on a"
            " development machine to keep a generated key in var/secret_key."
        )
    if not os.environ.get("PATHFINDER_BASE_URL"):  # links in mail point at this server
        settings = dataclasses.replace(settings, base_url=f"http://{host}:{port}")
    if simulate:
        settings = dataclasses.replace(settings, simulate=True)
    if settings.web_processes < 1:
        raise click.ClickException("PATHFINDER_WORKERS must be 1 or more (web processes).")

    def build() -> Any:
        app = create_app(settings)
        engine = app.extensions["pathfinder_engine"]
        # The sandbox processes start beside the server, so the first script after start-up
        # does not wait for them, and the server answers before they are up.
        threading.Thread(target=engine.warm_scripts, name="warm-scripts", daemon=True).start()
        if not no_worker:
            worker_ = Worker(engine, max_sleep=1.0 if simulate else 5.0).attach()
            app.extensions["pathfinder_worker"] = worker_
            threading.Thread(target=worker_.run_forever, name="timer-worker", daemon=True).start()
        return app

    clock = "simulated clock" if simulate else "system clock"
    if settings.web_processes > 1:
        if simulate:
            raise click.ClickException(
                "--simulate keeps the virtual clock in one process: use PATHFINDER_WORKERS=1."
            )
        click.echo(
            f"Pathfinder on http://{host}:{port}/ ({clock}, "
            f"{settings.web_processes} gunicorn processes x {threads} threads)"
        )
        _gunicorn(build, f"{host}:{port}", settings.web_processes, threads)
        return
    app = build()
    click.echo(f"Pathfinder on http://{host}:{port}/ ({clock})")
    waitress_serve(app, host=host, port=port, threads=threads, ident="pathfinder")


def _gunicorn(build: Callable[[], Any], bind: str, processes: int, threads: int) -> None:
    """Serve with gunicorn: `processes` worker processes of `threads` threads, each building
    its own app after the fork (its own database pool, script sandbox and timer worker thread;
    the timer workers share the due jobs through leases, as separate `pathfinder worker`s do)."""
    from gunicorn.app.base import BaseApplication

    class Server(BaseApplication):  # type: ignore[misc]
        def load_config(self) -> None:
            for key, value in {
                "bind": bind,
                "workers": processes,
                "worker_class": "gthread",
                "threads": threads,
                "preload_app": False,
                "accesslog": None,
                "graceful_timeout": 10,
            }.items():
                self.cfg.set(key, value)

        def load(self) -> Any:
            return build()

    Server().run()


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
