"""B10: issue 18's flow against `pathfinder serve`, as a client sees it.

Each instance: start it, then 5 x (find its next task with `GET /api/v1/tasks?instance_id=`,
show it, submit its 2-field form). One and four sequential keep-alive clients (one
`http.client` connection each, spread evenly over the server's processes); SQLite and
PostgreSQL; one and two server processes (`PATHFINDER_WORKERS`). The server runs as its own
process tree, so its CPU time (`/proc`, the arbiter and its workers) is measured apart from the
clients'. SQL statements per request are counted in-process on the same flow (Flask test client
with a `before_cursor_execute` counter), since a count does not depend on the server setup.
The two ratio goals are measured again in paired rounds (`_ratio_rounds`, full run only): the
rows of the table are a minute apart, and a ratio of two such rows moved by half on a quiet
machine between runs.
"""

from __future__ import annotations

import dataclasses
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack, contextmanager
from pathlib import Path
from statistics import median
from typing import Any

import requests
from sqlalchemy import event

from bench.common import (
    Stats,
    Table,
    drop_pg_database,
    fresh_pg_database,
    met,
    pg_available,
    server_cpu_seconds,
    workdir,
)
from bench.http_runs import PASSWORD, add_users
from engine import Engine, Settings

FORM = {"title": "Workshop", "amount": 3}
STEPS = 5
KINDS = ("start", "next", "show", "submit")


def _deploy(engine: Engine) -> None:
    from bench import processes

    engine.deploy(
        {"flow.bpmn": processes.FLOW},
        {"two.schema.json": json.dumps(processes.TWO_FIELDS).encode()},
        actor="bench",
    )


