"""B2 (the HTTP API with a token) and B5 (inbox latency over a large database).

The app is `web.create_app(settings)` served by werkzeug's `make_server` in a thread on
127.0.0.1; clients are `requests` sessions. Both print "skipped" if the endpoints answer 404.
"""

from __future__ import annotations

import logging
import re
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import requests
from sqlalchemy import insert

from bench.common import (
    ADMIN,
    Stats,
    Table,
    deploy,
    drop_pg_database,
    fresh_pg_database,
    met,
    pg_available,
    progress,
    workdir,
)
from engine import Engine, Settings
from engine.people.accounts import create_user
from engine.store.db import transaction
from engine.store.models import AuditEvent, HumanTask, Instance

PASSWORD = "bench-password-1"  # noqa: S105 - a throwaway account in a throwaway database
USERS = {"sam": (["secretariat"], None), "nima": (["country"], "NPL"), "ada": (["admin"], None)}


class Unavailable(Exception):
    """The web app or the API is not there yet."""


@contextmanager
def serve(settings: Settings) -> Iterator[str]:
    """Serve the app in a thread; yield its base URL."""
    from werkzeug.serving import make_server

    from web import create_app

    logging.getLogger("werkzeug").setLevel(logging.WARNING)

    app = create_app(settings)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(5)


def add_users(engine: Engine) -> None:
    with transaction(engine.sessions) as s:
        for name, (roles, country) in USERS.items():
            create_user(s, name, PASSWORD, roles, now=engine.now(), country=country)


def token(base: str, username: str) -> str:
    r = requests.post(
        f"{base}/api/v1/auth/token", json={"username": username, "password": PASSWORD}, timeout=30
    )
    if r.status_code == 404:
        raise Unavailable("API not available yet")
    r.raise_for_status()
    return str(r.json()["token"])


def web_login(base: str, username: str) -> requests.Session:
    s = requests.Session()
    page = s.get(f"{base}/login", timeout=30)
    if page.status_code == 404:
        raise Unavailable("web pages not available yet")
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    data = {
        "username": username,
        "password": PASSWORD,
        "csrf_token": match.group(1) if match else "",
    }
    r = s.post(f"{base}/login", data=data, timeout=30, allow_redirects=False)
    if r.status_code not in (302, 303):
        raise Unavailable(f"login answered {r.status_code}")
    return s


def b2(quick: bool, b1_step_ms: float | None) -> Table:
    n = 20 if quick else 200
    table = Table(
        "B2",
        f"5-user-task process through the HTTP API with a token, {n} instances per run",
        ["clients", "requests", "requests/s", "median ms", "p95 ms", "p99 ms", "ratio to B1 step"],
    )
    with workdir() as folder:
        settings = Settings(database_url=f"sqlite:///{folder / 'b2.db'}", secret_key="bench")
        engine = Engine.for_tests(folder / "b2.db")
        deploy(engine, "FIVE")
        add_users(engine)
        try:
            with serve(settings) as base:
                bearer = {"Authorization": f"Bearer {token(base, 'ada')}"}
                for clients in (1, 4):
                    ids = [engine.start("five", {}, ADMIN).id for _ in range(n)]
                    samples: list[float] = []

                    def drive(chunk: list[int]) -> list[float]:
                        out, http = [], requests.Session()
                        for iid in chunk:
                            while ready := engine.ready_tasks(iid):
                                start = time.perf_counter()
                                r = http.post(
                                    f"{base}/api/v1/tasks/{ready[0].id}/complete",
                                    json={"data": {}},
                                    headers=bearer,
                                    timeout=60,
                                )
                                out.append((time.perf_counter() - start) * 1000)
                                if r.status_code == 404:
                                    raise Unavailable("API not available yet")
                                r.raise_for_status()
                        return out

                    t0 = time.perf_counter()
                    with ThreadPoolExecutor(clients) as pool:
                        for part in pool.map(drive, [ids[i::clients] for i in range(clients)]):
                            samples += part
                    wall = time.perf_counter() - t0
                    st = Stats.of(samples)
                    ratio = f"{st.median / b1_step_ms:.1f}×" if b1_step_ms else "-"
                    table.add(clients, st.n, st.n / wall, st.median, st.p95, st.p99, ratio)
        except Unavailable as exc:
            table.note(f"skipped: {exc}")
    table.note("each request is POST /api/v1/tasks/{id}/complete; the task id is read from the DB")
    return table