def _prepare(url: str) -> None:
    engine = Engine.from_settings(Settings(database_url=url, secret_key="bench"))
    _deploy(engine)
    add_users(engine)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def _server(url: str, processes: int, folder: Path) -> Iterator[tuple[str, int]]:
    port = _free_port()
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "PATHFINDER_VAR_DIR": str(folder),
        "PATHFINDER_SECRET_KEY": "bench-" * 6,
        "PATHFINDER_SECURE_COOKIES": "0",
        "PATHFINDER_WORKERS": str(processes),
    }
    exe = str(Path(sys.executable).parent / "pathfinder")
    server = subprocess.Popen(
        [exe, "serve", "--port", str(port), "--no-worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                if requests.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            if server.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("pathfinder serve did not come up")
            time.sleep(0.2)
        yield base, server.pid
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()


class Client:
    """One sequential keep-alive HTTP client: a single `http.client` connection, JSON in and
    out. Lean on purpose: B10's client shares the machine's cores with the servers, and
    `requests` cost about 0.8 ms of CPU per request (0.013 s per instance), a third of the
    server's own; this costs a fraction of that, so the rows measure the servers."""

    def __init__(self, base: str, headers: dict[str, str]) -> None:
        host, _, port = base.removeprefix("http://").partition(":")
        self.conn = http.client.HTTPConnection(host, int(port or 80), timeout=120)
        self.headers = {**headers, "Accept": "application/json"}
        self.json_headers = {**self.headers, "Content-Type": "application/json"}

    def request(self, method: str, path: str, body: Any = None) -> Any:
        """The response's JSON; an error on a status of 400 or more. A connection the server
        closed while idle is opened again (once) for a GET."""
        data = None if body is None else json.dumps(body).encode()
        headers = self.headers if data is None else self.json_headers
        try:
            self.conn.request(method, path, data, headers)
            response = self.conn.getresponse()
        except (http.client.RemoteDisconnected, ConnectionError):
            if method != "GET":
                raise
            self.conn.close()
            self.conn.request(method, path, data, headers)
            response = self.conn.getresponse()
        payload = response.read()
        if response.status >= 400:
            raise RuntimeError(f"{method} {path}: {response.status} {payload[:200]!r}")
        return json.loads(payload)

    def connect(self) -> int:
        """Open the connection (a request, so the server has accepted it); its local port."""
        self.close()
        self.request("GET", "/healthz")
        sock = self.conn.sock
        assert sock is not None
        return int(sock.getsockname()[1])

    def close(self) -> None:
        self.conn.close()


def _serving_process(workers: list[int], server_port: int, client_port: int) -> int | None:
    """Which of the server's worker processes holds the connection from `client_port`: the
    socket's inode in /proc/net/tcp, then the worker with a descriptor on it."""
    local, remote = f":{server_port:04X}", f":{client_port:04X}"
    inode = None
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if fields[1].endswith(local) and fields[2].endswith(remote):
            inode = f"socket:[{fields[9]}]"
            break
    for pid in workers:
        try:
            fds = list(Path(f"/proc/{pid}/fd").iterdir())
        except OSError:
            continue
        for fd in fds:
            try:
                if os.readlink(fd) == inode:
                    return pid
            except OSError:
                continue
    return None


def _balanced(clients: list[Client], pid: int, port: int) -> list[int]:
    """Connect the clients so that the server's worker processes hold as many connections each
    as they can (a keep-alive connection stays with the process that accepted it, and the
    kernel hands four connections to two processes 3 + 1 about half the time, which leaves one
    process, one core under its GIL, three clients' work: a balancing proxy in front of the
    server would not). A client on a process holding more than its share connects again, up to
    50 times. Returns the connections per process, most first."""
    workers = [
        int(child)
        for task in Path(f"/proc/{pid}/task").iterdir()
        for child in (task / "children").read_text().split()
    ]
    owner = [_serving_process(workers, port, c.connect()) for c in clients]
    for _ in range(50):
        counts = {w: owner.count(w) for w in workers}
        if len(workers) < 2 or max(counts.values()) - min(counts.values()) <= 1:
            break
        crowded = max(counts, key=lambda w: counts[w])
        i = owner.index(crowded)
        owner[i] = _serving_process(workers, port, clients[i].connect())
    return sorted((owner.count(w) for w in workers), reverse=True)


def _instance(client: Client) -> dict[str, list[float]]:
    """One instance through the flow; milliseconds per request kind."""
    out: dict[str, list[float]] = {k: [] for k in KINDS}

    def call(kind: str, method: str, path: str, body: Any = None) -> Any:
        t0 = time.perf_counter()
        answer = client.request(method, path, body)
        out[kind].append((time.perf_counter() - t0) * 1000)
        return answer

    iid = call("start", "POST", "/api/v1/instances", {"process_key": "flow", "data": {}})["id"]
    for _ in range(STEPS):
        [task] = call("next", "GET", f"/api/v1/tasks?instance_id={iid}")["items"]
        call("show", "GET", f"/api/v1/tasks/{task['id']}")
        call("submit", "POST", f"/api/v1/tasks/{task['id']}/complete", {"data": FORM})
    return out


def _settle(pid: int, quiet: float = 0.01, most: float = 30.0) -> None:
    """Wait until the server's process tree is idle (under `quiet` s of CPU in a quarter of a
    second): the script sandbox warms up in the background after /healthz answers, and its
    start-up would otherwise be counted against the first instances (most of a quick row)."""
    deadline = time.monotonic() + most
    before = server_cpu_seconds(pid)
    while time.monotonic() < deadline:
        time.sleep(0.25)
        now = server_cpu_seconds(pid)
        if now - before < quiet:
            return
        before = now


def _run(base: str, pid: int, clients: int, n: int) -> dict[str, Any]:
    token = requests.post(
        f"{base}/api/v1/auth/token", json={"username": "ada", "password": PASSWORD}, timeout=30
    ).json()["token"]
    headers = {"Authorization": f"Bearer {token}"}
    _settle(pid)  # the script sandbox's processes start beside the server: not the flow's CPU
    connections = [Client(base, headers) for _ in range(clients)]
    split = _balanced(connections, pid, int(base.rsplit(":", 1)[1]))
    for client in connections:  # every process that serves the row: imports, caches, pools
        _instance(client)

    def drive(client: Client) -> dict[str, list[float]]:
        merged: dict[str, list[float]] = {k: [] for k in KINDS}
        try:
            for _ in range(n // clients):
                for kind, samples in _instance(client).items():
                    merged[kind] += samples
        finally:
            client.close()
        return merged

    cpu0, client0, t0 = server_cpu_seconds(pid), time.process_time(), time.perf_counter()
    samples: dict[str, list[float]] = {k: [] for k in KINDS}
    with ThreadPoolExecutor(clients) as pool:
        for part in pool.map(drive, connections):
            for kind in KINDS:
                samples[kind] += part[kind]
    wall, cpu = time.perf_counter() - t0, server_cpu_seconds(pid) - cpu0
    client = time.process_time() - client0  # this process: the client threads, nothing else
    done = n // clients * clients
    return {
        "instances/s": done / wall,
        "completions/s": done * STEPS / wall,
        "requests/s": done * (1 + 3 * STEPS) / wall,
        "cpu": cpu / done,
        "client cpu": client / done,
        "cores busy": (cpu + client) / wall,
        "stats": {k: Stats.of(v) for k, v in samples.items()},
        "split": split,
    }


def statements_per_request() -> dict[str, float]:
    """SQL statements per request kind on the flow (in-process, SQLite, 3 instances)."""
    with workdir() as folder:
        url = f"sqlite:///{folder / 'count.db'}"
        engine = Engine.for_tests(url)
        return _per_request(engine, Settings(database_url=url, var_dir=folder), _statements)


def round_trips_per_request() -> dict[str, float]:
    """PostgreSQL round trips per request kind on the flow: the times the server process waits
    for PostgreSQL's answer (see `_round_trips`)."""
    url = fresh_pg_database("pf_bench_b10_trips")
    engine = Engine.from_settings(Settings(database_url=url, secret_key="bench"))
    try:
        with workdir() as folder:
            return _per_request(engine, Settings(database_url=url, var_dir=folder), _round_trips)
    finally:
        engine.sessions.kw["bind"].dispose()
        drop_pg_database("pf_bench_b10_trips")


def _statements(bind: Any, seen: list[str]) -> None:
    def before(_c: Any, _cu: Any, statement: str, *_a: Any) -> None:
        if not statement.startswith("BEGIN"):
            seen.append(statement)

    event.listen(bind, "before_cursor_execute", before)


def _round_trips(bind: Any, seen: list[str]) -> None:
    """One entry in `seen` per wait for the server. Outside a write transaction: a statement,
    and psycopg's BEGIN before the one that opens a transaction. In a write transaction
    (pipelined, `engine.store.pg.PIPELINED`): the statements waited for, each with everything
    queued before it (its BEGIN too), and the COMMIT, sent with the Sync that leaves pipeline
    mode; a ROLLBACK after that Sync. COMMIT and ROLLBACK, where psycopg sends them."""
    from engine.store.pg import PIPELINED, pipelined

    def before(conn: Any, cursor: Any, statement: str, *_a: Any) -> None:
        if pipelined(conn):
            return
        raw = cursor.connection
        if not raw.autocommit and raw.info.transaction_status == 0:  # idle: BEGIN goes first
            seen.append("BEGIN")
        seen.append(statement)

    def after(conn: Any, _cu: Any, statement: str, _p: Any, context: Any, _m: bool) -> None:
        if pipelined(conn) and not context.execution_options.get(PIPELINED):
            seen.append(statement)

    def begin(conn: Any) -> None:
        if pipelined(conn):  # the listeners of engine.store.db ran first
            conn.info["bench.pipelined"] = True

    def ending(command: str) -> Any:
        def listener(conn: Any, *_a: Any) -> None:
            if conn.info.pop("bench.pipelined", False):
                # The COMMIT went with the Sync that ended pipeline mode; a ROLLBACK follows it.
                seen.extend(["COMMIT"] if command == "COMMIT" else ["Sync"])
                if command == "COMMIT":
                    return
            if conn.connection.dbapi_connection.info.transaction_status != 0:
                seen.append(command)

        return listener

    event.listen(bind, "begin", begin)
    event.listen(bind, "before_cursor_execute", before)
    event.listen(bind, "after_cursor_execute", after)
    event.listen(bind, "commit", ending("COMMIT"))
    event.listen(bind, "rollback", ending("ROLLBACK"))


def _per_request(engine: Engine, settings: Settings, listen: Any) -> dict[str, float]:
    """What `listen(bind, seen)` puts in `seen` per request kind, over 4 instances of the flow
    driven in-process (Flask test client); the first instance warms the caches, as on a
    running server, and is left out."""
    from web import create_app

    _deploy(engine)
    add_users(engine)
    settings = dataclasses.replace(settings, secret_key="bench")
    app = create_app(settings, engine=engine, config={"TESTING": True})
    client = app.test_client()
    token = client.post("/api/v1/auth/token", json={"username": "ada", "password": PASSWORD}).json[
        "token"
    ]
    headers = {"Authorization": f"Bearer {token}"}
    counts: dict[str, list[int]] = {k: [] for k in KINDS}
    seen: list[str] = []
    listen(engine.sessions.kw["bind"], seen)

    def call(kind: str, method: str, path: str, **kw: Any) -> Any:
        seen.clear()
        r = client.open(path, method=method, headers=headers, **kw)
        counts[kind].append(len(seen))
        return r.json

    for _ in range(4):
        iid = call("start", "POST", "/api/v1/instances", json={"process_key": "flow"})["id"]
        for _ in range(STEPS):
            [task] = call("next", "GET", f"/api/v1/tasks?instance_id={iid}")["items"]
            call("show", "GET", f"/api/v1/tasks/{task['id']}")
            call("submit", "POST", f"/api/v1/tasks/{task['id']}/complete", json={"data": FORM})
    return {k: sum(v[len(v) // 4 :]) / len(v[len(v) // 4 :]) for k, v in counts.items()}


def b10(quick: bool) -> Table:
    n = 8 if quick else 100
    table = Table(
        "B10",
        f"issue 18's flow: start + 5 x (next task, show, submit a 2-field form), {n} instances "
        "per row, against `pathfinder serve`",
        [
            "database",
            "server processes",
            "clients",
            "connections per process",
            "instances/s",
            "completions/s",
            "requests/s",
            "server CPU s / instance",
            "client CPU s / instance",
            "cores busy (server + client)",
            "next med/p95 ms",
            "show med/p95 ms",
            "submit med/p95 ms",
        ],
    )
    rows: dict[tuple[str, int, int], dict[str, Any]] = {}
    setups = [("SQLite", 1, 1), ("SQLite", 1, 4), ("SQLite", 2, 4)]
    if not quick:
        setups += [("SQLite", 2, 1), ("PostgreSQL", 1, 1), ("PostgreSQL", 1, 4)]
        setups += [("PostgreSQL", 2, 1), ("PostgreSQL", 2, 4)]
    have_pg = pg_available()
    for db, procs, clients in setups:
        if db == "PostgreSQL" and not have_pg:
            table.note("PostgreSQL rows skipped: not reachable")
            continue
        with workdir() as folder:
            if db == "SQLite":
                url = f"sqlite:///{folder / 'b10.db'}"
                from engine.store.migrate import upgrade

                upgrade(url)
            else:
                url = fresh_pg_database("pf_bench_b10")
            try:
                _prepare(url)
                with _server(url, procs, folder) as (base, pid):
                    result = _run(base, pid, clients, n)
            finally:
                if db == "PostgreSQL":
                    drop_pg_database("pf_bench_b10")
        rows[(db, procs, clients)] = result
        st = result["stats"]
        table.add(
            db,
            procs,
            clients,
            " + ".join(map(str, result["split"])),
            result["instances/s"],
            result["completions/s"],
            result["requests/s"],
            f"{result['cpu']:.3f}",
            f"{result['client cpu']:.3f}",
            f"{result['cores busy']:.2f}",
            f"{st['next'].median:.1f} / {st['next'].p95:.1f}",
            f"{st['show'].median:.1f} / {st['show'].p95:.1f}",
            f"{st['submit'].median:.1f} / {st['submit'].p95:.1f}",
        )
    counts = statements_per_request()
    table.note(
        "SQL statements per request (SQLite, warm): "
        + ", ".join(f"{k} {v:.1f}" for k, v in counts.items())
    )
    if have_pg and not quick:
        trips = round_trips_per_request()
        table.note(
            "PostgreSQL round trips per request (statements + BEGIN/COMMIT/ROLLBACK, warm): "
            + ", ".join(f"{k} {v:.1f}" for k, v in trips.items())
        )
    rounds = {} if quick else _ratio_rounds(have_pg)
    _goals(table, rows, counts, rounds)
    return table


ROUNDS = 5
"""Paired rounds behind each ratio goal (full run only)."""
ROUND_INSTANCES = 40


def _ratio_rounds(have_pg: bool) -> dict[str, list[float]]:
    """The two ratio goals measured in paired rounds, each pair run back to back, so that a
    ratio compares rows taken in the same seconds (as issue 18's own figures were): SQLite with
    4 clients on 2 processes over 1 client on 1 process, and SQLite's one-client rate over
    PostgreSQL's. The servers stay up between rounds, idle while another is measured."""
    with ExitStack() as stack:
        servers: dict[str, tuple[str, int]] = {}
        wanted = [("SQLite", 1), ("SQLite", 2)] + ([("PostgreSQL", 1)] if have_pg else [])
        for db, procs in wanted:
            folder = stack.enter_context(workdir())
            if db == "SQLite":
                url = f"sqlite:///{folder / 'b10.db'}"
                from engine.store.migrate import upgrade

                upgrade(url)
            else:
                url = fresh_pg_database("pf_bench_b10r")
                stack.callback(drop_pg_database, "pf_bench_b10r")
            _prepare(url)
            servers[f"{db} {procs}"] = stack.enter_context(_server(url, procs, folder))

        def rate(name: str, clients: int) -> float:
            base, pid = servers[name]
            return float(_run(base, pid, clients, ROUND_INSTANCES)["instances/s"])

        out: dict[str, list[float]] = {"four": [], "pg": []}
        for _ in range(ROUNDS):
            one = rate("SQLite 1", 1)
            out["four"].append(rate("SQLite 2", 4) / one)
            if have_pg:
                out["pg"].append(one / rate("PostgreSQL 1", 1))
        return out


def _ratio(rows_ratio: float, paired: list[float]) -> tuple[float, str]:
    """A ratio goal's figure: the median of its paired rounds when there are any (the table's
    rows are a minute apart), else the rows' ratio; and how it was measured, for the note."""
    if not paired:
        return rows_ratio, f"{rows_ratio:.2f} x (the table's rows)"
    ordered = sorted(paired)
    return median(paired), (
        f"median of {len(paired)} paired rounds of {ROUND_INSTANCES} instances "
        f"(each pair back to back): {median(paired):.2f} x, rounds {ordered[0]:.2f}-"
        f"{ordered[-1]:.2f} x; the table's rows alone give {rows_ratio:.2f} x"
    )


def _goals(
    table: Table,
    rows: dict[tuple[str, int, int], dict[str, Any]],
    counts: dict[str, float],
    rounds: dict[str, list[float]],
) -> None:
    one = rows.get(("SQLite", 1, 1))
    four_two = rows.get(("SQLite", 2, 4))
    pg_one = rows.get(("PostgreSQL", 1, 1))
    table.note(
        f"goal SQL statements per task completion <= 8: {counts['submit']:.1f}, "
        f"{met(counts['submit'] <= 8)} (left: the task with its instance and model, the instance's "
        "UPDATE with its lock_version check, the completed task, the submission, the next task, "
        "the step's audit events in one INSERT; the token is cached and mail is queued by the "
        "worker after commit)"
    )
    if one:
        table.note(
            f"goal server CPU per instance <= 0.035 s: {one['cpu']:.3f} s, "
            f"{met(one['cpu'] <= 0.035)} (what is left: the engine step (restoring and dumping the "
            "workflow state, SpiffWorkflow's run, the audit chain), SQLAlchemy per statement, "
            "Flask/marshmallow per request)"
        )
        table.note(
            f"goal >= 20 instances/s, one client, SQLite (quiet machine): "
            f"{one['instances/s']:.1f}, {met(one['instances/s'] >= 20)} (bounded by the server CPU "
            "per instance above; read the machine's load in the header)"
        )
    if one and four_two:
        ratio, measured = _ratio(
            four_two["instances/s"] / one["instances/s"], rounds.get("four", [])
        )
        cores = os.cpu_count() or 1
        ceiling = cores / (four_two["cpu"] + four_two["client cpu"]) / one["instances/s"]
        table.note(
            f"goal 4 clients on 2 processes >= 1.7 x one client: {measured}, "
            f"{met(ratio >= 1.7)} (the client runs on the same {cores} cores as the servers: "
            f"at the server + client CPU per instance of that row, {cores} cores busy all the "
            f"time would give at most {ceiling:.2f} x; the row kept "
            f"{four_two['cores busy']:.2f} of them busy; connections per process "
            f"{' + '.join(map(str, four_two['split']))}; what else limits it: SQLite's one write "
            "lock, held longest by starts, which write their instance first; what would fix it: "
            "a start run on a snapshot before the write lock, as completions are, and a client "
            "on cores of its own)"
        )
    if one and pg_one:
        ratio, measured = _ratio(one["instances/s"] / pg_one["instances/s"], rounds.get("pg", []))
        table.note(
            f"goal PostgreSQL within 1.3 x of SQLite (1 client, 1 process): {measured}, "
            f"{met(ratio <= 1.3)} (what limits it: psycopg's Python work per statement, the "
            "PostgreSQL backend's CPU on the same cores, a round trip per statement read; what "
            "would fix it: fewer statements per completion on PostgreSQL (the audit INSERT "
            "pipelined))"
        )