def _bulk_fill(engine: Engine, instances: int, tasks: int, events: int, chunk: int = 5000) -> None:
    """Open tasks and audit events for `instances` instances of INBOX, inserted in bulk."""
    with engine.session() as s:
        from engine.runtime.execution import version_of

        pv = version_of(s, "inbox", None)
    now = datetime.now(UTC)
    countries = ["NPL"] + [f"C{i:02d}" for i in range(1, 100)]
    rows = [
        {
            "id": i + 1,
            "process_version_id": pv.id,
            "process_key": "inbox",
            "status": "running",
            "country": countries[i % len(countries)],
            "label": f"instance {i}",
            "data": {},
            "state": "{}",
            "started_by": "bench",
            "created_at": now,
            "updated_at": now,
            "audit_count": 0,
            "lock_version": 1,
        }
        for i in range(instances)
    ]
    total = instances + tasks + events
    done = 0

    def put(model: Any, batch: list[dict[str, Any]]) -> None:
        nonlocal done
        for start in range(0, len(batch), chunk):
            with engine.sessions.begin() as s:
                s.execute(insert(model), batch[start : start + chunk])
            done += len(batch[start : start + chunk])
            progress("B5 bulk insert", done, total)

    put(Instance, rows)
    per = tasks // instances
    task_rows = []
    for i in range(tasks):
        inst = i // per % instances
        lane = "Country" if i % 2 else "Secretariat"
        task_rows.append(
            {
                "id": str(uuid.uuid4()),
                "instance_id": inst + 1,
                "process_key": "inbox",
                "element_id": "country_step" if lane == "Country" else "secretariat_step",
                "name": f"{lane} step",
                "lane": lane,
                "country": countries[inst % len(countries)],
                "state": "ready",
                "due_at": now + timedelta(days=i % 90 - 30),
                "created_at": now - timedelta(seconds=i),
            }
        )
    put(HumanTask, task_rows)
    del task_rows
    for start in range(0, events, 50_000):
        count = min(50_000, events - start)
        put(
            AuditEvent,
            [
                {
                    "chain": f"instance:{(start + j) % instances + 1}",
                    "seq": (start + j) // instances + 1,
                    "instance_id": (start + j) % instances + 1,
                    "kind": "element_completed",
                    "at": now,
                    "country": countries[(start + j) % instances % len(countries)],
                    "element_id": "country_step",
                    "data": {},
                    "prev_hash": "0" * 64,
                    "hash": "0" * 64,
                }
                for j in range(count)
            ],
        )


def _measure(base: str, requests_n: int) -> dict[str, Stats]:
    out = {}
    for user in ("sam", "nima"):
        api = requests.Session()
        api.headers["Authorization"] = f"Bearer {token(base, user)}"
        web = web_login(base, user)
        for label, session, path in (("API", api, "/api/v1/tasks"), ("web", web, "/inbox")):
            samples = []
            for _ in range(requests_n):
                start = time.perf_counter()
                r = session.get(base + path, timeout=60)
                samples.append((time.perf_counter() - start) * 1000)
                if r.status_code == 404:
                    raise Unavailable(f"{path} not available yet")
                r.raise_for_status()
            out[f"{label} {user}"] = Stats.of(samples)
    return out


def b5(quick: bool) -> Table:
    instances, tasks, events = (500, 5_000, 50_000) if quick else (10_000, 100_000, 1_000_000)
    reps = 12 if quick else 40
    table = Table(
        "B5",
        f"inbox request: {tasks:,} open tasks over {instances:,} instances, {events:,} events",
        ["database", "request", "empty p95", "median", "p95", "ratio to empty", "target p95 ≤ 50"],
    )
    targets: list[tuple[str, Any]] = []
    with workdir() as folder:
        targets.append(("SQLite", lambda tag: f"sqlite:///{folder / f'b5_{tag}.db'}"))
        if pg_available():
            targets.append(("PostgreSQL", lambda tag: fresh_pg_database(f"bench_pf_b5_{tag}")))
        else:
            table.note("PostgreSQL skipped: not reachable")
        try:
            for db, make_url in targets:
                results = {}
                for tag in ("empty", "full"):
                    url = make_url(tag)
                    engine = Engine.for_tests(url)
                    deploy(engine, "INBOX")
                    add_users(engine)
                    if tag == "full":
                        _bulk_fill(engine, instances, tasks, events)
                    # Plain HTTP on loopback: a Secure session cookie would never come back.
                    bench = Settings(database_url=url, secret_key="bench", secure_cookies=False)
                    with serve(bench) as base:
                        results[tag] = _measure(base, reps)
                    engine.sessions.kw["bind"].dispose()
                for key, st in results["full"].items():
                    empty = results["empty"][key]
                    table.add(
                        db,
                        key,
                        empty.p95,
                        st.median,
                        st.p95,
                        f"{st.median / empty.median:.1f}×",
                        met(st.p95 <= 50),
                    )
                if db == "PostgreSQL":
                    for tag in ("empty", "full"):
                        drop_pg_database(f"bench_pf_b5_{tag}")
        except Unavailable as exc:
            table.note(f"skipped: {exc}")
    table.note(f"{reps} requests per row, one client; sam = Secretariat, nima = country NPL")
    if quick:
        table.note(
            "quick mode: a twentieth of the full data (10k instances, 100k tasks, 1M events)"
        )
    return table
